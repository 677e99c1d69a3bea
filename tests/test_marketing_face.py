"""The marketing face (Kajabi Public API v1, JSON:API) against the spec's shapes and rules."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from patron.app import create_app
from patron.auth import guard
from patron.clock import FixedClock
from patron.config import Settings
from patron.customers.models import Provenance
from patron.db.database import Database
from patron.db.ids import next_id
from patron.faces.marketing import params
from patron.faces.marketing.render import net_revenue
from patron.services import Services
from patron.tenancy import repository as tenancy_repo
from patron.tenancy.service import OrgCredentials
from tests.conftest import START_MS, MovedTime, add_customer, marketing_auth, till_auth
from tests.envelopes import assert_face_envelope

JSONAPI = "application/vnd.api+json"
BASE = "http://patron.test"


def creds_form(org: OrgCredentials) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": org.marketing_client_id,
            "client_secret": org.marketing_client_secret}


async def tokens(client: httpx.AsyncClient, org: OrgCredentials) -> dict[str, Any]:
    r = await client.post("/v1/oauth/token", data=creds_form(org))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def person(client: httpx.AsyncClient, loyalty: dict[str, str], clock: FixedClock,
                 first: str, last: str, email: str, **extra: Any) -> int:
    """A customer registered through the loyalty face, one second after the previous one."""
    clock.advance(1000)
    identifiers = [{"type": "email", "value": email}, *extra.pop("identifiers", [])]
    return await add_customer(client, loyalty, firstName=first, lastName=last,
                              identifiers=identifiers, **extra)


async def add_site(services: Services, org_id: int, title: str, subdomain: str = "") -> int:
    # No API creates a second site yet; the tenancy repository is the only write path for it.
    async with services.db.transaction() as tx:
        site_id = await next_id(tx)
        await tenancy_repo.insert_site(tx, org_id, site_id, title, "", subdomain,
                                       services.clock.now_ms())
    return site_id


def assert_error(r: httpx.Response, status: int, parameter: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == JSONAPI
    body = r.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert list(error) == ["status", "source", "title", "detail"]
    assert error["status"] == str(status)
    if parameter is not None:
        assert error["source"] == {"parameter": parameter}
    return error  # type: ignore[no-any-return]


# -- OAuth ---------------------------------------------------------------------------------


async def test_client_credentials_token(client: httpx.AsyncClient, org: OrgCredentials) -> None:
    r = await client.post("/v1/oauth/token", data=creds_form(org))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert list(body) == ["access_token", "refresh_token", "token_type", "expires_in"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["access_token"] != body["refresh_token"]
    r = await client.get("/v1/me", headers=bearer(body["access_token"]))
    assert r.status_code == 200


async def test_client_secret_basic_is_accepted(client: httpx.AsyncClient,
                                               org: OrgCredentials) -> None:
    pair = f"{org.marketing_client_id}:{org.marketing_client_secret}".encode()
    r = await client.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": "Basic " + base64.b64encode(pair).decode()})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401,
     "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "x"}, 400, "invalid_request"),
    ({"username": "a@example.com", "password": "secret"}, 400, "unsupported_grant_type"),
    ({"grant_type": "password", "username": "a@example.com", "password": "s"}, 400,
     "unsupported_grant_type"),
    ({"grant_type": "refresh_token", "refresh_token": "not-a-token"}, 400, "invalid_grant"),
    ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ({}, 400, "invalid_request"),
])
async def test_token_errors(client: httpx.AsyncClient, org: OrgCredentials,
                            form: dict[str, str], status: int, error: str) -> None:
    r = await client.post("/v1/oauth/token", data=form)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": error}


async def test_wrong_secret_is_invalid_client(client: httpx.AsyncClient,
                                              org: OrgCredentials) -> None:
    form = {**creds_form(org), "client_secret": "wrong"}
    r = await client.post("/v1/oauth/token", data=form)
    assert r.status_code == 401 and r.json() == {"error": "invalid_client"}
    assert r.headers["www-authenticate"] == 'Basic realm="oauth"'  # RFC 6749 §5.2


async def test_refresh_spends_the_refresh_token(client: httpx.AsyncClient,
                                                org: OrgCredentials) -> None:
    first = await tokens(client, org)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    r = await client.post("/v1/oauth/token", data=form)
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["token_type"] == "Bearer" and second["expires_in"] == 7200
    assert {second["access_token"], second["refresh_token"]}.isdisjoint(
        {first["access_token"], first["refresh_token"]})
    assert (await client.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200
    again = await client.post("/v1/oauth/token", data=form)
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}
    # The new refresh token works once in turn.
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert r.status_code == 200


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient,
                                                      org: OrgCredentials) -> None:
    first = await tokens(client, org)
    r = await client.post("/v1/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": first["access_token"]})
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}


@pytest.mark.parametrize("revoked", ["access_token", "refresh_token"])
async def test_revoking_either_token_invalidates_both(client: httpx.AsyncClient,
                                                      org: OrgCredentials, revoked: str) -> None:
    pair = await tokens(client, org)
    r = await client.post("/v1/oauth/revoke", data={"token": pair[revoked]},
                          headers=bearer(pair["access_token"]))
    assert r.status_code == 200 and r.content == b""
    assert_error(await client.get("/v1/me", headers=bearer(pair["access_token"])), 401)
    r = await client.post("/v1/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": pair["refresh_token"]})
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}


async def test_revoke_leaves_other_grants_alone(client: httpx.AsyncClient,
                                                org: OrgCredentials,
                                                other_org: OrgCredentials) -> None:
    mine, also_mine = await tokens(client, org), await tokens(client, org)
    theirs = await tokens(client, other_org)
    r = await client.post("/v1/oauth/revoke", data={"token": mine["access_token"]},
                          headers=bearer(mine["access_token"]))
    assert r.status_code == 200
    assert (await client.get("/v1/me", headers=bearer(also_mine["access_token"]))
            ).status_code == 200
    # Another organisation's token is not revoked (and that is not revealed).
    r = await client.post("/v1/oauth/revoke", data={"token": theirs["access_token"]},
                          headers=bearer(also_mine["access_token"]))
    assert r.status_code == 200
    assert (await client.get("/v1/me", headers=bearer(theirs["access_token"]))
            ).status_code == 200


async def test_revoke_needs_a_bearer_token_and_a_token(client: httpx.AsyncClient,
                                                       org: OrgCredentials) -> None:
    pair = await tokens(client, org)
    r = await client.post("/v1/oauth/revoke", data={"token": pair["access_token"]})
    assert r.status_code == 401 and r.json() == {"error": "invalid_token"}
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    r = await client.post("/v1/oauth/revoke", data={"token": pair["access_token"]},
                          headers=bearer("bogus"))
    assert r.status_code == 401 and r.json() == {"error": "invalid_token"}
    r = await client.post("/v1/oauth/revoke", data={}, headers=bearer(pair["access_token"]))
    assert r.status_code == 400 and r.json() == {"error": "invalid_request"}
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 200


async def test_the_oauth_routes_answer_their_own_envelope_whatever_refuses(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`{"error": ...}` (the OpenAPI document's errors_authentication_failed) also for what
    refuses a request before the route: its size, the method, the rate (with Retry-After)."""
    big = b"grant_type=client_credentials&client_id=" + b"x" * 2_000_000
    r = await client.post("/v1/oauth/token", content=big,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and set(r.json()) == {"error"}
    assert r.headers["content-type"] == "application/json"
    r = await client.get("/v1/oauth/token")
    assert r.status_code == 405 and set(r.json()) == {"error"} and r.headers["allow"] == "POST"
    pair = await tokens(client, org)
    # Mid-minute, so that the limit's window cannot turn between the requests.
    monkeypatch.setattr(guard, "time", MovedTime("time", 1_800_000_030.0))
    services.limiter.per_minute = 1
    try:
        answers = [await client.post("/v1/oauth/revoke", data={"token": "unknown"},
                                     headers=bearer(pair["access_token"])) for _ in range(3)]
    finally:
        services.limiter.per_minute = 0
    assert answers[-1].status_code == 429 and set(answers[-1].json()) == {"error"}
    assert answers[-1].headers["retry-after"] == "30"


# -- Bearer authentication -----------------------------------------------------------------


async def test_missing_or_bad_bearer_token_is_401(client: httpx.AsyncClient,
                                                  org: OrgCredentials) -> None:
    for headers in ({}, bearer("nope"), {"Authorization": "Bearer"},
                    {"Authorization": "Basic Zm9vOmJhcg=="}):
        for path in ("/v1/customers", "/v1/customers/1", "/v1/sites", "/v1/sites/1", "/v1/me"):
            r = await client.get(path, headers=headers)
            error = assert_error(r, 401)
            assert error["title"] == "Unauthorized" and error["source"] is None
            assert r.headers["www-authenticate"] == "Bearer"  # RFC 6750 §3


async def test_tokens_of_another_face_are_refused(client: httpx.AsyncClient,
                                                  org: OrgCredentials) -> None:
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    assert r.status_code == 200, r.text
    loyalty_token = r.json()["data"]["accessToken"]
    assert_error(await client.get("/v1/customers", headers=bearer(loyalty_token)), 401)
    assert_error(await client.get("/v1/customers",
                                  headers=bearer(org.workspace_key)), 401)


async def test_expired_token_is_401(client: httpx.AsyncClient, org: OrgCredentials,
                                    clock: FixedClock) -> None:
    pair = await tokens(client, org)
    # Used once, so that the verified token sits in the credential cache: expiry still holds.
    r = await client.get("/v1/customers", headers=bearer(pair["access_token"]))
    assert r.status_code == 200
    clock.advance(7200 * 1000 - 1)
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 200
    clock.advance(2)
    assert_error(await client.get("/v1/customers", headers=bearer(pair["access_token"])), 401)
    # The refresh token outlives the access token.
    r = await client.post("/v1/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": pair["refresh_token"]})
    assert r.status_code == 200


