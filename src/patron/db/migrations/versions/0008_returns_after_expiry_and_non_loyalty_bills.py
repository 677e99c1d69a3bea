"""points_lots.expired: the points of a lot that expired, so that a return of its bill takes
back only what the customer still had or spent; transactions.in_loyalty: whether a bill reached
the loyalty programs (a non_loyalty customer's bills do not)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 17:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expired", sa.BigInteger(), server_default="0",
                                      nullable=False))
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_loyalty", sa.Boolean(), server_default=sa.text("(true)"),
                                      nullable=False))
    # Lots that expired before this column existed: their EXPIRE ledger rows say how much.
    op.execute(
        "UPDATE points_lots SET expired = e.points FROM (SELECT org_id, lot_id, "
        "SUM(-points) AS points FROM points_ledger WHERE kind = 'EXPIRE' "
        "GROUP BY org_id, lot_id) AS e "
        "WHERE points_lots.org_id = e.org_id AND points_lots.id = e.lot_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_column("in_loyalty")
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.drop_column("expired")
