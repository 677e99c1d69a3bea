"""Behavioural events through the loyalty face: definitions, webhooks, ingestion, look-ups."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from patron.db.statement import sql
from patron.services import Services
from tests.conftest import add_customer, till_auth, workspace_auth

RESERVATION = {
    "eventName": "be_reserved",
    "actions": ["EMFConsumer"],
    "description": "hotel reservation",
    "fields": [
        {"name": "customer_id", "type": "customer",
         "attributes": {"identifierType": {"valueType": "String", "value": "mobile"}}},
        {"name": "hotel_name", "type": "string",
         "attributes": {"isRequired": {"valueType": "Boolean", "value": "true"}}},
        {"name": "age", "type": "double",
         "attributes": {"isPsiData": {"valueType": "Boolean", "value": "true"}}},
        {"name": "booking_ref", "type": "string",
         "attributes": {"isUniqueKeyField": {"valueType": "Boolean", "value": "true"}}},
    ],
}
WEBHOOK = {"transformerType": "WebEngageTransformer", "authEnabled": False,
           "authMechanism": "Basic", "uniquenessCheckEnabled": False}


async def _setup(client: httpx.AsyncClient, auth: dict[str, str],
                 definition: dict[str, Any] = RESERVATION, **hook: Any) -> str:
    r = await client.post("/v2/events", headers=auth, json=definition)
    assert r.status_code == 200, r.text
    return await _setup_webhook(client, auth, **hook)


async def _setup_webhook(client: httpx.AsyncClient, auth: dict[str, str], **hook: Any) -> str:
    r = await client.post("/v2/events/webhook", headers=auth, json={**WEBHOOK, **hook})
    assert r.status_code == 200, r.text
    uri = r.json()["webHookUri"]
    assert uri.startswith("http://patron.test/webhooks/")
    return uri.removeprefix("http://patron.test")


async def test_definitions_create_list_update(client: httpx.AsyncClient,
                                              loyalty: dict[str, str]) -> None:
    r = await client.post("/v2/events", headers=loyalty, json=RESERVATION)
    meta = r.json()["data"]["clickEventsMeta"]
    assert meta["eventName"] == "be_reserved" and meta["fields"] == RESERVATION["fields"]
    r = await client.post("/v2/events", headers=loyalty, json=RESERVATION)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1802
    changed = {**RESERVATION, "description": "changed"}
    r = await client.put("/v2/events", headers=loyalty, json=changed)
    assert r.status_code == 200
    r = await client.get("/v2/events", headers=loyalty)
    assert [d["clickEventsMeta"]["description"] for d in r.json()["data"]] == ["changed"]
    r = await client.put("/v2/events", headers=loyalty, json={**RESERVATION, "eventName": "nope"})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 1810


async def test_bad_definitions_are_rejected_whole(client: httpx.AsyncClient,
                                                  loyalty: dict[str, str]) -> None:
    bad = [
        {**RESERVATION, "fields": []},
        {**RESERVATION, "fields": [{"name": "x", "type": "blob"}]},
        {**RESERVATION, "fields": [{"name": "x", "type": "string"}]},  # no customer field
        {**RESERVATION, "fields": RESERVATION["fields"] + [
            {"name": "y", "type": "string", "attributes": {"isFancy": {"value": "true"}}}]},
        {**RESERVATION, "eventName": "has space"},
        {**RESERVATION, "actions": ["Nope"]},
    ]
    for body in bad:
        r = await client.post("/v2/events", headers=loyalty, json=body)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1801, body
    assert (await client.get("/v2/events", headers=loyalty)).json()["data"] == []


async def test_webhook_errors(client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    r = await client.post("/v2/events/webhook", headers=loyalty,
                          json={**WEBHOOK, "transformerType": "Other"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1808
    r = await client.post("/v2/events/webhook", headers=loyalty,
                          json={**WEBHOOK, "authEnabled": True, "authMechanism": None})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1839
    r = await client.post("/webhooks/not-a-hook", json={"eventName": "x"})
    assert r.status_code == 404


async def test_ingest_and_read_back(client: httpx.AsyncClient, loyalty: dict[str, str],
                                    org: Any) -> None:
    customer_id = await add_customer(client, loyalty,
                                     identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    r = await client.post(uri, json={
        "customer_id": "9933772255", "eventName": "be_reserved", "external_event_id": "RAND121",
        "hotel_name": "Indiranagar", "age": 20, "eventDateTime": "2024-04-11 12:00:00+07:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == {"code": 1100, "message": "Event is pushed to transformation state"}
    request_id = body["requestId"]
    r = await client.get(f"/v2/events/event_data?id={request_id}", headers=loyalty)
    assert r.status_code == 200
    data = r.json()
    assert data["warnings"] == [] and data["errors"] == []
    event = data["data"][0]
    assert list(event) == ["orgId", "userId", "date", "eventName", "eventId", "source",
                           "tillCode", "additonalAttributes", "psiAttributes", "uniqueId"]
    assert event["orgId"] == org.org_id and event["userId"] == customer_id
    assert event["date"] == "2026-01-01T00:00:00Z" and event["eventId"] == request_id
    attrs = event["additonalAttributes"]
    assert attrs["eventDateTime"] == "1712811600000"
    assert attrs["eventDateTimeInputOffset"] == "+07:00"
    assert attrs["age"] == "20.0" and attrs["hotel_name"] == "Indiranagar"
    assert attrs["external_event_id"] == "RAND121" and attrs["isDuplicate"] is False
    assert attrs["customerId"] == str(customer_id) and attrs["source_user_id"] == customer_id
    assert attrs["requestId"] == attrs["uniqueId"] == request_id
    assert list(attrs) == sorted(attrs)
    assert event["psiAttributes"] == ["age"]


async def test_other_org_sees_nothing(client: httpx.AsyncClient, loyalty: dict[str, str],
                                      other_org: Any) -> None:
    await add_customer(client, loyalty, identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    r = await client.post(uri, json={"customer_id": "9933772255", "eventName": "be_reserved",
                                     "hotel_name": "X"})
    request_id = r.json()["requestId"]
    r = await client.get(f"/v2/events/event_data?id={request_id}", headers=till_auth(other_org))
    assert r.json()["data"] == []
    # Without an id: 400, with `data` as the route's answers carry it (seed 004).
    r = await client.get("/v2/events/event_data", headers=till_auth(other_org))
    assert r.status_code == 400 and r.json()["data"] is None
    assert r.json()["errors"][0]["code"] == 400 and r.json()["warnings"] == []


async def test_invalid_events_store_nothing(client: httpx.AsyncClient,
                                            loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty,
                                     identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    base = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H"}
    cases = [
        ({**base, "hotel_name": None}, 1811),
        ({**base, "age": "twenty"}, 1812),
        ({**base, "hotel_name": 7}, 1812),
        ({**base, "eventName": "unknown_event"}, 1810),
        ({**base, "surprise": "x"}, 1813),
        ({**base, "customer_id": "9100000000"}, 1814),
        ({**base, "eventDateTime": "yesterday"}, 1815),
        ({k: v for k, v in base.items() if k != "eventName"}, 1811),
        ("not an object", 1818),
    ]
    for body, code in cases:
        r = await client.post(uri, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json() == {"status": {"code": code, "message": r.json()["status"]["message"]},
                            "requestId": None}
    # Whole-request errors carry the event codes too.
    for content, code in ((b"[]", 1818), (b"{oops", 1818), (orjson.dumps([base] * 1001), 1816)):
        r = await client.post(uri, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json() == {"errors": [{"status": False, "code": code,
                                        "message": r.json()["errors"][0]["message"]}],
                            "warnings": []}
    r = await client.get(f"/v2/events/event_data/{customer_id}", headers=loyalty)
    assert r.json()["data"] == [] and r.json()["pagination"]["total"] == 0


async def test_add_customer_if_not_exists(client: httpx.AsyncClient,
                                          loyalty: dict[str, str]) -> None:
    definition = {**RESERVATION, "eventName": "signup", "fields": [
        {"name": "email", "type": "customer", "attributes": {
            "identifierType": {"valueType": "String", "value": "email"},
            "addCustomerIfNotExists": {"valueType": "Boolean", "value": "true"}}}]}
    uri = await _setup(client, loyalty, definition)
    r = await client.post(uri, json={"eventName": "signup", "email": "New.Person@Example.com"})
    assert r.status_code == 200
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=email"
                         "&identifierValue=new.person@example.com", headers=loyalty)
    assert r.status_code == 200
    customer_id = r.json()["entity"]
    r = await client.get(f"/v2/events/event_data/{customer_id}", headers=loyalty)
    assert r.json()["pagination"]["total"] == 1


async def test_duplicates_are_stored_once_more_and_never_counted(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty,
                                     identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    event = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H",
             "booking_ref": "B-1"}
    first = (await client.post(uri, json=event)).json()["requestId"]
    second = (await client.post(uri, json={**event, "hotel_name": "Other"})).json()["requestId"]
    batch = await client.post(uri, json=[{**event, "booking_ref": "B-2"},
                                         {**event, "booking_ref": "B-2"}])
    assert batch.status_code == 200
    assert first != second
    attrs = lambda r: r.json()["data"][0]["additonalAttributes"]  # noqa: E731
    assert attrs(await client.get(f"/v2/events/event_data?id={first}",
                                  headers=loyalty))["isDuplicate"] is False
    assert attrs(await client.get(f"/v2/events/event_data?id={second}",
                                  headers=loyalty))["isDuplicate"] is True
    listed = (await client.get(f"/v2/events/event_data/{customer_id}", headers=loyalty)).json()
    assert listed["pagination"]["total"] == 2
    assert all(not e["additonalAttributes"]["isDuplicate"] for e in listed["data"])
    everything = (await client.get(f"/v2/events/event_data/{customer_id}?includeDuplicates=true",
                                   headers=loyalty)).json()
    assert everything["pagination"]["total"] == 4
    # external_event_id de-duplicates when a definition has no unique key.
    plain = {**RESERVATION, "eventName": "visit", "fields": RESERVATION["fields"][:2]}
    uri2 = await _setup(client, loyalty, plain)
    visit = {"customer_id": "9933772255", "eventName": "visit", "hotel_name": "H",
             "external_event_id": "E-1"}
    a = (await client.post(uri2, json=visit)).json()["requestId"]
    b = (await client.post(uri2, json=visit)).json()["requestId"]
    assert attrs(await client.get(f"/v2/events/event_data?id={a}",
                                  headers=loyalty))["isDuplicate"] is False
    assert attrs(await client.get(f"/v2/events/event_data?id={b}",
                                  headers=loyalty))["isDuplicate"] is True


async def test_batches_answer_per_event(client: httpx.AsyncClient,
                                        loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty,
                                     identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    good = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H"}
    r = await client.post(uri, json=[good, {**good, "age": "x"}, good])
    assert r.status_code == 201
    answers = r.json()
    assert [a["status"]["code"] for a in answers] == [1100, 1812, 1100]
    assert answers[1]["requestId"] is None and answers[0]["requestId"] != answers[2]["requestId"]
    r = await client.get(f"/v2/events/event_data/{customer_id}?limit=1", headers=loyalty)
    page = r.json()
    assert page["pagination"] == {"limit": 1, "offset": 0, "total": 2}
    assert len(page["data"]) == 1
    r = await client.post(uri, json=[good] * 1001)
    assert r.status_code == 400


async def test_event_time_forms(client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    await add_customer(client, loyalty, identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    base = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H"}
    for when, instant, offset in [
        (1724488200000, "1724488200000", "+00:00"),
        ("1724488200000", "1724488200000", "+00:00"),
        ("2024-08-24T15:30:00+07:00", "1724488200000", "+07:00"),
        ("2024-08-24 08:30:00", "1724488200000", "+00:00"),
        ("2024-08-24T08:30:00Z", "1724488200000", "+00:00"),
        # milliseconds exactly, not through a float of seconds (which read .205 as .204)
        ("2004-03-19T18:22:03.205Z", "1079720523205", "+00:00"),
        ("2004-03-19T23:52:03.205+05:30", "1079720523205", "+05:30"),
    ]:
        r = await client.post(uri, json={**base, "eventDateTime": when})
        rid = r.json()["requestId"]
        attrs = (await client.get(f"/v2/events/event_data?id={rid}",
                                  headers=loyalty)).json()["data"][0]["additonalAttributes"]
        assert (attrs["eventDateTime"], attrs["eventDateTimeInputOffset"]) == (instant, offset)


async def test_the_first_and_last_times_taken_are_listed(client: httpx.AsyncClient,
                                                         loyalty: dict[str, str]) -> None:
    """Events at 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z, the ends of the times taken, are
    both in the customer's listing without a range (the default end left the last out)."""
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "9933772257"}])
    uri = await _setup(client, loyalty)
    base = {"customer_id": "9933772257", "eventName": "be_reserved", "hotel_name": "H"}
    for when in ("1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2100-01-01T00:00:00.001Z"):
        await client.post(uri, json={**base, "eventDateTime": when})
    r = await client.get(f"/v2/events/event_data/{customer_id}", headers=loyalty)
    assert [e["additonalAttributes"]["eventDateTime"] for e in r.json()["data"]] == [
        "4102444800000", "0"]


