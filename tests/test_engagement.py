"""Communications and engagement: the native records API, the loyalty face's interaction and
subscription APIs, engagement health, and the PII scrub of messages."""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance
from patron.db.statement import sql
from patron.engagement import repository as repo
from patron.engagement.models import DELIVERY_EVENTS, KINDS
from patron.engagement.service import offsets_at, utc_offsets
from patron.engagement.transfer import export_records
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import START_MS, add_customer, till_auth, workspace_auth
from tests.exploring import examples

DAY = 86_400_000


async def _post(client: httpx.AsyncClient, org: OrgCredentials, records: list[dict[str, Any]],
                status: int = 200) -> list[dict[str, Any]]:
    r = await client.post("/patron/v1/records", headers=workspace_auth(org),
                          json={"records": records})
    assert r.status_code == status, r.text
    return r.json()["results"]  # type: ignore[no-any-return]


def _message(record_id: str, customer: dict[str, Any], channel: str = "email",
             sent: int = START_MS - DAY, **extra: Any) -> dict[str, Any]:
    return {"kind": "message", "id": record_id, "customer": customer, "channel": channel,
            "sentAt": sent, **extra}


async def test_records_batch_per_record_outcomes(client: httpx.AsyncClient,
                                                 org: OrgCredentials) -> None:
    cid = await add_customer(client, till_auth(org), firstName="Ann",
                             identifiers=[{"type": "email", "value": "ann@example.com"}])
    by_email = {"identifierName": "email", "identifierValue": "ANN@example.com"}
    results = await _post(client, org, [
        _message("m1", by_email, subject="Welcome", receiver="ann@example.com"),
        _message("m2", {"id": cid}, channel="sms", body="Your OTP is 123456", otp=True),
        {"kind": "message", "id": "bad", "customer": {"id": cid}, "channel": "fax",
         "sentAt": START_MS},
        _message("m3", {"identifierName": "email", "identifierValue": "nobody@example.com"}),
        {"kind": "delivery", "message": "m1", "event": "opened", "at": START_MS - DAY + 5000},
        {"kind": "delivery", "message": "nope", "event": "opened", "at": START_MS},
        {"kind": "tag", "customer": {"id": cid}, "ref": "vip", "at": START_MS - 1000},
        {"kind": "sign_in", "customer": {"id": cid}, "at": "2025-12-31T10:00:00+05:30"},
        {"kind": "what"},
    ])
    assert [r["status"] for r in results] == [
        "created", "created", "failed", "failed", "applied", "failed", "created", "created",
        "failed"]
    assert results[0]["entityId"] != results[1]["entityId"]
    assert results[2]["error"]["field"] == "message.channel"
    assert results[3]["error"]["code"] == "customer_not_found"
    assert results[5]["error"]["code"] == "message_not_found"
    assert results[8]["error"]["field"] == "kind"
    # the same batch again changes nothing
    again = await _post(client, org, [
        _message("m1", by_email, subject="Welcome", receiver="ann@example.com"),
        {"kind": "tag", "customer": {"id": cid}, "ref": "vip", "at": START_MS - 1000},
        {"kind": "sign_in", "customer": {"id": cid}, "at": "2025-12-31T10:00:00+05:30"},
    ])
    assert [r["status"] for r in again] == ["duplicate", "duplicate", "duplicate"]
    assert again[0]["entityId"] == results[0]["entityId"]
    r = await client.get(f"/patron/v1/customers/{cid}/engagement", headers=workspace_auth(org))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["signInCount"] == 1
    assert body["lastRequestAt"] == "2025-12-31T04:30:00Z"
    assert body["facts"] == {"tag": [{"ref": "vip", "state": "added",
                                      "at": "2025-12-31T23:59:59Z"}]}
    assert body["email"]["lastOpenedAt"] == "2025-12-31T00:00:05Z"
    assert body["email"]["health"] == "healthy"


