"""The loyalty face's customer routes, against Capillary's documented shapes and codes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from patron.customers.models import READ_SOURCES
from patron.faces.loyalty.routes import EMBEDS, UG2_PARAMS
from patron.services import Services
from tests.conftest import add_customer, till_auth
from tests.envelopes import assert_face_envelope

TOM = {
    "firstName": "Tom", "lastName": "Sawyer",
    "identifiers": [{"type": "mobile", "value": "+91 99860-00581"},
                    {"type": "email", "value": "  Tom@Example.COM "}],
}


async def test_register_then_read_back_in_seed_shape(client: httpx.AsyncClient,
                                                     loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, extendedFields={"city": "Mumbai"}, **TOM)
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=loyalty)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["id", "profiles", "loyaltyInfo", "segments", "associatedWith",
                          "extendedFields", "cardDetails", "warnings"]
    profile = body["profiles"][0]
    assert profile["identifiers"] == [{"type": "mobile", "value": "919986000581"},
                                      {"type": "email", "value": "tom@example.com"}]
    assert profile["commChannels"][0] == {
        "type": "mobile", "value": "919986000581", "primary": True, "verified": False,
        "meta": {"residence": False, "office": False}, "attributes": {}}
    assert profile["attribution"]["createDate"] == "2026-01-01T00:00:00Z"
    assert profile["attribution"]["createdBy"]["type"] == "TILL"
    assert set(profile["attribution"]["createdBy"]) == {"id", "code", "name", "type",
                                                        "referenceId", "default"}
    assert profile["source"] == "INSTORE" and profile["userId"] == customer_id
    assert profile["accountId"] == "" and profile["conflictingProfileList"] == []
    assert profile["identifiersAll"] == profile["identifiers"]
    info = body["loyaltyInfo"]
    assert info["loyaltyType"] == "loyalty" and info["lifetimePurchases"] == 0
    assert info["attributionV2"]["createdBy"]["adminType"] == "GENERAL"
    assert info["attributionV2"]["createdFromSource"] == "instore"
    assert body["extendedFields"] == {"city": "Mumbai"}
    assert body["associatedWith"] == profile["attribution"]["createdBy"]["code"]


async def test_source_is_required_and_validated(client: httpx.AsyncClient,
                                                loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    r = await client.get(f"/v2/customers/{customer_id}?source=FACEBOOKX", headers=loyalty)
    assert r.status_code == 400
    assert r.json() == {"errors": [{"status": False, "code": 8003, "message": "Invalid source"}],
                        "warnings": []}
    r = await client.get(f"/v2/customers/{customer_id}", headers=loyalty)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8016


async def test_missing_customer_is_8015(client: httpx.AsyncClient,
                                        loyalty: dict[str, str]) -> None:
    for path in ("/v2/customers/999999?source=INSTORE", "/v2/customers/abc?source=INSTORE"):
        r = await client.get(path, headers=loyalty)
        assert r.status_code == 404
        assert r.json()["errors"][0] == {"status": False, "code": 8015,
                                         "message": "Customer not found for the given identifiers"}


async def test_other_orgs_customer_is_a_404(client: httpx.AsyncClient, loyalty: dict[str, str],
                                            other_org: Any) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                         headers=till_auth(other_org))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015


async def test_identifier_in_other_source_joins_with_8050(client: httpx.AsyncClient,
                                                          loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [{
        "source": "wechat", "accountId": "wx-1",  # any case, as reads take it
        "identifiers": [{"type": "mobile", "value": "919986000581"},
                        {"type": "wechat", "value": "wx-tom"}]}]})
    assert r.status_code == 200
    assert r.json() == {"createdId": customer_id, "sideEffects": [], "warnings": [
        {"status": False, "code": 8050,
         "message": "Same Customer found in other sources,Combining"}]}
    body = (await client.get(f"/v2/customers/{customer_id}?source=ALL", headers=loyalty)).json()
    assert [p["source"] for p in body["profiles"]] == ["INSTORE", "WECHAT"]
    assert {"type": "wechat", "value": "wx-tom"} in body["profiles"][0]["identifiersAll"]
    # The mobile both profiles hold is listed once, in the first profile's place.
    all_identifiers = body["profiles"][0]["identifiersAll"]
    assert [i for i in all_identifiers if i["type"] == "mobile"] == [
        {"type": "mobile", "value": "919986000581"}]
    assert all_identifiers[-1] == {"type": "wechat", "value": "wx-tom"}
    assert body["profiles"][1]["identifiersAll"] == all_identifiers
    only = (await client.get(f"/v2/customers/{customer_id}?source=WECHAT&accountId=wx-1"
                             "&includedOnlyCurrentProfile=true", headers=loyalty)).json()
    assert [p["source"] for p in only["profiles"]] == ["WECHAT"]


async def test_same_source_again_is_8006(client: httpx.AsyncClient,
                                         loyalty: dict[str, str]) -> None:
    await add_customer(client, loyalty, **TOM)
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [TOM]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8006


async def test_identifiers_of_two_customers_conflict(client: httpx.AsyncClient,
                                                     loyalty: dict[str, str]) -> None:
    await add_customer(client, loyalty, identifiers=[{"type": "mobile", "value": "919000000001"}])
    await add_customer(client, loyalty, identifiers=[{"type": "email", "value": "b@example.com"}])
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [{
        "source": "LINE", "identifiers": [{"type": "mobile", "value": "919000000001"},
                                          {"type": "email", "value": "b@example.com"}]}]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8053


async def test_invalid_secondary_identifier_is_a_warning_invalid_only_is_an_error(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [{
        "identifiers": [{"type": "mobile", "value": "919000000002"},
                        {"type": "email", "value": "not-an-email"}]}]})
    assert r.status_code == 200
    assert r.json()["warnings"] == [{"status": False, "code": 8055, "message": "Invalid email id"}]
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [{
        "identifiers": [{"type": "mobile", "value": "12ab"}]}]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8014
    r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [{}]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8005


async def test_update_keeps_what_it_does_not_mention(client: httpx.AsyncClient,
                                                     loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, extendedFields={"city": "Pune"}, **TOM)
    r = await client.put(f"/v2/customers/{customer_id}", headers=loyalty, json={
        "profiles": [{"source": "INSTORE", "lastName": "Finn",
                      "identifiers": [{"type": "externalId", "value": "EXT-9"}]}],
        "extendedFields": {"gender": "Male"}})
    assert r.status_code == 200 and r.json()["createdId"] == customer_id
    body = (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                             headers=loyalty)).json()
    p = body["profiles"][0]
    assert (p["firstName"], p["lastName"]) == ("Tom", "Finn")
    assert [i["type"] for i in p["identifiers"]] == ["mobile", "email", "externalId"]
    assert body["extendedFields"] == {"city": "Pune", "gender": "Male"}
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=externalId"
                         "&identifierValue=EXT-9", headers=loyalty)
    assert r.json() == {"entity": customer_id, "warnings": []}


async def test_lookup_and_lookup_details(client: httpx.AsyncClient,
                                         loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=mobile"
                         "&identifierValue=919986000581", headers=loyalty)
    assert r.status_code == 200 and r.json() == {"entity": customer_id, "warnings": []}
    r = await client.get("/v2/customers/lookup/customerDetails?source=INSTORE"
                         "&identifierName=email&identifierValue=TOM@example.com",
                         headers=loyalty)
    assert r.status_code == 200 and r.json()["id"] == customer_id
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=email"
                         "&identifierValue=nobody@example.com", headers=loyalty)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015
    r = await client.get("/v2/customers/lookup?source=INSTORE", headers=loyalty)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 11013
    # Dual eligibility: several identifiers, in the same order, all naming the customer.
    base = "/v2/customers/lookup/customerDetails?source=INSTORE"
    r = await client.get(f"{base}&identifierName=email,mobile"
                         "&identifierValue=tom@example.com,919986000581", headers=loyalty)
    assert r.status_code == 200 and r.json()["id"] == customer_id
    other = await add_customer(client, loyalty, identifiers=[
        {"type": "email", "value": "huck@example.com"}])
    assert other != customer_id
    for names, values in (("email,mobile", "huck@example.com,919986000581"),
                          ("email,mobile", "nobody@example.com,919986000581")):
        r = await client.get(f"{base}&identifierName={names}&identifierValue={values}",
                             headers=loyalty)
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0] == {"status": False, "code": 8015, "message":
                                         "Customer not found for the given identifiers"}
    r = await client.get(f"{base}&identifierName=email,mobile&identifierValue=tom@example.com",
                         headers=loyalty)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8013
    # A source with accounts needs accountId, on both look-ups.
    for path in ("lookup", "lookup/customerDetails"):
        r = await client.get(f"/v2/customers/{path}?source=WECHAT&identifierName=mobile"
                             "&identifierValue=919986000581", headers=loyalty)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015
    r = await client.get("/v2/customers/lookup?source=WECHAT&accountId=wx-1"
                         "&identifierName=mobile&identifierValue=919986000581", headers=loyalty)
    assert r.status_code == 200 and r.json() == {"entity": customer_id, "warnings": []}


async def test_flags_and_unknown_embeds(client: httpx.AsyncClient,
                                        loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&ndncStatus=true"
                         "&optinStatus=true&embed=bogus", headers=loyalty)
    body = r.json()
    assert body["ndncStatus"] == "NONE" and body["optinStatus"] == "NONE"
    assert body["warnings"][0]["message"] == "Invalid embed value: bogus"
    # embed is an array: repeated keys, as generated clients send arrays, add up.
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&embed=subscriptions"
                         "&embed=bogus,mlp&embed=tuba", headers=loyalty)
    body = r.json()
    assert "subscriptionInfo" in body
    assert [w["message"] for w in body["warnings"]] == ["Invalid embed value: bogus",
                                                        "Invalid embed value: tuba"]
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&ndncStatus=maybe",
                         headers=loyalty)
    assert r.status_code == 400 and "errors" in r.json()


async def test_pii_deletion_scrubs_and_answers_deleted(client: httpx.AsyncClient,
                                                       loyalty: dict[str, str],
                                                       services: Any, org: Any) -> None:
    customer_id = await add_customer(client, loyalty, extendedFields={"city": "Pune"}, **TOM)
    r = await client.post("/v2/requests", headers=loyalty, json={
        "type": "CUSTOMER", "baseType": "DELETE", "comments": "APP DELETION",
        "customerIdentificationInfo": {"source": "INSTORE", "identifierType": "mobile",
                                       "identifierValue": "919986000581"}})
    assert r.status_code == 200
    request_id = r.json()["createdId"]
    # Pending: nothing is scrubbed yet.
    assert (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                             headers=loyalty)).status_code == 200
    r = await client.put("/v2/requests", headers=loyalty, json=[
        {"type": "CUSTOMER", "baseType": "DELETE", "id": str(request_id), "status": "APPROVED",
         "comments": "ok"}])
    assert r.status_code == 200
    assert r.json() == {"response": [{"entityId": str(request_id), "result": True,
                                      "warnings": []}], "totalCount": 1, "failureCount": 0}
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=loyalty)
    assert r.status_code == 404
    assert r.json()["errors"][0]["message"] == "Customer is deleted after PII delete request"
    # Nothing personal is left in any table that held it.
    db = services.db
    from patron.db.statement import sql
    rows = await db.fetch(sql("SELECT first_name, last_name, identifiers, comm_channels, fields "
                              "FROM profiles WHERE org_id = $1 AND customer_id = $2"),
                          org.org_id, customer_id)
    assert [tuple(r) for r in rows] == [(None, None, "[]", "[]", "{}")]
    left = await db.fetchval(sql("SELECT count(*) FROM identifiers WHERE org_id = $1 AND "
                                 "customer_id = $2"), org.org_id, customer_id)
    assert left == 0
    row = await db.fetchrow(sql("SELECT name, email, mobile, search_text, extended_fields, "
                                "external_id, status FROM customers WHERE org_id = $1 AND id = $2"),
                            org.org_id, customer_id)
    assert tuple(row) == ("", None, None, "", "{}", None, "deleted")
    # The identifiers are free again; deciding twice is refused.
    await add_customer(client, loyalty, **TOM)
    r = await client.put("/v2/requests", headers=loyalty, json=[
        {"type": "CUSTOMER", "baseType": "DELETE", "id": str(request_id), "status": "REJECTED"}])
    assert r.status_code == 400 and r.json()["response"][0]["errors"][0]["code"] == 9052


async def test_oauth_token_and_header(client: httpx.AsyncClient, org: Any) -> None:
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    assert r.status_code == 200
    data = r.json()
    assert data["errors"] is None and data["data"]["ttlSeconds"] == 1800
    headers = {"X-CAP-API-OAUTH-TOKEN": data["data"]["accessToken"]}
    customer_id = await add_customer(client, headers, **TOM)
    assert (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                             headers=headers)).status_code == 200
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": "wrong"})
    assert r.status_code == 401 and r.json() == {"data": None, "errors": [
        {"status": False, "code": 401, "message": "Invalid key or secret"}]}
    # Every error of the token route has its envelope: a body it cannot read, a wrong method.
    for method, body in (("POST", {"key": org.loyalty_key}), ("POST", {"key": 1, "secret": 2}),
                         ("GET", None)):
        r = await client.request(method, "/v3/oauth/token/generate", json=body)
        assert r.status_code in (400, 405) and set(r.json()) == {"data", "errors"}, r.text
        assert r.json()["data"] is None and r.json()["errors"][0]["status"] is False


async def test_basic_auth_accepts_upper_case_md5_and_rejects_bad(client: httpx.AsyncClient,
                                                                 org: Any) -> None:
    import base64
    import hashlib
    md5 = hashlib.md5(org.till_password.encode()).hexdigest().upper()
    header = base64.b64encode(f"{org.till_code}:{md5}".encode()).decode()
    r = await client.get("/v2/customers/1?source=INSTORE",
                         headers={"Authorization": f"Basic {header}"})
    assert r.status_code == 404
    for bad in ("Basic !!!", "Basic " + base64.b64encode(b"nobody:x").decode(), "Bearer x", ""):
        r = await client.get("/v2/customers/1?source=INSTORE", headers={"Authorization": bad})
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == 401


async def test_failed_sign_ins_are_limited_and_cost_the_same_for_unknown_logins(
        client: httpx.AsyncClient, org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A login cannot be found by timing (an unknown one is checked against a stand-in hash,
    as long as a wrong secret), and a password cannot be guessed faster than
    FAILED_SIGN_INS_PER_MINUTE tries a minute; a till already verified keeps working."""
    import base64
    import hashlib

    from patron.auth import service as auth_service

    checked: list[str] = []
    verify = auth_service.verify_password
    monkeypatch.setattr(auth_service, "verify_password",
                        lambda stored, value: checked.append(value) or verify(stored, value))

    def basic(code: str, password: str, *, upper: bool = False) -> dict[str, str]:
        md5 = hashlib.md5(password.encode()).hexdigest()  # noqa: S324 - Capillary's scheme
        md5 = md5.upper() if upper else md5
        return {"Authorization": "Basic " + base64.b64encode(f"{code}:{md5}".encode()).decode()}

    path = "/v2/customers/1?source=INSTORE"
    assert (await client.get(path, headers=till_auth(org))).status_code == 404  # verified
    checked.clear()
    r = await client.get(path, headers=basic("no.such.till", "x"))
    assert r.status_code == 401 and len(checked) == 1  # an Argon2 run, as for a known till
    r = await client.post("/v3/oauth/token/generate", json={"key": "no-such-key", "secret": "x"})
    assert r.status_code == 401 and len(checked) == 2
    for attempt in range(auth_service.FAILED_SIGN_INS_PER_MINUTE):
        r = await client.get(path, headers=basic(org.till_code, f"guess-{attempt}"))
        assert r.status_code == 401, r.text
    checked.clear()
    # Further tries are refused unchecked, even the right password in a header not seen yet.
    for headers in (basic(org.till_code, "another-guess"),
                    basic(org.till_code, org.till_password, upper=True)):
        r = await client.get(path, headers=headers)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
    assert checked == []
    # The header verified before the guesses still works; other logins are not affected.
    assert (await client.get(path, headers=till_auth(org))).status_code == 404
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    assert r.status_code == 200, r.text
    for attempt in range(auth_service.FAILED_SIGN_INS_PER_MINUTE + 1):
        r = await client.post("/v3/oauth/token/generate",
                              json={"key": org.loyalty_key, "secret": f"guess-{attempt}"})
    assert r.status_code == 429 and r.json()["data"] is None, r.text


