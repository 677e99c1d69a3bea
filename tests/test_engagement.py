"""Communications and engagement: the native records API, the loyalty face's interaction and
subscription APIs, engagement health, and the PII scrub of messages."""

from __future__ import annotations

from typing import Any

import httpx

from patron.tenancy.service import OrgCredentials
from tests.conftest import START_MS, add_customer, till_auth, workspace_auth

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