async def test_a_new_time_zone_reaches_ingestion_at_once(client: httpx.AsyncClient,
                                                         loyalty: dict[str, str], org: Any,
                                                         services: Services) -> None:
    """Local date-times are read in the organisation's zone as it is now: a change of zone
    (`patron org configure --time-zone`) applies to the next event, without a restart."""
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "9933772256"}])
    uri = await _setup(client, loyalty)
    base = {"customer_id": "9933772256", "eventName": "be_reserved", "hotel_name": "H"}

    async def stored(**when: Any) -> tuple[str, str]:
        r = await client.post(uri, json={**base, **when})
        rid = r.json()["requestId"]
        attrs = (await client.get(f"/v2/events/event_data?id={rid}",
                                  headers=loyalty)).json()["data"][0]["additonalAttributes"]
        return attrs["eventDateTime"], attrs["eventDateTimeInputOffset"]

    assert await stored(eventDateTime="2024-08-24 08:30:00") == ("1724488200000", "+00:00")
    await services.tenancy.configure(org.org_id, time_zone="Asia/Kolkata")
    assert await stored(eventDateTime="2024-08-24 14:00:00") == ("1724488200000", "+05:30")
    # The listing's range without an offset is read in the zone too, as the events' own times.
    for start, listed in (("2024-08-24 14:00:00", 2), ("2024-08-24 14:00:01", 0),
                          ("2024-08-24T08:30:00Z", 2)):
        r = await client.get(f"/v2/events/event_data/{customer_id}?startDate={start}"
                             "&endDate=2024-08-25 00:00:00", headers=loyalty)
        assert r.json()["pagination"]["total"] == listed, (start, r.text)
    assert (await stored())[1] == "+05:30"  # now, in the zone