async def test_a_login_taken_in_another_organisation_is_a_conflict(services: Any,
                                                                   org: Any) -> None:
    from patron.errors import Conflict

    other = await services.tenancy.create_org("Other")
    for kind, login in (("till", org.till_code), ("loyalty_client", org.loyalty_key),
                        ("marketing_client", org.marketing_client_id)):
        with pytest.raises(Conflict, match="is taken"):
            await services.auth.create_credential(services.db, other.org_id, kind,
                                                  login=login, secret="another-secret")


async def test_non_ascii_digits_are_not_ids(client: httpx.AsyncClient, org: Any) -> None:
    """`'²'.isdigit()` is true but `int('²')` fails: such ids are missing, not a 500."""
    h = till_auth(org)
    r = await client.get("/v2/customers/%C2%B2?source=INSTORE", headers=h)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015
    r = await client.get("/v2/transactions/%C2%B2", headers=h)
    assert r.status_code == 404
    cid = await add_customer(client, h, identifiers=[{"type": "mobile", "value": "919900000099"}])
    r = await client.get(f"/v2/customers/{cid}?source=INSTORE&embed=mlp&gapToUpgrade=%C2%B2",
                         headers=h)
    assert r.status_code == 400


async def test_openapi_declares_what_customer_details_take(client: httpx.AsyncClient,
                                                           loyalty: dict[str, str]) -> None:
    """The OpenAPI document gives customer details' parameters with the values they take
    (so generated clients and fuzzers send real ones), and the routes take every value it
    declares."""
    document = (await client.get("/openapi.json")).json()
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "919845000111"}])
    for path in ("/v2/customers/{customer_id}", "/v2/customers/lookup/customerDetails"):
        declared = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert declared["source"]["required"] and \
            declared["source"]["schema"]["enum"] == list(READ_SOURCES)
        assert set(UG2_PARAMS) <= set(declared)
        assert declared["embed"]["schema"]["items"]["enum"] == list(EMBEDS)
        assert (declared["embed"]["style"], declared["embed"]["explode"]) == ("form", False)
        where = (f"/v2/customers/{customer_id}" if "{" in path else path)
        base = {"source": "INSTORE", "identifierName": "mobile",
                "identifierValue": "919845000111"}
        flags = [n for n, p in declared.items() if p["schema"].get("type") == "boolean"]
        assert "ndncStatus" in flags and "includedAllUserGroup2" in flags
        for value in ("true", "false"):
            r = await client.get(where, headers=loyalty, params={
                **base, **dict.fromkeys(flags, value), "embed": ",".join(EMBEDS),
                "gapToUpgrade": "3660", "gapToRenew": "0", "ug2Limit": "100", "ug2Offset": "0",
                "ug2SortOrder": "ASC", "ug2SortBy": "JoinedDate",
                "ug2JoinedStartDate": "2026-01-01", "ug2JoinedEndDate": "2026-12-31"})
            assert r.status_code == 200, (path, value, r.text)
            assert r.json()["warnings"] == [], r.text


