"""customers_state: the active customers of a batch of ids, from an index alone

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 19:35:00.000000
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("customers_state", "customers", ["org_id", "id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("customers_state", table_name="customers")
