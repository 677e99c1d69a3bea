"""Sweeps of the whole store, every column of every table, for what must not be there.

- A PII deletion leaves nothing of what it promises to remove: a customer known everywhere the
  store can know someone (profile, identifiers, channels, extended fields, an image, messages, a
  subscription change, a behavioural event, a bill, a redemption, points and tier adjustments,
  a card and its status change, a group, a deletion request, the free text a client wrote
  on those records, an answer kept for an Idempotency-Key, and their details kept as a customer
  document) is erased, and then no column holds their name, e-mail, mobile or external id.
- Secrets are never stored as given: no till password (nor the MD5 a till sends), API secret,
  API key, issued token or webhook token appears anywhere, nor in an answer kept for an
  Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from patron.db.database import sqlite_path
from patron.db.statement import sql
from patron.loyalty.programs import read_program_file
from patron.services import Services
from tests.conftest import PNG, add_customer, till_auth, workspace_auth
from tests.test_cards import _series
from tests.test_events import _setup, _setup_webhook
from tests.test_loyalty_engine import PROGRAMS, _buy

FIRST, LAST = "Zebulonia", "Quixotesque"
MOBILE, EMAIL, EXTERNAL = "919811122233", "zebulonia.q@example.com", "zq-ext-77"
PERSONAL = (FIRST, LAST, MOBILE, EMAIL, EXTERNAL)


async def _tables(services: Services) -> list[str]:
    db = services.db
    if db.dialect == "sqlite":
        rows = await db.fetch(sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                  "AND name NOT LIKE 'sqlite_%'"))
    else:
        rows = await db.fetch(sql("SELECT table_name AS name FROM information_schema.tables "
                                  "WHERE table_schema = current_schema()"))
    return sorted(r["name"] for r in rows)


async def _holding(services: Services, needles: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, needle) for every table with a row whose text holds a needle (any case)."""
    found = []
    for table in await _tables(services):
        for row in await services.db.fetch(sql(f'SELECT * FROM "{table}"')):  # noqa: S608
            text = " ".join(str(v) for v in tuple(row)).lower()
            found += [(table, n) for n in needles if n.lower() in text]
    return sorted(set(found))


