"""Cards through the loyalty face: series, generation, adding, issuing by registration and by
changeIdentifier, status changes with labels and their log, look-up by card, expiry by the
jobs, and tenancy."""

from __future__ import annotations

from typing import Any

import httpx

from patron.clock import FixedClock, parse_iso
from patron.services import Services
from tests.conftest import add_customer, till_auth

DAY_MS = 86_400_000


async def _series(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> int:
    payload = {"code": "mtest", "name": "card series create new", "type": "DIGITAL",
               "expiryDays": 1000, "maxActiveCardsPerCustomer": 2,
               "cardGenerationEnabled": True,
               "cardGenerationConfiguration": {"prefix": "mtest", "suffix": "7003",
                                               "length": 19, "method": "DEFAULT"}, **body}
    r = await client.post("/v2/card/series", headers=headers, json=payload)
    assert r.status_code == 200, r.text
    return int(r.json()["entity"])


async def test_series_generation_and_validation(client: httpx.AsyncClient, org: Any) -> None:
    h = till_auth(org)
    series_id = await _series(client, h)
    r = await client.get(f"/v2/card/series/{series_id}", headers=h)
    body = r.json()
    assert body["code"] == "mtest" and body["type"] == "DIGITAL" and body["expiryDays"] == 1000
    assert body["cardGenerationConfiguration"]["length"] == 19
    assert body["maxActiveCardsPerCustomer"] == 2 and body["warnings"] == []
    listed = (await client.get("/v2/card/series/get/all", headers=h)).json()
    assert [s["id"] for s in listed["data"]] == [series_id]

    # the same code again, a bad type, a length that leaves no digits, the same format
    for payload, code in (({}, 3002), ({"code": "x2", "type": "PLASTIC"}, 3020),
                          ({"code": "x3", "cardGenerationConfiguration": {
                              "prefix": "abc", "suffix": "de", "length": 5}}, 3005),
                          ({"code": "x4"}, 3006), ({"code": "x 5"}, 3032),
                          ({"code": "x6", "expiryDays": -1}, 3019),
                          # a card made today would expire after 9999 (year 10240)
                          ({"code": "x9", "expiryDays": 3_000_000}, 3019),
                          ({"code": "x10", "expiryDays": 2_000_001}, 3019),
                          # 32-bit counts: refused alike on both databases
                          ({"code": "x7", "expiryDays": 2**31}, 400),
                          ({"code": "x8", "maxActiveCardsPerCustomer": 2**31}, 400)):
        r = await client.post("/v2/card/series", headers=h, json={
            "code": "mtest", "type": "DIGITAL", "cardGenerationEnabled": True,
            "cardGenerationConfiguration": {"prefix": "mtest", "suffix": "7003", "length": 19},
            **payload})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == code, (payload, r.text)
    r = await client.put(f"/v2/card/series/{series_id}", headers=h, json={"expiryDays": 3_000_000})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 3019, r.text
    # The longest expiry: a card made on 2026-01-01 expires in 7501, a four-digit year.
    longest = await _series(client, h, code="xmax", expiryDays=2_000_000,
                            cardGenerationEnabled=False)
    r = await client.post("/v2/card", headers=h, json={
        "seriesId": longest, "cardNumber": "xmax0001", "statusLabel": "NOT_ISSUED"})
    assert r.status_code == 200, r.text
    card = (await client.get("/v2/card?number=xmax0001", headers=h)).json()
    assert card["expiryDate"] == "7501-10-26T00:00:00Z"

    r = await client.post("/v2/card/generate", headers=h,
                          json={"seriesId": series_id, "count": 3, "statusLabel": "NOT_ISSUED"})
    assert r.status_code == 200, r.text
    assert r.json()["entity"] == ["mtest00000000017003", "mtest00000000027003",
                                  "mtest00000000037003"]
    card = (await client.get("/v2/card?number=mtest00000000027003", headers=h)).json()
    assert card["statusInfo"]["status"] == "NOT_ISSUED" and card["customerId"] == 0
    assert "issuedDate" not in card
    r = await client.post("/v2/card/generate", headers=h,
                          json={"seriesId": series_id, "count": 1, "statusLabel": "ACTIVE"})
    assert r.json()["errors"][0]["code"] == 3018
    # A number already added by hand is skipped; generation runs in batches of 1,000 and makes
    # exactly as many cards as asked, each with its first status.
    r = await client.post("/v2/card", headers=h, json={
        "seriesId": series_id, "cardNumber": "mtest00000010027003", "statusLabel": "NOT_ISSUED"})
    assert r.status_code == 200, r.text
    r = await client.post("/v2/card/generate", headers=h,
                          json={"seriesId": series_id, "count": 2_500, "statusLabel": "NOT_ISSUED"})
    made = r.json()["entity"]
    assert len(made) == len(set(made)) == 2_500
    assert made[0] == "mtest00000000047003" and made[-1] == "mtest00000025047003"
    assert "mtest00000010027003" not in made and "mtest00000010037003" in made
    card = (await client.get(f"/v2/card?number={made[1_500]}", headers=h)).json()
    assert card["statusInfo"]["status"] == "NOT_ISSUED" and card["cardNumber"] == made[1_500]
    r = await client.get("/v2/card?number=nope", headers=h)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 3010


async def test_issue_lookup_status_and_log(client: httpx.AsyncClient, services: Services,
                                           org: Any, clock: FixedClock) -> None:
    h = till_auth(org)
    series_id = await _series(client, h)
    clock.value = parse_iso("2025-09-05T12:25:27Z")
    r = await client.post("/v2/card", headers=h, json={
        "seriesId": series_id, "cardNumber": "DS034812BA", "cardExternalId": "CardExternal2",
        "statusLabel": "NOT_ISSUED", "customFields": {"vehicle_type": "Bike"}})
    assert r.status_code == 200, r.text
    again = await client.post("/v2/card", headers=h, json={
        "seriesId": series_id, "cardNumber": "DS034812BA", "statusLabel": "NOT_ISSUED"})
    assert again.json()["errors"][0]["code"] == 3009

    # issued at registration: a number no card has yet joins the series the identifier names
    clock.value = parse_iso("2025-09-18T12:47:07Z")
    customer_id = await add_customer(client, h, firstName="Bubalus", identifiers=[
        {"type": "mobile", "value": "919900000011"},
        {"type": "cardnumber", "value": "mtest00000000067003", "seriesId": series_id,
         "statusLabel": "ACTIVE"}])
    # issued to an existing customer
    r = await client.post(f"/v2/customers/{customer_id}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "cardnumber", "value": "DS034812BA",
                                                    "seriesId": series_id,
                                                    "statusLabel": "ACTIVE"}]})
    assert r.status_code == 200 and r.json() == {"createdId": customer_id, "warnings": []}

    details = (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                                headers=h)).json()
    cards = details["cardDetails"]
    assert [c["cardNumber"] for c in cards] == ["DS034812BA", "mtest00000000067003"]
    first = cards[0]
    assert first["issuedDate"] == "2025-09-18T12:47:07Z"
    assert first["createdDate"] == "2025-09-05"
    assert first["createdDateTimeISO"] == "2025-09-05T12:25:27Z"
    assert first["expiryDate"] == "2028-06-01T00:00:00Z"  # created day + 1,000 days (seed 000)
    assert first["cardExternalId"] == "CardExternal2"
    assert first["customFields"] == {"vehicle_type": "Bike"}
    assert first["statusInfo"]["label"] == "ACTIVE" and first["statusInfo"]["isActive"]
    assert first["activeAndDigital"] is True and first["customerId"] == customer_id
    assert first["seriesCode"] == "mtest" and first["maxActiveCards"] == 2

    # the card, its external id and the lookup find the customer
    for name, value in (("cardnumber", "DS034812BA"), ("cardExternalId", "CardExternal2")):
        r = await client.get(f"/v2/customers/lookup?source=INSTORE&identifierName={name}"
                             f"&identifierValue={value}", headers=h)
        assert r.json()["entity"] == customer_id, (name, r.text)

    # a third active card in the series is one too many; a card held by someone else is not
    # linkable
    other = await add_customer(client, h, identifiers=[{"type": "mobile",
                                                        "value": "919900000012"}])
    r = await client.post(f"/v2/customers/{customer_id}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "cardnumber", "value": "x1234567",
                                                    "seriesId": series_id}]})
    assert r.json()["errors"][0]["code"] == 3036
    r = await client.post(f"/v2/customers/{other}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "cardnumber",
                                                    "value": "DS034812BA"}]})
    assert r.json()["errors"][0]["code"] == 3027
    # Nothing to change: the customer must still exist.
    r = await client.post(f"/v2/customers/{other}/changeIdentifier", headers=h, json={})
    assert r.status_code == 200 and r.json()["createdId"] == other, r.text
    r = await client.post("/v2/customers/999999999/changeIdentifier", headers=h, json={})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015, r.text

    # labels, status change with a reason, the log
    r = await client.post("/v2/genericStatus/card/labels", headers=h,
                          json=[{"status": "SUSPENDED", "label": "CARD BLOCKED"}])
    assert r.status_code == 200, r.text
    clock.value += DAY_MS
    r = await client.put("/v2/card", headers=h, json={
        "cardNumber": "DS034812BA", "seriesId": series_id, "statusLabel": "CARD BLOCKED",
        "statusInfo": {"reason": "lost"}})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["statusInfo"]["status"] == "SUSPENDED"
    assert changed["statusInfo"]["label"] == "CARD BLOCKED"
    assert changed["statusInfo"]["reason"] == "lost" and changed["activeAndDigital"] is False
    r = await client.put("/v2/card", headers=h, json={
        "cardNumber": "DS034812BA", "seriesId": series_id, "statusLabel": "CARD BLOCKED"})
    assert r.json()["warnings"][0]["code"] == 3039
    log = (await client.get("/v2/card/statusLog?number=DS034812BA", headers=h)).json()["data"]
    assert [(e["label"], e["isActive"]) for e in log] == [
        ("NOT_ISSUED", False), ("ACTIVE", False), ("CARD BLOCKED", True)]
    # Back to ACTIVE only within the series' limit: with another card issued meanwhile, 3036.
    r = await client.post(f"/v2/customers/{customer_id}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "cardnumber", "value": "x1234567",
                                                    "seriesId": series_id}]})
    assert r.status_code == 200, r.text
    r = await client.put("/v2/card", headers=h, json={
        "cardNumber": "DS034812BA", "seriesId": series_id, "statusLabel": "ACTIVE"})
    assert r.json()["errors"][0]["code"] == 3036
    # A blocked card still names its customer; a deleted one no longer does.
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=cardnumber"
                         "&identifierValue=DS034812BA", headers=h)
    assert r.json()["entity"] == customer_id
    r = await client.put("/v2/card", headers=h, json={
        "cardNumber": "DS034812BA", "seriesId": series_id, "statusLabel": "DELETED"})
    assert r.status_code == 200
    for name, value in (("cardnumber", "DS034812BA"), ("cardExternalId", "CardExternal2")):
        r = await client.get(f"/v2/customers/lookup?source=INSTORE&identifierName={name}"
                             f"&identifierValue={value}", headers=h)
        assert r.status_code == 404, (name, r.text)
    details = (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                                headers=h)).json()
    assert "DS034812BA" in [c["cardNumber"] for c in details["cardDetails"]]  # its history
    r = await client.put("/v2/card", headers=h, json={
        "cardNumber": "DS034812BA", "seriesId": series_id, "statusLabel": "ACTIVE"})
    assert r.json()["errors"][0]["code"] == 3038

    # delinking: the card leaves the customer's identifiers and can be issued again
    r = await client.post(f"/v2/customers/{customer_id}/changeIdentifier?source=INSTORE",
                          headers=h, json={"remove": [{"type": "cardnumber",
                                                       "value": "mtest00000000067003"}]})
    assert r.status_code == 200, r.text
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=cardnumber"
                         "&identifierValue=mtest00000000067003", headers=h)
    assert r.status_code == 404
    r = await client.post(f"/v2/customers/{other}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "cardnumber",
                                                    "value": "mtest00000000067003"}]})
    assert r.status_code == 200, r.text