async def test_expired_refresh_token_is_invalid_grant(client: httpx.AsyncClient,
                                                      org: OrgCredentials,
                                                      clock: FixedClock) -> None:
    pair = await tokens(client, org)
    clock.advance(1_209_600 * 1000 + 1)
    r = await client.post("/v1/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": pair["refresh_token"]})
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}


# -- version, me, sites --------------------------------------------------------------------


async def test_version_needs_no_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/version")
    assert r.status_code == 200 and r.headers["content-type"] == JSONAPI
    body = r.json()
    assert list(body) == ["meta", "links", "jsonapi"]
    assert body["meta"]["version"] == "1.1.0" and body["meta"]["title"]
    assert body["links"] == {"documentation": f"{BASE}/docs"}
    assert body["jsonapi"]["version"] == "1.0"
    assert body["jsonapi"]["specficiation"].startswith("https://jsonapi.org/")


async def test_me(client: httpx.AsyncClient, services: Services) -> None:
    org = await services.tenancy.create_org("Jane Doe Studio")
    r = await client.get("/v1/me", headers=await marketing_auth(client, org))
    assert r.status_code == 200 and r.headers["content-type"] == JSONAPI
    data = r.json()["data"]
    assert list(data) == ["id", "type", "attributes"]
    assert data["type"] == "users" and data["id"].isdigit()
    assert data["attributes"] == {"initials": "JS", "name": "Jane Doe Studio", "email": "",
                                  "role_level": "OWNER"}


