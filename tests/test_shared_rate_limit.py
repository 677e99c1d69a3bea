"""The rate limit shared by every worker and host through Redis (PATRON_REDIS_URL): a credential
gets `PATRON_RATE_LIMIT_PER_MINUTE` requests a minute in all, not that many per worker. Needs
PATRON_TEST_REDIS_URL (CI sets it to the machine's Redis); the fallback test needs no Redis."""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from patron.app import create_app
from patron.auth import guard
from patron.auth.guard import RateLimiter
from patron.auth.redis_counts import RedisCounts
from patron.auth.service import FAILED_SIGN_INS_PER_MINUTE
from patron.clock import FixedClock
from patron.config import SettingError, Settings
from patron.db.database import Database
from patron.errors import RateLimited
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import MovedTime, workspace_auth

REDIS_URL = os.environ.get("PATRON_TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="PATRON_TEST_REDIS_URL is not set")


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> MovedTime:
    """The rate limiter's time.time, moved by the test: 30 s into a minute of its own (so that
    no window turns during the test, and no other test's counts are in Redis's)."""
    clock = MovedTime("time", 60.0 * random.randrange(10**8, 10**9) + 30)
    monkeypatch.setattr(guard, "time", clock)
    return clock


async def admitted(limiter: RateLimiter, credential_id: int, now: MovedTime) -> bool:
    """One request of the credential on a worker; then the worker's sync is let finish and
    more than a sync period passes."""
    try:
        limiter.hit(credential_id)
        return True
    except RateLimited:
        return False
    finally:
        await limiter.settled()
        now.now += guard.SYNC_SECONDS * 2


@needs_redis
async def test_workers_share_one_limit(now: MovedTime) -> None:
    first, second = (RateLimiter(10, RedisCounts(REDIS_URL)) for _ in range(2))
    credential = 7
    try:
        assert [await admitted(first, credential, now) for _ in range(6)] == [True] * 6
        # The second worker's first request is decided before it has learnt of the others.
        assert [await admitted(second, credential, now) for _ in range(5)] == \
            [True] * 4 + [False]
        # The first worker decides with what it learnt at its last sync (6 taken, its own),
        # then learns of the second's: a worker is at most one sync behind the others.
        assert await admitted(first, credential, now)
        assert not await admitted(first, credential, now)
        # Another credential has its own count.
        assert await admitted(second, credential + 1, now)
    finally:
        for limiter in (first, second):
            assert isinstance(limiter.shared, RedisCounts)
            await limiter.shared.close()


@pytest.fixture
async def two_workers(db: Database, clock: FixedClock, now: MovedTime,
                      org: OrgCredentials) -> AsyncIterator[list[httpx.AsyncClient]]:
    settings = Settings(rate_limit_per_minute=5, redis_url=REDIS_URL)
    apps = [create_app(settings, database=db, clock=clock) for _ in range(2)]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://patron.test") for app in apps]
    yield clients
    for app, c in zip(apps, clients, strict=True):
        await c.aclose()
        await app.state.services.close()


@needs_redis
async def test_a_key_gets_its_limit_across_workers_not_per_worker(
        two_workers: list[httpx.AsyncClient], org: OrgCredentials, now: MovedTime) -> None:
    headers = workspace_auth(org)
    statuses = []
    for i in range(8):
        client = two_workers[i % 2]
        statuses.append((await client.get("/api/customers/count", headers=headers)).status_code)
        services: Services = client._transport.app.state.services  # type: ignore[attr-defined]
        await services.limiter.settled()
        now.now += guard.SYNC_SECONDS * 2
    # Per worker, each would have taken 5 (10 in all). Shared, 6: each worker decides with what
    # it learnt of the other at its last sync, so the limit is passed by one request here (by
    # what the other workers take in SYNC_SECONDS, under load).
    assert statuses == [200] * 6 + [429] * 2, statuses


async def test_without_redis_each_worker_counts_on_its_own(
        now: MovedTime, caplog: pytest.LogCaptureFixture) -> None:
    unreachable = RedisCounts("redis://127.0.0.1:1/0")
    limiter = RateLimiter(3, unreachable)
    try:
        with caplog.at_level(logging.WARNING, logger="patron.ratelimit"):
            assert [await admitted(limiter, 7, now) for _ in range(4)] == [True] * 3 + [False]
        assert "cannot be reached" in caplog.text
        assert caplog.text.count("cannot be reached") == 1  # said once, not per request
    finally:
        await unreachable.close()


def test_the_redis_url_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_REDIS_URL", "http://user:secret@cache:6379")
    with pytest.raises(SettingError) as raised:
        Settings.from_env()
    assert "PATRON_REDIS_URL" in str(raised.value) and "secret" not in str(raised.value)
    monkeypatch.setenv("PATRON_REDIS_URL", "redis://cache:6379/0")
    assert Settings.from_env().redis_url == "redis://cache:6379/0"


@needs_redis
async def test_failed_sign_ins_of_a_login_are_counted_across_workers(
        two_workers: list[httpx.AsyncClient], org: OrgCredentials) -> None:
    services: Services = two_workers[0]._transport.app.state.services  # type: ignore[attr-defined]
    login = f"key-{uuid.uuid4().hex}"  # a count of its own in Redis
    async with services.db.transaction() as tx:
        await services.auth.create_credential(tx, org.org_id, "loyalty_client", login=login,
                                              secret="the-secret")
    statuses = []
    for attempt in range(FAILED_SIGN_INS_PER_MINUTE):
        r = await two_workers[attempt % 2].post("/v3/oauth/token/generate",
                                                json={"key": login, "secret": f"guess-{attempt}"})
        statuses.append(r.status_code)
    assert statuses == [401] * FAILED_SIGN_INS_PER_MINUTE  # per worker, 5 each of 10 allowed
    for client in two_workers:
        r = await client.post("/v3/oauth/token/generate",
                              json={"key": login, "secret": "the-secret"})
        assert r.status_code == 429, r.text  # refused unchecked, the right secret too
        assert 50 <= int(r.headers["retry-after"]) <= 60
    # Redis holds a digest of the login, not the login.
    redis = RedisCounts(REDIS_URL)
    try:
        keys = await redis._client.keys("patron:sign-in:*")
        assert keys and not any(login.encode() in k for k in keys)
    finally:
        await redis.close()
