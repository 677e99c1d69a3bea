"""The embedded store's WAL (db/database.SQLiteDatabase): its checkpoints keep it bounded while
a writer writes without pause, as an import does."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.db import database
from patron.db.database import open_database
from patron.db.statement import sql

PAGE = b"p" * 3_000


async def test_the_wal_is_started_over_under_sustained_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that holds the write lock nearly all the time still has its WAL started over
    past WAL_RESTART_FRAMES: the WAL file stays near that size instead of growing with all that
    was written (SQLiteDatabase._checkpoint_loop and _begin)."""
    monkeypatch.setattr(database, "CHECKPOINT_SECONDS", 0.02)
    monkeypatch.setattr(database, "WAL_RESTART_FRAMES", 256)
    monkeypatch.setattr(database, "WAL_TAIL_FRAMES", 64)
    db = await open_database(f"sqlite:///{tmp_path / 'p.db'}", flush_commits=False)
    wal = tmp_path / "p.db-wal"
    try:
        await db.execute(sql("CREATE TABLE pages (n INTEGER, body BLOB)"))
        written, largest = 0, 0
        while written < 24_000:  # a page each: about a hundred times the restart size
            async with db.transaction() as tx:  # back to back, as an import's batches
                await tx.executemany(sql("INSERT INTO pages VALUES ($1, $2)"),
                                     [(written + i, PAGE) for i in range(50)])
            written += 50
            largest = max(largest, wal.stat().st_size)
        assert largest < 24 * 256 * (4096 + 24), f"the WAL grew to {largest:,} bytes"
        assert await db.fetchval(sql("SELECT count(*) FROM pages")) == 24_000
    finally:
        await db.close()
