"""Numeric ids from one sequence (PostgreSQL) or counter row (SQLite), shared by every entity."""

from __future__ import annotations

from patron.db.database import Queryable
from patron.db.statement import sql

_NEXT_ID = sql(
    "SELECT nextval('patron_ids')",
    sqlite="UPDATE id_counters SET next_value = next_value + 1 WHERE name = 'patron_ids' "
    "RETURNING next_value - 1",
)


async def next_id(conn: Queryable) -> int:
    """Call inside a write transaction (SQLite's counter row must be written under it)."""
    return int(await conn.fetchval(_NEXT_ID))


_RESERVE_IDS = sql(
    "SELECT nextval('patron_ids') FROM generate_series(1, $1::int)",
    sqlite="UPDATE id_counters SET next_value = next_value + $1 WHERE name = 'patron_ids' "
    "RETURNING next_value - $1",
)


async def next_ids(conn: Queryable, count: int) -> list[int]:
    """`count` fresh ids in one statement, for bulk writes. Inside a write transaction."""
    if count <= 0:
        return []
    if conn.dialect == "postgresql":
        return [int(r[0]) for r in await conn.fetch(_RESERVE_IDS, count)]
    first = int(await conn.fetchval(_RESERVE_IDS, count))
    return list(range(first, first + count))
