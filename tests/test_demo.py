"""The demo organisation answers the seeds' example requests with the seeds' example responses,
in every field the implemented issues cover. The seed pages are copied verbatim in tests/seeds/."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from patron.demo import DEMO_CREDENTIALS, load_demo
from patron.services import Services

SEEDS = Path(__file__).parent / "seeds"


def seed_examples(name: str) -> list[dict[str, Any]]:
    """Every top-level JSON object on a seed page, in order."""
    text = (SEEDS / name).read_text()
    decoder = json.JSONDecoder()
    found, i = [], 0
    while (i := text.find("\n{", i)) != -1:
        try:
            obj, end = decoder.raw_decode(text, i + 1)
        except json.JSONDecodeError:
            i += 2
            continue
        found.append(obj)
        i = end
    return found


def demo_auth() -> dict[str, str]:
    md5 = hashlib.md5(DEMO_CREDENTIALS["till_password"].encode()).hexdigest()
    raw = f"{DEMO_CREDENTIALS['till_code']}:{md5}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# Seed fields the store keeps no writer for yet (score), that the page obfuscated (e-mail
# addresses), or that test_seed_000_loyalty_parts and test_seed_000_cards compare on their own.
NOT_YET = {"cardDetails", "slabHistory", "tierUpgradeCriteria", "membershipRetentionCriteria"}


def comparable(customer: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in customer.items() if k not in NOT_YET}
    out["loyaltyInfo"] = {k: v for k, v in out["loyaltyInfo"].items() if k != "score"}
    for p in out["profiles"]:
        p.pop("autoUpdateTime")
        for key in ("identifiers", "identifiersAll", "commChannels"):
            p[key] = [x for x in p[key] if x["type"] != "email"]
    return out


@pytest.fixture
async def demo(services: Services) -> Services:
    await load_demo(services, generated=10)
    return services


@pytest.mark.parametrize("index", [0, 1])
async def test_seed_000_examples(client: httpx.AsyncClient, demo: Services, index: int) -> None:
    expected = seed_examples("000_583bc8b769aac2cc.txt")[index]
    query = ("source=INSTORE" if index == 0 else
             "source=INSTORE&ndncStatus=true&optinStatus=true")
    r = await client.get(f"/v2/customers/{expected['id']}?{query}", headers=demo_auth())
    assert r.status_code == 200, r.text
    assert comparable(r.json()) == comparable(expected)


async def test_seed_000_cards(client: httpx.AsyncClient, demo: Services) -> None:
    """566881933's five cards, issued by the demo at the seed's instants. Differences by design
    (docs/compat/loyalty.md): a status label's id is Patron's (2 for the built-in ACTIVE, the
    seed's organisation shows 494), the status log id is Patron's own, and the status time is
    the issue instant (the seed shows it one second earlier in `autoUpdateTimeISO`)."""
    expected = seed_examples("000_583bc8b769aac2cc.txt")[0]["cardDetails"]
    r = await client.get("/v2/customers/566881933?source=INSTORE", headers=demo_auth())
    got = r.json()["cardDetails"]

    def same(card: dict[str, Any]) -> dict[str, Any]:
        status = {k: v for k, v in card["statusInfo"].items()
                  if k not in ("id", "labelId", "autoUpdateTimeISO")}
        return {**card, "statusInfo": status}

    assert [same(c) for c in got] == [same(c) for c in expected]
    assert [list(c) for c in got] == [list(c) for c in expected]  # the seed's field order
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=cardExternalId"
                         "&identifierValue=CardExternal2", headers=demo_auth())
    assert r.json()["entity"] == 566881933


async def test_seed_000_loyalty_parts(client: httpx.AsyncClient, demo: Services) -> None:
    """565261498's slab history and criteria, derived by the engine from the demo's bill,
    manual upgrade and redemption. Differences by design (docs/compat/loyalty.md): the tier
    named in an automatic upgrade's note is the tier's own name, and tiers without an expiry
    show one a century after the tier began."""
    expected = seed_examples("000_583bc8b769aac2cc.txt")[1]
    r = await client.get("/v2/customers/565261498?source=INSTORE&ndncStatus=true"
                         "&optinStatus=true&slabHistory=true&tierUpgradeCriteria=true"
                         "&membershipRetentionCriteria=true", headers=demo_auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tierUpgradeCriteria"] == expected["tierUpgradeCriteria"]
    assert body["membershipRetentionCriteria"] == expected["membershipRetentionCriteria"]

    def same(entry: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in entry.items()
               if k not in ("fromTierExpiryDate", "toTierExpiryDate")}
        out["notes"] = out["notes"].replace("Name [points]", "Name [Coral]")
        return out

    assert [same(e) for e in body["slabHistory"]] == [same(e) for e in expected["slabHistory"]]
    # The same keys: the manual adjustment's entry names no expiry of the tier it gave.
    assert [list(e) for e in body["slabHistory"]] == [list(e) for e in expected["slabHistory"]]
    assert all(e["fromTierExpiryDate"].endswith("T23:59:59Z") for e in body["slabHistory"])
    # The base tier ran from enrolment (the customer's createDate), as in the seed.
    assert body["slabHistory"][-1]["fromTierExpiryDate"] == \
        expected["slabHistory"][-1]["fromTierExpiryDate"] == "2124-08-27T23:59:59Z"
    assert list(body)[-1] == "warnings"


async def test_seed_000_tracker_renewal_names_every_tracker_field(client: httpx.AsyncClient,
                                                                   demo: Services) -> None:
    r = await client.get("/v2/customers/566881933?source=INSTORE&embed=mlp&gapToRenew=0",
                         headers=demo_auth())
    miles = next(p for p in r.json()["loyaltyProgramDetails"] if p["programId"] == 984)
    (tracked,) = [s for s in miles["gapToRenewSummary"]["renewStrategies"]
                  if s["renewBasedOn"] == "TRACKER"]
    # The fields seed 000 lists for a tracker (trackerEntityIdentifiers), in its order.
    assert [list(t) for t in tracked["trackerEntityIdentifiers"]] == [[
        "trackerName", "trackerType", "trackerMode", "trackerCaseName", "trackerCasePeriodType",
        "trackerCasePeriodValue"]]


async def test_seed_000_email_is_present_under_the_demo_address(client: httpx.AsyncClient,
                                                                demo: Services) -> None:
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=email"
                         "&identifierValue=bubalus.bubalis@example.com", headers=demo_auth())
    assert r.json() == {"entity": 566881933, "warnings": []}


async def test_demo_credentials_work_on_every_face(client: httpx.AsyncClient,
                                                   demo: Services) -> None:
    r = await client.post("/v3/oauth/token/generate", json={
        "key": DEMO_CREDENTIALS["loyalty_key"], "secret": DEMO_CREDENTIALS["loyalty_secret"]})
    assert r.status_code == 200
    r = await client.get("/api/customers/ext_12341234",
                         headers={"X-API-Key": DEMO_CREDENTIALS["workspace_key"]})
    assert r.status_code == 200 and r.json()["data"]["id"] == 566881933
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": DEMO_CREDENTIALS["marketing_client_id"],
        "client_secret": DEMO_CREDENTIALS["marketing_client_secret"]})
    assert r.status_code == 200
    token = r.json()["access_token"]
    r = await client.get("/v1/customers/566881933", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json()["data"]["attributes"]["name"] == "Bubalus bubalis"


async def test_demo_load_is_idempotent(demo: Services) -> None:
    assert await load_demo(demo, generated=10) is False


async def test_seed_004_example(client: httpx.AsyncClient, demo: Services) -> None:
    expected = seed_examples("004_e2a633752952327e.txt")[0]
    r = await client.get("/v2/events/event_data?id=b26d5065-2177-4a18-a5ae-332682072073",
                         headers=demo_auth())
    assert r.status_code == 200
    got = r.json()
    # `is_mongo_push` is Capillary's internal storage flag; Patron does not invent it.
    expected["data"][0]["additonalAttributes"].pop("is_mongo_push")
    assert got == expected


async def test_generated_customers_have_event_histories(client: httpx.AsyncClient,
                                                        demo: Services) -> None:
    r = await client.get("/v2/events", headers=demo_auth())
    names = [d["clickEventsMeta"]["eventName"] for d in r.json()["data"]]
    assert names == ["Group_User_Event", "page_view", "store_visit"]


@pytest.mark.parametrize("query", ["email=gcr9986%40gmail.com&format=json",
                                   "identifierName=mobile&identifierValue=919353491050"])
async def test_seed_001_example(client: httpx.AsyncClient, demo: Services, query: str) -> None:
    expected = seed_examples("001_b5881d8b8bc275ee.txt")[0]
    r = await client.get(f"/v1.1/customer/interaction?{query}", headers=demo_auth())
    assert r.status_code == 200, r.text
    got = r.json()
    # The seed page shows the address obfuscated ("[email protected]").
    assert got["response"]["customer"].pop("email") == "gcr9986@gmail.com"
    expected["response"]["customer"].pop("email")
    assert got == expected


async def test_generated_customers_have_message_histories(client: httpx.AsyncClient,
                                                          demo: Services) -> None:
    r = await client.get("/api/customers?limit=10",
                         headers={"X-API-Key": DEMO_CREDENTIALS["workspace_key"]})
    ids = [c["id"] for c in r.json()["data"] if c["id"] > 1_000_000_000]
    counts = 0
    for customer_id in ids:
        r = await client.get(f"/v1.1/customer/interaction?user_id={customer_id}",
                             headers=demo_auth())
        (network,) = r.json()["response"]["customer"]["interactions"]["network"]
        counts += sum(i["count"] for i in network["interaction"])
    assert counts > 10


async def test_demo_user_groups(client: httpx.AsyncClient, demo: Services) -> None:
    """565261498 is the primary member of the Sawyer family (the group seed 004's event names)
    and a member of the Riverside club."""
    r = await client.get("/v2/customers/565261498?source=INSTORE&embed=userGroup",
                         headers=demo_auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["warnings"] == []
    assert body["userGroup2Details"] == [{
        "userId": 565261498, "groupId": 3854766, "externalId": "sawyer-family",
        "groupName": "Sawyer family", "groupStatus": "ACTIVE", "maxGroupSize": 6,
        "defaultGroup": True, "primaryMember": True, "active": True,
        "permissions": ["allow_points_redemption", "allow_points_transfer"],
        "joinedDate": "2026-01-15T09:05:00Z"}]
    r = await client.get("/v2/customers/565261498?source=INSTORE&includedAllUserGroup2=true"
                         "&ug2PaginationDetails=true", headers=demo_auth())
    assert [g["externalId"] for g in r.json()["userGroup2Details"]] == [
        "riverside-club", "sawyer-family"]
    assert r.json()["ug2Pagination"]["total"] == 2
    r = await client.get("/v2/userGroup2?id=3854766", headers=demo_auth())
    group = r.json()
    assert [u["userId"] for u in group["fleetGroupUsers"]] == [565261498, 565496268]
    # The family's points in each program are what its members hold there.
    held = {}
    for member in (565261498, 565496268):
        r = await client.get(f"/v2/customers/{member}?source=INSTORE&embed=mlp",
                             headers=demo_auth())
        for p in r.json()["loyaltyProgramDetails"]:
            held[p["programId"]] = held.get(p["programId"], 0.0) + p["loyaltyPoints"]
    assert {p["programId"]: p["loyaltyPoints"] for p in group["pointsSummaries"]} == held
    assert held[983] == 1.0  # 1,020 earned, 1,019 redeemed