async def test_sites_list_and_show(client: httpx.AsyncClient, org: OrgCredentials) -> None:
    auth = await marketing_auth(client, org)
    r = await client.get("/v1/sites", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == JSONAPI
    body = r.json()
    assert body["data"] == [{"id": str(org.site_id), "type": "sites", "attributes": {
        "title": org.name, "subdomain": "", "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"}}]
    assert body["meta"] == {"total_pages": 1, "total_count": 1, "current_page": 1}
    assert body["links"]["self"] == f"{BASE}/v1/sites?page[number]=1&page[size]=20"
    assert body["links"]["next"] is None and body["links"]["prev"] is None

    r = await client.get(f"/v1/sites/{org.site_id}?fields[sites]=title", headers=auth)
    assert r.status_code == 200
    assert r.json()["data"] == {"id": str(org.site_id), "type": "sites",
                                "attributes": {"title": org.name}}
    assert r.json()["links"]["self"] == f"{BASE}/v1/sites/{org.site_id}?fields[sites]=title"
    assert_error(await client.get("/v1/sites/987654321", headers=auth), 404)
    assert_error(await client.get("/v1/sites/abc", headers=auth), 404)
    assert_error(await client.get("/v1/sites?fields[sites]=title,colour", headers=auth), 400,
                 "fields[sites]")


async def test_sites_sort_filter_and_tenancy(client: httpx.AsyncClient, services: Services,
                                             org: OrgCredentials,
                                             other_org: OrgCredentials) -> None:
    auth = await marketing_auth(client, org)
    await add_site(services, org.org_id, "Beginner Training", "beginner-training")
    await add_site(services, org.org_id, "Advanced 100% Training", "advanced")
    await add_site(services, other_org.org_id, "Their Training", "theirs")

    async def titles(query: str) -> list[str]:
        r = await client.get(f"/v1/sites?{query}", headers=auth)
        assert r.status_code == 200, r.text
        return [s["attributes"]["title"] for s in r.json()["data"]]

    assert await titles("sort=title") == sorted([org.name, "Beginner Training",
                                                 "Advanced 100% Training"])
    assert await titles("sort=-subdomain") == ["Beginner Training", "Advanced 100% Training",
                                               org.name]
    assert await titles("filter[title_cont]=TRAINING&sort=title") == [
        "Advanced 100% Training", "Beginner Training"]
    assert await titles("filter[title_cont]=100%25") == ["Advanced 100% Training"]
    assert await titles("filter[title_cont]=0_") == []
    assert await titles("filter[subdomain_cont]=begin") == ["Beginner Training"]
    await add_site(services, org.org_id, "DÉMO Straße", "démo")
    assert await titles("filter[title_cont]=démo") == ["DÉMO Straße"]
    assert await titles("filter[subdomain_cont]=DÉM") == ["DÉMO Straße"]
    assert_error(await client.get("/v1/sites?sort=created_at", headers=auth), 400, "sort")
    assert_error(await client.get("/v1/sites?filter[name]=x", headers=auth), 400, "filter[name]")
    other_site = (await client.get("/v1/sites", headers=await marketing_auth(client, other_org))
                  ).json()["data"][0]["id"]
    assert_error(await client.get(f"/v1/sites/{other_site}", headers=auth), 404)


# -- customers: listing --------------------------------------------------------------------


async def test_customer_list_document(client: httpx.AsyncClient, org: OrgCredentials,
                                      clock: FixedClock) -> None:
    loyalty = till_auth(org)
    customer_id = await person(client, loyalty, clock, "Alice", "Smith", "Alice@Example.com",
                               identifiers=[{"type": "externalId", "value": "cust_123"}])
    auth = await marketing_auth(client, org)
    r = await client.get("/v1/customers", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == JSONAPI
    cid = str(customer_id)
    assert r.json() == {
        "data": [{
            "id": cid,
            "type": "customers",
            "attributes": {
                "name": "Alice Smith", "email": "alice@example.com", "avatar": None,
                "external_user_id": "cust_123", "public_bio": None, "public_location": None,
                "public_website": None, "socials": None, "net_revenue": "0.0",
                "sign_in_count": 0, "last_request_at": None, "bounced_at": None,
                "created_at": "2026-01-01T00:00:01Z", "updated_at": "2026-01-01T00:00:01Z"},
            "relationships": {
                "contact": {"data": {"id": cid, "type": "contacts"}},
                "site": {"data": {"id": str(org.site_id), "type": "sites"}},
                "offers": {"links": {"self": f"{BASE}/v1/customers/{cid}/relationships/offers"}},
                "products": {"data": []}},
            "links": {"contact": f"{BASE}/v1/contacts/{cid}"},
        }],
        "links": {
            "self": f"{BASE}/v1/customers?page[number]=1&page[size]=20",
            "current": f"{BASE}/v1/customers?page[number]=1&page[size]=20",
            "first": f"{BASE}/v1/customers?page[number]=1&page[size]=20",
            "prev": None, "next": None,
            "last": f"{BASE}/v1/customers?page[number]=1&page[size]=20"},
        "meta": {"total_pages": 1, "total_count": 1, "current_page": 1},
    }


async def test_empty_list(client: httpx.AsyncClient, org: OrgCredentials) -> None:
    r = await client.get("/v1/customers", headers=await marketing_auth(client, org))
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == []
    assert body["meta"] == {"total_pages": 1, "total_count": 0, "current_page": 1}
    assert body["links"]["next"] is None and body["links"]["prev"] is None


async def test_paging_links_and_meta(client: httpx.AsyncClient, org: OrgCredentials,
                                     clock: FixedClock) -> None:
    loyalty = till_auth(org)
    ids = [await person(client, loyalty, clock, f"Person{i}", "Smith", f"p{i}@example.com")
           for i in range(5)]
    auth = await marketing_auth(client, org)
    newest_first = [str(i) for i in reversed(ids)]

    r = await client.get("/v1/customers?page[number]=2&page[size]=2", headers=auth)
    body = r.json()
    assert [c["id"] for c in body["data"]] == newest_first[2:4]
    link = f"{BASE}/v1/customers?page[number]={{}}&page[size]=2"
    assert body["links"] == {"self": link.format(2), "current": link.format(2),
                             "first": link.format(1), "prev": link.format(1),
                             "next": link.format(3), "last": link.format(3)}
    assert body["meta"] == {"total_pages": 3, "total_count": 5, "current_page": 2}

    r = await client.get("/v1/customers?page[size]=2&page[number]=3", headers=auth)
    body = r.json()
    assert [c["id"] for c in body["data"]] == newest_first[4:]
    assert body["links"]["next"] is None
    assert body["links"]["self"] == f"{BASE}/v1/customers?page[size]=2&page[number]=3"

    # Past the end: an empty page whose prev points at the last page.
    r = await client.get("/v1/customers?page[number]=9&page[size]=2", headers=auth)
    body = r.json()
    assert body["data"] == [] and body["meta"]["current_page"] == 9
    assert body["links"]["prev"] == link.format(3) and body["links"]["next"] is None

    # Every other parameter is kept, in its place, with brackets and commas unencoded.
    query = ("filter[search]=smith&fields[customers]=name,email&page[number]=1&page[size]=2"
             "&sort=-created_at")
    r = await client.get(f"/v1/customers?{query}", headers=auth)
    body = r.json()
    assert body["links"]["self"] == f"{BASE}/v1/customers?{query}"
    assert body["links"]["next"] == f"{BASE}/v1/customers?{query}".replace(
        "page[number]=1", "page[number]=2")
    r = await client.get("/v1/customers?filter[search]=a b&page[size]=2", headers=auth)
    assert r.json()["links"]["first"] == (
        f"{BASE}/v1/customers?filter[search]=a%20b&page[size]=2&page[number]=1")

    # Walking `next` visits every customer once.
    seen: list[str] = []
    next_url: str | None = f"{BASE}/v1/customers?page[size]=2"
    while next_url:
        page = (await client.get(next_url, headers=auth)).json()
        seen += [c["id"] for c in page["data"]]
        next_url = page["links"]["next"]
    assert seen == newest_first


async def test_public_url_builds_the_links(db: Database, clock: FixedClock, settings: Settings,
                                           org: OrgCredentials) -> None:
    app = create_app(settings.with_(public_url="https://cdp.example.com/patron"), database=db,
                     clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://internal:8000") as client:
        customer_id = await person(client, till_auth(org), clock, "Al", "Bo", "al@example.com")
        auth = await marketing_auth(client, org)
        body = (await client.get("/v1/customers", headers=auth)).json()
        assert body["links"]["self"] == (
            "https://cdp.example.com/patron/v1/customers?page[number]=1&page[size]=20")
        assert body["data"][0]["links"]["contact"] == (
            f"https://cdp.example.com/patron/v1/contacts/{customer_id}")


@pytest.mark.parametrize(("query", "parameter"), [
    ("page[number]=0", "page[number]"),
    ("page[number]=-1", "page[number]"),
    ("page[number]=abc", "page[number]"),
    ("page[number]=1.5", "page[number]"),
    ("page[number]=", "page[number]"),
    ("page[number]=99999999999999999999", "page[number]"),
    ("page[number]=%C2%B2", "page[number]"),
    ("page[size]=0", "page[size]"),
    ("page[size]=-5", "page[size]"),
    ("page[size]=101", "page[size]"),
    ("page[size]=1e3", "page[size]"),
    ("page[offset]=10", "page[offset]"),
    ("sort=colour", "sort"),
    ("sort=-", "sort"),
    ("sort=name,-email", "sort"),
    ("fields[customers]=name,shoe_size", "fields[customers]"),
    ("fields[contacts]=name,shoe_size", "fields[contacts]"),
    ("include=tags", "include"),
    ("filter[site_id]=abc", "filter[site_id]"),
    ("filter[no_such_filter]=1", "filter[no_such_filter]"),
])
async def test_bad_list_parameters_are_400_or_404(client: httpx.AsyncClient,
                                                  org: OrgCredentials, query: str,
                                                  parameter: str) -> None:
    r = await client.get(f"/v1/customers?{query}", headers=await marketing_auth(client, org))
    status = 404 if parameter == "filter[site_id]" else 400
    error = assert_error(r, status, parameter)
    assert error["title"] == ("Not Found" if status == 404 else "Bad Request")
    assert error["detail"]


async def test_page_size_up_to_the_maximum(client: httpx.AsyncClient,
                                           org: OrgCredentials) -> None:
    r = await client.get("/v1/customers?page[size]=100", headers=await marketing_auth(client, org))
    assert r.status_code == 200


async def test_filters_not_supported_yet_are_refused(client: httpx.AsyncClient,
                                                     org: OrgCredentials, clock: FixedClock
                                                     ) -> None:
    await person(client, till_auth(org), clock, "Alice", "Smith", "alice@example.com")
    auth = await marketing_auth(client, org)
    assert len(params.CUSTOMER_FILTERS_LATER) == 71  # the spec's 73 filters less the two served
    for name in params.CUSTOMER_FILTERS_LATER:
        r = await client.get(f"/v1/customers?filter[{name}]=1", headers=auth)
        error = assert_error(r, 400, f"filter[{name}]")
        assert error["detail"] == f"filter[{name}] is not supported yet"


async def test_sort(client: httpx.AsyncClient, org: OrgCredentials, services: Services,
                    clock: FixedClock) -> None:
    loyalty = till_auth(org)
    bob = await person(client, loyalty, clock, "Bob", "Jones", "zed@example.com")
    alice = await person(client, loyalty, clock, "Alice", "Smith", "yan@example.com")
    carol = await person(client, loyalty, clock, "Carol", "White", "xia@example.com")
    auth = await marketing_auth(client, org)

    async def order(sort: str | None) -> list[int]:
        query = "" if sort is None else f"?sort={sort}"
        r = await client.get(f"/v1/customers{query}", headers=auth)
        assert r.status_code == 200, r.text
        return [int(c["id"]) for c in r.json()["data"]]

    assert await order(None) == [carol, alice, bob]  # newest first
    assert await order("-created_at") == [carol, alice, bob]
    assert await order("created_at") == [bob, alice, carol]
    assert await order("name") == [alice, bob, carol]
    assert await order("-name") == [carol, bob, alice]
    assert await order("email") == [carol, alice, bob]
    assert await order("-email") == [bob, alice, carol]
    # Equal values (no revenue, no requests yet) fall back to the id, in the same direction.
    assert await order("net_revenue") == sorted([bob, alice, carol])
    assert await order("-last_request_at") == sorted([bob, alice, carol], reverse=True)
    # Case does not order names, and on both engines a missing value comes last going up and
    # first going down.
    aaron = await person(client, loyalty, clock, "aaron", "lower", "wu@example.com")
    prov = Provenance(None, clock.now_ms())
    await services.engagement.ingest(org.org_id, [
        {"kind": "sign_in", "customer": {"id": bob}, "at": START_MS}], prov)
    assert await order("name") == [aaron, alice, bob, carol]
    assert await order("-name") == [carol, bob, alice, aaron]
    # Without a name, a customer is ordered by the name shown for them (their e-mail address's
    # part before the @); without an e-mail address either, as a missing value.
    bree = await add_customer(client, loyalty, identifiers=[
        {"type": "email", "value": "Bree@example.com"}])
    nameless = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "919900007777"}])
    assert await order("name") == [aaron, alice, bob, bree, carol, nameless]
    assert await order("-name") == [nameless, carol, bree, bob, alice, aaron]
    assert (await order("last_request_at"))[0] == bob
    assert (await order("-last_request_at"))[-1] == bob
    # Letters of every script are compared without case, then by code point, alike on both
    # engines (SQLite's own lower() folds ASCII only: "ÉMILE Zola" came before "émile Ada").
    emile = await person(client, loyalty, clock, "ÉMILE", "Zola", "ez@example.com")
    zoe = await person(client, loyalty, clock, "Zoe", "Zed", "zz@example.com")
    eda = await person(client, loyalty, clock, "émile", "Ada", "ea@example.com")
    names = await order("name")
    assert names.index(zoe) < names.index(eda) < names.index(emile)


