"""Segments (Patron's segment routes, the CSV upload, embed=segments) and fraud status (the
status route, includedFraudDetails, Capillary's 618 on redemption), through the loyalty face and
`patron segments load`, on every backend."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from patron import cli
from patron.customers import repository as customers_repo
from patron.db.database import Database
from patron.demo import load_demo
from patron.loyalty.programs import read_program_file
from patron.services import Services
from tests.conftest import START_MS, add_customer, till_auth
from tests.test_demo import demo_auth

ACTIVITY = {"name": "Activity segment", "description": "How recently they bought",
            "partitions": ["Active", "At risk", "Lapsed"]}


async def _segment(client: httpx.AsyncClient, headers: dict[str, str],
                   body: dict[str, Any] = ACTIVITY) -> int:
    r = await client.post("/v2/segments", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return int(r.json()["entity"])


async def _customer(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> int:
    return await add_customer(client, headers, firstName=f"C{n}", identifiers=[
        {"type": "mobile", "value": f"9199000000{n:02d}"},
        {"type": "email", "value": f"c{n}@example.com"},
        {"type": "externalId", "value": f"EXT-{n}"}])


async def _details(client: httpx.AsyncClient, headers: dict[str, str], customer_id: int,
                   query: str = "") -> dict[str, Any]:
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&{query}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _codes(body: dict[str, Any]) -> list[int]:
    return [e["code"] for e in body["errors"]]


# -- segment definitions --------------------------------------------------------------------------

async def test_create_list_get_and_update_a_segment(client: httpx.AsyncClient,
                                                    loyalty: dict[str, str]) -> None:
    r = await client.post("/v2/segments", headers=loyalty, json={
        "name": "  Activity segment ", "description": "How recently they bought",
        "partitions": [" Active", "At risk", "Lapsed "]})
    assert r.status_code == 200, r.text
    segment_id = r.json()["entity"]
    expected = {"id": segment_id, "name": "Activity segment",
                "description": "How recently they bought",
                "partitions": ["Active", "At risk", "Lapsed"],
                "memberCounts": {"Active": 0, "At risk": 0, "Lapsed": 0}, "totalMembers": 0,
                "createdOn": "2026-01-01T00:00:00Z", "updatedOn": "2026-01-01T00:00:00Z"}
    assert r.json() == {"entity": segment_id, "data": expected, "warnings": []}
    other = await _segment(client, loyalty, {"name": "Value", "partitions": ["High", "Low"]})
    r = await client.get("/v2/segments", headers=loyalty)
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["data"]] == [segment_id, other]
    assert r.json()["data"][0] == expected
    r = await client.get(f"/v2/segments/{segment_id}", headers=loyalty)
    assert r.json() == {"data": expected, "warnings": []}

    r = await client.put(f"/v2/segments/{segment_id}", headers=loyalty,
                         json={"description": "Last purchase"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["data"]["description"] == "Last purchase"
    assert changed["data"]["name"] == "Activity segment"  # what is not sent is kept
    assert changed["data"]["partitions"] == ["Active", "At risk", "Lapsed"]
    assert changed["membersRemoved"] == 0 and changed["warnings"] == []


async def test_segment_definition_errors(client: httpx.AsyncClient,
                                         loyalty: dict[str, str]) -> None:
    segment_id = await _segment(client, loyalty)
    r = await client.post("/v2/segments", headers=loyalty, json=ACTIVITY)
    assert r.status_code == 400 and _codes(r.json()) == [92002]
    assert r.json()["errors"][0]["message"] == "Segment 'Activity segment' already exists"
    for bad in ({"name": "X", "partitions": []}, {"name": " ", "partitions": ["A"]},
                {"name": "X", "partitions": ["A", "a"]}, {"name": "X", "partitions": ["A", ""]},
                {"name": "X", "partitions": [f"P{n}" for n in range(101)]}):
        r = await client.post("/v2/segments", headers=loyalty, json=bad)
        assert r.status_code == 400 and _codes(r.json()) == [92004], bad
    r = await client.post("/v2/segments", headers=loyalty, json={"partitions": ["A"]})
    assert r.status_code == 400 and _codes(r.json()) == [400]  # request validation
    r = await client.post("/v2/segments", headers=loyalty,
                          json={"name": "X", "partitions": ["A"], "colour": "red"})
    assert r.status_code == 400
    await _segment(client, loyalty, {"name": "Value", "partitions": ["High"]})
    r = await client.put(f"/v2/segments/{segment_id}", headers=loyalty, json={"name": "Value"})
    assert r.status_code == 400 and _codes(r.json()) == [92002]
    for path in ("/v2/segments/999999", "/v2/segments/abc", "/v2/segments/1" + "0" * 19):
        r = await client.get(path, headers=loyalty)
        assert r.status_code == 404 and r.json() == {"errors": [
            {"status": False, "code": 92001, "message": "Segment not found"}], "warnings": []}


# -- membership -------------------------------------------------------------------------------

async def test_bulk_assignment_mirrors_the_upload(client: httpx.AsyncClient,
                                                  loyalty: dict[str, str]) -> None:
    segment_id = await _segment(client, loyalty)
    ids = [await _customer(client, loyalty, n) for n in range(1, 5)]
    rows = [{"user_id": str(ids[0]), "value": "Active"},
            {"mobile": "+91 99000-00002", "value": "lapsed"},  # normalised, any case
            {"email": "C3@Example.com", "value": "At risk"},
            {"external_id": "EXT-4", "value": "Active"}]
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty, json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totalCount"] == 4 and body["failureCount"] == 0
    assert [e["entityId"] for e in body["response"]] == ids
    assert body["response"][1] == {"entityId": ids[1], "result": {**rows[1],
                                                                   "partition": "Lapsed"},
                                   "errors": [], "warnings": []}
    segment = (await client.get(f"/v2/segments/{segment_id}", headers=loyalty)).json()["data"]
    assert segment["memberCounts"] == {"Active": 2, "At risk": 1, "Lapsed": 1}
    assert segment["totalMembers"] == 4

    # A customer is in one partition at most: assigning again moves it.
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty,
                          json=[{"user_id": ids[0], "value": "Lapsed"}])
    assert r.status_code == 200
    segment = (await client.get(f"/v2/segments/{segment_id}", headers=loyalty)).json()["data"]
    assert segment["memberCounts"] == {"Active": 1, "At risk": 1, "Lapsed": 2}
    assert (await _details(client, loyalty, ids[0], "embed=segments"))["segments"] == {
        "Activity segment": "Lapsed"}


async def test_bulk_assignment_reports_each_row(client: httpx.AsyncClient,
                                                loyalty: dict[str, str]) -> None:
    segment_id = await _segment(client, loyalty)
    customer_id = await _customer(client, loyalty, 1)
    rows: list[Any] = [
        {"mobile": "919900000001", "value": "Dormant"},
        {"mobile": "919900000001", "value": ""},
        {"mobile": "919900000001"},
        {"value": "Active"},
        {"mobile": "919900000001", "email": "c1@example.com", "value": "Active"},
        {"mobile": "919988887777", "value": "Active"},
        {"user_id": "123456789", "value": "Active"},
        "919900000001,Active",
        {"external_id": "EXT-1", "value": "Active"},
    ]
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty, json=rows)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["totalCount"] == 9 and body["failureCount"] == 8
    assert [_codes(e) for e in body["response"]] == [
        [92003], [92003], [92003], [92006], [92006], [8015], [8015], [92006], []]
    assert body["response"][0]["errors"][0]["message"] == (
        "Partition 'Dormant' is not a partition of segment 'Activity segment'")
    assert body["response"][5] == {"result": rows[5], "errors": [{
        "status": False, "code": 8015, "message": "Customer not found for the given identifiers"}],
        "warnings": []}
    assert "entityId" not in body["response"][0]
    assert body["response"][8]["entityId"] == customer_id
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty,
                          json=rows[:2])
    assert r.status_code == 400 and r.json()["failureCount"] == 2
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty, json=[])
    assert r.status_code == 200 and r.json() == {"response": [], "totalCount": 0,
                                                 "failureCount": 0}
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty,
                          json=[{"user_id": str(customer_id), "value": "Active"}] * 1001)
    assert r.status_code == 400 and _codes(r.json()) == [1060]
    r = await client.post("/v2/segments/999999/members", headers=loyalty,
                          json=[{"user_id": str(customer_id), "value": "Active"}])
    assert r.status_code == 404 and _codes(r.json()) == [92001]
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty,
                          json={"user_id": str(customer_id), "value": "Active"})
    assert r.status_code == 400  # the body is a list of rows


async def test_remove_a_customer_from_a_segment(client: httpx.AsyncClient,
                                                loyalty: dict[str, str]) -> None:
    segment_id = await _segment(client, loyalty)
    customer_id = await _customer(client, loyalty, 1)
    other_id = await _customer(client, loyalty, 2)
    await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty,
                      json=[{"user_id": str(customer_id), "value": "At risk"}])
    path = f"/v2/segments/{segment_id}/members/{customer_id}"
    r = await client.delete(path, headers=loyalty)
    assert r.status_code == 200, r.text
    assert r.json() == {"segmentId": segment_id, "customerId": customer_id,
                        "partition": "At risk", "warnings": []}
    assert (await _details(client, loyalty, customer_id, "embed=segments"))["segments"] == {}
    r = await client.delete(path, headers=loyalty)
    assert r.status_code == 404 and _codes(r.json()) == [92005]
    r = await client.delete(f"/v2/segments/{segment_id}/members/{other_id}", headers=loyalty)
    assert r.status_code == 404 and _codes(r.json()) == [92005]
    r = await client.delete(f"/v2/segments/{segment_id}/members/999999", headers=loyalty)
    assert r.status_code == 404 and _codes(r.json()) == [8015]
    r = await client.delete(f"/v2/segments/999999/members/{customer_id}", headers=loyalty)
    assert r.status_code == 404 and _codes(r.json()) == [92001]


async def test_changing_partitions_moves_or_drops_members(client: httpx.AsyncClient,
                                                          loyalty: dict[str, str]) -> None:
    segment_id = await _segment(client, loyalty)
    ids = [await _customer(client, loyalty, n) for n in range(1, 4)]
    await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty, json=[
        {"user_id": str(ids[0]), "value": "Active"}, {"user_id": str(ids[1]), "value": "Lapsed"},
        {"user_id": str(ids[2]), "value": "Lapsed"}])
    r = await client.put(f"/v2/segments/{segment_id}", headers=loyalty, json={
        "name": "Recency", "partitions": ["LAPSED", "Active", "New"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert r.json()["membersRemoved"] == 0
    assert data["partitions"] == ["LAPSED", "Active", "New"]
    assert data["memberCounts"] == {"LAPSED": 2, "Active": 1, "New": 0}
    assert (await _details(client, loyalty, ids[1], "embed=segments"))["segments"] == {
        "Recency": "LAPSED"}
    r = await client.put(f"/v2/segments/{segment_id}", headers=loyalty,
                         json={"partitions": ["Active", "New"]})
    assert r.json()["membersRemoved"] == 2
    assert r.json()["data"]["memberCounts"] == {"Active": 1, "New": 0}
    assert (await _details(client, loyalty, ids[1], "embed=segments"))["segments"] == {}
    assert (await _details(client, loyalty, ids[0], "embed=segments"))["segments"] == {
        "Recency": "Active"}


async def test_details_segments_only_with_the_embed(client: httpx.AsyncClient,
                                                    loyalty: dict[str, str]) -> None:
    activity = await _segment(client, loyalty)
    value = await _segment(client, loyalty, {"name": "Value", "partitions": ["High", "Low"]})
    customer_id = await _customer(client, loyalty, 1)
    await client.post(f"/v2/segments/{activity}/members", headers=loyalty,
                      json=[{"mobile": "919900000001", "value": "Lapsed"}])
    await client.post(f"/v2/segments/{value}/members", headers=loyalty,
                      json=[{"email": "c1@example.com", "value": "high"}])
    plain = await _details(client, loyalty, customer_id)
    assert plain["segments"] == {}
    assert list(plain) == ["id", "profiles", "loyaltyInfo", "segments", "associatedWith",
                           "extendedFields", "cardDetails", "warnings"]
    embedded = await _details(client, loyalty, customer_id, "embed=points,Segments")
    assert embedded["segments"] == {"Activity segment": "Lapsed", "Value": "High"}
    assert embedded["warnings"] == []
    r = await client.get("/v2/customers/lookup/customerDetails?source=INSTORE"
                         "&identifierName=mobile&identifierValue=919900000001&embed=segments",
                         headers=loyalty)
    assert r.status_code == 200
    assert r.json()["segments"] == {"Activity segment": "Lapsed", "Value": "High"}


async def test_segments_are_per_organisation(client: httpx.AsyncClient, loyalty: dict[str, str],
                                             other_org: Any) -> None:
    segment_id = await _segment(client, loyalty)
    customer_id = await _customer(client, loyalty, 1)
    await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty,
                      json=[{"user_id": str(customer_id), "value": "Active"}])
    other = till_auth(other_org)
    missing = await client.get("/v2/segments/999999", headers=other)
    for method, path, body in (
            ("GET", f"/v2/segments/{segment_id}", None),
            ("PUT", f"/v2/segments/{segment_id}", {"description": "mine now"}),
            ("POST", f"/v2/segments/{segment_id}/members",
             [{"user_id": str(customer_id), "value": "Lapsed"}]),
            ("DELETE", f"/v2/segments/{segment_id}/members/{customer_id}", None)):
        r = await client.request(method, path, headers=other, json=body)
        assert (r.status_code, r.json()) == (missing.status_code, missing.json()), path
    assert (await client.get("/v2/segments", headers=other)).json() == {"data": [],
                                                                        "warnings": []}
    # The other organisation may use the same name; its rows cannot reach our customers.
    theirs = await _segment(client, other)
    r = await client.post(f"/v2/segments/{theirs}/members", headers=other, json=[
        {"user_id": str(customer_id), "value": "Active"},
        {"mobile": "919900000001", "value": "Active"}])
    assert r.status_code == 400 and [_codes(e) for e in r.json()["response"]] == [[8015], [8015]]
    r = await client.delete(f"/v2/segments/{theirs}/members/{customer_id}", headers=other)
    assert r.status_code == 404 and _codes(r.json()) == [8015]
    assert (await _details(client, loyalty, customer_id, "embed=segments"))["segments"] == {
        "Activity segment": "Active"}
    mine = (await client.get(f"/v2/segments/{segment_id}", headers=loyalty)).json()["data"]
    assert mine["description"] == ACTIVITY["description"] and mine["totalMembers"] == 1


# -- fraud status --------------------------------------------------------------------------------

async def test_set_fraud_status_and_read_it_in_details(client: httpx.AsyncClient,
                                                       loyalty: dict[str, str], org: Any,
                                                       clock: Any) -> None:
    customer_id = await _customer(client, loyalty, 1)
    never = await _details(client, loyalty, customer_id, "includedFraudDetails=true")
    assert never["fraudDetails"] == {"markedBy": {}, "modifiedOn": None, "status": None}
    assert list(never)[:5] == ["id", "profiles", "loyaltyInfo", "fraudDetails", "segments"]
    assert "fraudDetails" not in await _details(client, loyalty, customer_id)
    assert "fraudDetails" not in await _details(client, loyalty, customer_id,
                                                "includedFraudDetails=false")

    clock.value = START_MS + 3_600_000
    r = await client.put(f"/v2/customers/{customer_id}/fraudStatus", headers=loyalty,
                         json={"status": "confirmed", "reason": "card testing"})
    assert r.status_code == 200, r.text
    till = (await _details(client, loyalty, customer_id))["profiles"][0]["attribution"][
        "createdBy"]
    assert till["code"] == org.till_code
    expected = {"markedBy": till, "modifiedOn": "2026-01-01T01:00:00Z", "status": "CONFIRMED"}
    assert r.json() == {"customerId": customer_id, "fraudDetails": expected, "warnings": []}
    details = await _details(client, loyalty, customer_id, "includedFraudDetails=true")
    assert details["fraudDetails"] == expected
    r = await client.get("/v2/customers/lookup/customerDetails?source=INSTORE&identifierName="
                         "externalId&identifierValue=EXT-1&includedFraudDetails=true",
                         headers=loyalty)
    assert r.json()["fraudDetails"] == expected

    clock.value = START_MS + 7_200_000
    r = await client.put("/v2/customers/lookup/fraudStatus?source=INSTORE&identifierName=mobile"
                         "&identifierValue=919900000001", headers=loyalty,
                         json={"status": "Not_Fraud"})
    assert r.status_code == 200, r.text
    assert r.json()["fraudDetails"] == {"markedBy": till, "modifiedOn": "2026-01-01T02:00:00Z",
                                        "status": "NOT_FRAUD"}
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE"
                         "&includedFraudDetails=maybe", headers=loyalty)
    assert r.status_code == 400


async def test_fraud_status_errors_and_tenancy(client: httpx.AsyncClient,
                                               loyalty: dict[str, str], other_org: Any) -> None:
    customer_id = await _customer(client, loyalty, 1)
    r = await client.put(f"/v2/customers/{customer_id}/fraudStatus", headers=loyalty,
                         json={"status": "SUSPICIOUS"})
    assert r.status_code == 400 and _codes(r.json()) == [92010]
    r = await client.put(f"/v2/customers/{customer_id}/fraudStatus", headers=loyalty, json={})
    assert r.status_code == 400
    missing = await client.put("/v2/customers/999999/fraudStatus", headers=loyalty,
                               json={"status": "MARKED"})
    assert missing.status_code == 404 and _codes(missing.json()) == [8015]
    r = await client.put(f"/v2/customers/{customer_id}/fraudStatus",
                         headers=till_auth(other_org), json={"status": "MARKED"})
    assert (r.status_code, r.json()) == (404, missing.json())
    r = await client.put("/v2/customers/lookup/fraudStatus?source=INSTORE&identifierName=mobile"
                         "&identifierValue=919900000001", headers=till_auth(other_org),
                         json={"status": "MARKED"})
    assert r.status_code == 404 and _codes(r.json()) == [8015]
    r = await client.put("/v2/customers/lookup/fraudStatus?source=INSTORE", headers=loyalty,
                         json={"status": "MARKED"})
    assert r.status_code == 400 and _codes(r.json()) == [11013]
    details = await _details(client, loyalty, customer_id, "includedFraudDetails=true")
    assert details["fraudDetails"]["status"] is None


async def test_fraud_status_set_with_a_token_has_no_till(client: httpx.AsyncClient,
                                                         services: Services, org: Any) -> None:
    async with services.db.transaction() as tx:
        issued = await services.auth.create_credential(tx, org.org_id, "loyalty_client",
                                                       name="crm", login=f"crm-{org.org_id}")
    r = await client.post("/v3/oauth/token/generate",
                          json={"key": issued.login, "secret": issued.secret})
    token = {"X-CAP-API-OAUTH-TOKEN": r.json()["data"]["accessToken"]}
    customer_id = await _customer(client, till_auth(org), 1)
    r = await client.put(f"/v2/customers/{customer_id}/fraudStatus", headers=token,
                         json={"status": "MARKED"})
    assert r.status_code == 200, r.text
    assert r.json()["fraudDetails"] == {"markedBy": {}, "modifiedOn": "2026-01-01T00:00:00Z",
                                        "status": "MARKED"}


PROGRAMS = """
programs:
  - id: 7
    name: Gems
    default: true
    upgrade: {strategy: CURRENT_POINTS}
    tiers:
      - {name: Topaz, pointsPerCurrency: 0.1}
