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
HEAD = "0013"


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


class DatabaseUnreachable(Exception):
    """The configured database cannot be reached or opened: says why, never its URL, which may
    hold a password."""


async def _pg_revision(url: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=10)
    except Exception as exc:  # noqa: BLE001 - down, unknown database or role, bad password…
        raise DatabaseUnreachable(str(exc) or type(exc).__name__) from None
    try:
        return await conn.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.PostgresError:  # no table yet, or not readable: Alembic decides
        return None
    finally:
        await conn.close()


def stored_revision(url: str) -> str | None:
    """The revision the database at `url` is at; None when it has none yet. DatabaseUnreachable
    when the database cannot be reached or read."""
    if not url.startswith("sqlite:"):
        return asyncio.run(_pg_revision(url))
    path = sqlite_path(url)
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return None
        raise DatabaseUnreachable(f"{path}: {exc}") from None
    return None if row is None else str(row[0])


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema; a no-op when it is already there."""
    if stored_revision(url) == HEAD:
        return
    from alembic import command

    if url.startswith("sqlite:"):
        folder = sqlite_path(url).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnreachable(f"cannot create the directory {str(folder)!r}: "
                                      f"{exc.strerror}") from None
    command.upgrade(alembic_config(url), "head")