async def test_a_record_that_cannot_be_written_fails_alone(client: httpx.AsyncClient,
                                                           org: OrgCredentials,
                                                           services: Services,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that fails as it is written is rolled back, and each record is tried on its own
    in the order a batch applies them: the others are stored, with outcomes that hold."""
    cid = await add_customer(client, till_auth(org), firstName="Ann",
                             identifiers=[{"type": "email", "value": "ann@example.com"}])
    facts = services.engagement._facts

    async def failing(tx: Any, org_id: int, items: list[Any], outcomes: list[Any]) -> None:
        if any(i.record.ref == "boom" for i in items):
            raise RuntimeError("the disk said no")
        await facts(tx, org_id, items, outcomes)

    monkeypatch.setattr(services.engagement, "_facts", failing)
    results = await _post(client, org, [
        {"kind": "delivery", "message": "w-1", "event": "delivered", "at": START_MS},
        _message("w-1", {"id": cid}),
        {"kind": "tag", "customer": {"id": cid}, "ref": "boom", "at": START_MS},
        {"kind": "tag", "customer": {"id": cid}, "ref": "fine", "at": START_MS}])
    assert [r["status"] for r in results] == ["applied", "created", "failed", "created"]
    assert "error" not in results[0] and "error" not in results[1]
    assert results[2]["error"]["code"] == "record_not_stored" and "entityId" not in results[2]
    # A customer record applies whole: an address that is not one fails it.
    results = await _post(client, org, [
        {"kind": "customer", "email": "not-an-email", "mobile": "919800011122"},
        {"kind": "customer", "email": "ok@example.com", "mobile": "12"}])
    assert [r["status"] for r in results] == ["failed", "failed"]
    assert [r["error"]["field"] for r in results] == ["customer.email", "customer.mobile"]
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=mobile"
                         "&identifierValue=919800011122", headers=till_auth(org))
    assert r.status_code == 404
    # Text PostgreSQL cannot hold is refused before writing, on either database.
    results = await _post(client, org, [
        {"kind": "tag", "customer": {"id": cid}, "ref": "nul\u0000tag", "at": START_MS},
        _message("w-2", {"id": cid}, subject="fine")])
    assert [r["status"] for r in results] == ["failed", "created"]
    assert "NUL" in results[0]["error"]["message"]


async def test_single_record_status_and_envelope(client: httpx.AsyncClient,
                                                 org: OrgCredentials) -> None:
    cid = await add_customer(client, till_auth(org), firstName="Bo",
                             identifiers=[{"type": "mobile", "value": "919800000001"}])
    h = workspace_auth(org)
    r = await client.post("/patron/v1/records", headers=h,
                          json=_message("s1", {"id": cid}, channel="sms"))
    assert r.status_code == 201 and r.json()["status"] == "created"
    r = await client.post("/patron/v1/records", headers=h,
                          json=_message("s1", {"id": cid}, channel="sms"))
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    r = await client.post("/patron/v1/records", headers=h,
                          json=_message("s2", {"id": cid + 999}, channel="sms"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "customer_not_found"
    r = await client.post("/patron/v1/records", headers=h, content=b"{nope")
    assert r.status_code == 400 and r.json()["error"]["message"] == "malformed JSON body"
    r = await client.post("/patron/v1/records", headers=till_auth(org), json={})
    assert r.status_code == 401 and "error" in r.json()


SEED_001_TYPES = ["survey", "whatsapp", "line", "zalo", "phone", "missed_call", "email", "sms"]


async def test_interaction_v11_empty_matches_seed_shape(client: httpx.AsyncClient,
                                                        org: OrgCredentials) -> None:
    auth = till_auth(org)
    await add_customer(client, auth, firstName="Gautam",
                       identifiers=[{"type": "email", "value": "gcr9986@gmail.com"},
                                    {"type": "mobile", "value": "919353491050"}])
    r = await client.get("/v1.1/customer/interaction?email=gcr9986%40gmail.com&format=json",
                         headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()["response"]
    assert body["status"] == {"success": "true", "code": 200, "message": "Success"}
    customer = body["customer"]
    assert customer["mobile"] == "919353491050" and customer["external_id"] == ""
    assert customer["item_status"] == {"success": "true", "code": 1000,
                                       "message": "Customer successfully retrieved"}
    (network,) = customer["interactions"]["network"]
    assert network["name"] == "capillary"
    assert network["interaction"] == [
        {"last_interaction_time": "null", "used_status": False, "count": 0, "type": t}
        for t in SEED_001_TYPES]
    assert list(network["interaction"][0]) == ["last_interaction_time", "used_status", "count",
                                               "type"]


async def _history(client: httpx.AsyncClient, org: OrgCredentials) -> int:
    cid = await add_customer(client, till_auth(org), firstName="Hal",
                             identifiers=[{"type": "mobile", "value": "919900000007"},
                                          {"type": "email", "value": "hal@example.com"}])
    who = {"id": cid}
    await _post(client, org, [
        _message("e1", who, sent=START_MS - 3 * DAY, subject="Hello", receiver="hal@example.com",
                 campaignId="267560"),
        _message("e2", who, sent=START_MS - 2 * DAY, subject="Sale", receiver="hal@example.com",
                 broadcastId="b9"),
        _message("s1", who, channel="sms", sent=START_MS - DAY, body="OTP 482913 for login",
                 otp=True, receiver="919900000007"),
        _message("w1", who, channel="whatsapp", sent=START_MS - DAY, network="facebook"),
        {"kind": "message", "id": "mc1", "customer": who, "channel": "missed_call",
         "sentAt": START_MS - 5 * DAY, "sender": "919900000007"},
        # delivery events out of order and repeated
        {"kind": "delivery", "message": "e1", "event": "opened", "at": START_MS - 3 * DAY + 60_000},
        {"kind": "delivery", "message": "e1", "event": "delivered",
         "at": START_MS - 3 * DAY + 1000},
        {"kind": "delivery", "message": "e1", "event": "delivered",
         "at": START_MS - 3 * DAY + 1000},
        {"kind": "delivery", "message": "e2", "event": "bounced", "bounceType": "hard",
         "at": START_MS - 2 * DAY + 1000},
    ])
    return cid


async def test_interaction_v11_history_paging_and_filters(client: httpx.AsyncClient,
                                                          org: OrgCredentials,
                                                          services: Services) -> None:
    auth = till_auth(org)
    cid = await _history(client, org)
    r = await client.get("/v1.1/customer/interaction", headers=auth,
                         params={"identifierName": "mobile", "identifierValue": "919900000007"})
    assert r.status_code == 200, r.text
    networks = r.json()["response"]["customer"]["interactions"]["network"]
    assert [n["name"] for n in networks] == ["capillary", "facebook"]
    by_type = {i["type"]: i for i in networks[0]["interaction"]}
    assert [i["type"] for i in networks[0]["interaction"]] == SEED_001_TYPES
    email = by_type["email"]
    assert email["count"] == 2 and email["used_status"] is True
    assert email["last_interaction_time"] == "30-12-2025 00:00:00"
    first, second = email["messages"]["message"]
    assert second == {"id": second["id"], "sender": "", "reciever": "hal@example.com",
                      "subject": "Hello", "message": "", "status": "OPENED",
                      "sent_time": "2025-12-29 00:00:00", "delivered_time": "2025-12-29 00:00:01",
                      "campaign_id": "267560"}
    assert first["status"] == "BOUNCED" and first["campaign_id"] == "b9"
    assert by_type["missed_call"]["messages"]["message"][0]["status"] == "RECEIVED"
    assert by_type["sms"]["messages"]["message"][0]["message"] == "OTP 482913 for login"
    assert "messages" not in by_type["survey"]
    assert networks[1]["interaction"][SEED_001_TYPES.index("whatsapp")]["count"] == 1
    # paging, type and network filters, dates
    r = await client.get("/v1.1/customer/interaction", headers=auth, params={
        "user_id": str(cid), "type": "emailbulk", "limit": "1", "offset": "1",
        "network": "capillary"})
    (only,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
    assert only["type"] == "emailbulk" and only["count"] == 2  # both carry a campaign
    assert [m["subject"] for m in only["messages"]["message"]] == ["Hello"]
    r = await client.get("/v1.1/customer/interaction", headers=auth, params={
        "user_id": str(cid), "type": "emailbulk", "start_date": "2025-12-30",
        "end_date": "2025-12-30"})
    (day,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
    assert day["count"] == 1
    # `type=email` is the transactional e-mails (API-FACTS 2.7): none yet, then a receipt.
    r = await client.get("/v1.1/customer/interaction", headers=auth,
                         params={"user_id": str(cid), "type": "email"})
    (trans,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
    assert trans["type"] == "email" and trans["count"] == 0 and "messages" not in trans
    await _post(client, org, [_message("t1", {"id": cid}, sent=START_MS - DAY,
                                       subject="Receipt", receiver="hal@example.com")])
    r = await client.get("/v1.1/customer/interaction", headers=auth,
                         params={"user_id": str(cid), "type": "email"})
    (trans,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
    assert trans["count"] == 1 and trans["messages"]["message"][0]["subject"] == "Receipt"
    # OTP masking
    await services.tenancy.configure(org.org_id, otp_masking=True)
    r = await client.get("/v1.1/customer/interaction", headers=auth,
                         params={"user_id": str(cid), "type": "sms"})
    (sms,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
    assert sms["messages"]["message"][0]["message"] == "OTP ****** for login"


async def test_interaction_v11_errors_and_xml(client: httpx.AsyncClient,
                                              org: OrgCredentials) -> None:
    auth = till_auth(org)
    cid = await _history(client, org)
    r = await client.get("/v1.1/customer/interaction?mobile=919911111111", headers=auth)
    assert r.status_code == 500
    body = r.json()["response"]
    assert body["status"] == {"success": "false", "code": 500,
                              "message": "All requests have failed due to errors"}
    assert body["customer"]["item_status"]["code"] == 1012
    assert body["customer"]["mobile"] == "919911111111"
    r = await client.get("/v1.1/customer/interaction?identifierName=external_id"
                         "&identifierValue=NOPE", headers=auth)
    assert r.status_code == 500 and r.json()["response"]["customer"]["external_id"] == "NOPE"
    for bad in ({"user_id": str(cid), "type": "fax"}, {"user_id": str(cid), "limit": "-1"},
                {"user_id": str(cid), "network": "myspace"}, {"format": "json"},
                {"user_id": str(cid), "start_date": "yesterday"}):
        r = await client.get("/v1.1/customer/interaction", headers=auth, params=bad)
        assert r.status_code == 500, bad
        assert r.json()["response"]["customer"]["item_status"]["code"] == 500
    # An identifier Patron does not know is bad input too: the v1.1 envelope, in XML if asked.
    r = await client.get("/v1.1/customer/interaction", headers=auth, params={
        "identifierName": "shoe", "identifierValue": "1", "format": "xml"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/xml")
    assert b"<code>500</code>" in r.content and b"Invalid or unsupported inputs" in r.content
    r = await client.get("/v1.1/customer/interaction", headers=auth, params={
        "identifierName": "shoe", "identifierValue": "1"})
    assert r.json()["response"]["customer"]["item_status"]["code"] == 500
    r = await client.get("/v1.1/customer/interaction", headers=auth,
                         params={"user_id": str(cid), "format": "xml", "type": "emailbulk"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert b"<success>true</success>" in r.content
    assert b"<reciever>hal@example.com</reciever>" in r.content
    assert r.content.count(b"<message><id>") == 2
    r = await client.get("/v1.1/customer/interaction", headers={})
    assert r.status_code == 401
    # A control character (echoed back, or stored in a message) cannot be in XML: it reads as
    # U+FFFD and the answer stays well-formed (found by tests/test_fuzz.py).
    r = await client.get("/v1.1/customer/interaction", headers=auth, params={
        "mobile": "\x01919911111111", "format": "xml"})
    answer = ElementTree.fromstring(r.content)  # noqa: S314 - Patron's own answer
    assert answer.findtext("customer/mobile") == "\ufffd919911111111"
    await _post(client, org, [_message("bell", {"id": cid}, channel="sms", sent=START_MS,
                                       body="ring \x07 twice")])
    r = await client.get("/v1.1/customer/interaction", headers=auth,
                         params={"user_id": str(cid), "format": "xml", "type": "sms"})
    answer = ElementTree.fromstring(r.content)  # noqa: S314 - Patron's own answer
    bodies = [m.findtext("message") for m in answer.iter("message") if m.find("id") is not None]
    assert "ring \ufffd twice" in bodies


async def test_interaction_v2(client: httpx.AsyncClient, org: OrgCredentials) -> None:
    auth = till_auth(org)
    cid = await _history(client, org)
    r = await client.get("/v2/customers/interaction", headers=auth, params={
        "identifierName": "email", "identifierValue": "hal@example.com"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "capillary" and body["warnings"] == []
    by_name = {i["name"]: i for i in body["interaction"]}
    assert sorted(by_name) == ["email", "missed_call", "sms"]
    message = by_name["email"]["messageList"][1]
    assert message["sentDate"] == "29-12-2025 00:00:00" and message["userId"] == cid
    assert message["status"] == "OPENED" and message["campaignId"] == "267560"
    r = await client.get("/v2/customers/interaction", headers=auth, params={
        "identifierName": "email", "identifierValue": "ghost@example.com"})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 1012


async def test_an_interaction_read_by_id_answers_as_one_by_address(
        client: httpx.AsyncClient, org: OrgCredentials) -> None:
    """A customer named by id is read with the summaries in one statement: the answers are those
    of the same customer named by e-mail, and a customer who is not there, or not active, is not
    found, in either API's envelope."""
    auth = till_auth(org)
    cid = await _history(client, org)
    for params in ({}, {"type": "email"}, {"network": "facebook"}, {"limit": "1", "offset": "1"},
                   {"start_date": "2025-12-01"}, {"format": "xml"}):
        by_id = await client.get("/v1.1/customer/interaction", headers=auth,
                                 params={"user_id": str(cid), **params})
        by_email = await client.get("/v1.1/customer/interaction", headers=auth,
                                    params={"email": "hal@example.com", **params})
        assert by_id.status_code == 200, by_id.text
        assert by_id.content == by_email.content, params
        if "format" in params:
            continue
        by_id = await client.get("/v2/customers/interaction", headers=auth, params={
            "identifierName": "id", "identifierValue": str(cid), **params})
        by_email = await client.get("/v2/customers/interaction", headers=auth, params={
            "identifierName": "email", "identifierValue": "hal@example.com", **params})
        assert by_id.status_code == 200, by_id.text
        assert by_id.json() == by_email.json(), params

    async def not_found(value: str) -> None:
        r = await client.get("/v1.1/customer/interaction", headers=auth,
                             params={"user_id": value})
        assert r.status_code == 500 and r.json()["response"]["customer"]["id"] == value
        assert r.json()["response"]["customer"]["item_status"]["code"] == 1012
        r = await client.get("/v2/customers/interaction", headers=auth,
                             params={"identifierName": "id", "identifierValue": value})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == 1012

    for value in (str(cid + 1000), "abc", "-1"):
        await not_found(value)
    r = await client.delete(f"/api/customers/{cid}", headers=workspace_auth(org))
    assert r.status_code in (200, 204), r.text
    await not_found(str(cid))


async def test_the_openapi_document_describes_the_native_records(
        client: httpx.AsyncClient) -> None:
    """`POST /patron/v1/records` declares every record kind with its fields, and its answers:
    the result, the batch's results, and the error envelope."""
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/patron/v1/records"]["post"]
    single, batch = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert set(single["discriminator"]["mapping"]) == set(KINDS)
    assert batch["properties"]["records"]["items"] == single
    schemas = document["components"]["schemas"]
    for ref in single["discriminator"]["mapping"].values():
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert {"channel", "sentAt", "customer"} <= set(schemas["MessageRecord"]["properties"])
    assert set(operation["responses"]) == {"200", "201", "400", "404", "409"}


async def test_interaction_parameters_openapi_declares_are_taken(client: httpx.AsyncClient,
                                                                  org: OrgCredentials) -> None:
    """Every network, type and format the OpenAPI document lists for the interaction reads is
    one they take."""
    auth = till_auth(org)
    await _history(client, org)
    document = (await client.get("/openapi.json")).json()
    who = {"identifierName": "email", "identifierValue": "hal@example.com"}
    for path in ("/v1.1/customer/interaction", "/v2/customers/interaction"):
        declared = {p["name"]: p["schema"] for p in document["paths"][path]["get"]["parameters"]}
        assert declared["limit"]["maximum"] == 1000 and "capillary" in declared["network"]["enum"]
        values = [("network", v) for v in declared["network"]["enum"]] + \
            [("type", v) for v in declared["type"]["enum"]] + \
            [("format", v) for v in declared.get("format", {}).get("enum", [])]
        for name, value in values:
            r = await client.get(path, headers=auth, params={**who, name: value, "limit": "1000",
                                                             "start_date": "2025-01-01"})
            assert r.status_code == 200, (path, name, value, r.text)


async def test_kept_summaries_equal_the_messages(client: httpx.AsyncClient,
                                                 org: OrgCredentials, services: Services) -> None:
    """The summaries kept on write are those computed from the stored messages (last_time bounds
    from above: a delivered time an earlier one replaced stays), and the interaction read over
    the whole history (kept) answers what the read over a range holding it all (computed) does."""
    cid = await _history(client, org)
    await _post(client, org, [
        _message("e3", {"id": cid}, sent=START_MS - DAY, subject="Later"),
        {"kind": "delivery", "message": "e3", "event": "delivered", "at": START_MS},
        {"kind": "delivery", "message": "e3", "event": "delivered", "at": START_MS - DAY + 500},
        {"kind": "delivery", "message": "s1", "event": "clicked", "at": START_MS - DAY + 9},
        _message("e3", {"id": cid}, sent=START_MS - DAY, subject="Later"),  # a repeat
    ])
    read = sql("SELECT customer_id, network, channel, priority, count, last_at, used, first_time, "
               "last_time FROM message_summaries WHERE org_id = $1 "
               "ORDER BY customer_id, network, channel, priority")
    kept = [tuple(r) for r in await services.db.fetch(read, org.org_id)]
    async with services.db.transaction() as tx:
        await tx.execute(sql("DELETE FROM message_summaries WHERE org_id = $1"), org.org_id)
        await tx.execute(repo.SUMMARISE_MESSAGES, org.org_id)
    computed = [tuple(r) for r in await services.db.fetch(read, org.org_id)]
    assert [k[:-1] for k in kept] == [c[:-1] for c in computed]
    assert all(k[-1] >= c[-1] for k, c in zip(kept, computed, strict=True))
    assert any(k[-1] > c[-1] for k, c in zip(kept, computed, strict=True))  # e3's bound
    auth = till_auth(org)
    whole = await client.get("/v1.1/customer/interaction", headers=auth,
                             params={"user_id": str(cid)})
    ranged = await client.get("/v1.1/customer/interaction", headers=auth, params={
        "user_id": str(cid), "start_date": "1970-01-01", "end_date": "2100-01-01"})
    assert whole.status_code == 200 and whole.content == ranged.content


async def test_interaction_local_times_across_summer_time(client: httpx.AsyncClient,
                                                           org: OrgCredentials,
                                                           services: Services) -> None:
    """Times read in the organisation's zone on either side of a change of offset: over a few
    days (offsets walked from the zone), and over 35 years (offsets of the times shown)."""
    await services.tenancy.configure(org.org_id, time_zone="Europe/London", otp_masking=True)
    auth = till_auth(org)
    cid = await add_customer(client, auth, firstName="Lin",
                             identifiers=[{"type": "mobile", "value": "919900000031"}])
    who = {"id": cid}
    await _post(client, org, [
        _message("gmt", who, channel="sms", sent=1_743_294_600_000),  # 2025-03-30T00:30Z
        _message("bst", who, channel="sms", sent=1_743_298_200_000, otp=True,
                 body="رمز ٤٨٢٩١٣ or 4829"),  # 01:30Z, after the clocks went forward
        {"kind": "delivery", "message": "bst", "event": "delivered", "at": 1_743_298_260_000},
        _message("old", who, channel="email", sent=632_404_800_000),  # 1990-01-15T12:00Z
    ])
    shown = {"2025-03-30 02:30:00", "2025-03-30 00:30:00"}
    for params in ({"start_date": "2025-03-29", "end_date": "2025-03-31"}, {}):
        r = await client.get("/v1.1/customer/interaction", headers=auth,
                             params={"user_id": str(cid), **params})
        assert r.status_code == 200, r.text
        by_type = {i["type"]: i for i in
                   r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]}
        bst, gmt = by_type["sms"]["messages"]["message"]
        assert {bst["sent_time"], gmt["sent_time"]} == shown
        assert (bst["delivered_time"], gmt["delivered_time"]) == ("2025-03-30 02:31:00", "")
        assert bst["message"] == "رمز ****** or ****"  # every script's digits masked
        assert by_type["sms"]["last_interaction_time"] == "30-03-2025 02:30:00"
        if params:
            assert "messages" not in by_type["email"]
        else:
            (old,) = by_type["email"]["messages"]["message"]
            assert old["sent_time"] == "1990-01-15 12:00:00"
    r = await client.get("/v2/customers/interaction", headers=auth, params={
        "identifierName": "mobile", "identifierValue": "919900000031", "type": "sms"})
    (sms,) = r.json()["interaction"]
    assert [m["sentDate"] for m in sms["messageList"]] == ["30-03-2025 02:30:00",
                                                           "30-03-2025 00:30:00"]