async def test_lineage_id_makes_retries_idempotent(client: httpx.AsyncClient,
                                                   loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty,
                                     identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    lineage = "b26d5065-2177-4a18-a5ae-332682072073"
    event = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H"}
    for _ in range(2):
        r = await client.post(uri, json=event, headers={"X-CAP-LINEAGE-ID": lineage,
                                                        "X-CAP-LINEAGE-START": "1769157599735"})
        assert r.json()["requestId"] == lineage
    listed = (await client.get(f"/v2/events/event_data/{customer_id}?includeDuplicates=true",
                               headers=loyalty)).json()
    assert listed["pagination"]["total"] == 1
    attrs = listed["data"][0]["additonalAttributes"]
    assert attrs["x-cap-lineage-start"] == "1769157599735"


async def test_authenticated_webhook(client: httpx.AsyncClient, loyalty: dict[str, str],
                                     org: Any, other_org: Any) -> None:
    await add_customer(client, loyalty, identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty, authEnabled=True, authMechanism="Basic")
    event = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H"}
    assert (await client.post(uri, json=event)).status_code == 401
    assert (await client.post(uri, json=event, headers=till_auth(other_org))).status_code == 404
    assert (await client.post(uri, json=event, headers=loyalty)).status_code == 200
    # OAuth credentials are refused by a webhook set up for Basic, and the other way round.
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    oauth = {"X-CAP-API-OAUTH-TOKEN": r.json()["data"]["accessToken"]}
    assert (await client.post(uri, json=event, headers=oauth)).status_code == 401
    oauth_uri = await _setup_webhook(client, loyalty, authEnabled=True, authMechanism="OAuth")
    assert (await client.post(oauth_uri, json=event, headers=loyalty)).status_code == 401
    assert (await client.post(oauth_uri, json=event, headers=oauth)).status_code == 200


async def test_pii_deletion_scrubs_psi_attributes(client: httpx.AsyncClient,
                                                  loyalty: dict[str, str],
                                                  services: Services, org: Any) -> None:
    erased = await add_customer(client, loyalty,
                                identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    reservation = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H",
                   "age": 33, "booking_ref": "B-9"}
    r = await client.post(uri, json=reservation)
    request_id = r.json()["requestId"]
    r = await client.post("/v2/requests", headers=loyalty, json={
        "type": "CUSTOMER", "baseType": "DELETE", "customerIdentificationInfo": {
            "source": "INSTORE", "identifierType": "mobile", "identifierValue": "9933772255"}})
    r = await client.put("/v2/requests", headers=loyalty, json=[
        {"type": "CUSTOMER", "baseType": "DELETE", "id": str(r.json()["createdId"]),
         "status": "APPROVED"}])
    assert r.status_code == 200
    event = (await client.get(f"/v2/events/event_data?id={request_id}",
                              headers=loyalty)).json()["data"][0]
    assert "age" not in event["additonalAttributes"]
    assert event["additonalAttributes"]["hotel_name"] == "H"  # not PSI: kept
    # Nothing keeps the values the person was known by: the events' de-duplication keys and the
    # identifier the request named are gone, so the released mobile's next owner is not a
    # duplicate of them.
    keys = await services.db.fetch(sql(
        "SELECT dedup_key FROM events WHERE org_id = $1 AND customer_id = $2"),
        org.org_id, erased)
    assert keys and all(k["dedup_key"] is None for k in keys)
    named = await services.db.fetch(sql(
        "SELECT identification FROM requests WHERE org_id = $1 AND customer_id = $2"),
        org.org_id, erased)
    assert [r["identification"] for r in named] == ["{}"]
    await add_customer(client, loyalty, identifiers=[{"type": "mobile", "value": "9933772255"}])
    again = (await client.post(uri, json=reservation)).json()["requestId"]
    event = (await client.get(f"/v2/events/event_data?id={again}",
                              headers=loyalty)).json()["data"][0]
    assert event["additonalAttributes"]["isDuplicate"] is False


async def test_workspace_delete_scrubs_psi_attributes_too(client: httpx.AsyncClient, org: Any,
                                                          loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    r = await client.post(uri, json={"customer_id": "9933772255", "eventName": "be_reserved",
                                     "hotel_name": "H", "age": 33})
    request_id = r.json()["requestId"]
    r = await client.delete(f"/api/customers/{customer_id}", headers=workspace_auth(org))
    assert r.status_code == 200
    event = (await client.get(f"/v2/events/event_data?id={request_id}",
                              headers=loyalty)).json()["data"][0]
    assert "age" not in event["additonalAttributes"]
    assert "33" not in event["additonalAttributes"].values()
    assert event["additonalAttributes"]["hotel_name"] == "H"


async def test_concurrent_posts_are_grouped_and_deduplicated(client: httpx.AsyncClient,
                                                             loyalty: dict[str, str]) -> None:
    """Requests arriving together are committed in groups; a unique key repeated across them
    still has exactly one original, and a bad event fails alone."""
    customer_id = await add_customer(client, loyalty,
                                     identifiers=[{"type": "mobile", "value": "9933772255"}])
    uri = await _setup(client, loyalty)
    base = {"customer_id": "9933772255", "eventName": "be_reserved", "hotel_name": "H"}
    bodies: list[Any] = [{**base, "booking_ref": f"B{i % 5}"} for i in range(30)]
    bodies += [[{**base, "booking_ref": f"B{i}"} for i in range(5, 8)] for _ in range(5)]
    bodies.append({**base, "hotel_name": None})  # rejected: required field missing
    answers = await asyncio.gather(*(client.post(uri, json=b) for b in bodies))
    assert [r.status_code for r in answers] == [200] * 35 + [400]
    listed = (await client.get(f"/v2/events/event_data/{customer_id}?limit=100"
                               "&includeDuplicates=true", headers=loyalty)).json()
    assert listed["pagination"]["total"] == 30 + 15
    originals = [e["additonalAttributes"]["booking_ref"] for e in listed["data"]
                 if not e["additonalAttributes"]["isDuplicate"]]
    assert sorted(originals) == [f"B{i}" for i in range(8)]