async def test_an_identifier_value_is_text_or_a_whole_number_never_a_boolean(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    """`true` is not read as 1: an identifier "1" would join whichever customer holds it."""
    for value in (True, False, 1.5):
        r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [
            {"identifiers": [{"type": "externalId", "value": value}]}]})
        assert r.status_code == 400, (value, r.text)
        assert_face_envelope("/v2/customers", r)
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": 919900001234}])
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=mobile"
                         "&identifierValue=919900001234", headers=loyalty)
    assert r.json()["entity"] == customer_id


async def test_a_client_states_the_enrolment_date(client: httpx.AsyncClient,
                                                  loyalty: dict[str, str], services: Services,
                                                  org: Any) -> None:
    """`loyaltyInfo.attributionV2.createDate` on registration (a migration's own dates): a full
    date-time is kept; a bare date is 400 with seed 000's reason, as is a date ahead."""
    def body(mobile: str, create_date: str) -> dict[str, Any]:
        return {"profiles": [{"identifiers": [{"type": "mobile", "value": mobile}]}],
                "loyaltyInfo": {"loyaltyType": "loyalty",
                                "attributionV2": {"createDate": create_date}}}

    r = await client.post("/v2/customers", headers=loyalty,
                          json=body("919900004321", "2025-09-23T18:01:51+05:30"))
    assert r.status_code == 200, r.text
    r = await client.get(f"/v2/customers/{r.json()['createdId']}?source=INSTORE",
                         headers=loyalty)
    attribution = r.json()["loyaltyInfo"]["attributionV2"]
    assert attribution["createDate"] == "2025-09-23T12:31:51Z"
    # Without an offset, the organisation's local time.
    await services.tenancy.configure(org.org_id, time_zone="Asia/Kolkata")
    r = await client.post("/v2/customers", headers=loyalty,
                          json=body("919900004329", "2025-09-23T18:01:51"))
    assert r.status_code == 200, r.text
    r = await client.get(f"/v2/customers/{r.json()['createdId']}?source=INSTORE",
                         headers=loyalty)
    assert r.json()["loyaltyInfo"]["attributionV2"]["createDate"] == "2025-09-23T12:31:51Z"
    await services.tenancy.configure(org.org_id, time_zone="UTC")
    for when in ("2025-09-23", "yesterday", "2999-01-01T00:00:00Z",
                 # before 1970, as a bill's date (a year 0 in UTC broke the customer's reads)
                 "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z",
                 "1970-01-01T05:29:59+05:30"):
        r = await client.post("/v2/customers", headers=loyalty, json=body("919900004322", when))
        assert r.status_code == 400, (when, r.text)
        assert "createDate" in r.json()["errors"][0]["message"]
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=mobile"
                         "&identifierValue=919900004322", headers=loyalty)
    assert r.status_code == 404
    r = await client.post("/v2/customers", headers=loyalty,
                          json=body("919900004323", "1970-01-01T05:30:00+05:30"))
    assert r.status_code == 200, r.text
    r = await client.get(f"/v2/customers/{r.json()['createdId']}?source=INSTORE&embed=points",
                         headers=loyalty)
    assert r.status_code == 200, r.text
    assert r.json()["loyaltyInfo"]["attributionV2"]["createDate"] == "1970-01-01T00:00:00Z"