async def test_whole_days_are_local_days_when_the_clocks_change(client: httpx.AsyncClient,
                                                                  org: OrgCredentials,
                                                                  services: Services) -> None:
    """A whole day `start_date=end_date=D` runs from D's local midnight to the next day's: 23
    hours on the day the clocks go forward, 25 when they go back (it was a fixed 24 hours)."""
    await services.tenancy.configure(org.org_id, time_zone="Europe/London")
    auth = till_auth(org)
    cid = await add_customer(client, auth, identifiers=[{"type": "mobile",
                                                         "value": "919900000051"}])
    await _post(client, org, [
        _message("spring", {"id": cid}, channel="sms", sent="2026-03-29T23:30:00Z"),  # 30th 00:30
        _message("autumn", {"id": cid}, channel="sms", sent="2026-10-25T23:30:00Z"),  # 25th 23:30
        _message("late", {"id": cid}, channel="sms", sent="9999-12-30T23:30:00Z")])

    async def sent(day: str) -> list[str]:
        r = await client.get("/v1.1/customer/interaction", headers=auth, params={
            "user_id": str(cid), "type": "sms", "start_date": day, "end_date": day})
        assert r.status_code == 200, r.text
        (sms,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
        return [m["sent_time"] for m in sms["messages"]["message"]] if sms["count"] else []

    assert await sent("2026-03-29") == []
    assert await sent("2026-03-30") == ["2026-03-30 00:30:00"]
    assert await sent("2026-10-25") == ["2026-10-25 23:30:00"]
    assert await sent("2026-10-26") == []
    assert await sent("9999-12-30") == ["9999-12-30 23:30:00"]
    assert await sent("9999-12-31") == []


async def test_instants_at_the_end_of_time_read_in_any_zone(client: httpx.AsyncClient,
                                                             org: OrgCredentials,
                                                             services: Services) -> None:
    """Instants are taken up to the end of 9999-12-30 UTC, so that their local time is in 9999 in
    every zone; the interaction reads answer in a zone far east of UTC (an instant late on
    9999-12-31 was taken, and then both answered 500), even for an instant stored past that."""
    await services.tenancy.configure(org.org_id, time_zone="Pacific/Kiritimati")  # +14:00
    auth = till_auth(org)
    cid = await add_customer(client, auth, identifiers=[{"type": "mobile",
                                                         "value": "919900000041"}])
    results = await _post(client, org, [
        _message("end", {"id": cid}, channel="sms", sent="9999-12-30T23:59:59.999Z"),
        _message("over", {"id": cid}, channel="sms", sent="9999-12-31T00:00:00Z"),
        _message("last", {"id": cid}, channel="sms", sent=253_402_300_799_000)])
    assert [r["status"] for r in results] == ["created", "failed", "failed"]
    assert results[1]["error"]["message"].startswith("message.sentAt: is out of range")

    async def shown() -> tuple[str, str, str]:
        r = await client.get("/v1.1/customer/interaction", headers=auth,
                             params={"user_id": str(cid), "type": "sms"})
        assert r.status_code == 200, r.text
        (sms,) = r.json()["response"]["customer"]["interactions"]["network"][0]["interaction"]
        v2 = await client.get("/v2/customers/interaction", headers=auth, params={
            "identifierName": "mobile", "identifierValue": "919900000041", "type": "sms"})
        assert v2.status_code == 200, v2.text
        (sent,) = sms["messages"]["message"]
        return (sms["last_interaction_time"], sent["sent_time"],
                v2.json()["interaction"][0]["messageList"][0]["sentDate"])

    assert await shown() == ("31-12-9999 13:59:59", "9999-12-31 13:59:59",
                             "31-12-9999 13:59:59")
    # As stored before instants were bounded: the latest second of 9999 reads too.
    for table, column in (("messages", "sent_at"), ("message_summaries", "last_at"),
                          ("message_summaries", "last_time")):
        await services.db.execute(sql(f"UPDATE {table} SET {column} = 253402300799000 "
                                      "WHERE org_id = $1"), org.org_id)
    assert await shown() == ("31-12-9999 23:59:59", "9999-12-31 23:59:59",
                             "31-12-9999 23:59:59")


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/St_Johns", "Asia/Kathmandu",
                                  "Australia/Lord_Howe", "Pacific/Apia"])