"""


async def _redeem(client: httpx.AsyncClient, headers: dict[str, str],
                  points: int) -> httpx.Response:
    return await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": points, "transaction_number": "R",
                             "customer": {"mobile": "919900000001"}}]}})


async def _redeemable(client: httpx.AsyncClient, headers: dict[str, str],
                      points: int) -> dict[str, Any]:
    r = await client.get(f"/v1.1/points/isredeemable?mobile=919900000001&points={points}"
                         "&format=json", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["response"]["points"]["redeemable"]  # type: ignore[no-any-return]


async def test_confirmed_fraud_may_not_redeem(client: httpx.AsyncClient, services: Services,
                                              loyalty: dict[str, str], org: Any) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    customer_id = await _customer(client, loyalty, 1)
    r = await client.post("/v2/transactions?source=INSTORE&identifierName=mobile"
                          "&identifierValue=919900000001", headers=loyalty,
                          json={"type": "REGULAR", "billNumber": "B-1", "billAmount": 1000})
    assert r.status_code == 200, r.text  # 100 points
    path = f"/v2/customers/{customer_id}/fraudStatus"
    for status in ("MARKED", "INTERNAL"):  # a suspicion, or a test user: redemption allowed
        await client.put(path, headers=loyalty, json={"status": status})
        assert (await _redeemable(client, loyalty, 10))["item_status"]["code"] == 800
    assert (await _redeem(client, loyalty, 10)).status_code == 200

    for status in ("CONFIRMED", "RECONFIRMED"):
        await client.put(path, headers=loyalty, json={"status": status})
        redeemable = await _redeemable(client, loyalty, 10)
        assert redeemable["is_redeemable"] == "false"
        assert redeemable["item_status"] == {
            "success": "false", "code": 618,
            "message": "Not allowed - customer is marked as fraud."}
        assert redeemable["balance"] == 90.0
        # 618 whatever the balance: the fraud rule is checked first.
        assert (await _redeemable(client, loyalty, 5000))["item_status"]["code"] == 618
        r = await _redeem(client, loyalty, 10)
        assert r.status_code == 500
        assert r.json()["response"]["responses"]["points"]["item_status"] == {
            "success": "false", "code": 618,
            "message": "Not allowed - customer is marked as fraud."}
    summary = (await _details(client, loyalty, customer_id, "embed=points"))["pointsSummary"]
    assert summary["loyaltyPoints"] == 90.0 and summary["redeemed"] == 10.0

    await client.put(path, headers=loyalty, json={"status": "NOT_FRAUD"})
    assert (await _redeemable(client, loyalty, 10))["item_status"]["code"] == 800
    r = await _redeem(client, loyalty, 10)
    assert r.status_code == 200, r.text
    assert r.json()["response"]["responses"]["points"]["balance"] == 80.0
    await services.loyalty.check_ledger(org.org_id, customer_id, 7)


# -- PII erasure ----------------------------------------------------------------------------------

async def test_erasure_removes_memberships_and_fraud_status(client: httpx.AsyncClient,
                                                            services: Services,
                                                            loyalty: dict[str, str],
                                                            org: Any) -> None:
    segment_id = await _segment(client, loyalty)
    customer_id = await _customer(client, loyalty, 1)
    kept = await _customer(client, loyalty, 2)
    await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty, json=[
        {"user_id": str(customer_id), "value": "Active"},
        {"user_id": str(kept), "value": "Active"}])
    await client.put(f"/v2/customers/{customer_id}/fraudStatus", headers=loyalty,
                     json={"status": "CONFIRMED"})
    r = await client.post("/v2/requests", headers=loyalty, json={
        "type": "CUSTOMER", "baseType": "DELETE", "customerIdentificationInfo": {
            "source": "INSTORE", "identifierType": "id", "identifierValue": str(customer_id)}})
    request_id = r.json()["createdId"]
    r = await client.put("/v2/requests", headers=loyalty, json=[
        {"id": str(request_id), "status": "APPROVED"}])
    assert r.status_code == 200, r.text
    segment = (await client.get(f"/v2/segments/{segment_id}", headers=loyalty)).json()["data"]
    assert segment["memberCounts"] == {"Active": 1, "At risk": 0, "Lapsed": 0}
    row = await services.db.fetchrow(customers_repo.GET_FRAUD_STATUS, org.org_id, customer_id)
    assert row["fraud_status"] is None and row["fraud_modified_at"] is None
    assert row["fraud_marked_by"] is None
    # Rows naming the erased customer fail like any unknown customer.
    r = await client.post(f"/v2/segments/{segment_id}/members", headers=loyalty, json=[
        {"user_id": str(customer_id), "value": "Lapsed"},
        {"mobile": "919900000001", "value": "Lapsed"}])
    assert [_codes(e) for e in r.json()["response"]] == [[8015], [8015]]
    r = await client.put(f"/v2/customers/{customer_id}/fraudStatus", headers=loyalty,
                         json={"status": "MARKED"})
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == (
        "Customer is deleted after PII delete request")


# -- patron segments load ---------------------------------------------------------------------

def _cli(db: Database, *args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"PATRON_DATABASE_URL": db.url},
                              catch_exceptions=False)


async def test_cli_loads_a_segment_file(client: httpx.AsyncClient, loyalty: dict[str, str],
                                        org: Any, db: Database, tmp_path: Path) -> None:
    segment_id = await _segment(client, loyalty)
    ids = [await _customer(client, loyalty, n) for n in range(1, 4)]
    good = tmp_path / "activity.csv"
    good.write_text("\ufeffmobile,value\n919900000001,Active\n\n+91 99000 00002,lapsed\n"
                    "919900000003,At risk\n", encoding="utf-8")
    result = await asyncio.to_thread(_cli, db, "segments", "load", "--org", str(org.org_id),
                                     "--segment", "Activity segment", str(good))
    assert result.exit_code == 0, result.output
    assert ("segment 'Activity segment': 3 rows, 3 assigned, 0 failed; members now Active: 1, "
            "At risk: 1, Lapsed: 1") in " ".join(result.output.split())
    got = [(await _details(client, loyalty, i, "embed=segments"))["segments"] for i in ids]
    assert got == [{"Activity segment": "Active"}, {"Activity segment": "Lapsed"},
                   {"Activity segment": "At risk"}]

    mixed = tmp_path / "mixed.csv"
    mixed.write_text("user_id,value\n" f"{ids[0]},Lapsed\n" "999999,Active\n"
                     f"{ids[1]},Gone\n", encoding="utf-8")
    result = await asyncio.to_thread(_cli, db, "segments", "load", "--org", str(org.org_id),
                                     "--segment", "Activity segment", str(mixed))
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "line 3: Customer not found for the given identifiers" in output
    assert "line 4: Partition 'Gone' is not a partition of segment 'Activity segment'" in output
    assert "3 rows, 1 assigned, 2 failed" in output
    segment = (await client.get(f"/v2/segments/{segment_id}", headers=loyalty)).json()["data"]
    assert segment["memberCounts"] == {"Active": 0, "At risk": 1, "Lapsed": 2}

    bad = tmp_path / "bad.csv"
    bad.write_text("phone,value\n919900000001,Active\n", encoding="utf-8")
    result = await asyncio.to_thread(_cli, db, "segments", "load", "--org", str(org.org_id),
                                     "--segment", "Activity segment", str(bad))
    assert result.exit_code == 2 and "the header must be" in result.output
    result = await asyncio.to_thread(_cli, db, "segments", "load", "--org", str(org.org_id),
                                     "--segment", "Nope", str(good))
    assert result.exit_code == 2 and "Segment not found" in result.output
    segment = (await client.get(f"/v2/segments/{segment_id}", headers=loyalty)).json()["data"]
    assert segment["memberCounts"] == {"Active": 0, "At risk": 1, "Lapsed": 2}


@pytest.mark.parametrize("rows", [1, 2])
async def test_assignment_rows_may_repeat_a_customer(services: Services, client: httpx.AsyncClient,
                                                     loyalty: dict[str, str], org: Any,
                                                     rows: int) -> None:
    segment_id = await _segment(client, loyalty)
    customer_id = await _customer(client, loyalty, 1)
    partitions = ["Active", "Lapsed"][:rows]
    outcomes = await services.segments.assign(
        org.org_id, segment_id, [{"user_id": str(customer_id), "value": p} for p in partitions])
    assert [o.partition for o in outcomes] == partitions
    assert await services.segments.of_customer(org.org_id, customer_id) == {
        "Activity segment": partitions[-1]}  # the later row wins


# -- the demo ------------------------------------------------------------------------------------

async def test_demo_segment_and_fraud_statuses(client: httpx.AsyncClient,
                                               services: Services) -> None:
    await load_demo(services, generated=10)
    headers = demo_auth()
    segments = (await client.get("/v2/segments", headers=headers)).json()["data"]
    assert [(s["name"], s["partitions"]) for s in segments] == [
        ("Activity segment", ["Active", "At risk", "Lapsed"])]
    assert segments[0]["totalMembers"] >= 3
    expected = {566881933: "Lapsed", 565261498: "Active", 565118794: "At risk"}
    for customer_id, partition in expected.items():
        details = await _details(client, headers, customer_id, "embed=segments")
        assert details["segments"] == {"Activity segment": partition}
    details = await _details(client, headers, 566881933, "includedFraudDetails=true")
    assert details["fraudDetails"] == {"markedBy": {}, "modifiedOn": "2025-11-02T09:45:00Z",
                                       "status": "NOT_FRAUD"}
    details = await _details(client, headers, 565118794, "includedFraudDetails=true")
    assert details["fraudDetails"]["status"] == "CONFIRMED"
    assert details["fraudDetails"]["markedBy"]["code"] == "neeraj.doc"
    r = await client.get("/v1.1/points/isredeemable?mobile=919353491050&points=1&format=json",
                         headers=headers)
    assert r.json()["response"]["points"]["redeemable"]["item_status"]["code"] == 618