async def test_a_deletion_request_names_its_customer_by_text_or_number(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)

    def deletion(kind: str, value: Any) -> dict[str, Any]:
        return {"type": "CUSTOMER", "baseType": "DELETE", "customerIdentificationInfo": {
            "source": "INSTORE", "identifierType": kind, "identifierValue": value}}

    r = await client.post("/v2/requests", headers=loyalty, json=deletion("id", customer_id))
    assert r.status_code == 200, r.text
    for value in ("", True):
        r = await client.post("/v2/requests", headers=loyalty, json=deletion("mobile", value))
        assert r.status_code == 400, (value, r.text)
        assert "identifierValue" in r.json()["errors"][0]["message"]


async def test_the_look_ups_take_the_sources_and_embeds_the_docs_list_for_them(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "919900005555"}])
    for source in ("FACEBOOK", "web_engage", "OTHERS", "LINE"):
        r = await client.get("/v2/customers/lookup", headers=loyalty, params={
            "source": source, "accountId": "a1", "identifierName": "mobile",
            "identifierValue": "919900005555"})
        assert r.status_code == 200 and r.json()["entity"] == customer_id, (source, r.text)
    r = await client.get("/v2/customers/lookup", headers=loyalty, params={
        "source": "MYSPACE", "identifierName": "mobile", "identifierValue": "919900005555"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8003
    details = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": "919900005555"}
    r = await client.get("/v2/customers/lookup/customerDetails", headers=loyalty, params=details)
    assert r.json()["cardDetails"] == [] and "alternateCurrencyDetails" not in r.json()
    r = await client.get("/v2/customers/lookup/customerDetails", headers=loyalty, params={
        **details, "embed": "ignoreCardDetails,alternateCurrencies,customerStatus"})
    body = r.json()
    assert "cardDetails" not in body and body["alternateCurrencyDetails"] == []
    assert [w["message"] for w in body["warnings"]] == ["Invalid embed value: customerStatus"]
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&embed=ignorecarddetails",
                         headers=loyalty)
    assert "cardDetails" not in r.json() and r.json()["warnings"] == []


async def test_a_channels_meta_holds_residence_and_office_as_booleans(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    """Seed 000 shows `meta` with `residence` and `office` booleans: false unless said, the text
    "true"/"false" taken as booleans, anything else 400."""
    def body(meta: Any) -> dict[str, Any]:
        return {"profiles": [{"identifiers": [{"type": "mobile", "value": "919900006666"}],
                              "commChannels": [{"type": "mobile", "value": "919900006666",
                                                "meta": meta}]}]}

    r = await client.post("/v2/customers", headers=loyalty, json=body({"office": 2}))
    assert r.status_code == 400 and "meta.office" in r.json()["errors"][0]["message"]
    r = await client.post("/v2/customers", headers=loyalty,
                          json=body({"lastViewedDate": "", "residence": "true"}))
    assert r.status_code == 200, r.text
    r = await client.get(f"/v2/customers/{r.json()['createdId']}?source=INSTORE",
                         headers=loyalty)
    (channel,) = r.json()["profiles"][0]["commChannels"]
    assert channel["meta"] == {"lastViewedDate": "", "residence": True, "office": False}
