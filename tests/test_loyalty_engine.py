"""The loyalty engine through the loyalty face: programs, transactions and returns, points
(earn, promote, redeem, reverse, adjust, expire), tiers (upgrade, renew, downgrade, manual), and
the loyalty parts of customer details. Time moves by the injected clock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from patron.clock import FixedClock, iso_utc, local_time, parse_bound, parse_iso, zone_named
from patron.db.statement import sql
from patron.loyalty.programs import ProgramFileError, read_program_file
from patron.loyalty.rules import DAY_MS, end_of_day
from patron.services import Services
from tests.conftest import add_customer, till_auth, workspace_auth

HOUR_MS = 3_600_000

PROGRAMS = """
programs:
  - id: 7
    name: Gems
    description: Main program
    default: true
    rounding: FLOOR
    pointsExpiry: {days: 30}
    upgrade: {strategy: CURRENT_POINTS}
    tiers:
      - {name: Topaz, description: base, pointsPerCurrency: 0.1}
      - {name: Coral, description: second, threshold: 100, pointsPerCurrency: 0.1}
      - name: Garnet
        description: third
        threshold: 300
        pointsPerCurrency: 0.2
        validityDays: 60
        retention: {minPurchases: 1000, minVisits: 2}
  - id: 8
    name: Spend
    upgrade:
      strategy: TRACKER_VALUE_BASED
      tracker: {name: Spend, type: TRANSACTION_AMOUNT, windowDays: 10}
    tiers:
      - {name: Member, pointsPerCurrency: 0.01}
      - {name: Frequent, threshold: 2000, pointsPerCurrency: 0.02, validityDays: 30}