def test_utc_offsets_agree_with_the_zone(zone: str) -> None:
    """The offsets the interaction statements apply (looked up as they do: the first span, newest
    first, that a quarter hour falls in) are the zone's, for walked and for sampled ranges."""
    tz = ZoneInfo(zone)
    rng = random.Random(zone)

    def applied(offsets: tuple[int | None, Any], quarter: int) -> int:
        fixed, spans = offsets
        return fixed if fixed is not None else next(o for q, o in spans if q <= quarter)

    for _ in range(40):
        first = rng.randrange(0, 4_000_000_000_000)
        last = first + rng.choice([3_600_000, 40 * DAY, 400 * DAY, 5 * 365 * DAY,
                                   80 * 365 * DAY])
        quarters = {rng.randrange(first // 900_000, last // 900_000 + 1) for _ in range(50)}
        quarters |= {first // 900_000, last // 900_000}
        walked = utc_offsets(tz, first, last)
        for offsets in ([walked] if walked is not None else []) + [offsets_at(tz, quarters)]:
            for q in quarters:
                offset = datetime.fromtimestamp(q * 900, tz).utcoffset()
                assert offset is not None and applied(offsets, q) == offset.total_seconds()


async def test_subscriptions_consent_and_embed(client: httpx.AsyncClient,
                                               org: OrgCredentials) -> None:
    auth = till_auth(org)
    cid = await _history(client, org)
    body = {"communicationId": -1, "campaignId": -1, "reason": "asked in store",
            "scope": {"scope": "USER", "subScope": "NONE"},
            "subscriptions": [
                {"channel": "EMAIL", "accountId": "", "priority": "BULK", "type": "OPTOUT",
                 "orgUnitId": -1, "sourceName": "INSTORE"},
                {"channel": "MOBILE", "accountId": "", "priority": "TRANS", "type": "OPTIN",
                 "orgUnitId": -1, "sourceName": "INSTORE"}]}
    r = await client.post(f"/v2/customers/{cid}/subscriptions?format=json", headers=auth,
                          json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {**body, "warnings": []}
    r = await client.post(f"/v2/customers/{cid + 1}/subscriptions", headers=auth, json=body)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 1012
    # an older change arriving later does not win
    await _post(client, org, [
        {"kind": "subscription", "customer": {"id": cid}, "channel": "email",
         "priority": "BULK", "type": "OPTIN", "at": START_MS - DAY},
        {"kind": "consent", "customer": {"id": cid}, "ndncStatus": "DND"},
    ])
    r = await client.get(f"/v2/customers/{cid}?source=INSTORE&embed=subscriptions"
                         "&ndncStatus=true&optinStatus=true", headers=auth)
    assert r.status_code == 200, r.text
    customer = r.json()
    assert customer["ndncStatus"] == "DND" and customer["optinStatus"] == "NONE"
    subs = {(s["channel"], s["priority"]): s["type"]
            for s in customer["subscriptionInfo"]["subscriptions"]}
    assert subs == {("EMAIL", "BULK"): "OPTOUT", ("MOBILE", "TRANS"): "OPTIN"}
    assert customer["warnings"] == []
    # SMS, as the customer-details docs name the channel, is MOBILE.
    sms = {**body, "subscriptions": [{**body["subscriptions"][1], "channel": "sms",
                                      "type": "OPTOUT"}]}
    r = await client.post(f"/v2/customers/{cid}/subscriptions", headers=auth, json=sms)
    assert r.status_code == 200, r.text
    r = await client.get(f"/v2/customers/{cid}?source=INSTORE&embed=subscriptions", headers=auth)
    subs = {(s["channel"], s["priority"]): s["type"]
            for s in r.json()["subscriptionInfo"]["subscriptions"]}
    assert subs == {("EMAIL", "BULK"): "OPTOUT", ("MOBILE", "TRANS"): "OPTOUT"}


async def test_engagement_health_and_email_state(client: httpx.AsyncClient,
                                                 org: OrgCredentials, clock: Any) -> None:
    cid = await _history(client, org)
    h = workspace_auth(org)
    await _post(client, org, [
        {"kind": "email_subscription", "customer": {"id": cid}, "action": "subscribed",
         "at": START_MS - 10 * DAY},
        {"kind": "email_subscription", "customer": {"id": cid}, "action": "manually_unsubscribed",
         "at": START_MS - DAY},
        {"kind": "assessment", "customer": {"id": cid}, "ref": "a1", "state": "passed",
         "at": START_MS - DAY},
        {"kind": "assessment", "customer": {"id": cid}, "ref": "a1", "state": "bogus",
         "at": START_MS - DAY},
    ])
    body = (await client.get(f"/patron/v1/customers/{cid}/engagement", headers=h)).json()
    assert body["email"]["status"] == "manually_unsubscribed"
    assert body["email"]["suppressedAt"] is None and body["email"]["unsuppressedAt"] is None
    await _post(client, org, [
        {"kind": "email_subscription", "customer": {"id": cid}, "action": action,
         "at": START_MS - days * DAY} for action, days in (("suppressed", 3), ("unsuppressed", 2))])
    body = (await client.get(f"/patron/v1/customers/{cid}/engagement", headers=h)).json()
    assert body["email"]["status"] == "manually_unsubscribed"  # suppression is not a status
    assert (body["email"]["suppressedAt"], body["email"]["unsuppressedAt"]) == (
        "2025-12-29T00:00:00Z", "2025-12-30T00:00:00Z")
    assert body["email"]["suppressed"] is False
    assert body["email"]["hardBouncing"] is True and body["email"]["health"] == "healthy"
    assert body["facts"]["assessment"] == [{"ref": "a1", "state": "passed",
                                            "at": "2025-12-31T00:00:00Z"}]
    clock.advance(60 * DAY)
    body = (await client.get(f"/patron/v1/customers/{cid}/engagement", headers=h)).json()
    assert body["email"]["health"] == "passive"
    clock.advance(60 * DAY)
    body = (await client.get(f"/patron/v1/customers/{cid}/engagement", headers=h)).json()
    assert body["email"]["health"] == "unengaged"
    # A click is an open, even when the open was not tracked (images blocked).
    await _post(client, org, [
        _message("e3", {"id": cid}, sent=clock.now_ms() - DAY, receiver="hal@example.com"),
        {"kind": "delivery", "message": "e3", "event": "delivered", "at": clock.now_ms() - DAY},
        {"kind": "delivery", "message": "e3", "event": "clicked", "at": clock.now_ms() - DAY}])
    body = (await client.get(f"/patron/v1/customers/{cid}/engagement", headers=h)).json()
    assert body["email"]["health"] == "healthy"


async def test_a_hard_and_a_soft_bounce_at_one_instant_keep_the_hard_one(
        client: httpx.AsyncClient, org: OrgCredentials, services: Services) -> None:
    """Whichever comes first, in one batch or two, the hard bounce is kept: on the message, in
    its events, and so in an export, which must mark the customer hard-bouncing again."""
    cid = await add_customer(client, till_auth(org), identifiers=[
        {"type": "email", "value": "bo@example.com"}])
    at = START_MS - DAY

    def bounce(message: str, kind: str) -> dict[str, Any]:
        return {"kind": "delivery", "message": message, "event": "bounced", "bounceType": kind,
                "at": at}

    await _post(client, org, [_message("b1", {"id": cid}), _message("b2", {"id": cid},
                                                                     sent=at - 1)])
    await _post(client, org, [bounce("b1", "soft"), bounce("b1", "hard")])
    await _post(client, org, [bounce("b2", "soft")])
    await _post(client, org, [bounce("b2", "hard"), bounce("b2", "soft")])
    kept = await services.db.fetch(sql(
        "SELECT m.record_id, m.bounce_type, e.bounce_type AS event_type FROM messages m "
        "JOIN message_events e ON e.org_id = m.org_id AND e.message_id = m.id "
        "WHERE m.org_id = $1 ORDER BY m.record_id"), org.org_id)
    assert [tuple(r) for r in kept] == [("b1", "hard", "hard"), ("b2", "hard", "hard")]
    exported = [r async for r in export_records(services.db, org.org_id)
                if r.get("kind") == "delivery"]
    assert {(r["message"], r["bounceType"]) for r in exported} == {("b1", "hard"),
                                                                    ("b2", "hard")}


async def test_an_instant_exports_as_it_was_sent(client: httpx.AsyncClient,
                                                org: OrgCredentials,
                                                services: Services) -> None:
    """Milliseconds are kept exactly, not through a float of seconds (which made .647 .646)."""
    cid = await add_customer(client, till_auth(org), identifiers=[
        {"type": "email", "value": "ms@example.com"}])
    await _post(client, org, [_message("ms1", {"id": cid}, sent="2245-04-18T22:51:18.647Z"),
                              _message("ms2", {"id": cid}, sent="2004-03-19T23:52:03.205+05:30")])
    exported = {r["id"]: r["sentAt"] async for r in export_records(services.db, org.org_id)
                if r.get("kind") == "message"}
    assert exported == {"ms1": "2245-04-18T22:51:18.647Z", "ms2": "2004-03-19T18:22:03.205Z"}


async def test_pii_deletion_scrubs_messages(client: httpx.AsyncClient, org: OrgCredentials,
                                            services: Services) -> None:
    cid = await _history(client, org)
    await _post(client, org, [
        {"kind": "subscription", "customer": {"id": cid}, "channel": "EMAIL",
         "priority": "BULK", "type": "OPTOUT", "reason": "Hal asked by phone", "at": START_MS}])
    r = await client.delete(f"/api/customers/{cid}", headers=workspace_auth(org))
    assert r.status_code in (200, 204), r.text
    rows = await services.db.fetch(sql(
        "SELECT sender, receiver, subject, body FROM messages WHERE org_id = $1 "
        "AND customer_id = $2"), org.org_id, cid)
    assert rows and all(tuple(r) == ("", "", "", "") for r in rows)
    reasons = await services.db.fetch(sql(
        "SELECT reason FROM subscriptions WHERE org_id = $1 AND customer_id = $2"),
        org.org_id, cid)
    assert reasons and all(r["reason"] == "" for r in reasons)
    # An export leaves the erased customer out entirely: none of their records name them.
    theirs = {"e1", "e2", "s1", "w1", "mc1"}  # their messages' record ids
    exported = [r async for r in export_records(services.db, org.org_id)]
    assert not [r for r in exported if r.get("customer") == {"id": cid}
                or r.get("id") in theirs or r.get("message") in theirs], exported


async def test_tenants_do_not_see_each_others_messages(client: httpx.AsyncClient,
                                                       org: OrgCredentials,
                                                       other_org: OrgCredentials) -> None:
    cid = await _history(client, org)
    results = await _post(client, other_org, [_message("x", {"id": cid})])
    assert results[0]["error"]["code"] == "customer_not_found"
    results = await _post(client, other_org, [
        {"kind": "delivery", "message": "e1", "event": "clicked", "at": START_MS}])
    assert results[0]["error"]["code"] == "message_not_found"
    r = await client.get(f"/v1.1/customer/interaction?user_id={cid}", headers=till_auth(other_org))
    assert r.json()["response"]["customer"]["item_status"]["code"] == 1012
    r = await client.get(f"/patron/v1/customers/{cid}/engagement",
                         headers=workspace_auth(other_org))
    assert r.status_code == 404


_EVENT = st.tuples(st.integers(0, 3), st.sampled_from(DELIVERY_EVENTS),
                   st.sampled_from(["hard", "soft", None]), st.integers(0, 4))
_FOLDED_READS = {
    "messages": "SELECT record_id, customer_id, channel, priority, " + ", ".join(
        repo.EVENT_COLUMNS) + " FROM messages WHERE org_id = $1 ORDER BY record_id",
    "events": "SELECT m.record_id, e.kind, e.occurred_at, e.bounce_type FROM message_events e "
              "JOIN messages m ON m.org_id = e.org_id AND m.id = e.message_id "
              "WHERE e.org_id = $1 ORDER BY 1, 2, 3",
    "summaries": "SELECT customer_id, network, channel, priority, count, last_at, used, "
                 "first_time, last_time FROM message_summaries WHERE org_id = $1 ORDER BY 1, 2, "
                 "3, 4",
    "engagement": "SELECT customer_id, last_delivered_at, last_opened_at, last_clicked_at, "
                  "complained_at, unsubscribed_at FROM customer_engagement WHERE org_id = $1 "
                  "ORDER BY 1",
    "bounced": "SELECT id, bounced_at FROM customers WHERE org_id = $1 ORDER BY id",
}


@examples(25)
@given(stored=st.sets(st.integers(0, 3), max_size=2),
       events=st.lists(_EVENT, max_size=12), repeat=st.booleans())
@example(stored=set(), repeat=False,  # a soft and a hard bounce at one instant: hard is kept
         events=[(1, "bounced", "soft", 2), (1, "bounced", "hard", 2), (1, "delivered", None, 3),
                 (1, "delivered", None, 1), (1, "opened", None, 4)])
async def test_a_batch_stores_what_its_records_one_by_one_do(
        services: Services, stored: set[int], events: list[tuple[int, str, str | None, int]],
        repeat: bool) -> None:
    """A batch's delivery events on its own new messages are folded into the messages' rows and
    summaries (Engagement._messages): the tables hold what the same records, each in a batch of
    its own, leave. Some messages were stored by an earlier batch; one may come twice."""
    ids = {}
    for org in ("batch", "alone"):
        made = await services.tenancy.create_org(f"{org} {uuid.uuid4().hex[:8]}")
        customer = await services.customers.register(made.org_id, CustomerInput(profiles=[
            ProfileInput(identifiers=[Identifier("email", "fold@example.com")])]),
            Provenance(None, START_MS))
        ids[org] = made.org_id, customer.customer_id
    who = {"identifierName": "email", "identifierValue": "fold@example.com"}
    messages = [_message(f"m{n}", who, channel="email" if n % 2 else "sms",
                         sent=START_MS - DAY + n * 1000, **({"campaignId": "c"} if n == 3 else {}))
                for n in range(4)]
    earlier = [messages[n] for n in sorted(stored)]
    later = [*(m for n, m in enumerate(messages) if n not in stored),
             *([messages[0]] if repeat else [])]
    deliveries = [{"kind": "delivery", "message": f"m{n}", "event": event, "at":
                   START_MS - DAY + n * 1000 + at * 500,
                   **({"bounceType": bounce} if event == "bounced" and bounce else {})}
                  for n, event, bounce, at in events]
    prov = Provenance(None, START_MS)
    org_id, _ = ids["batch"]
    await services.engagement.ingest(org_id, earlier, prov)
    await services.engagement.ingest(org_id, [*later, *deliveries], prov)
    org_id, _ = ids["alone"]
    for record in [*earlier, *later, *deliveries]:
        await services.engagement.ingest(org_id, [record], prov)
    for name, text in _FOLDED_READS.items():
        found = []
        for org_id, customer_id in ids.values():  # each org's customer read as "C"
            found.append([tuple("C" if key in ("customer_id", "id") and value == customer_id
                                else value for key, value in zip(row.keys(), row, strict=True))
                          for row in await services.db.fetch(sql(text), org_id)])
        assert found[0] == found[1], name