async def test_sparse_fieldsets(client: httpx.AsyncClient, org: OrgCredentials,
                                clock: FixedClock) -> None:
    customer_id = await person(client, till_auth(org), clock, "Alice", "Smith",
                               "alice@example.com")
    auth = await marketing_auth(client, org)
    r = await client.get("/v1/customers?fields[customers]=name,email", headers=auth)
    item = r.json()["data"][0]
    assert item["attributes"] == {"name": "Alice Smith", "email": "alice@example.com"}
    assert item["relationships"] == {}
    r = await client.get("/v1/customers?fields[customers]=email,site", headers=auth)
    item = r.json()["data"][0]
    assert item["attributes"] == {"email": "alice@example.com"}
    assert item["relationships"] == {"site": {"data": {"id": str(org.site_id), "type": "sites"}}}
    r = await client.get("/v1/customers?fields[customers]=", headers=auth)
    assert r.json()["data"][0]["attributes"] == {}
    r = await client.get(f"/v1/customers/{customer_id}?fields[customers]=name", headers=auth)
    assert r.json()["data"]["attributes"] == {"name": "Alice Smith"}
    assert r.json()["data"]["relationships"] == {}


async def test_search(client: httpx.AsyncClient, org: OrgCredentials, clock: FixedClock) -> None:
    loyalty = till_auth(org)
    john = await person(client, loyalty, clock, "John", "Smith", "john@example.com")
    alexa = await person(client, loyalty, clock, "Alexa", "Jones", "alexa@example.org")
    await person(client, loyalty, clock, "Bob", "Brown", "bob@example.com")
    auth = await marketing_auth(client, org)

    async def found(term: str) -> list[int]:
        r = await client.get("/v1/customers", params={"filter[search]": term}, headers=auth)
        assert r.status_code == 200
        assert r.json()["meta"]["total_count"] == len(r.json()["data"])
        return [int(c["id"]) for c in r.json()["data"]]

    assert await found("smith") == [john]
    assert await found("ALEXA") == [alexa]
    assert await found("example.org") == [alexa]
    assert await found("nobody") == []
    assert len(await found("")) == 3
    # U+0000 cannot be in a name (SQLite's LIKE stopped there and matched everyone): bad input.
    for path in ("/v1/customers?filter[search]=%00zzzz", "/v1/sites?filter[title_cont]=%00z"):
        r = await client.get(path, headers=auth)
        assert r.status_code == 400, r.text
        assert_face_envelope(path, r)