"""


async def _setup(client: httpx.AsyncClient, services: Services, org: Any,
                 mobile: str = "919900000001") -> tuple[int, dict[str, str]]:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    headers = till_auth(org)
    customer_id = await add_customer(client, headers, firstName="Tom",
                                     identifiers=[{"type": "mobile", "value": mobile}])
    return customer_id, headers


async def _buy(client: httpx.AsyncClient, headers: dict[str, str], bill: str, amount: float,
               mobile: str = "919900000001", **extra: Any) -> httpx.Response:
    return await client.post(
        f"/v2/transactions?source=INSTORE&identifierName=mobile&identifierValue={mobile}",
        headers=headers, json={"type": "REGULAR", "billNumber": bill, "billAmount": amount,
                               **extra})


async def _details(client: httpx.AsyncClient, headers: dict[str, str], customer_id: int,
                   query: str) -> dict[str, Any]:
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&{query}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_program_file_errors_name_the_line() -> None:
    bad = PROGRAMS.replace("threshold: 300", "threshold: 50")
    with pytest.raises(ProgramFileError) as err:
        read_program_file(bad)
    assert err.value.line == 15 and "thresholds must rise" in err.value.reason
    with pytest.raises(ProgramFileError) as err:
        read_program_file(PROGRAMS.replace("CURRENT_POINTS", "LUCK"))
    assert err.value.line == 9 and "strategy" in err.value.reason
    with pytest.raises(ProgramFileError) as err:
        read_program_file("programs: [\n  {id: 1,\n")
    assert err.value.line is not None and "YAML" in err.value.reason
    with pytest.raises(ProgramFileError) as err:
        read_program_file(PROGRAMS.replace("tracker: {name: Spend, type: TRANSACTION_AMOUNT, "
                                           "windowDays: 10}", "tracker: null"))
    assert "tracker" in err.value.reason


async def test_purchase_earns_by_tier_and_upgrades(client: httpx.AsyncClient,
                                                   services: Services, org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    r = await _buy(client, headers, "B-1", 1005.5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errors"] == [] and body["warnings"] == []
    effects = body["sideEffects"]
    # Raw is before the program's rounding (FLOOR), as Capillary's 4808 bill shows 480.8 / 480.
    assert {"entityType": "USER", "rawAwardedPoints": 100.55, "awardedPoints": 100,
            "type": "points", "programId": 7} in effects
    assert {"entityType": "USER", "type": "slab", "programId": 7, "changeType": "UPGRADE",
            "fromSlab": "Topaz", "toSlab": "Coral",
            "slabExpiryDate": "2126-01-01T23:59:59Z"} in effects
    again = await _buy(client, headers, "B-1", 10)
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == 604
    details = await _details(client, headers, customer_id,
                             "embed=points,mlp&slabHistory=true&tierUpgradeCriteria=true"
                             "&membershipRetentionCriteria=true")
    summary = details["pointsSummary"]
    assert summary["loyaltyPoints"] == 100.0 and summary["currentSlab"] == "Coral"
    assert summary["slabSNo"] == 2 and summary["nextSlab"] == "Garnet"
    assert summary["nextSlabSerialNumber"] == 3 and summary["cumulativePurchases"] == 1005.5
    assert summary["slabExpiryDate"] == "2126-01-01T23:59:59Z"  # no validity: a century
    assert [p["programId"] for p in details["loyaltyProgramDetails"]] == [7, 8]
    assert details["slabHistory"][0]["type"] == "UPGRADE"
    assert details["slabHistory"][0]["notes"].startswith("Upgrading to Slab : Slab[2]")
    assert details["tierUpgradeCriteria"] == {
        "purchaseType": "CURRENT_POINTS",
        "description": "purchase required for slab upgradation based on current points",
        "purchaseValue": 200.0}
    assert "membershipRetentionCriteria" not in details  # Coral has no downgrade rule
    assert details["loyaltyInfo"]["lifetimePurchases"] == 1005.5


async def test_the_base_tier_is_dated_from_enrolment(client: httpx.AsyncClient, clock: Any,
                                                     services: Services, org: Any) -> None:
    """Seed 000: a customer created 2024-08-27 left the base tier, which never expires, with
    `fromTierExpiryDate` 2124-08-27: the base tier runs from enrolment, however late the
    engine first sees the customer (a read, a bill)."""
    customer_id, headers = await _setup(client, services, org)  # enrolled on 2026-01-01
    clock.advance(400 * 86_400_000)
    details = await _details(client, headers, customer_id, "embed=points,mlp")
    assert details["pointsSummary"]["slabExpiryDate"] == "2126-01-01T23:59:59Z"
    assert {p["slabExpiryDate"] for p in details["loyaltyProgramDetails"]} == {
        "2126-01-01T23:59:59Z"}
    r = await _buy(client, headers, "B-late", 1005.5)
    assert r.status_code == 200, r.text
    details = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert details["slabHistory"][0]["fromTierExpiryDate"] == "2126-01-01T23:59:59Z"
    assert details["pointsSummary"]["slabExpiryDate"] == "2127-02-05T23:59:59Z"  # Coral's


async def test_a_bills_source_is_checked(client: httpx.AsyncClient, services: Services,
                                         org: Any) -> None:
    """`source` names the bill's source (INSTORE when absent); any other value is 8003, singly
    and per element of a bulk add, and nothing is stored for it."""
    customer_id, headers = await _setup(client, services, org)
    path = "/v2/transactions?identifierName=mobile&identifierValue=919900000001"
    bill = {"type": "REGULAR", "billAmount": 100}
    r = await client.post(path + "&source=BAD", headers=headers, json={**bill, "billNumber": "S-1"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8003
    r = await client.post(path, headers=headers, json={**bill, "billNumber": "S-1"})
    assert r.status_code == 200, r.text  # absent: INSTORE; S-1 was not taken by the bad one
    r = await client.post(path + "&source=ecommerce", headers=headers,
                          json={**bill, "billNumber": "S-2"})
    assert r.status_code == 200, r.text  # the transaction docs' sources, any case
    r = await client.post("/v2/transactions/bulk", headers=headers, json=[
        {**bill, "billNumber": "S-3", "source": "BOGUS", "identifierType": "mobile",
         "identifierValue": "919900000001"},
        {**bill, "billNumber": "S-4", "source": "INSTORE", "identifierType": "mobile",
         "identifierValue": "919900000001"}])
    assert r.status_code == 201, r.text
    first, second = r.json()["response"]
    assert first["errors"][0]["code"] == 8003 and second["errors"] == []
    # An element that is not an object fails alone too.
    r = await client.post("/v2/transactions/bulk", headers=headers, json=[
        {**bill, "billNumber": "S-5", "identifierType": "mobile",
         "identifierValue": "919900000001"}, "not a bill", None])
    assert r.status_code == 201, r.text
    assert [e["errors"][0]["code"] if e["errors"] else None
            for e in r.json()["response"]] == [None, 601, 601]
    assert r.json()["failureCount"] == 2
    # embed repeated, as generated clients send an array: both parts come.
    details = await _details(client, headers, customer_id, "embed=points&embed=mlp")
    assert details["loyaltyInfo"]["lifetimePurchases"] == 400.0
    assert details["pointsSummary"]["cumulativePurchases"] == 400.0
    assert [p["programId"] for p in details["loyaltyProgramDetails"]] == [7, 8]


async def test_an_id_too_long_for_an_id_names_nobody(client: httpx.AsyncClient,
                                                    services: Services, org: Any) -> None:
    """`identifierName=id` with more digits than a 64-bit id holds is a customer not found on
    every route that takes it, never a crash; in a bulk add, that element alone fails."""
    _, headers = await _setup(client, services, org)
    huge = "9" * 26
    r = await client.post(f"/v2/transactions?identifierName=id&identifierValue={huge}",
                          headers=headers, json={"type": "REGULAR", "billNumber": "H-1",
                                                 "billAmount": 10})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015
    r = await client.post("/v2/transactions/bulk", headers=headers, json=[
        {"type": "REGULAR", "billNumber": "H-2", "billAmount": 10, "identifierType": "mobile",
         "identifierValue": "919900000001"},
        {"type": "REGULAR", "billNumber": "H-3", "billAmount": 10, "identifierType": "id",
         "identifierValue": huge}])
    assert r.status_code == 201, r.text
    assert r.json()["response"][1]["errors"][0]["code"] == 8015
    r = await client.get(f"/v1.1/points/isredeemable?user_id={huge}&points=1&format=json",
                         headers=headers)
    assert r.json()["response"]["points"]["redeemable"]["item_status"]["success"] == "false"
    # The customer is echoed under the name the request used, as the v1.1 docs show.
    assert r.json()["response"]["points"]["redeemable"]["user_id"] == huge
    r = await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": 1, "customer": {"user_id": huge}}]}})
    assert r.json()["response"]["responses"]["points"]["item_status"]["success"] == "false"
    r = await client.post("/v2/points/reverse", headers=headers, json={
        "redemptionId": 1, "identifier": {"type": "id", "value": huge}})
    # Customer details that name nobody: the points docs' 904, as for another customer's.
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 904
    r = await client.post("/patron/v1/records", headers=workspace_auth(org), json={"records": [
        {"kind": "tag", "customer": {"identifierName": "id", "identifierValue": huge},
         "ref": "x", "at": 1}]})
    assert r.status_code == 200 and r.json()["results"][0]["error"]["code"] == "customer_not_found"


async def test_returns_take_back_the_bills_points(client: httpx.AsyncClient,
                                                  services: Services, org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    bought = await _buy(client, headers, "B-2", 500, lineItemsV2=[
        {"itemCode": "shoe", "amount": 300}, {"itemCode": "sock", "amount": 200}])
    assert bought.status_code == 200
    base = "/v2/transactions?source=INSTORE&identifierName=mobile&identifierValue=919900000001"
    r = await client.post(base, headers=headers, json={
        "type": "RETURN", "returnType": "LINE_ITEM", "billNumber": "B-2",
        "lineItemsV2": [{"itemCode": "sock", "amount": 200}]})
    assert r.status_code == 200, r.text
    assert {"entityType": "USER", "returnedPoints": 20.0, "type": "points",
            "programId": 7} in r.json()["sideEffects"]
    # An item is returned at most as much as was bought of it, over all returns.
    for items, code in (([{"itemCode": "sock", "amount": 1}], 626),
                        ([{"itemCode": "shoe", "amount": 100, "qty": 2}], 626),
                        ([{"itemCode": "shoe", "amount": 301}], 678)):
        r = await client.post(base, headers=headers, json={
            "type": "RETURN", "returnType": "LINE_ITEM", "billNumber": "B-2",
            "lineItemsV2": items})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == code, (items, r.text)
    r = await client.post(base, headers=headers, json={
        "type": "RETURN", "returnType": "AMOUNT", "billNumber": "B-2", "billAmount": 10})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 635  # AMOUNT after LINE_ITEM
    r = await client.post(base, headers=headers, json={
        "type": "RETURN", "returnType": "FULL", "billNumber": "B-2"})
    assert r.status_code == 200
    r = await client.post(base, headers=headers, json={
        "type": "RETURN", "returnType": "FULL", "billNumber": "B-2"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 633
    r = await client.post(base, headers=headers, json={
        "type": "RETURN", "returnType": "FULL", "billNumber": "NOPE"})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 625
    details = await _details(client, headers, customer_id, "embed=points,returnedPoints")
    assert details["pointsSummary"]["loyaltyPoints"] == 0.0
    assert details["pointsSummary"]["returned"] == 50.0
    assert details["loyaltyInfo"]["lifetimePurchases"] == 0.0
    assert sum(x["points"] for x in details["returnedPoints"] if x["programId"] == 7) == 50.0
    got = await client.get(f"/v2/transactions/{bought.json()['createdId']}", headers=headers)
    assert got.status_code == 200
    bill = got.json()
    assert bill["billDetails"]["billNumber"] == "B-2" and bill["billDetails"]["amount"] == 500
    assert [li["details"]["itemCode"] for li in bill["lineItems"]] == ["shoe", "sock"]
    # The bill shows what its returns took back of its points.
    assert {"programId": 7, "awardedPoints": 50.0, "returnedPoints": 50.0} in \
        bill["pointsDetails"]
    r = await client.get(f"/v2/transactions/{bought.json()['createdId']}?type=BOGUS",
                         headers=headers)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 605
    # A bill states its amount (601), as the docs mark billAmount mandatory.
    r = await client.post("/v2/transactions?source=INSTORE&identifierName=mobile"
                          "&identifierValue=919900000001", headers=headers,
                          json={"type": "REGULAR", "billNumber": "NO-AMOUNT"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 601
    # A bill names its customer (606), and a line's quantity is a number of zero or more.
    r = await client.post("/v2/transactions?source=INSTORE", headers=headers,
                          json={"type": "REGULAR", "billNumber": "B-anon", "billAmount": 5})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 606
    for qty in (-1, "NaN", "Infinity"):
        r = await _buy(client, headers, f"B-qty{qty}", 5,
                       lineItemsV2=[{"itemCode": "x", "amount": 5, "qty": qty}])
        assert r.status_code == 400 and "errors" in r.json(), (qty, r.text)
    # Each negative value and each date out of range has the transaction docs' own code.
    cases = [({"billAmount": -1}, 631), ({"discount": -1}, 666), ({"grossAmount": -1}, 665),
             ({"lineItemsV2": [{"itemCode": "x", "amount": -1}]}, 661),
             ({"lineItemsV2": [{"itemCode": "x", "amount": 1, "value": -1}]}, 662),
             ({"lineItemsV2": [{"itemCode": "x", "amount": 1, "rate": -1}]}, 663),
             ({"lineItemsV2": [{"itemCode": "x", "amount": 1, "discount": -1}]}, 664),
             ({"lineItemsV2": [{"itemCode": "x", "amount": 1, "qty": -1}]}, 627),
             ({"billingDate": "9999-12-31T00:00:00Z"}, 643),
             ({"billingDate": "0001-01-01T00:00:00Z"}, 644)]
    for n, (extra, code) in enumerate(cases):
        r = await client.post(
            "/v2/transactions?identifierName=mobile&identifierValue=919900000001",
            headers=headers, json={"type": "REGULAR", "billNumber": f"B-bad-{n}",
                                   "billAmount": 5, **extra})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == code, (extra, r.text)
    # A return that takes back no points still says so as a return, not as an award.
    assert (await _buy(client, headers, "B-tiny", 5)).status_code == 200
    r = await client.post(base, headers=headers, json={
        "type": "RETURN", "returnType": "FULL", "billNumber": "B-tiny"})
    assert r.status_code == 200, r.text
    points = [e for e in r.json()["sideEffects"] if e["type"] == "points"]
    assert points and all(e.get("returnedPoints") == 0.0 and "awardedPoints" not in e
                          for e in points), points
    for program_id in (7, 8):
        await services.loyalty.check_ledger(org.org_id, customer_id, program_id)


async def test_redeem_reverse_and_never_overspend(client: httpx.AsyncClient,
                                                  services: Services, org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-3", 900)  # 90 points
    r = await client.get("/v1.1/points/isredeemable?mobile=919900000001&points=50&format=json",
                         headers=headers)
    assert r.status_code == 200
    redeemable = r.json()["response"]["points"]["redeemable"]
    assert redeemable["is_redeemable"] == "true"
    assert redeemable["item_status"]["code"] == 800
    r = await client.get("/v1.1/points/isredeemable?mobile=919900000001&points=500",
                         headers=headers)
    assert r.json()["response"]["points"]["redeemable"]["item_status"]["code"] == 803
    r = await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": 40, "transaction_number": "R-1",
                             "customer": {"mobile": "919900000001"}}]}})
    assert r.status_code == 200, r.text
    points = r.json()["response"]["responses"]["points"]
    assert points["balance"] == 50.0 and points["item_status"]["code"] == 800
    redemption_id = points["redemption_id"]
    r = await client.post("/v1.1/points/redeem", headers=headers, json={
        "root": {"redeem": {"points_redeemed": 51, "customer": {"mobile": "919900000001"}}}})
    assert r.status_code == 500
    assert r.json()["response"]["responses"]["points"]["item_status"]["code"] == 803
    r = await client.post("/v2/points/reverse", headers=headers, json={
        "redemptionId": redemption_id, "pointsToBeReversed": 15,
        "identifier": {"type": "mobile", "value": "919900000001"}})
    assert r.status_code == 200, r.text
    assert r.json()["pointsReversed"] == 15.0 and r.json()["customerId"] == customer_id
    r = await client.post("/v2/points/reverse", headers=headers,
                          json={"redemptionId": redemption_id, "pointsToBeReversed": 26})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 901
    for bad in (0, -2, 0.5):  # whole points only, as the docs type them
        r = await client.post("/v2/points/reverse", headers=headers,
                              json={"redemptionId": redemption_id, "pointsToBeReversed": bad})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == 901, (bad, r.text)
    r = await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": True, "customer": {"mobile": "919900000001"}}]}})
    assert r.json()["response"]["responses"]["points"]["item_status"]["code"] == 801
    details = await _details(client, headers, customer_id, "embed=points")
    assert details["pointsSummary"]["loyaltyPoints"] == 65.0
    assert details["pointsSummary"]["redeemed"] == 25.0
    # A body that is not the redemption's JSON fails in v1.1's envelope, never as a crash.
    for bad in (b"{bad", b'{"a":', b'{"root": "x"}', b"<root><redeem/></root>", b"[1]"):
        r = await client.post("/v1.1/points/redeem?format=json", content=bad,
                              headers={**headers, "content-type": "application/json"})
        assert r.status_code == 500, bad
        failed = r.json()["response"]
        assert failed["status"]["success"] == "false"
        assert failed["responses"]["points"]["item_status"]["success"] == "false"
    # program_id in the body, as the v1.1 docs place it, picks the program debited.
    r = await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": 2, "program_id": 8,
                             "customer": {"mobile": "919900000001"}}]}})
    assert r.status_code == 200, r.text
    details = await _details(client, headers, customer_id, "embed=mlp")
    redeemed = {p["programId"]: p["redeemed"] for p in details["loyaltyProgramDetails"]}
    assert redeemed == {7: 25.0, 8: 2.0}

    async def one() -> int:
        return (await client.post("/v1.1/points/redeem", headers=headers, json={
            "root": {"redeem": [{"points_redeemed": 3,
                                 "customer": {"mobile": "919900000001"}}]}})).status_code

    codes = await asyncio.gather(*(one() for _ in range(50)))
    assert codes.count(200) == 21 and codes.count(500) == 29  # 65 points buy 21 of 3
    await services.loyalty.check_ledger(org.org_id, customer_id, 7)
    details = await _details(client, headers, customer_id, "embed=points")
    assert details["pointsSummary"]["loyaltyPoints"] == 2.0


async def test_expiry_on_the_day_and_idempotent(client: httpx.AsyncClient, services: Services,
                                                org: Any, clock: FixedClock) -> None:
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-4", 500)  # 50 points, expire 30 days later
    r = await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "points": 25,
        "promotionName": "Goodwill", "expiryDate": "2026-03-01T23:59:59Z"})
    assert r.status_code == 200, r.text
    details = await _details(client, headers, customer_id,
                             "embed=expirySchedules,promotionalPoints")
    assert [(s["points"], s["expiryDate"], s["pointsType"]) for s in
            details["expirySchedules"]] == [(50.0, "2026-01-31", "REGULAR"),
                                            (25.0, "2026-03-01", "PROMOTIONAL")]
    promo = details["promotionalPoints"]["customerPromotionType"][0]
    assert promo["promotionName"] == "Goodwill" and promo["points"] == 25.0
    for days, value, valid_upto in ((0, 75.0, "2026-01-31"), (40, 25.0, "2026-03-01")):
        details = await _details(client, headers, customer_id, f"embed=mlp&gapToUpgrade={days}")
        assert details["loyaltyProgramDetails"][0]["upgradeStrategies"] == [{
            "upgrade_based_on": "CURRENT_POINTS", "upgradeThreshold": 100.0,
            "customerUpgradeEntityValues": {"currentValue": value,
                                            "gapToUpgrade": 100.0 - value,
                                            "valueValidUpto": valid_upto}}]
    clock.advance(30 * DAY_MS)  # the last day of the lot: not yet expired
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 0
    clock.advance(DAY_MS)
    report = await services.loyalty.run_jobs(org.org_id)
    assert report.expired_points == 50_000 and report.expired_lots == 1
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 0
    details = await _details(client, headers, customer_id, "embed=points,expiredPoints")
    assert details["pointsSummary"]["expired"] == 50.0
    assert details["pointsSummary"]["loyaltyPoints"] == 25.0
    assert details["expiredPoints"][0]["points"] == 50.0
    await services.loyalty.check_ledger(org.org_id, customer_id, 7)


async def test_points_expire_when_their_day_is_over_before_the_job_runs(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """A lot expiring at the end of 2026-01-31, ten minutes into 2026-02-01, no job run since:
    customer details no longer count or list it, it cannot be redeemed, and the first write to
    the member expires it (the job then finds nothing to do)."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-late", 500)  # 50 points, expire at the end of 2026-01-31
    clock.advance(31 * DAY_MS + 10 * 60_000)
    details = await _details(client, headers, customer_id,
                             "embed=points,mlp,expirySchedules&gapToUpgrade=0"
                             "&tierUpgradeCriteria=true")
    summary = details["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["expired"]) == (0.0, 50.0)
    assert details["expirySchedules"] == []
    gems = details["loyaltyProgramDetails"][0]
    assert (gems["loyaltyPoints"], gems["upgradeStrategies"][0]["customerUpgradeEntityValues"]
            ["currentValue"]) == (0.0, 0.0)
    assert details["tierUpgradeCriteria"]["purchaseValue"] == 100.0
    r = await client.get("/v1.1/points/isredeemable?mobile=919900000001&points=10&format=json",
                         headers=headers)
    redeemable = r.json()["response"]["points"]["redeemable"]
    assert (redeemable["is_redeemable"], redeemable["item_status"]["code"],
            redeemable["balance"]) == ("false", 803, 0.0)
    r = await _redeem(client, headers, 10)
    assert r.status_code == 500, r.text
    assert r.json()["response"]["responses"]["points"]["item_status"]["code"] == 803
    r = await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "points": 10,
        "promotionName": "Goodwill"})
    assert r.status_code == 200, r.text
    assert (await _redeem(client, headers, 10)).status_code == 200
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 0
    summary = (await _details(client, headers, customer_id, "embed=points"))["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["expired"], summary["redeemed"]) == (
        0.0, 50.0, 10.0)
    for program_id in (7, 8):
        await services.loyalty.check_ledger(org.org_id, customer_id, program_id)