async def test_cards_expire_with_the_jobs(client: httpx.AsyncClient, services: Services,
                                          org: Any, clock: FixedClock) -> None:
    h = till_auth(org)
    series_id = await _series(client, h, expiryDays=10)
    customer_id = await add_customer(client, h, identifiers=[
        {"type": "mobile", "value": "919900000021"},
        {"type": "cardnumber", "value": "short0001", "seriesId": series_id}])
    clock.value += 9 * DAY_MS
    assert (await services.run_jobs(org.org_id))[1] == 0
    clock.value += 2 * DAY_MS
    assert (await services.run_jobs(org.org_id))[1] == 1
    assert (await services.run_jobs(org.org_id))[1] == 0
    card = (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                             headers=h)).json()["cardDetails"][0]
    assert card["statusInfo"]["status"] == "EXPIRED" and card["statusInfo"]["reason"] == "expired"


async def test_cards_are_per_organisation(client: httpx.AsyncClient, org: Any,
                                          other_org: Any) -> None:
    h, other = till_auth(org), till_auth(other_org)
    series_id = await _series(client, h)
    await client.post("/v2/card", headers=h, json={
        "seriesId": series_id, "cardNumber": "ORG1CARD", "statusLabel": "NOT_ISSUED"})
    assert (await client.get(f"/v2/card/series/{series_id}", headers=other)).status_code == 404
    r = await client.get("/v2/card?number=ORG1CARD", headers=other)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 3010
    r = await client.post("/v2/card", headers=other, json={
        "seriesId": series_id, "cardNumber": "X1", "statusLabel": "NOT_ISSUED"})
    assert r.json()["errors"][0]["code"] == 3000
    # the same code and number are free in another organisation
    await _series(client, other)
