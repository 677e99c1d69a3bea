"""A request that finds the database unavailable (PostgreSQL stopped or unreachable, a connection
dropped mid-request, SQLite's write lock not had in time) is answered 503 with `Retry-After` in
its face's envelope, the URL and its password in neither the answer nor the log, which has one
warning line for it; any other database error stays what it was."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import httpx
import pytest

from patron.app import create_app
from patron.clock import FixedClock
from patron.config import Settings
from patron.db import database as database_module
from patron.db.database import Database, PostgresDatabase, unavailable
from patron.db.statement import sql
from tests.conftest import PG_URL, START_MS, add_customer, marketing_auth, till_auth, workspace_auth

MESSAGE = "the database is unavailable; try again"
needs_pg = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (PATRON_TEST_DATABASE_URL)")


def assert_unavailable(r: httpx.Response) -> None:
    """503 and Retry-After, in the envelope of the face that answered."""
    path = r.request.url.path
    assert r.status_code == 503, (path, r.status_code, r.text)
    assert r.headers["retry-after"] == "5", path
    body = r.json()
    if path.startswith("/v1.1/"):
        assert body["response"]["status"] == {"success": "false", "code": 503,
                                              "message": MESSAGE}
    elif path.startswith("/api/"):
        assert body == {"success": False,
                        "error": {"code": "SERVICE_UNAVAILABLE", "message": MESSAGE}}
    elif path.startswith("/v1/oauth/"):
        assert body == {"error": MESSAGE}
    elif path.startswith("/v1/"):
        assert r.headers["content-type"] == "application/vnd.api+json"
        assert body == {"errors": [{"status": "503", "source": None,
                                    "title": "Service Unavailable", "detail": MESSAGE}]}
    elif path.startswith("/patron/"):
        assert body == {"error": {"code": "database_unavailable", "message": MESSAGE}}
    else:
        assert body == {"errors": [{"status": False, "code": 503, "message": MESSAGE}],
                        "warnings": []}


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "patron" and r.levelno >= logging.WARNING]


def client_of(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://patron.test")


async def test_other_database_errors_are_not_unavailability() -> None:
    assert not unavailable(sqlite3.OperationalError("no such table: nothing"))
    assert not unavailable(sqlite3.IntegrityError("UNIQUE constraint failed: customers.id"))
    assert not unavailable(OSError("disk full, writing an image"))
    assert not unavailable(RuntimeError("a bug"))
    import asyncpg

    assert not unavailable(asyncpg.exceptions.UndefinedTableError("no such table"))
    assert not unavailable(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not unavailable(asyncpg.exceptions.ProtocolViolationError("bad message"))
    assert unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"))
    assert unavailable(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert unavailable(asyncpg.exceptions.CannotConnectNowError("the database is starting up"))
    assert unavailable(asyncpg.InterfaceError("cannot perform operation: connection is closed"))
    assert not unavailable(asyncpg.InterfaceError("another operation is in progress"))
    # told by SQLite's result code (which a real one carries), not by the message
    assert not unavailable(sqlite3.OperationalError("database is locked"))


async def test_a_statement_error_is_still_a_500_not_a_503(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Settings(rate_limit_per_minute=0), database=db, clock=FixedClock(START_MS))
    wrong = sql("SELECT nothing FROM no_such_table")

    async def broken() -> None:
        await db.fetchval(wrong)

    app.add_api_route("/api/broken", broken)
    async with client_of(app) as c:
        r = await c.get("/api/broken")
    assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "retry-after" not in r.headers


async def test_sqlite_write_lock_not_had_in_time_is_503_in_each_face(
        db: Database, org: Any, client: httpx.AsyncClient, app: Any,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite's write lock")
    await add_customer(client, till_auth(org), identifiers=[
        {"type": "mobile", "value": "919800000001"}])
    # Another process holds the write lock for longer than a write waits for it.
    monkeypatch.setattr(database_module, "WRITE_LOCK_SECONDS", 0.2)
    holder = sqlite3.connect(database_module.sqlite_path(db.url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    caplog.set_level(logging.INFO)
    try:
        async with client_of(app) as c:
            answers = [
                await c.post("/v2/customers", headers=till_auth(org),
                             json={"profiles": [{"identifiers": [
                                 {"type": "mobile", "value": "919800000002"}]}]}),
                await c.post("/v1/oauth/token", data={
                    "grant_type": "client_credentials", "client_id": org.marketing_client_id,
                    "client_secret": org.marketing_client_secret}),
                await c.post("/api/customers", headers=workspace_auth(org),
                             json={"externalId": "locked-out", "email": "x@example.com"}),
                # A batch of records: not each record failed, the request unavailable.
                await c.post("/patron/v1/records", headers=workspace_auth(org), json={
                    "records": [{"kind": "message", "id": "m-locked",
                                 "customer": {"identifierName": "mobile",
                                              "identifierValue": "919800000001"},
                                 "channel": "email", "sentAt": START_MS}]}),
            ]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for r in answers:
        assert_unavailable(r)
    lines = warnings_logged(caplog)
    assert len(lines) == len(answers), [r.getMessage() for r in lines]
    assert all(r.exc_info is None for r in lines)
    assert "database is locked" in lines[0].getMessage()
    # Nothing was half-written, and the lock released, writes go through again.
    r = await client.get("/api/customers/ext_locked-out", headers=workspace_auth(org))
    assert r.status_code == 404
    r = await client.post("/api/customers", headers=workspace_auth(org),
                          json={"externalId": "locked-out", "email": "x@example.com"})
    assert r.status_code == 201, r.text


@needs_pg
async def test_postgresql_not_listening_is_503_in_each_face(
        caplog: pytest.LogCaptureFixture) -> None:
    # A server that has gone away: nothing listens on the port, every new connection is refused.
    url = "postgresql://patron:hunter2-secret@127.0.0.1:1/patron"
    db = await PostgresDatabase.connect(url, min_size=0, max_size=2)
    app = create_app(Settings(rate_limit_per_minute=0), database=db, clock=FixedClock(START_MS))
    caplog.set_level(logging.INFO)
    basic = {"Authorization": "Basic dGlsbDpmZmZm"}
    bearer = {"Authorization": "Bearer lw_live_0123456789abcdef"}
    try:
        async with client_of(app) as c:
            answers = [
                await c.get("/v2/customers/1", headers=basic),
                await c.post("/v2/customers", headers=basic, json={"profiles": []}),
                await c.get("/v1.1/points/isredeemable?mobile=1&points=1", headers=basic),
                await c.get("/v1/customers", headers={"Authorization": "Bearer k"}),
                await c.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                                      "client_id": "a", "client_secret": "b"}),
                await c.get("/api/customers/1", headers=bearer),
                await c.get("/patron/v1/customers/1/engagement", headers=bearer),
            ]
            ready = await c.get("/readyz")
            version = await c.get("/v1/version")  # as /readyz, it checks and logs nothing
    finally:
        await db.close()
    for r in answers:
        assert_unavailable(r)
        assert "hunter2" not in r.text and "127.0.0.1" not in r.text
    assert ready.status_code == 503 and ready.json() == {"status": "unavailable"}
    assert ready.headers["retry-after"] == "5"
    assert_unavailable(version)
    lines = warnings_logged(caplog)
    assert len(lines) == len(answers)
    assert all(r.exc_info is None and "hunter2" not in r.getMessage() for r in lines)
    assert "PostgresUnreachable" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@needs_pg
async def test_a_postgresql_connection_dropped_mid_request_is_503(
        pg_database: Database, caplog: pytest.LogCaptureFixture) -> None:
    import asyncpg

    db = await PostgresDatabase.connect(pg_database.url, min_size=1, max_size=2)  # type: ignore[attr-defined]
    app = create_app(Settings(rate_limit_per_minute=0), database=db, clock=FixedClock(START_MS))
    admin = await asyncpg.connect(pg_database.url)  # type: ignore[attr-defined]
    try:
        org = await app.state.services.tenancy.create_org("Dropped")
        async with client_of(app) as c:
            marketing = await marketing_auth(c, org)
            customer = await add_customer(c, till_auth(org), identifiers=[
                {"type": "mobile", "value": "919800000009"}])
            caplog.set_level(logging.INFO)
            paths = [(f"/v2/customers/{customer}?source=INSTORE", till_auth(org)),
                     (f"/v1/customers/{customer}", marketing),
                     (f"/api/customers/{customer}", workspace_auth(org)),
                     # read with the reads that arrive with it (db/batched.py)
                     (f"/v1.1/customer/interaction?user_id={customer}", till_auth(org))]
            for path, headers in paths:
                # The request waits on a lock; its backend is ended (as a server shutting down
                # or restarting ends it) while it waits.
                async with admin.transaction():
                    await admin.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
                    request = asyncio.create_task(c.get(path, headers=headers))
                    for _ in range(200):
                        waiting = await admin.fetch(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
                        if waiting:
                            break
                        await asyncio.sleep(0.02)
                    assert waiting, "the request never waited on the lock"
                    await admin.fetch("SELECT pg_terminate_backend($1)", waiting[0]["pid"])
                    r = await asyncio.wait_for(request, 10)
                assert_unavailable(r)
                # The dropped connection is replaced: the next request is served.
                again = await c.get(path, headers=headers)
                assert again.status_code == 200, again.text
    finally:
        await app.state.services.documents.close()
        await admin.close()
        await db.close()
    lines = warnings_logged(caplog)
    assert len(lines) == len(paths), [r.getMessage() for r in lines]
    assert all(r.exc_info is None for r in lines)


@needs_pg
async def test_kept_connections_the_server_closed_fail_no_request(
        pg_database: Database) -> None:
    import asyncpg

    db = await PostgresDatabase.connect(pg_database.url, min_size=1, max_size=2)  # type: ignore[attr-defined]
    one = sql("SELECT 1")
    try:
        await asyncio.gather(db.fetchval(sql("SELECT pg_sleep(0.1)")),
                             db.fetchval(sql("SELECT pg_sleep(0.1)")))
        pids = [c.get_server_pid() for c in db._idle]
        admin = await asyncpg.connect(pg_database.url)  # type: ignore[attr-defined]
        try:
            await admin.fetch("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
                              pids)
        finally:
            await admin.close()
        await asyncio.sleep(0.5)  # the client reads that the server closed them
        assert [await db.fetchval(one) for _ in range(4)] == [1] * 4
    finally:
        await db.close()


def test_asyncpg_pool_retries_are_one_line_without_the_url(
        caplog: pytest.LogCaptureFixture) -> None:
    """While PostgreSQL is down, asyncpg's pool logs each attempt to restore its connection
    floor with a traceback (asyncpg/pool.py, `_maintain_min_size`); Patron keeps it one line,
    with no URL in it."""
    caplog.set_level(logging.INFO)
    try:
        raise ConnectionRefusedError(111, "Connection refused to postgresql://u:secret@db:5432/x")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning(
            "Failed to restore the pool connection floor; retrying", exc_info=True)
    (record,) = [r for r in caplog.records if r.name == "asyncpg.pool"]
    assert record.exc_info is None and record.exc_text is None
    text = caplog.text
    assert "Traceback" not in text and "secret" not in text, text
    assert record.getMessage().startswith(
        "Failed to restore the pool connection floor; retrying: ConnectionRefusedError: ")
    assert "<url>" in record.getMessage() and "\n" not in record.getMessage()
