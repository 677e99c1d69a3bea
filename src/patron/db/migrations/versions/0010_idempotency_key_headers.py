"""idempotency_keys.headers: a replayed answer carries the headers of the first one

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 16:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The table has held nothing until now (Idempotency-Key was not read), so no row needs one.
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("headers", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("headers")
