"""Alembic environment: runs migrations on SQLite (stdlib driver) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from patron.db.schema import metadata

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    if url.startswith(("postgresql://", "postgres://")):
        async_url = "postgresql+asyncpg://" + url.split("://", 1)[1]

        async def go() -> None:
            engine = create_async_engine(async_url)
            async with engine.begin() as conn:
                await conn.run_sync(_run)
            await engine.dispose()

        asyncio.run(go())
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()


main()