async def test_site_filter(client: httpx.AsyncClient, services: Services, org: OrgCredentials,
                           other_org: OrgCredentials, clock: FixedClock) -> None:
    first = await person(client, till_auth(org), clock, "Alice", "Smith", "alice@example.com")
    auth = await marketing_auth(client, org)
    r = await client.get(f"/v1/customers?filter[site_id]={org.site_id}", headers=auth)
    assert [int(c["id"]) for c in r.json()["data"]] == [first]
    # Another organisation's site is answered as a missing one.
    assert_error(await client.get(f"/v1/customers?filter[site_id]={other_org.site_id}",
                                  headers=auth), 404, "filter[site_id]")
    assert_error(await client.get("/v1/customers?filter[site_id]=123456789", headers=auth), 404,
                 "filter[site_id]")

    # With a second site the filter becomes required, and it scopes the listing.
    second_site = await add_site(services, org.org_id, "Second")
    error = assert_error(await client.get("/v1/customers", headers=auth), 400, "filter[site_id]")
    assert "required" in error["detail"]
    r = await client.get(f"/v1/customers?filter[site_id]={second_site}", headers=auth)
    assert r.status_code == 200 and r.json()["data"] == []
    assert r.json()["meta"]["total_count"] == 0
    r = await client.get(f"/v1/customers?filter[site_id]={org.site_id}", headers=auth)
    assert [int(c["id"]) for c in r.json()["data"]] == [first]


