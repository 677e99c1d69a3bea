"""customer_documents: each customer's rendered details, kept until anything they show changes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:10:00.000000

`customers.version` counts the changes to a customer and to everything its details show; the
triggers below move it, whichever code path writes, and drop the customer's kept document in the
same transaction (docs/operations.md, "Customer documents").
"""

import sqlalchemy as sa
from alembic import op

from patron.db.migrations.counting import postgresql_counted, sqlite_counted, sqlite_dropped

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The tables whose rows a customer's details show, and how a row names its customer.
_PARTS = ("profiles", "cards")

_SQLITE = [
    # A change to the customer row itself: counted (unless it is the count moving), and the
    # document dropped. Recursive triggers are off, so the inner UPDATE fires neither again.
    "CREATE TRIGGER customers_counted AFTER UPDATE ON customers WHEN NEW.version = OLD.version "
    "BEGIN UPDATE customers SET version = OLD.version + 1 WHERE org_id = NEW.org_id "
    "AND id = NEW.id; END",
    "CREATE TRIGGER customers_document_dropped AFTER UPDATE ON customers BEGIN "
    "DELETE FROM customer_documents WHERE org_id = OLD.org_id AND customer_id = OLD.id; END",
    "CREATE TRIGGER customers_document_deleted AFTER DELETE ON customers BEGIN "
    "DELETE FROM customer_documents WHERE org_id = OLD.org_id AND customer_id = OLD.id; END",
    *(stmt for table in _PARTS for stmt in sqlite_counted(table)),
    # A series' name, code, type, expiry days or limit, and a label's id, show on every card of
    # it: every holder is counted.
    "CREATE TRIGGER card_series_counted AFTER UPDATE ON card_series BEGIN "
    "UPDATE customers SET version = version + 1 WHERE org_id = NEW.org_id AND id IN "
    "(SELECT customer_id FROM cards WHERE org_id = NEW.org_id AND series_id = NEW.id); END",
    *(f"CREATE TRIGGER card_labels_{event.lower()}_counted AFTER {event} ON card_labels BEGIN "
      f"UPDATE customers SET version = version + 1 WHERE org_id = {row}.org_id AND id IN "
      f"(SELECT customer_id FROM cards WHERE org_id = {row}.org_id AND label = {row}.label); END"
      for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))),
]

_POSTGRESQL = [
    """CREATE FUNCTION patron_customer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
    END IF;
    DELETE FROM customer_documents WHERE org_id = OLD.org_id AND customer_id = OLD.id;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$""",
    "CREATE TRIGGER customers_changed BEFORE UPDATE OR DELETE ON customers FOR EACH ROW "
    "EXECUTE FUNCTION patron_customer_changed()",
    """CREATE FUNCTION patron_customer_part_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.customer_id IS NOT NULL THEN
        UPDATE customers SET version = version + 1
        WHERE org_id = OLD.org_id AND id = OLD.customer_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.customer_id IS NOT NULL
            AND (TG_OP = 'INSERT' OR NEW.customer_id IS DISTINCT FROM OLD.customer_id) THEN
        UPDATE customers SET version = version + 1
        WHERE org_id = NEW.org_id AND id = NEW.customer_id;
    END IF;
    RETURN NULL;
END $$""",
    *(postgresql_counted(table) for table in _PARTS),
    """CREATE FUNCTION patron_card_series_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customers SET version = version + 1 WHERE org_id = NEW.org_id AND id IN
        (SELECT customer_id FROM cards WHERE org_id = NEW.org_id AND series_id = NEW.id);
    RETURN NULL;
END $$""",
    "CREATE TRIGGER card_series_counted AFTER UPDATE ON card_series FOR EACH ROW "
    "EXECUTE FUNCTION patron_card_series_changed()",
    """CREATE FUNCTION patron_card_label_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed card_labels;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    UPDATE customers SET version = version + 1 WHERE org_id = changed.org_id AND id IN
        (SELECT customer_id FROM cards WHERE org_id = changed.org_id AND label = changed.label);
    RETURN NULL;
END $$""",
    "CREATE TRIGGER card_labels_counted AFTER INSERT OR UPDATE OR DELETE ON card_labels "
    "FOR EACH ROW EXECUTE FUNCTION patron_card_label_changed()",
]


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "customer_documents",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("renderer", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "customer_id"),
    )
    for statement in (_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("customers", "card_series", "card_labels", *_PARTS):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_counted ON {table}")
        op.execute("DROP TRIGGER IF EXISTS customers_changed ON customers")
        for function in ("patron_customer_changed", "patron_customer_part_changed",
                         "patron_card_series_changed", "patron_card_label_changed"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name in ("customers_counted", "customers_document_dropped",
                     "customers_document_deleted", "card_series_counted",
                     *(f"card_labels_{e}_counted" for e in ("insert", "update", "delete"))):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for table in _PARTS:
            for statement in sqlite_dropped(table):
                op.execute(statement)
    op.drop_table("customer_documents")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("version")
