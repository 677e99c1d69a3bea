"""message_summaries.revision: moved by every write to the messages a summary counts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 11:40:00.000000

Pages of the interaction reads are kept in a server's memory with the summaries they were read
under (engagement/pages.py); a page is sent again only while its summaries' revisions are the
same. Every write of a message, of a delivery event on one, and the PII scrub of a customer's
messages moves the revision of the summaries it touches, in the write's transaction.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: a new column on both engines without rewriting the table.
    with op.batch_alter_table("message_summaries") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("message_summaries") as batch:
        batch.drop_column("revision")