@pytest.mark.parametrize("erase", ["approved request", "workspace delete"])
async def test_erasure_leaves_no_personal_data_in_any_table(
        client: httpx.AsyncClient, loyalty: dict[str, str], services: Services, org: Any,
        erase: str) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    series_id = await _series(client, loyalty)
    customer_id = await add_customer(
        client, loyalty, firstName=FIRST, lastName=LAST, extendedFields={"city": "Pune"},
        identifiers=[{"type": "mobile", "value": MOBILE}, {"type": "email", "value": EMAIL},
                     {"type": "externalId", "value": EXTERNAL},
                     {"type": "cardnumber", "value": "ZQCARD0001", "seriesId": series_id}])
    work = workspace_auth(org)
    # Sent with an Idempotency-Key, its answer (which names them) is kept for the key.
    r = await client.patch(f"/api/customers/{customer_id}",
                           headers={**work, "Idempotency-Key": "zq-rename"},
                           json={"name": f"{FIRST} {LAST}", "metadata": {"nick": FIRST}})
    assert r.status_code == 200, r.text
    r = await client.post(f"/v2/customers/{customer_id}/setImage", headers=loyalty,
                          files={"file": ("me.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    r = await client.post("/patron/v1/records", headers=work, json={"records": [
        {"kind": "message", "id": "zq-1", "channel": "email", "subject": f"Hello {FIRST}",
         "body": f"Dear {FIRST} {LAST}, your code", "receiver": EMAIL,
         "customer": {"id": customer_id}, "sentAt": "2026-01-02T09:00:00Z"},
        {"kind": "message", "id": "zq-2", "channel": "sms", "body": f"Hi {FIRST}",
         "receiver": MOBILE, "customer": {"identifierName": "mobile", "identifierValue": MOBILE},
         "sentAt": "2026-01-02T09:00:00Z"},
        {"kind": "delivery", "message": "zq-1", "event": "opened", "at": "2026-01-02T10:00:00Z"},
        {"kind": "subscription", "customer": {"id": customer_id}, "channel": "EMAIL",
         "priority": "BULK", "type": "OPTOUT", "reason": f"{FIRST} asked by {EMAIL}",
         "at": "2026-01-02T10:00:00Z"}]})
    assert r.status_code == 200 and all(
        o["status"] != "failed" for o in r.json()["results"]), r.text
    uri = await _setup(client, loyalty)
    r = await client.post(uri, json={"customer_id": MOBILE, "eventName": "be_reserved",
                                     "hotel_name": "H", "age": 33,
                                     "booking_ref": MOBILE})  # a unique key, not PSI-flagged
    assert r.status_code == 200, r.text
    # Free text a client writes about the customer on their records.
    assert (await _buy(client, loyalty, "zq-bill", 2000, mobile=MOBILE,
                       note=f"deliver to {FIRST} {LAST}",
                       extendedFields={"gift_for": EMAIL})).status_code == 200
    r = await client.post("/v1.1/points/redeem?format=json", headers=loyalty, json={
        "root": {"redeem": [{"points_redeemed": 10, "customer": {"mobile": MOBILE},
                             "notes": f"{FIRST} redeemed in store"}]}})
    assert r.json()["response"]["status"]["code"] == 200, r.text
    for path, body in (("/v2/loyalty/pointsAdjustments", {"points": 5,
                                                         "reason": f"goodwill for {FIRST}"}),
                       ("/v2/loyalty/tierAdjustments", {"slabName": "Garnet",
                                                        "notes": f"{LAST} asked"})):
        r = await client.post(path, headers=loyalty, json={
            "identifierName": "mobile", "identifierValue": MOBILE, **body})
        assert r.status_code == 200, r.text
    r = await client.post("/v2/genericStatus/card/labels", headers=loyalty,
                          json=[{"status": "SUSPENDED", "label": "CARD BLOCKED"}])
    assert r.status_code == 200, r.text
    r = await client.put("/v2/card", headers=loyalty, json={
        "cardNumber": "ZQCARD0001", "seriesId": series_id, "statusLabel": "CARD BLOCKED",
        "statusInfo": {"reason": f"replaced for {EMAIL}"},
        "customFields": {"owner": FIRST}, "extendedFields": {"holder": LAST}})
    assert r.status_code == 200, r.text
    r = await client.post("/v2/userGroup2", headers=loyalty,
                          json={"externalId": "zq-family", "groupName": "Family",
                                "maxGroupSize": 4})
    assert r.status_code == 200, r.text
    r = await client.post("/v2/userGroup2/join?externalId=zq-family", headers=loyalty,
                          json=[{"userId": customer_id, "primaryMember": True}])
    assert r.status_code == 200, r.text
    # A read keeps its answer as the customer's document.
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=loyalty)
    assert r.status_code == 200, r.text
    await services.documents.store_waiting()
    # Before: the search finds them where they were written.
    assert {t for t, _ in await _holding(services, PERSONAL)} >= {
        "customers", "profiles", "identifiers", "messages", "subscriptions", "transactions",
        "redemptions", "points_ledger", "tier_changes", "cards", "card_status_log",
        "idempotency_keys", "customer_documents"}

    # A pending request names the customer by an identifier: erasure forgets that too.
    r = await client.post("/v2/requests", headers=loyalty, json={
        "type": "CUSTOMER", "baseType": "DELETE", "comments": f"{FIRST} {LAST} asked in store",
        "customerIdentificationInfo": {"source": "INSTORE", "identifierType": "email",
                                       "identifierValue": EMAIL}})
    assert r.status_code == 200, r.text
    if erase == "approved request":
        r = await client.put("/v2/requests", headers=loyalty, json=[
            {"type": "CUSTOMER", "baseType": "DELETE", "id": str(r.json()["createdId"]),
             "status": "APPROVED", "comments": f"ok, {FIRST} / {EMAIL} / {MOBILE}"}])
        assert r.json()["failureCount"] == 0, r.text
    else:
        r = await client.delete(f"/api/customers/ext_{EXTERNAL}", headers=work)
        assert r.status_code == 200, r.text
    assert await _holding(services, PERSONAL) == []
    if services.db.dialect == "sqlite":
        # Nor any byte of the files: freed space is zeroed (secure_delete), and the WAL, which
        # holds the pages as they were, is truncated by the checkpointer's next round.
        files = [sqlite_path(services.db.url), Path(f"{sqlite_path(services.db.url)}-wal")]
        deadline = time.monotonic() + 10
        while held := [(f.name, v) for f in files if f.exists() for v in PERSONAL
                       if v.encode() in f.read_bytes()]:
            assert time.monotonic() < deadline, held
            await asyncio.sleep(0.1)


