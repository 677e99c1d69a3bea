"""Migrations that carry data forward: a database made by an earlier revision keeps what it
holds, with the new columns derived from it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command

from patron.db.database import Database
from patron.db.migrate import HEAD, alembic_config, migrate, stored_revision


def test_lots_that_expired_before_0008_know_how_much(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0007")
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.executemany(
        "INSERT INTO points_lots (org_id, id, customer_id, program_id, kind, points, remaining, "
        "earned_at, expires_at) VALUES (1, ?, 5, 7, 'REGULAR', 50000, ?, 0, 10)",
        [(100, 0), (101, 20000)])
    conn.executemany(
        "INSERT INTO points_ledger (org_id, id, customer_id, program_id, kind, points, lot_id, "
        "at, notes) VALUES (1, ?, 5, 7, ?, ?, ?, 0, '')",
        [(1, "EARN", 50000, 100), (2, "REDEEM", -20000, 100), (3, "EXPIRE", -30000, 100),
         (4, "EARN", 50000, 101), (5, "REDEEM", -30000, 101)])
    conn.execute(
        "INSERT INTO transactions (org_id, id, customer_id, type, bill_number, amount, "
        "billed_at, created_at) VALUES (1, 9, 5, 'REGULAR', 'B-1', 1000, 0, 0)")
    conn.commit()
    conn.close()
    migrate(url)
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("SELECT id, expired FROM points_lots ORDER BY id").fetchall() == [
        (100, 30000), (101, 0)]
    assert conn.execute("SELECT in_loyalty FROM transactions").fetchall() == [(1,)]
    conn.close()


def test_click_ids_written_before_0009_are_searched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0008")
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.executemany(
        "INSERT INTO customers (org_id, id, search_text, click_id, created_at, updated_at) "
        "VALUES (1, ?, ?, ?, 0, 0)",
        [(1, "ann lee ann@example.com", "Clk_Ä1"), (2, "", "clk-2"), (3, "bob", None),
         (4, "cy", "")])
    conn.commit()
    conn.close()
    migrate(url)
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("SELECT id, search_text FROM customers ORDER BY id").fetchall() == [
        (1, "ann lee ann@example.com clk_ä1"), (2, "clk-2"), (3, "bob"), (4, "cy")]
    conn.close()
    command.downgrade(alembic_config(url), "0008")
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("SELECT id, search_text FROM customers ORDER BY id").fetchall() == [
        (1, "ann lee ann@example.com"), (2, ""), (3, "bob"), (4, "cy")]
    conn.close()


def test_head_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == HEAD


def test_a_store_at_the_newest_schema_is_checked_without_alembic(db: Database) -> None:
    """Every `patron` command checks the schema first: on a store that is already at HEAD that
    costs a read, not the second it takes to import Alembic and SQLAlchemy."""
    check = ("import sys; from patron.db.migrate import migrate; migrate(sys.argv[1]); "
             "print(sorted(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))")
    ran = subprocess.run([sys.executable, "-c", check, db.url], capture_output=True, text=True,
                         check=True, timeout=60)
    assert ran.stdout.strip() == "[]"
    assert stored_revision(db.url) == HEAD


def test_a_store_without_a_schema_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'patron.db'}"
    assert stored_revision(url) is None
    migrate(url)
    assert stored_revision(url) == HEAD
