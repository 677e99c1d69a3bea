"""customers.search_text: the click id joins the identity a search matches

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WITH_CLICK_ID = sa.text("SELECT org_id, id, search_text, click_id FROM customers "
                         "WHERE click_id IS NOT NULL AND click_id <> ''")
_SET = sa.text("UPDATE customers SET search_text = :search WHERE org_id = :org AND id = :id")


def upgrade() -> None:
    # The services now end a customer's search text with its click id, lower-cased as Python
    # does it (SQLite's lower() folds ASCII only); the rows written before get it the same way.
    # An erased customer's click id is already NULL.
    bind = op.get_bind()
    for org_id, customer_id, search, click_id in bind.execute(_WITH_CLICK_ID).all():
        joined = " ".join(x for x in (search, click_id.lower()) if x)
        bind.execute(_SET, {"search": joined, "org": org_id, "id": customer_id})


def downgrade() -> None:
    bind = op.get_bind()
    for org_id, customer_id, search, click_id in bind.execute(_WITH_CLICK_ID).all():
        ending = click_id.lower()
        if search.endswith(ending):
            search = search[: -len(ending)].rstrip(" ")
        bind.execute(_SET, {"search": search, "org": org_id, "id": customer_id})