async def test_writes_racing_an_erasure_leave_nothing_of_the_person(
        client: httpx.AsyncClient, loyalty: dict[str, str], services: Services,
        org: Any) -> None:
    """Writes about a customer sent while their erasure runs (bills, messages, updates, points,
    several approvals of their requests): each either lands before the erasure, which then
    removes it, or finds the customer deleted. None is a server error, and afterwards no table
    holds the person, on either database (PostgreSQL's writes run truly at once)."""
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    work = workspace_auth(org)
    marker = "Ozymandiaz"
    for round_ in range(3):
        mobile, email = f"91981112{round_:04d}", f"{marker.lower()}{round_}@example.com"
        customer_id = await add_customer(client, loyalty, firstName=marker, identifiers=[
            {"type": "mobile", "value": mobile}, {"type": "email", "value": email}])
        await _buy(client, loyalty, f"oz-{round_}-0", 1000, mobile=mobile)
        requests = []
        for _ in range(3):
            r = await client.post("/v2/requests", headers=loyalty, json={
                "type": "CUSTOMER", "baseType": "DELETE", "comments": "asked",
                "customerIdentificationInfo": {"source": "INSTORE", "identifierType": "mobile",
                                               "identifierValue": mobile}})
            requests.append(r.json()["createdId"])
        writes = [client.put("/v2/requests", headers=loyalty,
                             json=[{"id": str(x), "status": "APPROVED"}]) for x in requests]
        writes.append(client.delete(f"/api/customers/{customer_id}", headers=work))
        for i in range(4):
            writes += [
                _buy(client, loyalty, f"oz-{round_}-{i + 1}", 100, mobile=mobile,
                     note=f"for {marker} {i}"),
                client.post("/patron/v1/records", headers=work, json={"records": [
                    {"kind": "message", "id": f"oz-{round_}-{i}", "channel": "email",
                     "subject": f"Hello {marker}", "receiver": email,
                     "customer": {"id": customer_id}, "sentAt": "2026-01-02T09:00:00Z"}]}),
                client.put(f"/v2/customers/{customer_id}", headers=loyalty, json={
                    "profiles": [{"source": "INSTORE", "firstName": f"{marker}{i}"}]}),
                client.patch(f"/api/customers/{customer_id}", headers=work,
                             json={"lastName": f"{marker}{i}"}),
                client.post("/v2/loyalty/pointsAdjustments", headers=loyalty, json={
                    "identifierName": "id", "identifierValue": str(customer_id), "points": 5,
                    "reason": f"goodwill for {marker}"}),
                # Reads, whose answers are offered as the customer's document.
                client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=loyalty),
            ]
        # An exception is a server error the test client raised (a deadlock, say).
        answers = await asyncio.gather(*writes, return_exceptions=True)
        await services.documents.store_waiting()
        assert [a for a in answers if isinstance(a, BaseException)] == []
        assert all(r.status_code < 500 for r in answers), [
            r.text for r in answers if r.status_code >= 500]
    assert await _holding(services, (marker,)) == []


async def test_no_secret_is_stored_as_given(client: httpx.AsyncClient, services: Services,
                                            org: Any) -> None:
    md5 = hashlib.md5(org.till_password.encode()).hexdigest()  # noqa: S324 - Capillary's scheme
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    loyalty_token = r.json()["data"]["accessToken"]
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": org.marketing_client_id,
        "client_secret": org.marketing_client_secret})
    marketing = r.json()
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": marketing["refresh_token"]})
    refreshed = r.json()
    # A webhook's answer holds its secret token; sent with an Idempotency-Key, it is not kept.
    hook = await _setup_webhook(client, {**till_auth(org), "Idempotency-Key": "hook"})
    secrets = (hook.rsplit("/", 1)[1], org.till_password, md5, md5.upper(), org.loyalty_secret,
               loyalty_token,
               org.marketing_client_secret, marketing["access_token"],
               marketing["refresh_token"], refreshed["access_token"],
               refreshed["refresh_token"], org.workspace_key)
    # Each one works, so each was really issued; and none is kept as it was given.
    assert (await client.get("/v2/customers/lookup?source=INSTORE&identifierName=mobile"
                             "&identifierValue=1", headers=till_auth(org))).status_code == 404
    assert (await client.get("/v1/me", headers={
        "Authorization": f"Bearer {refreshed['access_token']}"})).status_code == 200
    assert (await client.get("/api/customers/count",
                             headers=workspace_auth(org))).status_code == 200
    assert await _holding(services, secrets) == []
