"""The triggers by which a write to a table whose rows name a customer counts on that customer
(`customers.version`, which drops their kept document): migrations 0011 and 0013 create them.
What these functions return is part of those migrations: never change it, write a new
migration instead."""

from __future__ import annotations


def sqlite_counted(table: str) -> list[str]:
    """SQLite: the triggers counting an insert, update or delete of a row of `table` on its
    customer (both customers, when an update moves the row to another)."""
    return [
        f"CREATE TRIGGER {table}_inserted_counted AFTER INSERT ON {table} "
        "WHEN NEW.customer_id IS NOT NULL BEGIN UPDATE customers SET version = version + 1 "
        "WHERE org_id = NEW.org_id AND id = NEW.customer_id; END",
        f"CREATE TRIGGER {table}_updated_counted AFTER UPDATE ON {table} BEGIN "
        "UPDATE customers SET version = version + 1 WHERE org_id = NEW.org_id "
        "AND id IN (OLD.customer_id, NEW.customer_id); END",
        f"CREATE TRIGGER {table}_deleted_counted AFTER DELETE ON {table} "
        "WHEN OLD.customer_id IS NOT NULL BEGIN UPDATE customers SET version = version + 1 "
        "WHERE org_id = OLD.org_id AND id = OLD.customer_id; END"]


def sqlite_dropped(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_{event}_counted"
            for event in ("inserted", "updated", "deleted")]


def postgresql_counted(table: str) -> str:
    """PostgreSQL: the same, by migration 0011's function patron_customer_part_changed()."""
    return (f"CREATE TRIGGER {table}_counted AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION patron_customer_part_changed()")
