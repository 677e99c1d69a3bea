"""The PostgreSQL connection hand-out (db/database.PostgresDatabase): connections kept between
uses stay usable after a cancelled statement or a failed transaction, and closing returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from patron.db.database import Database, PostgresDatabase, open_database
from patron.db.statement import sql
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (PATRON_TEST_DATABASE_URL)")

ONE = sql("SELECT 1")
SLEEP = sql("SELECT pg_sleep($1)")
# Outside a transaction block a read gets no transaction id; a leftover open transaction that
# wrote something has one.
NO_OPEN_WRITE = sql("SELECT pg_current_xact_id_if_assigned() IS NULL")


@pytest.fixture
async def small(pg_database: Database) -> AsyncIterator[PostgresDatabase]:
    db = await open_database(pg_database.url, pg_pool_min=1, pg_pool_max=2)  # type: ignore[attr-defined]
    assert isinstance(db, PostgresDatabase)
    yield db
    await asyncio.wait_for(db.close(), 10)


async def test_a_cancelled_statement_leaves_every_connection_usable(
        small: PostgresDatabase) -> None:
    await asyncio.gather(small.fetchval(ONE), small.fetchval(ONE))  # both connections kept
    slow = asyncio.create_task(small.fetchval(SLEEP, 30))
    await asyncio.sleep(0.3)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    answers = await asyncio.wait_for(asyncio.gather(*(small.fetchval(ONE) for _ in range(6))), 10)
    assert answers == [1] * 6


async def test_a_failed_transaction_is_rolled_back_and_its_connection_reused(
        small: PostgresDatabase) -> None:
    with pytest.raises(RuntimeError):
        async with small.transaction() as tx:
            await tx.execute(sql("CREATE TEMP TABLE handed_out (x int)"))
            raise RuntimeError("the body failed")
    for _ in range(4):  # whichever connection comes next is outside any transaction
        assert await small.fetchval(NO_OPEN_WRITE) is True
    assert not any(c.is_in_transaction() for c in small._idle)
    assert await small.fetchval(sql("SELECT to_regclass('pg_temp.handed_out') IS NULL")) is True


async def test_more_uses_than_connections_all_finish_in_turn(small: PostgresDatabase) -> None:
    done = await asyncio.wait_for(asyncio.gather(
        *(small.fetchval(SLEEP, 0.05) for _ in range(12)),
        *(small.ping() for _ in range(4))), 20)
    assert done[-4:] == [True] * 4
    async with small.transaction() as tx:
        await tx.execute(sql("CREATE TEMP TABLE in_turn (x int) ON COMMIT DROP"))
        assert await tx.fetchval(NO_OPEN_WRITE) is False
        assert await tx.fetchval(ONE) == 1


async def test_a_connection_the_server_dropped_is_replaced(small: PostgresDatabase) -> None:
    await asyncio.gather(small.fetchval(SLEEP, 0.1), small.fetchval(SLEEP, 0.1))
    pids = [c.get_server_pid() for c in small._idle]
    assert len(pids) == 2
    import asyncpg

    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.fetch("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await admin.close()
    failures = 0
    for _ in range(6):  # each dropped connection fails at most once, then is replaced
        try:
            assert await small.fetchval(ONE) == 1
        except Exception:  # noqa: BLE001 - whichever error the dropped socket gives
            failures += 1
    assert failures <= 2
    assert await small.fetchval(ONE) == 1
