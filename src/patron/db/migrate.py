"""Schema migrations through Alembic, for `patron migrate` and start-up; idempotent on both.

Every `patron` command makes sure of the schema first. Alembic and SQLAlchemy take most of a
second to import, so the database's revision is read with the raw driver, and Alembic is loaded
only when that revision is not the newest one (`HEAD`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from patron.db.database import sqlite_path

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision: a new migration changes it (tests/test_migrations.py fails
# until it does).
HEAD = "0010"


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def _pg_revision(url: str) -> str | None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)  # a server that is down: Alembic reports it
    try:
        return await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()


def stored_revision(url: str) -> str | None:
    """The revision the database at `url` is at; None when it has none yet, or when it cannot be
    read here (Alembic then decides, and reports what is wrong)."""
    try:
        if url.startswith("sqlite:"):
            path = sqlite_path(url)
            if not path.exists():
                return None
            conn = sqlite3.connect(path)
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                conn.close()
            return None if row is None else str(row[0])
        return asyncio.run(_pg_revision(url))
    except Exception:  # noqa: BLE001 - no table yet, or no server: Alembic says which
        return None


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema; a no-op when it is already there."""
    if stored_revision(url) == HEAD:
        return
    from alembic import command

    if url.startswith("sqlite:"):
        sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
