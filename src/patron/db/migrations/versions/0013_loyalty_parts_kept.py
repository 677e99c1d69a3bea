"""customer_documents keep the loyalty engine's parts too; loyalty writes count on the customer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:40:00.000000

A customer's document may hold the engine's parts of one details query (`parts_key`: the query's
shape, the programs' versions) with the span of time over which they hold with nothing written
(`parts_from`, `parts_until`): docs/operations.md, "Customer documents". So every write to the
loyalty tables a customer's parts show now counts on the customer (`customers.version`), and drops
their document, as a write to their profiles does (migration 0011).
"""

import sqlalchemy as sa
from alembic import op

from patron.db.migrations.counting import postgresql_counted, sqlite_counted, sqlite_dropped

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The tables whose rows the engine's parts show, each naming its customer.
_LOYALTY = ("loyalty_members", "points_lots", "points_ledger", "tier_changes", "transactions")

_SQLITE = [stmt for table in _LOYALTY for stmt in sqlite_counted(table)]
_POSTGRESQL = [postgresql_counted(table) for table in _LOYALTY]

_PARTS_COLUMNS = ("parts_key", "parts_from", "parts_until", "parts")


def upgrade() -> None:
    # Nullable columns, added in place on both engines (a copied table would lose the triggers
    # of migration 0011 that name it).
    op.add_column("customer_documents", sa.Column("parts_key", sa.Text(), nullable=True))
    op.add_column("customer_documents", sa.Column("parts_from", sa.BigInteger(), nullable=True))
    op.add_column("customer_documents", sa.Column("parts_until", sa.BigInteger(), nullable=True))
    op.add_column("customer_documents", sa.Column("parts", sa.LargeBinary(), nullable=True))
    for statement in (_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _LOYALTY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_counted ON {table}")
    else:
        for table in _LOYALTY:
            for statement in sqlite_dropped(table):
                op.execute(statement)
    for column in reversed(_PARTS_COLUMNS):  # in place, as added (SQLite 3.35 or later)
        op.execute(f"ALTER TABLE customer_documents DROP COLUMN {column}")