async def test_the_gap_to_upgrade_counts_the_points_valid_on_its_day(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """On its last day (2026-01-31) a lot still counts: today's gap keeps it, as a bill would
    upgrade with it now, and tomorrow's gap (day 1) no longer does."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-gap", 500)  # 50 points, expire at the end of 2026-01-31
    clock.advance(30 * DAY_MS)
    for days, value, valid_upto in ((0, 50.0, "2026-01-31"), (1, 0.0, None)):
        details = await _details(client, headers, customer_id,
                                 f"embed=mlp&gapToUpgrade={days}&tierUpgradeCriteria=true")
        values = details["loyaltyProgramDetails"][0]["upgradeStrategies"][0][
            "customerUpgradeEntityValues"]
        assert (values["currentValue"], values["valueValidUpto"]) == (value, valid_upto), days
    assert details["tierUpgradeCriteria"]["purchaseValue"] == 50.0  # today's gap
    await _buy(client, headers, "B-gap-2", 500)  # 100 points today: Coral at once
    details = await _details(client, headers, customer_id, "embed=points")
    assert details["pointsSummary"]["currentSlab"] == "Coral"


async def test_a_promotions_expiry_date_is_the_end_of_that_day(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """An `expiryDate` names a day, and the points live to its end, as every lot does: a bare
    date is not its first instant. Today's date is still in the future."""
    customer_id, headers = await _setup(client, services, org)
    for points, expiry in ((25, "2026-01-20"), (5, "2026-01-01")):
        r = await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
            "identifierName": "mobile", "identifierValue": "919900000001", "points": points,
            "promotionName": "Goodwill", "expiryDate": expiry})
        assert r.status_code == 200, r.text
    details = await _details(client, headers, customer_id, "embed=expirySchedules")
    assert [(s["points"], s["expiryDateISO"]) for s in details["expirySchedules"]] == [
        (5.0, "2026-01-01T23:59:59Z"), (25.0, "2026-01-20T23:59:59Z")]
    clock.advance(19 * DAY_MS + DAY_MS // 2)  # 2026-01-20, noon
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 5_000
    details = await _details(client, headers, customer_id, "embed=points")
    assert details["pointsSummary"]["loyaltyPoints"] == 25.0
    clock.advance(DAY_MS // 2)  # 2026-01-21
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 25_000
    await services.loyalty.check_ledger(org.org_id, customer_id, 7)


async def test_a_bill_dated_past_its_points_expiry_earns_points_already_expired(
        client: httpx.AsyncClient, services: Services, org: Any) -> None:
    """Points live 30 days after their bill: a bill dated 40 days ago earns points that expired
    ten days ago. They are credited and expired at once: never spendable, never counted for a
    tier (CURRENT_POINTS), and the ledger still sums to the balance."""
    customer_id, headers = await _setup(client, services, org)
    r = await _buy(client, headers, "OLD-1", 5000, billingDate="2025-11-22T10:00:00Z")
    assert r.status_code == 200, r.text
    assert not [e for e in r.json()["sideEffects"] if e["type"] == "slab"]
    details = await _details(client, headers, customer_id, "embed=points,expiredPoints")
    summary = details["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["expired"]) == (0.0, 500.0)
    assert summary["currentSlab"] == "Topaz"
    assert details["expiredPoints"][0]["points"] == 500.0
    r = await _redeem(client, headers, 1)
    assert r.json()["response"]["responses"]["points"]["item_status"]["code"] == 803
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 0
    # A bill dated within its points' life earns spendable points as before.
    r = await _buy(client, headers, "OLD-2", 1000, billingDate="2025-12-20T10:00:00Z")
    details = await _details(client, headers, customer_id, "embed=points")
    assert details["pointsSummary"]["loyaltyPoints"] == 100.0
    await services.loyalty.check_ledger(org.org_id, customer_id, 7)


async def test_a_bill_dated_ahead_counts_in_the_tracker_at_once(
        client: httpx.AsyncClient, services: Services, org: Any) -> None:
    """A bill may be dated up to a day ahead. Spend reaches Frequent at 2000 spent within its
    window: a bill of 2000 dated tonight upgrades as it is recorded, not never."""
    customer_id, headers = await _setup(client, services, org)
    r = await _buy(client, headers, "AHEAD-1", 2000, billingDate="2026-01-01T20:00:00Z")
    assert r.status_code == 200, r.text
    assert [(e["programId"], e["toSlab"]) for e in r.json()["sideEffects"]
            if e["type"] == "slab"] == [(7, "Coral"), (8, "Frequent")]
    details = await _details(client, headers, customer_id, "embed=mlp")
    assert [p["currentSlab"] for p in details["loyaltyProgramDetails"]] == ["Coral", "Frequent"]


async def _redeem(client: httpx.AsyncClient, headers: dict[str, str], points: int,
                  mobile: str = "919900000001") -> httpx.Response:
    return await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": points, "customer": {"mobile": mobile}}]}})


async def _return(client: httpx.AsyncClient, headers: dict[str, str], bill: str,
                  mobile: str = "919900000001", **extra: Any) -> httpx.Response:
    return await client.post(
        f"/v2/transactions?source=INSTORE&identifierName=mobile&identifierValue={mobile}",
        headers=headers, json={"type": "RETURN", "returnType": "FULL", "billNumber": bill,
                               **extra})


async def test_points_given_back_by_a_reversal_can_reach_a_tier(
        client: httpx.AsyncClient, services: Services, org: Any) -> None:
    """Gems upgrades to Coral at 100 current points. 90 points, 60 redeemed (30 left), 40 more
    (70): a reversal of the 60 brings 130, and Coral then, as any credit would."""
    customer_id, headers = await _setup(client, services, org)
    assert (await _buy(client, headers, "R-1", 900)).status_code == 200
    r = await _redeem(client, headers, 60)
    redemption_id = r.json()["response"]["responses"]["points"]["redemption_id"]
    assert (await _buy(client, headers, "R-2", 400)).status_code == 200
    details = await _details(client, headers, customer_id, "embed=points")
    assert (details["pointsSummary"]["loyaltyPoints"], details["pointsSummary"]["currentSlab"]) \
        == (70.0, "Topaz")
    r = await client.post("/v2/points/reverse", headers=headers,
                          json={"redemptionId": redemption_id})
    assert r.status_code == 200, r.text
    details = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert (details["pointsSummary"]["loyaltyPoints"], details["pointsSummary"]["currentSlab"]) \
        == (130.0, "Coral")
    assert details["slabHistory"][0]["type"] == "UPGRADE"
    await services.loyalty.check_ledger(org.org_id, customer_id, 7)


async def test_a_reversal_settles_what_a_return_could_not_take(
        client: httpx.AsyncClient, services: Services, org: Any) -> None:
    """Earn 50, spend them, return the bill (nothing left to take), reverse the redemption: the
    50 points come back to the bill's lot and go straight to its return, not to the customer."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-spent", 500)
    r = await _redeem(client, headers, 50)
    redemption_id = r.json()["response"]["responses"]["points"]["redemption_id"]
    r = await _return(client, headers, "B-spent")
    assert r.status_code == 200, r.text
    assert {"entityType": "USER", "returnedPoints": 0.0, "type": "points",
            "programId": 7} in r.json()["sideEffects"]
    await _buy(client, headers, "B-kept", 100)  # 10 points of its own
    r = await client.post("/v2/points/reverse", headers=headers,
                          json={"redemptionId": redemption_id})
    assert r.status_code == 200, r.text
    assert r.json()["pointsReversed"] == 50.0
    details = await _details(client, headers, customer_id, "embed=points,returnedPoints")
    summary = details["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["redeemed"], summary["returned"]) == (
        10.0, 0.0, 50.0)
    assert sum(x["points"] for x in details["returnedPoints"] if x["programId"] == 7) == 50.0
    # A half-returned bill owes half: a reversal gives back the rest.
    await _buy(client, headers, "B-half", 400)  # 40 points
    r = await _redeem(client, headers, 50)
    redemption_id = r.json()["response"]["responses"]["points"]["redemption_id"]
    r = await _return(client, headers, "B-half", returnType="AMOUNT", billAmount=200)
    assert r.status_code == 200, r.text
    r = await client.post("/v2/points/reverse", headers=headers,
                          json={"redemptionId": redemption_id})
    assert r.status_code == 200, r.text
    summary = (await _details(client, headers, customer_id, "embed=points"))["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["returned"]) == (30.0, 70.0)
    for program_id in (7, 8):
        await services.loyalty.check_ledger(org.org_id, customer_id, program_id)


async def test_a_return_after_expiry_takes_nothing_that_expired(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-old", 500)  # 50 points, expiring after 30 days
    clock.advance(31 * DAY_MS)
    assert (await services.loyalty.run_jobs(org.org_id)).expired_points == 50_000
    await _buy(client, headers, "B-new", 300)  # 30 points in a lot of their own
    r = await _return(client, headers, "B-old")
    assert r.status_code == 200, r.text
    assert {"entityType": "USER", "returnedPoints": 0.0, "type": "points",
            "programId": 7} in r.json()["sideEffects"]
    summary = (await _details(client, headers, customer_id, "embed=points"))["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["expired"], summary["returned"]) == (
        30.0, 50.0, 0.0)
    # Half returned before the rest expired: the second half's return takes nothing more.
    await _buy(client, headers, "B-split", 200)  # 20 points
    r = await _return(client, headers, "B-split", returnType="AMOUNT", billAmount=100)
    assert {"entityType": "USER", "returnedPoints": 10.0, "type": "points",
            "programId": 7} in r.json()["sideEffects"]
    clock.advance(31 * DAY_MS)
    await services.loyalty.run_jobs(org.org_id)
    r = await _return(client, headers, "B-split")
    assert {"entityType": "USER", "returnedPoints": 0.0, "type": "points",
            "programId": 7} in r.json()["sideEffects"]
    summary = (await _details(client, headers, customer_id, "embed=points"))["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["expired"], summary["returned"]) == (
        0.0, 90.0, 10.0)
    for program_id in (7, 8):
        await services.loyalty.check_ledger(org.org_id, customer_id, program_id)


async def test_non_loyalty_customers_are_outside_the_programs(
        client: httpx.AsyncClient, services: Services, org: Any) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    headers = till_auth(org)
    mobile = "919900000077"
    r = await client.post("/v2/customers", headers=headers, json={
        "profiles": [{"identifiers": [{"type": "mobile", "value": mobile}]}],
        "loyaltyInfo": {"loyaltyType": "non_loyalty"}})
    assert r.status_code == 200, r.text
    customer_id = r.json()["createdId"]
    r = await _buy(client, headers, "NL-1", 1000, mobile=mobile)
    assert r.status_code == 200, r.text
    assert [e for e in r.json()["sideEffects"] if e["type"] in ("points", "slab")] == []
    bill_id = r.json()["createdId"]
    got = await client.get(f"/v2/transactions/{bill_id}?type=NOT_INTERESTED", headers=headers)
    assert got.status_code == 200 and got.json()["type"] == "NOT_INTERESTED"
    assert got.json()["pointsDetails"] == []
    got = await client.get(f"/v2/transactions/{bill_id}", headers=headers)  # type=REGULAR
    assert got.status_code == 404
    r = await _return(client, headers, "NL-1", mobile=mobile, returnType="AMOUNT",
                      billAmount=100)
    assert r.status_code == 200, r.text
    got = await client.get(f"/v2/transactions/{r.json()['createdId']}?type=NOT_INTERESTED_RETURN",
                           headers=headers)
    assert got.status_code == 200, got.text
    r = await client.get(f"/v1.1/points/isredeemable?mobile={mobile}&points=1&format=json",
                         headers=headers)
    assert r.json()["response"]["points"]["redeemable"]["item_status"]["code"] == 802
    r = await _redeem(client, headers, 1, mobile=mobile)
    assert r.json()["response"]["responses"]["points"]["item_status"]["code"] == 802
    r = await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
        "identifierName": "mobile", "identifierValue": mobile, "points": 5,
        "promotionName": "bonus"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 802, r.text
    details = await _details(client, headers, customer_id, "embed=points")
    assert details["pointsSummary"]["loyaltyPoints"] == 0.0
    assert details["loyaltyInfo"]["lifetimePurchases"] == 900.0  # purchases still count
    # Converted to loyalty, its next bill earns; the earlier one stays outside the programs.
    r = await client.put(f"/v2/customers/{customer_id}?source=INSTORE", headers=headers,
                         json={"loyaltyInfo": {"loyaltyType": "loyalty"}})
    assert r.status_code == 200, r.text
    r = await _buy(client, headers, "NL-2", 100, mobile=mobile)
    assert {"entityType": "USER", "rawAwardedPoints": 10.0, "awardedPoints": 10,
            "type": "points", "programId": 7} in r.json()["sideEffects"]
    r = await _return(client, headers, "NL-1", mobile=mobile)
    assert r.status_code == 200, r.text
    summary = (await _details(client, headers, customer_id, "embed=points"))["pointsSummary"]
    assert (summary["loyaltyPoints"], summary["returned"], summary["cumulativePurchases"]) == (
        10.0, 0.0, 100.0)


async def test_tier_expiry_renews_or_downgrades(client: httpx.AsyncClient, services: Services,
                                                org: Any, clock: FixedClock) -> None:
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-5", 3000)  # 300 points: Garnet, valid 60 days
    details = await _details(client, headers, customer_id,
                             "embed=mlp&gapToRenew=0&gapToUpgrade=0"
                             "&membershipRetentionCriteria=true")
    gems = details["loyaltyProgramDetails"][0]
    assert gems["currentSlab"] == "Garnet"
    renew = gems["gapToRenewSummary"]
    assert renew["renewConfirmed"] is False  # 3000 bought, but one visit of the two asked
    assert renew["tierExpiryDate"] == "2026-03-02"
    visits = next(s for s in renew["renewStrategies"] if s["renewBasedOn"] == "VISITS")
    assert visits == {"renewBasedOn": "VISITS", "renewThreshold": 2.0,
                      "customerRenewEntityValue": 1.0, "customerGapToRenewValue": 1.0}
    assert details["membershipRetentionCriteria"] == {"minPurchases": 1000.0, "minVisits": 2,
                                                      "isDownGradeStrategy": True}
    assert gems["upgradeStrategies"] == []  # top tier
    clock.advance(61 * DAY_MS)
    report = await services.loyalty.run_jobs(org.org_id)
    assert report.downgraded == 1  # one visit in the period, two needed
    details = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert details["pointsSummary"]["currentSlab"] == "Coral"
    downgrade = next(e for e in details["slabHistory"] if e["programId"] == 7)
    assert (downgrade["type"], downgrade["from"], downgrade["changedOn"]) == (
        "DOWNGRADE", "Garnet", "2026-03-02T23:59:59Z")  # when the period ended


async def test_a_renewal_lasts_the_tiers_validity(client: httpx.AsyncClient,
                                                  services: Services, org: Any,
                                                  clock: FixedClock) -> None:
    """Garnet lasts 60 days: reached on 2026-01-01, it expires on 2026-03-02, and a renewal
    runs 60 days from there (2026-05-01), not from the day after (a day more per renewal)."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-7", 3000)  # Garnet
    clock.advance(DAY_MS)
    await _buy(client, headers, "B-8", 10)  # the second visit the retention rule asks
    clock.advance(60 * DAY_MS)  # 2026-03-03
    await services.loyalty.run_jobs(org.org_id)
    details = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert details["pointsSummary"]["currentSlab"] == "Garnet"
    assert details["pointsSummary"]["slabExpiryDate"] == "2026-05-01T23:59:59Z"
    renewal = next(e for e in details["slabHistory"] if e["programId"] == 7)
    assert (renewal["type"], renewal["fromTierExpiryDate"], renewal["toTierExpiryDate"]) == (
        "RENEWAL", "2026-03-02T23:59:59Z", "2026-05-01T23:59:59Z")


async def test_a_tier_overdue_for_periods_catches_up_in_one_run(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """Frequent (Spend) lasts 30 days and renews without a rule. Six periods ended while no job
    ran: one run renews each period, with its own slabHistory entry, and the next changes
    nothing."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-9", 2000)  # Frequent until 2026-01-31
    clock.advance(200 * DAY_MS)  # 2026-07-20
    assert (await services.loyalty.run_jobs(org.org_id)).renewed == 6
    assert (await services.loyalty.run_jobs(org.org_id)).renewed == 0
    details = await _details(client, headers, customer_id, "embed=mlp&slabHistory=true")
    spend = next(p for p in details["loyaltyProgramDetails"] if p["programId"] == 8)
    assert (spend["currentSlab"], spend["slabExpiryDate"]) == ("Frequent", "2026-07-30T23:59:59Z")
    renewals = [(e["fromTierExpiryDate"][:10], e["toTierExpiryDate"][:10])
                for e in reversed(details["slabHistory"]) if e["type"] == "RENEWAL"]
    assert renewals == [("2026-01-31", "2026-03-02"), ("2026-03-02", "2026-04-01"),
                        ("2026-04-01", "2026-05-01"), ("2026-05-01", "2026-05-31"),
                        ("2026-05-31", "2026-06-30"), ("2026-06-30", "2026-07-30")]


_TIER_VIEW = "embed=points,mlp&slabHistory=true&gapToRenew=0&gapToUpgrade=0" \
    "&tierUpgradeCriteria=true&membershipRetentionCriteria=true"


async def test_an_expired_tier_shows_and_earns_as_the_job_would_leave_it(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """Garnet (one visit of the two its rule asks) ended on 2026-03-02 and Frequent (renews
    without a rule) on 2026-01-31; on 2026-03-03 no job has run. Details already show Coral and
    Frequent until 2026-04-01 with the job's slabHistory entries, dated when each period ended;
    the next bill records them and earns at Coral's rate; the job then finds nothing to do and
    the history is what the read showed."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-30", 3000)  # Garnet until 2026-03-02, Frequent to 01-31
    clock.advance(61 * DAY_MS)  # 2026-03-03
    before = await _details(client, headers, customer_id, _TIER_VIEW)
    summary = before["pointsSummary"]
    assert (summary["currentSlab"], summary["slabSNo"], summary["slabExpiryDate"]) == (
        "Coral", 2, "2126-03-03T23:59:59Z")  # Coral never expires: a century from 2026-03-03
    gems, spend = before["loyaltyProgramDetails"]
    assert gems["gapToRenewSummary"] == {"tierExpiryDate": "2126-03-03", "renewConfirmed": True,
                                         "renewStrategies": []}  # Coral has no rule
    assert "membershipRetentionCriteria" not in before
    assert gems["upgradeStrategies"][0]["upgradeThreshold"] == 300.0  # Garnet is next again
    assert (spend["currentSlab"], spend["slabExpiryDate"]) == ("Frequent",
                                                               "2026-04-01T23:59:59Z")
    assert before["tierUpgradeCriteria"]["purchaseValue"] == 300.0  # its 300 points expired
    history = [(e["programId"], e["type"], e["from"], e["to"], e["changedOn"],
                e["fromTierExpiryDate"], e["toTierExpiryDate"], e["store"]["code"])
               for e in before["slabHistory"]]
    assert history[:3] == [
        (8, "RENEWAL", "Frequent", "Frequent", "2026-03-02T23:59:59Z", "2026-03-02T23:59:59Z",
         "2026-04-01T23:59:59Z", ""),
        (7, "DOWNGRADE", "Garnet", "Coral", "2026-03-02T23:59:59Z", "2026-03-02T23:59:59Z",
         "2126-03-03T23:59:59Z", ""),
        (8, "RENEWAL", "Frequent", "Frequent", "2026-01-31T23:59:59Z", "2026-01-31T23:59:59Z",
         "2026-03-02T23:59:59Z", "")]
    # A read writes nothing: another read shows the same.
    assert await _details(client, headers, customer_id, _TIER_VIEW) == before
    r = await _buy(client, headers, "B-31", 1000)
    assert r.status_code == 200, r.text
    points = next(e for e in r.json()["sideEffects"]
                  if e["type"] == "points" and e["programId"] == 7)
    assert points["awardedPoints"] == 100  # Coral's 0.1 a unit, not Garnet's 0.2
    assert not [e for e in r.json()["sideEffects"] if e["type"] == "slab"]
    report = await services.loyalty.run_jobs(org.org_id)
    assert (report.renewed, report.downgraded) == (0, 0)
    after = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert after["slabHistory"] == before["slabHistory"]
    assert after["pointsSummary"]["currentSlab"] == "Coral"
    for program_id in (7, 8):
        await services.loyalty.check_ledger(org.org_id, customer_id, program_id)


async def test_a_read_shows_the_renewal_the_job_then_records(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """Garnet met its rule (two visits, 3010 bought): after its expiry a read shows it renewed
    to 2026-05-01 with a fresh period to renew in, and the job's run records just that, once."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-32", 3000)
    clock.advance(DAY_MS)
    await _buy(client, headers, "B-33", 10)
    clock.advance(60 * DAY_MS)  # 2026-03-03
    before = await _details(client, headers, customer_id, _TIER_VIEW)
    gems = before["loyaltyProgramDetails"][0]
    assert (gems["currentSlab"], gems["slabExpiryDate"]) == ("Garnet", "2026-05-01T23:59:59Z")
    renew = gems["gapToRenewSummary"]  # the new period, nothing in it yet
    assert (renew["tierExpiryDate"], renew["renewConfirmed"]) == ("2026-05-01", False)
    visits = next(s for s in renew["renewStrategies"] if s["renewBasedOn"] == "VISITS")
    assert visits["customerRenewEntityValue"] == 0.0
    entry = next(e for e in before["slabHistory"] if e["programId"] == 7)
    assert (entry["type"], entry["changedOn"], entry["toTierExpiryDate"]) == (
        "RENEWAL", "2026-03-02T23:59:59Z", "2026-05-01T23:59:59Z")
    report = await services.loyalty.run_jobs(org.org_id)
    assert (report.renewed, report.downgraded) == (3, 0)  # Garnet once, Frequent twice
    assert await _details(client, headers, customer_id, _TIER_VIEW) == before
    report = await services.loyalty.run_jobs(org.org_id)
    assert (report.renewed, report.downgraded) == (0, 0)


async def test_writes_carry_out_an_expired_tier_first(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """Every write to a member renews or downgrades its expired tier before anything else: a
    manual change to Garnet, shown as Garnet but due to fall to Coral, is a change (not refused
    as the same tier), and a promotion records the downgrade before its own upgrade."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-34", 3000)  # Garnet until 2026-03-02
    clock.advance(61 * DAY_MS)
    r = await client.post("/v2/loyalty/tierAdjustments", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "slabName": "Garnet",
        "notes": "kept"})
    assert r.status_code == 200, r.text
    details = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert details["pointsSummary"]["currentSlab"] == "Garnet"
    assert [(e["type"], e["from"], e["to"]) for e in details["slabHistory"]
            if e["programId"] == 7][:2] == [("UPGRADE", "Coral", "Garnet"),
                                            ("DOWNGRADE", "Garnet", "Coral")]
    assert (await services.loyalty.run_jobs(org.org_id)).downgraded == 0


async def test_a_running_tier_period_costs_a_read_nothing_more(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The expiry rule is asked only for a tier whose period ended."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-35", 3000)
    clock.advance(10 * DAY_MS)

    async def refuse(*args: Any) -> Any:
        raise AssertionError("asked the tier expiry rule for a running period")

    monkeypatch.setattr(services.loyalty, "overdue_tier_changes", refuse)
    details = await _details(client, headers, customer_id, _TIER_VIEW)
    assert details["pointsSummary"]["currentSlab"] == "Garnet"
    assert (await _buy(client, headers, "B-36", 10)).status_code == 200


def test_a_naive_date_time_is_a_local_time_of_the_zone_given() -> None:
    """One rule (clock.parse_iso): an offset is kept; a naive date-time is read in the zone,
    DST-correct (London is +01:00 in July, +00:00 in December; a time the clocks skip takes the
    offset from before the change); a date alone is a UTC day."""
    london = zone_named("Europe/London")
    assert iso_utc(parse_iso("2025-07-01 10:00:00", london)) == "2025-07-01T09:00:00Z"
    assert iso_utc(parse_iso("2025-12-01T10:00:00", london)) == "2025-12-01T10:00:00Z"
    assert iso_utc(parse_iso("2026-03-29 01:30:00", london)) == "2026-03-29T01:30:00Z"
    assert iso_utc(parse_iso("2025-07-01T10:00:00Z", london)) == "2025-07-01T10:00:00Z"
    assert iso_utc(parse_iso("2025-07-01", london)) == "2025-07-01T00:00:00Z"
    assert iso_utc(parse_iso("2025-07-01 10:00:00")) == "2025-07-01T10:00:00Z"  # no zone: UTC
    assert [local_time(v) for v in ("2025-07-01 10:00:00", "2025-07-01T10:00:00+05:30",
                                    "2025-07-01T10:00Z", "2025-07-01", "", None, "soon")] == [
        True, False, False, False, False, False, False]
    assert iso_utc(parse_bound("2025-07-01 10:00:00", end=True, zone=london)) == \
        "2025-07-01T09:00:00Z"  # (and its 999 ms)


async def test_a_naive_billing_date_is_the_organisations_local_time(
        client: httpx.AsyncClient, services: Services, org: Any) -> None:
    """A till in India sends local times: bills, bulk bills and returns without an offset are
    read in the organisation's zone (Asia/Kolkata, +05:30); an offset is kept, a date alone is
    the UTC day; a promotion's naive expiry is a Kolkata time too (the end of the UTC day that
    instant falls in)."""
    await _setup(client, services, org)
    await services.tenancy.configure(org.org_id, time_zone="Asia/Kolkata")

    async def billed(created: httpx.Response, kind: str = "REGULAR") -> str:
        assert created.status_code == 200, created.text
        r = await client.get(f"/v2/transactions/{created.json()['createdId']}?type={kind}",
                             headers=headers)
        return r.json()["billDetails"]["billingTime"]

    headers = till_auth(org)
    assert await billed(await _buy(client, headers, "B-40", 100,
                                   billingDate="2025-12-31 10:00:00")) == "2025-12-31T04:30:00Z"
    assert await billed(await _buy(client, headers, "B-41", 100,
                                   billingDate="2025-12-31T10:00:00+00:00")) == \
        "2025-12-31T10:00:00Z"
    assert await billed(await _buy(client, headers, "B-42", 100,
                                   billingDate="2025-12-31")) == "2025-12-31T00:00:00Z"
    assert await billed(await _return(client, headers, "B-40", returnType="FULL",
                                      billAmount=100, billingDate="2025-12-31 23:00:00"),
                        "RETURN") == "2025-12-31T17:30:00Z"
    r = await client.post("/v2/transactions/bulk", headers=headers, json=[
        {"identifierType": "mobile", "identifierValue": "919900000001", "type": "REGULAR",
         "billNumber": "B-43", "billAmount": 10, "billingDate": "2025-12-30 08:00:00"}])
    assert r.status_code == 200, r.text
    r = await client.get(f"/v2/transactions/{r.json()['response'][0]['entityId']}",
                         headers=headers)
    assert r.json()["billDetails"]["billingTime"] == "2025-12-30T02:30:00Z"
    r = await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "points": 5,
        "promotionName": "Early", "expiryDate": "2026-01-10 03:00:00"})  # 2026-01-09T21:30Z
    assert r.status_code == 200, r.text
    customer_id = int(r.json()["customerId"])
    schedules = (await _details(client, headers, customer_id,
                                "embed=expirySchedules"))["expirySchedules"]
    assert [s["expiryDate"] for s in schedules if s["pointsType"] == "PROMOTIONAL"] == [
        "2026-01-09"]


