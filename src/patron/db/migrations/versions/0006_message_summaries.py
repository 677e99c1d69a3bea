"""message summaries kept on write; the customer index of messages ends with the id

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 16:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Pages of a customer's messages are ordered by (sent_at, id): read in index order, unsorted.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("messages_customer")
        batch_op.create_index(
            "messages_customer", ["org_id", "customer_id", "network", "channel", "sent_at", "id"],
            unique=False)
    op.create_table(
        "message_summaries",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_time", sa.BigInteger(), nullable=False),
        sa.Column("last_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "customer_id", "network", "channel", "priority"),
        sqlite_with_rowid=False,
    )
    # The messages stored so far (the same aggregate as engagement.repository's rebuild).
    least, greatest = (("least", "greatest") if op.get_bind().dialect.name == "postgresql"
                       else ("min", "max"))
    op.execute(
        "INSERT INTO message_summaries (org_id, customer_id, network, channel, priority, count, "
        "last_at, used, first_time, last_time) SELECT org_id, customer_id, network, channel, "
        "priority, count(*), max(sent_at), max(CASE WHEN opened_at IS NOT NULL OR clicked_at "
        f"IS NOT NULL THEN 1 ELSE 0 END), min({least}(sent_at, coalesce(delivered_at, sent_at))), "
        f"max({greatest}(sent_at, coalesce(delivered_at, sent_at))) FROM messages "
        "GROUP BY org_id, customer_id, network, channel, priority"
    )


def downgrade() -> None:
    op.drop_table("message_summaries")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("messages_customer")
        batch_op.create_index(
            "messages_customer", ["org_id", "customer_id", "network", "channel", "sent_at"],
            unique=False)