async def test_other_orgs_customers_are_not_listed_or_shown(client: httpx.AsyncClient,
                                                           org: OrgCredentials,
                                                           other_org: OrgCredentials,
                                                           clock: FixedClock) -> None:
    mine = await person(client, till_auth(org), clock, "Alice", "Smith", "alice@example.com")
    theirs = await person(client, till_auth(other_org), clock, "Alice", "Smith",
                          "alice@example.com")
    auth = await marketing_auth(client, org)
    r = await client.get("/v1/customers?filter[search]=alice", headers=auth)
    assert [int(c["id"]) for c in r.json()["data"]] == [mine]
    assert r.json()["meta"]["total_count"] == 1
    error = assert_error(await client.get(f"/v1/customers/{theirs}", headers=auth), 404)
    assert error["title"] == "Not Found"
    other_auth = await marketing_auth(client, other_org)
    assert (await client.get(f"/v1/customers/{theirs}", headers=other_auth)).status_code == 200
    assert_error(await client.get(f"/v1/customers/{mine}", headers=other_auth), 404)


# -- customers: one --------------------------------------------------------------------------


async def test_show_customer(client: httpx.AsyncClient, org: OrgCredentials,
                             clock: FixedClock) -> None:
    customer_id = await person(client, till_auth(org), clock, "Alice", "Smith",
                               "alice@example.com",
                               identifiers=[{"type": "mobile", "value": "+91 99860-00581"}])
    auth = await marketing_auth(client, org)
    cid = str(customer_id)
    r = await client.get(f"/v1/customers/{cid}", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == JSONAPI
    body = r.json()
    assert list(body) == ["data", "links"]
    assert body["links"] == {"self": f"{BASE}/v1/customers/{cid}",
                             "current": f"{BASE}/v1/customers/{cid}"}
    data = body["data"]
    assert list(data) == ["id", "type", "attributes", "relationships", "links"]
    assert data["id"] == cid and data["type"] == "customers"
    assert list(data["attributes"]) == [
        "name", "email", "avatar", "external_user_id", "public_bio", "public_location",
        "public_website", "socials", "net_revenue", "sign_in_count", "last_request_at",
        "bounced_at", "created_at", "updated_at"]
    assert data["attributes"]["created_at"] == "2026-01-01T00:00:01Z"
    assert data["relationships"] == {
        "contact": {"data": {"id": cid, "type": "contacts"}},
        "site": {"data": {"id": str(org.site_id), "type": "sites"}},
        "offers": {"data": [],
                   "links": {"self": f"{BASE}/v1/customers/{cid}/relationships/offers"}},
        "products": {"data": []}}
    assert data["links"] == {"contact": f"{BASE}/v1/contacts/{cid}"}

    r = await client.get(f"/v1/customers/{cid}?include=contact,offers,products", headers=auth)
    body = r.json()
    assert list(body) == ["data", "included", "links"]
    assert body["included"] == [{"id": cid, "type": "contacts", "attributes": {
        "name": "Alice Smith", "email": "alice@example.com", "phone_number": "919986000581",
        "business_number": None, "subscribed": False, "address_line_1": None,
        "address_line_2": None, "address_city": None, "address_state": None,
        "address_country": None, "external_user_id": None, "address_zip": None,
        "created_at": "2026-01-01T00:00:01Z", "updated_at": "2026-01-01T00:00:01Z"}}]
    r = await client.get(f"/v1/customers/{cid}?include=products&fields[customers]=name"
                         "&fields[product]=title", headers=auth)
    assert r.json()["data"]["relationships"] == {} and r.json()["included"] == []
    r = await client.get(f"/v1/customers/{cid}?include=contact&fields[contacts]=email",
                         headers=auth)
    assert r.json()["included"][0]["attributes"] == {"email": "alice@example.com"}
    # Filters on included offers and products are accepted (there are none to narrow).
    r = await client.get(f"/v1/customers/{cid}?include=offers&filter[offers_search]=gold"
                         "&filter[offers_page]=1&filter[offers_per]=10", headers=auth)
    assert r.status_code == 200 and r.json()["included"] == []
    assert_error(await client.get(f"/v1/customers/{cid}?include=offers&filter[offers_per]=0",
                                  headers=auth), 400, "filter[offers_per]")
    # Without include the show filters are ignored, as the spec says.
    r = await client.get(f"/v1/customers/{cid}?filter[offers_per]=0&filter[products_page]=x",
                         headers=auth)
    assert r.status_code == 200, r.text
    # filter[site_id], which the spec recommends on every call, names the customer's site.
    r = await client.get(f"/v1/customers/{cid}?filter[site_id]={org.site_id}", headers=auth)
    assert r.status_code == 200 and r.json()["data"]["id"] == cid
    assert_error(await client.get(f"/v1/customers/{cid}?filter[site_id]=999999", headers=auth),
                 404, "filter[site_id]")
    assert_error(await client.get(f"/v1/customers/{cid}?filter[colour]=red", headers=auth),
                 400, "filter[colour]")
    assert_error(await client.get(f"/v1/customers/{cid}?include=tags", headers=auth), 400,
                 "include")


async def test_include_contact_on_the_list(client: httpx.AsyncClient, org: OrgCredentials,
                                           services: Services, clock: FixedClock) -> None:
    loyalty = till_auth(org)
    ids = [await person(client, loyalty, clock, n, "Smith", f"{n}@example.com")
           for n in ("ann", "ben", "cy")]
    # ann subscribed to e-mail; ben subscribed, then unsubscribed; cy never did.
    prov = Provenance(None, clock.now_ms())
    outcomes = await services.engagement.ingest(org.org_id, [
        {"kind": "email_subscription", "customer": {"id": ids[0]}, "action": "subscribed",
         "at": START_MS},
        {"kind": "email_subscription", "customer": {"id": ids[1]}, "action": "subscribed",
         "at": START_MS},
        {"kind": "email_subscription", "customer": {"id": ids[1]}, "action": "unsubscribed",
         "at": START_MS + 1}], prov)
    assert all(o.error is None for o in outcomes)
    auth = await marketing_auth(client, org)
    body = (await client.get("/v1/customers?include=contact", headers=auth)).json()
    assert [c["id"] for c in body["included"]] == [str(i) for i in reversed(ids)]
    assert {c["type"] for c in body["included"]} == {"contacts"}
    assert [c["attributes"]["subscribed"] for c in body["included"]] == [False, False, True]
    body = (await client.get("/v1/customers?include=offers", headers=auth)).json()
    assert body["included"] == []
    assert "included" not in (await client.get("/v1/customers", headers=auth)).json()


async def test_name_and_email_are_always_strings(client: httpx.AsyncClient,
                                                org: OrgCredentials) -> None:
    """The spec types both as strings, the name made from the e-mail address when blank; a
    customer made through another face may have neither."""
    loyalty = till_auth(org)
    named_by_email = await add_customer(client, loyalty,
                                        identifiers=[{"type": "email", "value": "zed@example.com"}])
    nothing = await add_customer(client, loyalty,
                                 identifiers=[{"type": "mobile", "value": "919986000999"}])
    auth = await marketing_auth(client, org)
    for customer_id, name, email in ((named_by_email, "zed", "zed@example.com"),
                                     (nothing, "", "")):
        r = await client.get(f"/v1/customers/{customer_id}?include=contact", headers=auth)
        attributes = r.json()["data"]["attributes"]
        assert (attributes["name"], attributes["email"]) == (name, email)
        contact = r.json()["included"][0]["attributes"]
        assert (contact["name"], contact["email"]) == (name, email)


async def test_missing_and_deleted_customers_are_404(client: httpx.AsyncClient,
                                                     services: Services, org: OrgCredentials,
                                                     clock: FixedClock) -> None:
    customer_id = await person(client, till_auth(org), clock, "Alice", "Smith",
                               "alice@example.com")
    auth = await marketing_auth(client, org)
    for path in ("/v1/customers/999999999", "/v1/customers/abc", "/v1/customers/-1",
                 "/v1/customers/9999999999999999999999"):
        assert_error(await client.get(path, headers=auth), 404)
    await services.privacy.delete_customer(org.org_id, customer_id)
    assert_error(await client.get(f"/v1/customers/{customer_id}", headers=auth), 404)
    assert (await client.get("/v1/customers", headers=auth)).json()["data"] == []


async def test_net_revenue_is_a_decimal_string(client: httpx.AsyncClient, services: Services,
                                               org: OrgCredentials, clock: FixedClock) -> None:
    customer_id = await person(client, till_auth(org), clock, "Alice", "Smith",
                               "alice@example.com")
    await services.commerce.record_purchase(org.org_id, customer_id, "B-1", 12_500, START_MS,
                                            None)
    await services.commerce.record_purchase(org.org_id, customer_id, "B-2", 7, START_MS, None)
    auth = await marketing_auth(client, org)
    r = await client.get(f"/v1/customers/{customer_id}", headers=auth)
    assert r.json()["data"]["attributes"]["net_revenue"] == "12.507"
    assert [net_revenue(v) for v in (0, 1000, 12_500, 100_000, -2_500, None)] == [
        "0.0", "1.0", "12.5", "100.0", "-2.5", None]


async def test_errors_use_the_jsonapi_envelope(client: httpx.AsyncClient,
                                               org: OrgCredentials) -> None:
    auth = await marketing_auth(client, org)
    error = assert_error(await client.get("/v1/no-such-route", headers=auth), 404)
    assert error["source"] is None
    error = assert_error(await client.delete("/v1/customers", headers=auth), 405)
    assert error["title"] == "Method Not Allowed"
