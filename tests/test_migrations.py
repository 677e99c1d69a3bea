"""Migrations that carry data forward: a database made by an earlier revision keeps what it
holds, with the new columns derived from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from patron.db.migrate import alembic_config, migrate


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
