"""The workspace face: Linquid's customers API, its envelope, scopes, one store with the rest."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from patron.customers import repository as customers_repo
from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance
from patron.services import Services
from tests.conftest import START_MS, MovedTime, add_customer, till_auth, workspace_auth

CUSTOMER_KEYS = ["id", "externalId", "email", "phone", "firstName", "lastName", "name",
                 "avatarUrl", "clickId", "metadata", "ltv", "totalRevenue", "status",
                 "createdAt", "updatedAt"]
ANN = {"externalId": "user-42", "email": " Ann@Example.com ", "phone": "+91 99860-00581",
       "firstName": "Ann", "lastName": "Lee", "clickId": "clk_1",
       "metadata": {"plan": "pro", "seats": 3}}


@pytest.fixture
def work(org: Any) -> dict[str, str]:
    return workspace_auth(org)


async def create(client: httpx.AsyncClient, headers: dict[str, str], status: int = 201,
                 **body: Any) -> dict[str, Any]:
    r = await client.post("/api/customers", headers=headers, json=body)
    assert r.status_code == status, r.text
    assert r.json()["success"] is True
    return r.json()["data"]  # type: ignore[no-any-return]


async def scoped_key(services: Services, org: Any, scopes: str) -> dict[str, str]:
    async with services.db.transaction() as tx:
        issued = await services.auth.create_credential(tx, org.org_id, "workspace_key",
                                                       name="limited", scopes=scopes)
    return {"X-API-Key": issued.login}


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body


# -- authentication and scopes -----------------------------------------------------------------

async def test_missing_and_invalid_keys_are_401(client: httpx.AsyncClient, org: Any) -> None:
    r = await client.get("/api/customers")
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": {
        "code": "UNAUTHORIZED", "message": "Invalid or missing API key"}}
    for headers in ({"Authorization": "Bearer lw_live_not-a-key"},
                    {"X-API-Key": "lw_test_nope"}, {"X-API-Key": "lw_live_" + "x" * 5000}):
        r = await client.get("/api/customers", headers=headers)
        assert r.json() == {"success": False, "error": {
            "code": "INVALID_API_KEY", "message": "Invalid or missing API key"}}
        assert r.status_code == 401
    # Another face's credentials are no workspace key.
    assert_error(await client.get("/api/customers", headers=till_auth(org)), 401,
                 "UNAUTHORIZED")
    assert_error(await client.get("/api/customers",
                                  headers={"Authorization": f"Basic {org.workspace_key}"}),
                 401, "UNAUTHORIZED")


async def test_bearer_and_x_api_key_both_work(client: httpx.AsyncClient, org: Any) -> None:
    assert org.workspace_key.startswith("lw_live_")
    for headers in ({"Authorization": f"Bearer {org.workspace_key}"},
                    {"Authorization": f"bearer {org.workspace_key}"},
                    {"X-API-Key": org.workspace_key}):
        r = await client.get("/api/customers/count", headers=headers)
        assert r.status_code == 200, r.text


async def test_test_mode_keys_and_revoked_keys(client: httpx.AsyncClient, services: Services,
                                               org: Any) -> None:
    async with services.db.transaction() as tx:
        issued = await services.auth.create_credential(tx, org.org_id, "workspace_key",
                                                       test_mode=True)
    assert issued.login.startswith("lw_test_")
    headers = {"X-API-Key": issued.login}
    assert (await client.get("/api/customers/count", headers=headers)).status_code == 200
    await services.auth.revoke_credential(org.org_id, issued.id)
    assert_error(await client.get("/api/customers/count", headers=headers), 401,
                 "INVALID_API_KEY")


async def test_each_route_needs_its_scope(client: httpx.AsyncClient, services: Services,
                                          org: Any, work: dict[str, str]) -> None:
    made = await create(client, work, externalId="scoped")
    path = f"/api/customers/{made['id']}"
    calls = {
        "links:read": [("GET", "/api/customers", None), ("GET", "/api/customers/count", None),
                       ("GET", path, None)],
        "links:create": [("POST", "/api/customers", {"externalId": "scoped-2"})],
        "links:update": [("PATCH", path, {"firstName": "X"})],
        "links:delete": [("DELETE", path, None)],
    }
    keys = {scope: await scoped_key(services, org, scope) for scope in calls}
    for scope, requests in calls.items():
        for other, headers in keys.items():
            if other == scope:
                continue
            for method, url, body in requests:
                r = await client.request(method, url, headers=headers, json=body)
                assert_error(r, 403, "FORBIDDEN")
                if body is not None:  # the scope is checked before the body is read
                    r = await client.request(method, url, headers={
                        **headers, "content-type": "application/json"}, content=b"{not json")
                    assert_error(r, 403, "FORBIDDEN")
    # analytics:read alone reads no customers (customer CRUD reads need links:read).
    analytics = await scoped_key(services, org, "analytics:read")
    assert_error(await client.get("/api/customers", headers=analytics), 403, "FORBIDDEN")
    for scope, requests in calls.items():
        for method, url, body in requests:
            r = await client.request(method, url, headers=keys[scope], json=body)
            assert r.status_code in (200, 201), (scope, method, url, r.text)


async def test_rate_limit_is_429_with_retry_after(client: httpx.AsyncClient,
                                                  services: Services, work: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from patron.auth import guard

    # Mid-minute, so that the window cannot turn between the requests.
    monkeypatch.setattr(guard, "time", MovedTime("time", 1_800_000_030.0))
    services.limiter.per_minute = 2
    for _ in range(2):
        assert (await client.get("/api/customers/count", headers=work)).status_code == 200
    r = await client.get("/api/customers/count", headers=work)
    assert_error(r, 429, "RATE_LIMITED")
    assert r.headers["retry-after"] == "30"  # the seconds to the next window


# -- create, upsert, read ----------------------------------------------------------------------

async def test_create_returns_201_and_the_customer_object(client: httpx.AsyncClient,
                                                          work: dict[str, str]) -> None:
    r = await client.post("/api/customers", headers=work, json={**ANN, "unknownField": 1})
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["success", "data"] and body["success"] is True
    data = body["data"]
    assert list(data) == CUSTOMER_KEYS
    assert isinstance(data["id"], int)
    assert data == {
        "id": data["id"], "externalId": "user-42", "email": "ann@example.com",
        "phone": "919986000581", "firstName": "Ann", "lastName": "Lee", "name": "Ann Lee",
        "avatarUrl": None, "clickId": "clk_1", "metadata": {"plan": "pro", "seats": 3},
        "ltv": 0, "totalRevenue": 0, "status": "active",
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
    r = await client.get(f"/api/customers/{data['id']}", headers=work)
    assert r.status_code == 200 and r.json() == {"success": True, "data": data}
    r = await client.get("/api/customers/ext_user-42", headers=work)
    assert r.status_code == 200 and r.json()["data"] == data


async def test_external_ids_with_slashes_are_found(client: httpx.AsyncClient,
                                                   work: dict[str, str]) -> None:
    """An external id such as a URL reaches every by-id route (`%2F` arrives decoded)."""
    made = await create(client, work, 201, externalId="https://crm.example/u/1")
    path = "/api/customers/ext_https%3A%2F%2Fcrm.example%2Fu%2F1"
    r = await client.get(path, headers=work)
    assert r.status_code == 200 and r.json()["data"]["id"] == made["id"]
    r = await client.patch(path, headers=work, json={"firstName": "Uri"})
    assert r.status_code == 200 and r.json()["data"]["firstName"] == "Uri"
    r = await client.delete(path, headers=work)
    assert r.status_code == 200 and r.json()["data"] == {"id": made["id"], "deleted": True}
    # A slash elsewhere is no customer id.
    r = await client.get(f"/api/customers/{made['id']}/x", headers=work)
    assert_error(r, 404, "NOT_FOUND")


async def test_post_again_upserts_by_external_id(client: httpx.AsyncClient, clock: Any,
                                                 work: dict[str, str]) -> None:
    first = await create(client, work, **ANN)
    clock.advance(60_000)
    again = await create(client, work, status=200, externalId="user-42",
                         email="ann.lee@example.com", metadata={"seats": 5, "team": "a"})
    assert again["id"] == first["id"]
    assert again["email"] == "ann.lee@example.com"
    assert again["phone"] == first["phone"] and again["firstName"] == "Ann"
    assert again["metadata"] == {"plan": "pro", "seats": 5, "team": "a"}  # merged by key
    assert again["createdAt"] == first["createdAt"]
    assert again["updatedAt"] == "2026-01-01T00:01:00Z"
    count = (await client.get("/api/customers/count", headers=work)).json()
    assert count == {"success": True, "data": {"count": 1}}
    # The replaced email no longer names anybody: another customer may take it.
    other = await create(client, work, externalId="user-43", email="ann@example.com")
    assert other["id"] != first["id"]


async def test_external_id_is_trimmed_and_numeric_ids_accepted(client: httpx.AsyncClient,
                                                               work: dict[str, str]) -> None:
    made = await create(client, work, externalId=12345)
    assert made["externalId"] == "12345"
    again = await create(client, work, status=200, externalId=" 12345 ", firstName="N")
    assert again["id"] == made["id"] and again["firstName"] == "N"
    r = await client.get("/api/customers/ext_12345", headers=work)
    assert r.status_code == 200 and r.json()["data"]["id"] == made["id"]


async def test_name_is_split_when_first_and_last_are_absent(client: httpx.AsyncClient,
                                                            work: dict[str, str]) -> None:
    made = await create(client, work, externalId="n1", name="  Mary Ann Smith ")
    assert (made["firstName"], made["lastName"], made["name"]) == (
        "Mary", "Ann Smith", "Mary Ann Smith")
    made = await create(client, work, externalId="n2", name="Cher")
    assert (made["firstName"], made["lastName"], made["name"]) == ("Cher", None, "Cher")
    made = await create(client, work, externalId="n3", name="Ignored Name", firstName="Bo")
    assert (made["firstName"], made["lastName"], made["name"]) == ("Bo", None, "Bo")


async def test_unknown_ids_are_404(client: httpx.AsyncClient, work: dict[str, str]) -> None:
    for path in ("/api/customers/999999", "/api/customers/abc", "/api/customers/ext_nobody",
                 "/api/customers/ext_", "/api/customers/-1", "/api/customers/1.5",
                 "/api/customers/" + "9" * 30, "/api/customers/\u0663"):
        for method in ("GET", "PATCH", "DELETE"):
            r = await client.request(method, path, headers=work,
                                     json={"firstName": "x"} if method == "PATCH" else None)
            assert_error(r, 404, "NOT_FOUND")
            assert r.json()["error"]["message"] == "Customer not found"


# -- list and count ----------------------------------------------------------------------------

async def test_list_pages_sorts_and_counts(client: httpx.AsyncClient, clock: Any,
                                           work: dict[str, str]) -> None:
    ids = []
    for n in range(5):
        ids.append((await create(client, work, externalId=f"c{n}", firstName=f"P{n}"))["id"])
        clock.advance(1000)
    r = await client.get("/api/customers", headers=work)
    body = r.json()
    assert list(body) == ["success", "data", "pagination"]
    assert [c["id"] for c in body["data"]] == ids[::-1]  # newest first by default
    assert body["pagination"] == {"total": 5, "page": 1, "limit": 20, "hasMore": False,
                                  "totalPages": 1}
    assert list(body["data"][0]) == CUSTOMER_KEYS
    r = await client.get("/api/customers?limit=2&page=2&sortOrder=asc", headers=work)
    assert [c["id"] for c in r.json()["data"]] == ids[2:4]
    assert r.json()["pagination"] == {"total": 5, "page": 2, "limit": 2, "hasMore": True,
                                      "totalPages": 3}
    r = await client.get("/api/customers?limit=2&page=3&sortOrder=DESC", headers=work)
    assert [c["id"] for c in r.json()["data"]] == ids[:1]
    assert r.json()["pagination"]["hasMore"] is False
    r = await client.get("/api/customers?limit=2&page=9", headers=work)
    assert r.json()["data"] == [] and r.json()["pagination"]["total"] == 5
    r = await client.get("/api/customers?limit=100", headers=work)
    assert r.status_code == 200 and len(r.json()["data"]) == 5
    r = await client.get("/api/customers/count", headers=work)
    assert r.json() == {"success": True, "data": {"count": 5}}


async def test_search_matches_identity_fields(client: httpx.AsyncClient,
                                              work: dict[str, str]) -> None:
    ann = await create(client, work, **ANN)
    bob = await create(client, work, externalId="bob-7", email="bob@shop.io", name="Bob Ray")
    cy = await create(client, work, externalId="cy", email="cy_dee@shop.io", clickId="Clk_9")
    for term, expected in (("ann", [ann]), ("ANN@EXAMPLE", [ann]), ("9986000581", [ann]),
                           ("bob-7", [bob]), ("ray", [bob]), ("user-42", [ann]),
                           ("example.com", [ann]), ("nobody", []), ("  ", [cy, bob, ann]),
                           ("%", []), ("_", [cy, ann]), ("b_b", []), ("bob_7", []),
                           ("cy_dee", [cy]), ("y_d", [cy]), ("cy%dee", []), ("\\", []),
                           # the click id is an identity field too (seed 003)
                           ("clk_9", [cy]), ("CLK", [cy, ann]), ("clk_1", [ann]),
                           # a phone number as it was written, with + and separators
                           ("+91 99860-00581", [ann]), ("+91 (99860)", [ann]), ("+44", [])):
        r = await client.get("/api/customers", headers=work, params={"search": term})
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["data"]] == [c["id"] for c in expected], term
        assert r.json()["pagination"]["total"] == len(expected)
    r = await client.patch(f"/api/customers/{cy['id']}", headers=work, json={"clickId": "clk-x"})
    assert r.status_code == 200, r.text
    for term, expected in (("clk_9", []), ("clk-x", [cy])):
        r = await client.get("/api/customers", headers=work, params={"search": term})
        assert [c["id"] for c in r.json()["data"]] == [c["id"] for c in expected], term


async def test_wrong_method_is_405_in_the_envelope(client: httpx.AsyncClient,
                                                   work: dict[str, str]) -> None:
    r = await client.put("/api/customers", headers=work, json={})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


async def test_bad_list_parameters_are_400(client: httpx.AsyncClient,
                                           work: dict[str, str]) -> None:
    for query in ("limit=101", "limit=0", "limit=-1", "limit=abc", "page=0", "page=abc",
                  "page=99999999999999999999", "sortOrder=up", "sortOrder=",
                  "search=" + "x" * 201, "search=%00zzzz"):
        r = await client.get(f"/api/customers?{query}", headers=work)
        assert_error(r, 400, "VALIDATION_ERROR")


# -- update ------------------------------------------------------------------------------------

async def test_patch_updates_fields_and_keeps_the_rest(client: httpx.AsyncClient, clock: Any,
                                                       work: dict[str, str]) -> None:
    made = await create(client, work, **ANN)
    clock.advance(5000)
    r = await client.patch(f"/api/customers/{made['id']}", headers=work, json={
        "lastName": "Lee-Park", "clickId": "clk_2", "avatarUrl": "https://cdn.example/a.png",
        "metadata": {"seats": 4}})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data == {**made, "lastName": "Lee-Park", "name": "Ann Lee-Park", "clickId": "clk_2",
                    "avatarUrl": "https://cdn.example/a.png",
                    "metadata": {"plan": "pro", "seats": 4},
                    "updatedAt": "2026-01-01T00:00:05Z"}
    r = await client.patch("/api/customers/ext_user-42", headers=work, json={})
    assert r.status_code == 200 and r.json()["data"] == data
    r = await client.patch("/api/customers/ext_user-42", headers=work)  # no body at all
    assert r.status_code == 200 and r.json()["data"] == data
    # null clears a field; an absent one is kept
    r = await client.patch(f"/api/customers/{made['id']}", headers=work, json={
        "phone": None, "clickId": None, "firstName": None})
    data = r.json()["data"]
    assert (data["phone"], data["clickId"], data["firstName"], data["lastName"]) == (
        None, None, None, "Lee-Park")
    assert data["email"] == "ann@example.com"


async def test_patch_replaces_external_id_email_and_phone(client: httpx.AsyncClient,
                                                          loyalty: dict[str, str],
                                                          work: dict[str, str]) -> None:
    made = await create(client, work, **ANN)
    r = await client.patch(f"/api/customers/{made['id']}", headers=work, json={
        "externalId": "user-42b", "email": "new@example.com", "phone": "+1 415 555 0100"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["externalId"], data["email"], data["phone"]) == (
        "user-42b", "new@example.com", "14155550100")
    assert_error(await client.get("/api/customers/ext_user-42", headers=work), 404, "NOT_FOUND")
    r = await client.get("/api/customers/ext_user-42b", headers=work)
    assert r.json()["data"]["id"] == made["id"]
    # The loyalty face sees one value of each type, and old values resolve nobody.
    r = await client.get(f"/v2/customers/{made['id']}?source=INSTORE", headers=loyalty)
    profile = r.json()["profiles"][0]
    assert profile["identifiers"] == [{"type": "externalId", "value": "user-42b"},
                                      {"type": "email", "value": "new@example.com"},
                                      {"type": "mobile", "value": "14155550100"}]
    assert [(c["type"], c["value"]) for c in profile["commChannels"]] == [
        ("email", "new@example.com"), ("mobile", "14155550100")]
    for name, value in (("externalId", "user-42"), ("email", "ann@example.com"),
                        ("mobile", "919986000581")):
        r = await client.get("/v2/customers/lookup", headers=loyalty, params={
            "source": "INSTORE", "identifierName": name, "identifierValue": value})
        assert r.status_code == 404, (name, r.text)
    # ... and are free for another customer.
    other = await create(client, work, externalId="user-42", email="ann@example.com",
                         phone="+91 99860-00581")
    assert other["id"] != made["id"]
    r = await client.get("/api/customers/search", headers=work)
    assert r.status_code == 404
    r = await client.get("/api/customers", headers=work, params={"search": "ann@example"})
    assert [c["id"] for c in r.json()["data"]] == [other["id"]]


async def test_patch_to_a_taken_external_id_is_409(client: httpx.AsyncClient,
                                                   work: dict[str, str]) -> None:
    ann = await create(client, work, **ANN)
    bob = await create(client, work, externalId="bob-7", email="bob@shop.io")
    r = await client.patch(f"/api/customers/{bob['id']}", headers=work,
                           json={"externalId": "user-42"})
    assert_error(r, 409, "DUPLICATE_EXTERNAL_ID")
    r = await client.patch(f"/api/customers/{bob['id']}", headers=work,
                           json={"email": "ANN@example.com"})
    assert_error(r, 409, "CONFLICT")
    assert r.json()["error"]["message"] == "email already belongs to another customer"
    r = await client.patch(f"/api/customers/{bob['id']}", headers=work,
                           json={"phone": ANN["phone"]})
    assert_error(r, 409, "CONFLICT")
    # nothing changed
    r = await client.get(f"/api/customers/{bob['id']}", headers=work)
    assert (r.json()["data"]["externalId"], r.json()["data"]["email"]) == ("bob-7", "bob@shop.io")
    r = await client.get("/api/customers/ext_user-42", headers=work)
    assert r.json()["data"]["id"] == ann["id"]
    # Re-stating one's own external id is no conflict.
    r = await client.patch(f"/api/customers/{ann['id']}", headers=work,
                           json={"externalId": "user-42"})
    assert r.status_code == 200


async def test_post_with_another_customers_email_is_409(client: httpx.AsyncClient,
                                                        work: dict[str, str]) -> None:
    await create(client, work, **ANN)
    r = await client.post("/api/customers", headers=work,
                          json={"externalId": "user-99", "email": "ann@example.com"})
    assert_error(r, 409, "CONFLICT")
    assert_error(await client.get("/api/customers/ext_user-99", headers=work), 404, "NOT_FOUND")
    bob = await create(client, work, externalId="bob-7", email="bob@shop.io")
    r = await client.post("/api/customers", headers=work,
                          json={"externalId": "bob-7", "email": "ann@example.com"})
    assert_error(r, 409, "CONFLICT")
    r = await client.get(f"/api/customers/{bob['id']}", headers=work)
    assert r.json()["data"]["email"] == "bob@shop.io"


# -- delete ------------------------------------------------------------------------------------

async def test_delete_scrubs_and_hides_the_customer(client: httpx.AsyncClient,
                                                    services: Services, org: Any,
                                                    loyalty: dict[str, str],
                                                    work: dict[str, str]) -> None:
    made = await create(client, work, **ANN)
    kept = await create(client, work, externalId="stays")
    r = await client.delete(f"/api/customers/{made['id']}", headers=work)
    assert r.status_code == 200
    assert r.json() == {"success": True, "data": {"id": made["id"], "deleted": True}}
    for path in (f"/api/customers/{made['id']}", "/api/customers/ext_user-42"):
        assert_error(await client.get(path, headers=work), 404, "NOT_FOUND")
    assert_error(await client.delete(f"/api/customers/{made['id']}", headers=work), 404,
                 "NOT_FOUND")
    assert_error(await client.patch(f"/api/customers/{made['id']}", headers=work,
                                    json={"firstName": "Back"}), 404, "NOT_FOUND")
    r = await client.get("/api/customers", headers=work)
    assert [c["id"] for c in r.json()["data"]] == [kept["id"]]
    assert r.json()["pagination"]["total"] == 1
    r = await client.get("/api/customers/count", headers=work)
    assert r.json()["data"]["count"] == 1
    # PII is gone from the store, the id stays.
    row = await customers_repo.customer(services.db, org.org_id, made["id"])
    assert row is not None
    assert {k: row[k] for k in ("status", "email", "mobile", "name", "external_id", "click_id",
                                "metadata")} == {
        "status": "deleted", "email": None, "mobile": None, "name": "", "external_id": None,
        "click_id": None, "metadata": "{}"}
    # The identifiers are free again: the same external id makes a new customer.
    again = await create(client, work, externalId="user-42", email="ann@example.com")
    assert again["id"] != made["id"]
    r = await client.get(f"/v2/customers/{made['id']}?source=INSTORE", headers=loyalty)
    assert r.status_code == 404


# -- bad input ---------------------------------------------------------------------------------

async def test_bad_bodies_are_400_validation_errors(client: httpx.AsyncClient,
                                                    work: dict[str, str]) -> None:
    made = await create(client, work, externalId="valid")
    path = f"/api/customers/{made['id']}"
    json_headers = {**work, "content-type": "application/json"}
    raw_cases = [b"{not json", b"", b"[]", b'"x"', b"null", b"123"]
    for content in raw_cases:
        for method, url in (("POST", "/api/customers"), ("PATCH", path)):
            r = await client.request(method, url, headers=json_headers, content=content)
            if method == "PATCH" and content in (b"", b"null"):  # no fields: nothing changes
                assert r.status_code == 200 and r.json()["data"] == made, r.text
                continue
            assert_error(r, 400, "VALIDATION_ERROR")
    post_cases: list[dict[str, Any]] = [
        {}, {"email": "a@b.co"}, {"externalId": None}, {"externalId": ""},
        {"externalId": "   "}, {"externalId": True}, {"externalId": 1.5},
        {"externalId": ["a"]}, {"externalId": {"a": 1}}, {"externalId": "x" * 321},
        {"externalId": "e", "email": "not-an-email"}, {"externalId": "e", "email": 5},
        {"externalId": "e", "phone": "call me"}, {"externalId": "e", "phone": "12"},
        {"externalId": "e", "phone": 919986000581}, {"externalId": "e", "firstName": 1},
        {"externalId": "e", "firstName": "x" * 201}, {"externalId": "e", "metadata": "x"},
        {"externalId": "e", "metadata": [1]}, {"externalId": "e", "clickId": {"a": 1}},
        {"externalId": "e", "metadata": {"k": "v" * 20_000}},
        {"externalId": "e", "avatarUrl": "x" * 3000}, {"externalId": "e", "name": False},
        {"externalId": "e", "avatarUrl": "not a url"},
        {"externalId": "e", "avatarUrl": "javascript:alert(1)"},
        {"externalId": "e", "avatarUrl": "https://"},
    ]
    for body in post_cases:
        r = await client.post("/api/customers", headers=work, json=body)
        assert_error(r, 400, "VALIDATION_ERROR")
    for body in ({"externalId": None}, {"externalId": ""}, {"email": "nope"},
                 {"metadata": "x"}, {"phone": "abc"}, {"lastName": ["x"]}):
        r = await client.patch(path, headers=work, json=body)
        assert_error(r, 400, "VALIDATION_ERROR")
    r = await client.get(path, headers=work)
    assert r.json()["data"] == made
    count = (await client.get("/api/customers/count", headers=work)).json()["data"]["count"]
    assert count == 1


async def test_messages_name_the_field(client: httpx.AsyncClient, work: dict[str, str]) -> None:
    r = await client.post("/api/customers", headers=work, json={"firstName": "x"})
    assert r.json()["error"] == {"code": "VALIDATION_ERROR", "message": "externalId is required"}
    r = await client.post("/api/customers", headers=work,
                          json={"externalId": "e", "email": "bad"})
    assert r.json()["error"]["message"] == "email is not an email address"
    r = await client.get("/api/customers?sortOrder=up", headers=work)
    assert r.json()["error"]["message"] == "sortOrder must be asc or desc"
    # A value that no member of a union takes: the field, and what each member wanted.
    r = await client.post("/api/customers", headers=work, json={"externalId": 1.5})
    assert r.json()["error"]["message"] == (
        "externalId: Input should be a valid string, or a valid integer")
    r = await client.post("/api/customers", headers={**work, "content-type": "application/json"},
                          content=b"{")
    assert r.json()["error"]["message"] == "malformed JSON body"


# -- tenancy -----------------------------------------------------------------------------------

async def test_another_workspace_sees_nothing(client: httpx.AsyncClient, other_org: Any,
                                              work: dict[str, str]) -> None:
    made = await create(client, work, **ANN)
    theirs = workspace_auth(other_org)
    for method, path in (("GET", f"/api/customers/{made['id']}"),
                         ("GET", "/api/customers/ext_user-42"),
                         ("PATCH", f"/api/customers/{made['id']}"),
                         ("PATCH", "/api/customers/ext_user-42"),
                         ("DELETE", f"/api/customers/{made['id']}")):
        r = await client.request(method, path, headers=theirs,
                                 json={"firstName": "Mallory"} if method == "PATCH" else None)
        assert_error(r, 404, "NOT_FOUND")
    r = await client.get("/api/customers", headers=theirs, params={"search": "ann"})
    assert r.json()["data"] == [] and r.json()["pagination"]["total"] == 0
    assert (await client.get("/api/customers/count", headers=theirs)).json()["data"] == {
        "count": 0}
    # The same external id in another workspace is another customer.
    mine_too = await create(client, theirs, **ANN)
    assert mine_too["id"] != made["id"]
    r = await client.get(f"/api/customers/{made['id']}", headers=work)
    assert r.json()["data"] == made


# -- one store, three faces --------------------------------------------------------------------

async def test_workspace_customer_is_seen_by_the_loyalty_face(client: httpx.AsyncClient,
                                                              loyalty: dict[str, str],
                                                              work: dict[str, str]) -> None:
    made = await create(client, work, **ANN)
    r = await client.get(f"/v2/customers/{made['id']}?source=INSTORE", headers=loyalty)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == made["id"]
    profile = body["profiles"][0]
    assert (profile["firstName"], profile["lastName"]) == ("Ann", "Lee")
    assert profile["identifiers"] == [{"type": "externalId", "value": "user-42"},
                                      {"type": "email", "value": "ann@example.com"},
                                      {"type": "mobile", "value": "919986000581"}]
    r = await client.get("/v2/customers/lookup", headers=loyalty, params={
        "source": "INSTORE", "identifierName": "externalId", "identifierValue": "user-42"})
    assert r.json()["entity"] == made["id"]


async def test_loyalty_customer_is_seen_by_the_workspace_face(client: httpx.AsyncClient,
                                                              loyalty: dict[str, str],
                                                              work: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, firstName="Tom", lastName="Sawyer",
                                     identifiers=[{"type": "externalId", "value": "EXT-9"},
                                                  {"type": "mobile", "value": "919812345678"}])
    r = await client.get("/api/customers/ext_EXT-9", headers=work)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["id"], data["externalId"], data["phone"], data["email"]) == (
        customer_id, "EXT-9", "919812345678", None)
    assert (data["firstName"], data["lastName"], data["name"]) == ("Tom", "Sawyer",
                                                                    "Tom Sawyer")
    # A workspace upsert with that external id updates the same customer; the loyalty face
    # sees the change.
    again = await create(client, work, status=200, externalId="EXT-9", email="tom@river.org")
    assert again["id"] == customer_id
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=loyalty)
    assert {"type": "email", "value": "tom@river.org"} in r.json()["profiles"][0]["identifiers"]


async def test_customer_of_another_source_shows_its_oldest_profile(
        client: httpx.AsyncClient, loyalty: dict[str, str], work: dict[str, str]) -> None:
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [{
        "source": "WECHAT", "accountId": "wx-1", "firstName": "Wei", "lastName": "Chen",
        "identifiers": [{"type": "wechat", "value": "wx_abc"},
                        {"type": "externalId", "value": "wx-ext"}]}]})
    assert r.status_code == 200, r.text
    customer_id = r.json()["createdId"]
    data = (await client.get("/api/customers/ext_wx-ext", headers=work)).json()["data"]
    assert (data["id"], data["firstName"], data["externalId"]) == (customer_id, "Wei",
                                                                   "wx-ext")
    # The workspace face writes its own INSTORE profile, which it then shows.
    r = await client.patch(f"/api/customers/{customer_id}", headers=work,
                           json={"firstName": "William", "email": "w@chen.cn"})
    data = r.json()["data"]
    assert (data["firstName"], data["lastName"], data["email"], data["externalId"]) == (
        "William", None, "w@chen.cn", "wx-ext")
    r = await client.get(f"/v2/customers/{customer_id}?source=ALL", headers=loyalty)
    assert sorted(p["source"] for p in r.json()["profiles"]) == ["INSTORE", "WECHAT"]


async def test_ltv_comes_from_recorded_purchases(client: httpx.AsyncClient, services: Services,
                                                 org: Any, work: dict[str, str]) -> None:
    made = await create(client, work, externalId="buyer")
    await services.commerce.record_purchase(org.org_id, made["id"], "B-1", 12_500, START_MS,
                                            None)
    await services.commerce.record_purchase(org.org_id, made["id"], "B-2", 1_005, START_MS,
                                            None)
    data = (await client.get(f"/api/customers/{made['id']}", headers=work)).json()["data"]
    assert (data["ltv"], data["totalRevenue"]) == (13.505, 13.505)
    r = await client.get("/api/customers", headers=work)
    assert r.json()["data"][0]["ltv"] == 13.505


# -- the domain rule behind PATCH --------------------------------------------------------------

async def test_replaced_value_held_by_another_profile_stays_registered(
        services: Services, org: Any) -> None:
    customers = services.customers
    prov = Provenance(None, START_MS)
    written = await customers.register(org.org_id, CustomerInput(profiles=[
        ProfileInput(identifiers=[Identifier("email", "a@x.io")]),
        ProfileInput(source="WECHAT", account_id="w",
                     identifiers=[Identifier("email", "a@x.io"),
                                  Identifier("wechat", "wx")])]), prov)
    await customers.update(org.org_id, written.customer_id, CustomerInput(profiles=[
        ProfileInput(identifiers=[Identifier("email", "b@x.io")])]), prov,
        replace_types={"email"})
    # The WECHAT profile still holds a@x.io, so it still resolves the customer.
    assert await customers.resolve(org.org_id, "email", "a@x.io") == written.customer_id
    assert await customers.resolve(org.org_id, "email", "b@x.io") == written.customer_id
    # Without replace_types an update adds (the loyalty face's rule).
    await customers.update(org.org_id, written.customer_id, CustomerInput(profiles=[
        ProfileInput(identifiers=[Identifier("email", "c@x.io")])]), prov)
    record = await customers.get(org.org_id, written.customer_id)
    instore = next(p for p in record.profiles if p["source"] == "INSTORE")
    assert '"b@x.io"' in instore["identifiers"] and '"c@x.io"' in instore["identifiers"]
