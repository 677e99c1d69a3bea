"""A revoked or rotated credential stops working in every process, not only in the one that
revoked it: each process caches verified credentials, and drops its cache within
`credential_check_seconds` of a change made anywhere (another worker, another host, the CLI)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from patron.app import create_app
from patron.auth import service as auth_service
from patron.clock import FixedClock
from patron.config import Settings
from patron.db.database import Database
from patron.db.statement import sql
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import MovedTime, marketing_auth, till_auth, workspace_auth
from tests.processes import patron, patron_env, serve


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> MovedTime:
    """The auth module's time.monotonic, moved by the test."""
    clock = MovedTime("monotonic", time.monotonic())
    monkeypatch.setattr(auth_service, "time", clock)
    return clock


@pytest.fixture
async def elsewhere(db: Database, clock: FixedClock,
                    settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another server process on the same store: its own services, so its own cache."""
    app = create_app(settings, database=db, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://elsewhere.test") as c:
        yield c


async def credential_id(services: Services, org: OrgCredentials, kind: str) -> int:
    return next(int(r["id"]) for r in await services.auth.list_credentials(org.org_id)
                if r["kind"] == kind)


async def test_a_key_revoked_elsewhere_stops_working_within_the_check_period(
        client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, services: Services,
        org: OrgCredentials, monotonic: MovedTime) -> None:
    headers = workspace_auth(org)
    assert (await elsewhere.get("/api/customers/count", headers=headers)).status_code == 200
    # Revoked by this process (as `patron keys revoke` does, in a process of its own).
    await services.auth.revoke_credential(org.org_id,
                                          await credential_id(services, org, "workspace_key"))
    assert (await client.get("/api/customers/count", headers=headers)).status_code == 401
    # The other process answers from its cache until its next look at the store...
    monotonic.now += 0.5
    assert (await elsewhere.get("/api/customers/count", headers=headers)).status_code == 200
    # ...which is at most a check period away, not the cache's 30 s.
    monotonic.now += 0.6
    r = await elsewhere.get("/api/customers/count", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_API_KEY"


async def test_a_till_rotated_elsewhere_needs_its_new_password(
        elsewhere: httpx.AsyncClient, services: Services, org: OrgCredentials,
        monotonic: MovedTime) -> None:
    old = till_auth(org)
    r = await elsewhere.get("/v2/customers/lookup", headers=old, params={
        "source": "INSTORE", "identifierName": "mobile", "identifierValue": "1"})
    assert r.status_code != 401, r.text  # verified and cached; the answer does not matter here
    issued = await services.auth.rotate_credential(org.org_id,
                                                   await credential_id(services, org, "till"))
    assert issued.secret is not None
    monotonic.now += 1.1
    r = await elsewhere.get("/v2/customers/lookup", headers=old, params={
        "source": "INSTORE", "identifierName": "mobile", "identifierValue": "1"})
    assert r.status_code == 401, r.text
    new = till_auth(OrgCredentials(**{**org.as_dict(), "till_password": issued.secret}))
    r = await elsewhere.get("/v2/customers/lookup", headers=new, params={
        "source": "INSTORE", "identifierName": "mobile", "identifierValue": "1"})
    assert r.status_code != 401, r.text


async def test_a_token_revoked_through_one_server_stops_working_on_another(
        client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, org: OrgCredentials,
        monotonic: MovedTime) -> None:
    headers = await marketing_auth(client, org)
    assert (await elsewhere.get("/v1/me", headers=headers)).status_code == 200
    token = headers["Authorization"].removeprefix("Bearer ")
    r = await client.post("/v1/oauth/revoke", data={"token": token}, headers=headers)
    assert r.status_code == 200
    assert (await client.get("/v1/me", headers=headers)).status_code == 401
    monotonic.now += 1.1
    assert (await elsewhere.get("/v1/me", headers=headers)).status_code == 401


async def test_nothing_is_dropped_while_nothing_changes(
        elsewhere: httpx.AsyncClient, services: Services, org: OrgCredentials,
        monotonic: MovedTime, other_org: OrgCredentials) -> None:
    headers = workspace_auth(org)
    assert (await elsewhere.get("/api/customers/count", headers=headers)).status_code == 200
    other = elsewhere._transport.app.state.services.auth  # type: ignore[attr-defined]
    cached = dict(other._cache._items)
    assert cached
    for _ in range(3):
        monotonic.now += 1.1
        assert (await elsewhere.get("/api/customers/count", headers=headers)).status_code == 200
    assert other._cache._items.keys() == cached.keys()


async def test_a_refresh_token_is_spent_once_even_by_two_requests_at_once(
        client: httpx.AsyncClient, org: OrgCredentials) -> None:
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": org.marketing_client_id,
        "client_secret": org.marketing_client_secret})
    form = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]}
    answers = await asyncio.gather(*(client.post("/v1/oauth/token", data=form)
                                     for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400], \
        [a.text for a in answers]
    assert all(a.json() == {"error": "invalid_grant"} for a in answers if a.status_code == 400)


async def test_a_key_revoked_by_the_cli_stops_working_on_every_worker(db: Database,
                                                                      tmp_path: Path) -> None:
    env = {**patron_env(db, tmp_path / "store"), "PATRON_WORKERS": "2"}
    org = json.loads(patron(env, "org", "create", "--name", "revoked", "--json").stdout)
    key = json.loads(patron(env, "keys", "create", "--org", str(org["org_id"]),
                            "--kind", "workspace_key").stdout)
    proc, base = serve(env)
    headers = {"X-API-Key": key["login"]}
    try:
        with httpx.Client(base_url=base, timeout=5) as c:
            # Many connections, so that both workers verify and cache the key.
            for _ in range(20):
                with httpx.Client(base_url=base, timeout=5) as fresh:
                    assert fresh.get("/api/customers/count", headers=headers).status_code == 200
            patron(env, "keys", "revoke", "--org", str(org["org_id"]), "--id", str(key["id"]))
            time.sleep(1.2)
            statuses = []
            for _ in range(20):
                with httpx.Client(base_url=base, timeout=5) as fresh:
                    statuses.append(fresh.get("/api/customers/count", headers=headers)
                                    .status_code)
            assert statuses == [401] * 20
            assert c.get("/api/customers/count",
                         headers={"X-API-Key": org["workspace_key"]}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


async def test_the_scheduled_jobs_drop_expired_tokens(client: httpx.AsyncClient,
                                                      services: Services, org: OrgCredentials,
                                                      other_org: OrgCredentials,
                                                      clock: FixedClock,
                                                      settings: Settings) -> None:
    """A token is kept while it can be used: the jobs drop the expired ones, or a client that
    asks for a token per call would grow the store by a row per call for ever."""
    stored = sql("SELECT COUNT(*) FROM oauth_tokens WHERE org_id = $1")
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    assert r.status_code == 200
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": org.marketing_client_id,
        "client_secret": org.marketing_client_secret})
    first = r.json()
    await marketing_auth(client, other_org)
    assert await services.db.fetchval(stored, org.org_id) == 3
    # The loyalty token and the first access token expire; its refresh token does not.
    clock.advance(settings.marketing_token_ttl_seconds * 1000)
    fresh = await marketing_auth(client, org)
    await services.run_jobs(org.org_id)
    assert await services.db.fetchval(stored, org.org_id) == 3  # first refresh, fresh pair
    assert await services.db.fetchval(stored, other_org.org_id) == 2  # another org's jobs
    assert (await client.get("/v1/me", headers=fresh)).status_code == 200
    assert (await client.get("/v1/me", headers={
        "Authorization": f"Bearer {first['access_token']}"})).status_code == 401
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": org.marketing_client_id, "client_secret": org.marketing_client_secret})
    assert r.status_code == 200, r.text