CLUB = """
programs:
  - id: 9
    name: Club
    upgrade:
      strategy: TRACKER_VALUE_BASED
      tracker: {name: Spend, type: TRANSACTION_AMOUNT, windowDays: 10}
    tiers:
      - {name: Member, pointsPerCurrency: 0.01}
      - name: Gold
        threshold: 1000
        pointsPerCurrency: 0.02
        validityDays: 30
        retention: {minPurchases: 1500, minVisits: 2, minTrackerValue: 1000}
"""


async def test_the_gap_to_renew_is_the_gap_on_its_day(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """gapToRenew=N is the gap as it will stand at the end of day N with no further activity.
    Gold (reached 2026-01-01, until 2026-01-31) asks 1500 bought and two visits in its period,
    and 1000 in the 10-day spend tracker. Purchases and visits stay; the tracker forgets what
    leaves its window. Past the expiry, the gap is that of the period running then: none once
    the member falls to the base tier, a fresh period's after a renewal."""
    await services.loyalty.apply_programs(org.org_id, read_program_file(CLUB))
    headers = till_auth(org)
    ann = await add_customer(client, headers, identifiers=[
        {"type": "mobile", "value": "919900000011"}])
    bob = await add_customer(client, headers, identifiers=[
        {"type": "mobile", "value": "919900000012"}])
    await _buy(client, headers, "A-1", 1000, mobile="919900000011")  # Gold, 2026-01-01 00:00
    await _buy(client, headers, "B-1", 1000, mobile="919900000012")
    clock.advance(5 * DAY_MS)  # 2026-01-06
    await _buy(client, headers, "A-2", 600, mobile="919900000011")

    async def renewal(customer_id: int, days: int) -> dict[str, Any] | None:
        details = await _details(client, headers, customer_id, f"embed=mlp&gapToRenew={days}")
        summary = details["loyaltyProgramDetails"][0].get("gapToRenewSummary")
        if summary is None:
            return None
        return {"expiry": summary["tierExpiryDate"], "confirmed": summary["renewConfirmed"],
                **{s["renewBasedOn"]: (s["customerRenewEntityValue"],
                                       s["customerGapToRenewValue"])
                   for s in summary["renewStrategies"]}}

    today = {"expiry": "2026-01-31", "confirmed": True, "PURCHASE": (1600.0, 0.0),
             "VISITS": (2.0, 0.0), "POINTS": (22.0, 0.0), "TRACKER": (1600.0, 0.0)}
    assert await renewal(ann, 0) == today
    assert await renewal(ann, 4) == today  # the 01-01 bill is in the window to 01-10's end
    assert await renewal(ann, 5) == {**today, "confirmed": False, "TRACKER": (600.0, 400.0)}
    gone = {**today, "confirmed": False, "TRACKER": (0.0, 1000.0)}
    assert await renewal(ann, 20) == gone
    assert await renewal(ann, 25) == gone  # 2026-01-31, the period's last day
    assert await renewal(ann, 26) is None  # downgraded to Member at the expiry: nothing to renew

    clock.advance(19 * DAY_MS)  # 2026-01-25
    await _buy(client, headers, "B-2", 1000, mobile="919900000012")
    assert await renewal(bob, 0) == {
        "expiry": "2026-01-31", "confirmed": True, "PURCHASE": (2000.0, 0.0),
        "VISITS": (2.0, 0.0), "POINTS": (30.0, 0.0), "TRACKER": (1000.0, 0.0)}
    fresh = {"expiry": "2026-03-02", "confirmed": False, "PURCHASE": (0.0, 1500.0),
             "VISITS": (0.0, 2.0), "POINTS": (0.0, 0.0), "TRACKER": (1000.0, 0.0)}
    assert await renewal(bob, 7) == fresh  # renewed at 01-31: a period with nothing in it yet
    assert await renewal(bob, 10) == {**fresh, "TRACKER": (0.0, 1000.0)}  # 01-25 left by 02-04
    clock.advance(7 * DAY_MS)  # 2026-02-01: what the projection said
    report = await services.loyalty.run_jobs(org.org_id)
    assert (report.renewed, report.downgraded) == (1, 1)  # ann: 1600 bought, tracker 0
    assert await renewal(bob, 0) == fresh
    assert await renewal(ann, 0) is None


async def test_manual_adjustments(client: httpx.AsyncClient, services: Services,
                                  org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    r = await client.post("/v2/loyalty/tierAdjustments", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "slabName": "Garnet",
        "notes": "Upgraded for achieving 1000 loyalty points"})
    assert r.status_code == 200, r.text
    r = await client.post("/v2/loyalty/pointsAdjustments", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "points": -5,
        "reason": "goodwill reversal"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 803
    r = await client.post("/v2/loyalty/pointsAdjustments", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "points": 12.5,
        "reason": "service recovery"})
    assert r.status_code == 200 and r.json()["loyaltyPoints"] == 12.5
    details = await _details(client, headers, customer_id, "embed=points&slabHistory=true")
    assert details["pointsSummary"]["adjusted"] == 12.5
    entry = details["slabHistory"][0]
    assert entry["notes"] == ("manual slab adjustment reason: Upgraded for achieving 1000 "
                              "loyalty points")
    assert entry["type"] == "UPGRADE" and entry["from"] == "Topaz" and entry["to"] == "Garnet"
    assert entry["store"]["code"] == org.till_code


async def test_tenants_do_not_see_each_others_transactions(
        client: httpx.AsyncClient, services: Services, org: Any, other_org: Any) -> None:
    await _setup(client, services, org)
    r = await _buy(client, till_auth(org), "B-6", 10)
    created = r.json()["createdId"]
    r = await client.get(f"/v2/transactions/{created}", headers=till_auth(other_org))
    assert r.status_code == 404
    r = await client.get("/v2/loyalty/programs", headers=till_auth(other_org))
    assert r.json()["data"] == []
    r = await client.get("/v2/loyalty/programs", headers=till_auth(org))
    assert [p["programId"] for p in r.json()["data"]] == [7, 8]
    assert r.json()["data"][0]["tiers"][2]["serialNumber"] == 3


async def test_the_engines_parts_are_read_now_beside_the_customers_document(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """Details asked for with the engine's parts alone take the rest from the customer's
    document (customers/documents.py), which such a read also keeps: the answer is the one
    rendered in full, and the engine's parts are those of now, also when time alone has moved
    them (points expired, no write since)."""
    customer_id, headers = await _setup(client, services, org)
    await _buy(client, headers, "B-doc", 1500)  # 150 points, expiring at the end of day 30
    queries = ["embed=points,mlp&slabHistory=true&tierUpgradeCriteria=true"
               "&membershipRetentionCriteria=true",
               "embed=gapDetails,promotionalPoints,expirySchedules,expiredPoints,returnedPoints",
               "embed=mlp&gapToUpgrade=5&gapToRenew=5", "embed=Points&embed=MLP"]

    async def both(query: str, source: str = "INSTORE") -> tuple[Any, Any]:
        url = f"/v2/customers/{customer_id}?source={source}&{query}"
        first = await client.get(url, headers=headers)
        await services.documents.store_waiting()
        services.documents.enabled = False
        try:
            rendered = await client.get(url, headers=headers)
        finally:
            services.documents.enabled = True
        return (first.status_code, first.content), (rendered.status_code, rendered.content)

    kept = sql("SELECT count(*) FROM customer_documents WHERE org_id = $1 AND customer_id = $2")
    await services.db.execute(sql("DELETE FROM customer_documents WHERE org_id = $1"),
                              org.org_id)
    from_document, rendered = await both(queries[0])  # rendered, keeping the document
    assert from_document == rendered and from_document[0] == 200
    assert await services.db.fetchval(kept, org.org_id, customer_id) == 1
    for moved in (0, 31 * DAY_MS):  # day 31: the points have expired, nothing written since
        clock.advance(moved)
        for query in queries:
            for source in ("INSTORE", "ALL", "WECHAT"):
                from_document, rendered = await both(query, source)
                assert from_document == rendered, (moved, query, source)
        assert await services.db.fetchval(kept, org.org_id, customer_id) == 1
    # What such a read sends is the document's, with the engine's parts before its warnings.
    await services.db.execute(sql(
        "UPDATE customer_documents SET body = $3 WHERE org_id = $1 AND customer_id = $2"),
        org.org_id, customer_id, b'{"kept":true,"warnings":[]}')
    details = await _details(client, headers, customer_id, "embed=points")
    assert list(details) == ["kept", "pointsSummary", "warnings"]
    assert (details["pointsSummary"]["loyaltyPoints"], details["pointsSummary"]["expired"]) == (
        0.0, 150.0)
    await services.db.execute(sql(  # spliced in without reading it, or (here) read
        "UPDATE customer_documents SET body = $3 WHERE org_id = $1 AND customer_id = $2"),
        org.org_id, customer_id, b'{"kept":true,"warnings":[{"code":1}]}')
    details = await _details(client, headers, customer_id, "embed=points")
    assert list(details) == ["kept", "pointsSummary", "warnings"]
    assert details["warnings"] == [{"code": 1}]


async def test_kept_engine_parts_hold_until_the_first_instant_they_change(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """A read keeps the engine's parts beside the customer's document with the span they hold
    for (Loyalty.steady_until). Through a customer's history of bills (one dated ahead, which
    a tracker counts only once its time comes), a return, a promotion, a redemption, expiries
    and the tier periods' ends: at the span's last millisecond the kept parts are served, and are
    what a read without documents gives then; at its end they are read again. Every write drops
    them (the loyalty tables' triggers, migration 0013)."""
    customer_id, headers = await _setup(client, services, org)
    url = (f"/v2/customers/{customer_id}?source=INSTORE&embed=points,mlp,gapDetails,"
           "promotionalPoints,expirySchedules,expiredPoints,returnedPoints&slabHistory=true"
           "&tierUpgradeCriteria=true&membershipRetentionCriteria=true&gapToUpgrade=3"
           "&gapToRenew=3")
    span = sql("SELECT parts_from, parts_until FROM customer_documents WHERE org_id = $1 "
               "AND customer_id = $2 AND parts IS NOT NULL")

    async def read() -> bytes:
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        await services.documents.store_waiting()
        return r.content

    async def fresh() -> bytes:
        services.documents.enabled = False
        try:
            return (await client.get(url, headers=headers)).content
        finally:
            services.documents.enabled = True

    async def through_span() -> int:
        """Reads (keeping the parts), then checks them at the last millisecond of their span
        and at its end; answers the span's length."""
        assert await read() == await fresh()
        kept = await services.db.fetchrow(span, org.org_id, customer_id)
        assert kept is not None and kept["parts_from"] == clock.now_ms()
        since, until = kept["parts_from"], kept["parts_until"]
        assert until <= end_of_day(since) + 1
        clock.value = until - 1
        assert await read() == await fresh()  # served from the kept parts: not kept again
        assert tuple(await services.db.fetchrow(span, org.org_id, customer_id)) == (since, until)
        clock.value = until
        assert await read() == await fresh()  # read again, and kept from now
        assert (await services.db.fetchrow(span, org.org_id, customer_id))["parts_from"] == until
        return until - since

    async def written(response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert await services.db.fetchrow(span, org.org_id, customer_id) is None

    clock.advance(2 * HOUR_MS)
    await read()
    await written(await _buy(client, headers, "K-1", 1500))  # Coral; lots expire on day 30
    assert await through_span() == DAY_MS - 2 * HOUR_MS  # the day's end
    # At 06:00, a bill dated eight hours ahead: the tracker's window up to now takes it in then.
    clock.advance(6 * HOUR_MS)
    ahead = clock.now_ms() + 8 * HOUR_MS
    await written(await _buy(client, headers, "K-2", 2500,
                             billingDate=iso_utc(ahead).replace(".000", "")))
    assert await through_span() == 8 * HOUR_MS
    await written(await _return(client, headers, "K-1"))
    await written(await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
        "identifierName": "mobile", "identifierValue": "919900000001", "points": 25,
        "promotionName": "Goodwill", "expiryDate": iso_utc(ahead + 4 * HOUR_MS)}))
    clock.advance(2 * HOUR_MS)  # 16:00; the promotion's lot expires at the end of its day
    assert await through_span() == 8 * HOUR_MS - 1
    await written(await _redeem(client, headers, 10))
    for _ in range(70):  # day by day past the lots' expiry and the tier periods' ends
        await through_span()
    await services.loyalty.run_jobs(org.org_id)
    await through_span()


async def test_the_jobs_and_bills_on_the_same_customers_at_once_all_succeed(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    """The expiry job takes the members whose lots are due while bills arrive for the same
    customers. Every write locks the customer before its members, the job too, so the loyalty
    tables' triggers (which count on the customer, migration 0013) never wait on a customer
    while holding a member: no write fails, and every ledger agrees."""
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    headers = till_auth(org)
    mobiles = [f"91990000{n:04d}" for n in range(12)]
    customers = [await add_customer(client, headers, identifiers=[
        {"type": "mobile", "value": mobile}]) for mobile in mobiles]
    for mobile in mobiles:
        r = await _buy(client, headers, f"J-{mobile}", 500, mobile=mobile)
        assert r.status_code == 200, r.text
    clock.advance(31 * DAY_MS)  # every lot is due

    async def bills(mobile: str) -> list[int]:
        return [(await _buy(client, headers, f"J-{mobile}-{n}", 100, mobile=mobile)).status_code
                for n in range(3)]

    # Every task runs to its end, so that a failure (a deadlock) is reported, not left running.
    jobs, *codes = await asyncio.gather(services.loyalty.run_jobs(org.org_id),
                                        *(bills(mobile) for mobile in reversed(mobiles)),
                                        return_exceptions=True)
    assert not isinstance(jobs, BaseException), jobs
    assert all(code == 200 for batch in codes for code in batch), codes  # type: ignore[union-attr]
    for customer_id in customers:
        for program_id in (7, 8):
            await services.loyalty.check_ledger(org.org_id, customer_id, program_id)
