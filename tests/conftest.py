"""Test harness: a real app over a real database, SQLite always and PostgreSQL when
PATRON_TEST_DATABASE_URL names a server. SQLite tests get a fresh copy of a migrated file;
PostgreSQL tests share a freshly created, migrated database per session and each test works in an
organisation of its own (so tenancy keeps tests apart). Fixtures use the public write paths.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from patron.app import create_app
from patron.clock import FixedClock
from patron.config import Settings
from patron.db.database import Database, open_database
from patron.db.migrate import migrate
from patron.services import Services
from patron.tenancy.service import OrgCredentials

PG_URL = os.environ.get("PATRON_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# An image as Patron knows one: by its leading bytes (customers/images.py).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def pytest_report_header(config: pytest.Config) -> str:
    return "patron backends: " + ", ".join(BACKENDS)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if PG_URL:
        terminalreporter.write_line("patron: API tests ran on SQLite and PostgreSQL")
    else:
        terminalreporter.write_line(
            "patron: PATRON_TEST_DATABASE_URL not set: API tests ran on SQLite only")
    if not os.environ.get("PATRON_TEST_REDIS_URL"):
        terminalreporter.write_line(
            "patron: PATRON_TEST_REDIS_URL not set: the shared rate limit's Redis tests skipped")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "patron.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
async def pg_database() -> AsyncIterator[Database | None]:
    if not PG_URL:
        yield None
        return
    import asyncpg

    name = f"patron_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    url = f"{base}/{name}"
    await asyncio.to_thread(migrate, url)
    db = await open_database(url, pg_pool_min=1, pg_pool_max=10)
    try:
        yield db
    finally:
        await db.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
             pg_database: Database | None) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        assert pg_database is not None
        yield pg_database
        return
    path = tmp_path / "patron.db"
    shutil.copy(sqlite_template, path)
    database = await open_database(f"sqlite:///{path}")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


@pytest.fixture
def settings() -> Settings:
    return Settings(rate_limit_per_minute=0)


@pytest.fixture
async def app(db: Database, clock: FixedClock, settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings, database=db, clock=clock)
    # Customer documents are stored as soon as a read offers them, so that every test that
    # writes after a read also checks that the write drops the kept document.
    app.state.services.documents.keep_after_seconds = 0
    yield app
    await app.state.services.documents.close()


@pytest.fixture
def services(app: Any) -> Services:
    return app.state.services  # type: ignore[no-any-return]


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://patron.test") as c:
        yield c


@pytest.fixture
async def org(services: Services) -> OrgCredentials:
    return await services.tenancy.create_org(f"Org {uuid.uuid4().hex[:8]}")


@pytest.fixture
async def other_org(services: Services) -> OrgCredentials:
    return await services.tenancy.create_org(f"Other {uuid.uuid4().hex[:8]}")


class MovedTime:
    """A module's `time`, one of whose clocks (`time` or `monotonic`) reads what the test sets
    in `now`; the rest is the real module. Set as one module's `time`, it moves that module's
    clock alone (not asyncio's, which a frozen `time.monotonic` would stop)."""

    def __init__(self, clock: str, now: float) -> None:
        self.clock = clock
        self.now = now

    def __getattr__(self, name: str) -> Any:
        if name == self.clock:
            return lambda: self.now
        return getattr(time, name)


def till_auth(creds: OrgCredentials) -> dict[str, str]:
    md5 = hashlib.md5(creds.till_password.encode()).hexdigest()
    token = base64.b64encode(f"{creds.till_code}:{md5}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def workspace_auth(creds: OrgCredentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds.workspace_key}"}


async def marketing_auth(client: httpx.AsyncClient, creds: OrgCredentials) -> dict[str, str]:
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": creds.marketing_client_id,
        "client_secret": creds.marketing_client_secret})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def loyalty(org: OrgCredentials) -> dict[str, str]:
    return till_auth(org)


async def add_customer(client: httpx.AsyncClient, headers: dict[str, str],
                       **profile: Any) -> int:
    """Registers a customer through the loyalty face (the public write path)."""
    extended = profile.pop("extendedFields", None)
    body: dict[str, Any] = {"profiles": [profile]}
    if extended is not None:
        body["extendedFields"] = extended
    r = await client.post("/v2/customers", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return int(r.json()["createdId"])
