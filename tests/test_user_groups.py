"""User groups (Capillary's userGroup2) through the loyalty face: the group routes and their
errors, tenancy, the join rules (one primary member, maximum size), the group's pooled points,
customer details with `embed=userGroup` and the ug2 parameters, and PII erasure."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from patron.clock import FixedClock, parse_iso
from patron.errors import PatronError
from patron.loyalty.programs import read_program_file
from patron.services import Services
from tests.conftest import START_MS, add_customer, till_auth

HOUR_MS = 3_600_000
PROGRAMS = """
programs:
  - id: 31
    name: Family
    description: pooled
    default: true
    pointsToCurrencyRatio: 0.5
    upgrade: {strategy: CURRENT_POINTS}
    tiers:
      - {name: Base, pointsPerCurrency: 0.1}
  - id: 32
    name: Miles
    upgrade: {strategy: CUMULATIVE_PURCHASES}
    tiers:
      - {name: Member, pointsPerCurrency: 0.01}
"""


def _error(code: int, message: str) -> dict[str, Any]:
    return {"errors": [{"status": False, "code": code, "message": message}], "warnings": []}


def _not_found(ref: Any) -> dict[str, Any]:
    return _error(1632, f"Group id/externalId/primary userId {ref} passed is not valid")


async def _group(client: httpx.AsyncClient, headers: dict[str, str], external_id: str = "fam",
                 max_size: int = 5, **extra: Any) -> int:
    r = await client.post("/v2/userGroup2", headers=headers, json={
        "externalId": external_id, "groupName": f"name {external_id}",
        "maxGroupSize": max_size, **extra})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["warnings"] == [] and list(body) == ["entity", "warnings"]
    return int(body["entity"])


async def _join(client: httpx.AsyncClient, headers: dict[str, str], group_id: int,
                *elements: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v2/userGroup2/join?id={group_id}", headers=headers,
                             json=list(elements))


async def _customers(client: httpx.AsyncClient, headers: dict[str, str], n: int,
                     prefix: str = "9199000000") -> list[int]:
    return [await add_customer(client, headers, firstName=f"Member{i}", lastName="Kin",
                               identifiers=[{"type": "mobile", "value": f"{prefix}{i:02d}"}])
            for i in range(n)]


async def _get(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> Any:
    r = await client.get(f"/v2/userGroup2?{query}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_create_read_update_delete(client: httpx.AsyncClient, loyalty: dict[str, str],
                                         clock: FixedClock) -> None:
    group_id = await _group(client, loyalty, "purple_externalId", 110,
                            extendedFields={"ug_status": "Active"})
    body = await _get(client, loyalty, f"id={group_id}")
    assert body == {
        "id": group_id, "externalId": "purple_externalId", "groupStatus": "ACTIVE",
        "fleetGroupUsers": [], "createdBy": body["createdBy"],
        "createdOn": "2026-01-01T00:00:00Z", "groupName": "name purple_externalId",
        "maxGroupSize": 110, "lifeTimePurchases": 0.0, "totalActiveMembers": 0,
        "totalExitedMembers": 0, "pointsSummaries": [], "extendedFields": {"ug_status": "Active"},
        "warnings": []}
    assert isinstance(body["createdBy"], int)  # the till that created it
    assert await _get(client, loyalty, "externalId=purple_externalId") == body

    r = await client.put("/v2/userGroup2", headers=loyalty, json={
        "id": str(group_id), "externalId": "", "groupName": "newName2", "maxGroupSize": 1110})
    assert r.status_code == 200
    assert r.json() == {"id": group_id, "groupName": "newName2", "maxGroupSize": 1110,
                        "warnings": []}
    # By external id, merging extended fields; by id with a new external id, renaming it.
    r = await client.put("/v2/userGroup2", headers=loyalty, json={
        "externalId": "purple_externalId", "extendedFields": {"tier": "gold"}})
    assert r.status_code == 200, r.text
    r = await client.put("/v2/userGroup2", headers=loyalty,
                         json={"id": group_id, "externalId": "violet"})
    assert r.status_code == 200, r.text
    body = await _get(client, loyalty, "externalId=violet")
    assert (body["groupName"], body["maxGroupSize"]) == ("newName2", 1110)
    assert body["extendedFields"] == {"ug_status": "Active", "tier": "gold"}
    r = await client.get("/v2/userGroup2?externalId=purple_externalId", headers=loyalty)
    assert r.status_code == 404

    r = await client.delete(f"/v2/userGroup2?id={group_id}", headers=loyalty)
    assert r.status_code == 200 and r.json() == {"warnings": []}
    assert (await _get(client, loyalty, f"id={group_id}"))["groupStatus"] == "DELETED"
    invalid = _error(1619, f"Group id {group_id} is invalid: the group is DELETED")
    r = await client.delete("/v2/userGroup2?externalId=violet", headers=loyalty)
    assert r.status_code == 400 and r.json() == invalid
    r = await client.put("/v2/userGroup2", headers=loyalty, json={"id": group_id,
                                                                  "groupName": "again"})
    assert r.status_code == 400 and r.json() == invalid
    # A deleted group keeps its external id.
    r = await client.post("/v2/userGroup2", headers=loyalty,
                          json={"externalId": "violet", "maxGroupSize": 2})
    assert r.json() == _error(1633, "Group external Id violet already exists")


@pytest.mark.parametrize(("body", "code", "message"), [
    ({"groupName": "x", "maxGroupSize": 3}, 1634, "Group externalId can't be null"),
    ({"externalId": "  ", "maxGroupSize": 3}, 1634, "Group externalId can't be null"),
    ({"externalId": "x"}, 403, "Field maxGroupSize is mandatory"),
    ({"externalId": "x", "maxGroupSize": 0}, 1640,
     "Group max size field should be a positive value"),
    ({"externalId": "x", "maxGroupSize": -4}, 1640,
     "Group max size field should be a positive value"),
    ({"externalId": "x", "maxGroupSize": 30001}, 1639,
     "Group max size can not exceed product limit 30000"),
    ({"externalId": "x" * 51, "maxGroupSize": 3}, 1645,
     "externalId must be at most 50 characters"),
    ({"externalId": "x", "groupName": "n" * 51, "maxGroupSize": 3}, 1645,
     "groupName must be at most 50 characters"),
    ({"externalId": "x", "maxGroupSize": 3, "extendedFields": {"a": {"b": 1}}}, 400,
     "extendedFields.a must be a string, number or boolean"),
    ({"externalId": "x", "maxGroupSize": "many"}, 400,
     "maxGroupSize: Input should be a valid integer, unable to parse string as an integer"),
])
async def test_create_errors(client: httpx.AsyncClient, loyalty: dict[str, str],
                             body: dict[str, Any], code: int, message: str) -> None:
    r = await client.post("/v2/userGroup2", headers=loyalty, json=body)
    assert r.status_code == 400 and r.json() == _error(code, message)


async def test_external_id_is_unique_per_organisation(client: httpx.AsyncClient,
                                                      loyalty: dict[str, str],
                                                      other_org: Any) -> None:
    await _group(client, loyalty, "shared")
    r = await client.post("/v2/userGroup2", headers=loyalty,
                          json={"externalId": " shared ", "maxGroupSize": 2})
    assert r.status_code == 400
    assert r.json() == _error(1633, "Group external Id shared already exists")
    await _group(client, till_auth(other_org), "shared")  # another tenant may use it


async def test_update_errors(client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    group_id = await _group(client, loyalty, "a", 3)
    await _group(client, loyalty, "b", 3)
    members = await _customers(client, loyalty, 2)
    r = await _join(client, loyalty, group_id, *({"userId": m} for m in members))
    assert r.status_code == 200, r.text
    cases = [
        ({"groupName": "x"}, 1644, "Group details not passed"),
        ({"id": "", "externalId": ""}, 1644, "Group details not passed"),
        ({"id": group_id}, 1643, "Nothing to update in the group"),
        ({"externalId": "a"}, 1643, "Nothing to update in the group"),
        ({"id": group_id, "externalId": "b"}, 1633, "Group external Id b already exists"),
        ({"id": group_id, "maxGroupSize": 1}, 1638, "Group has 2 members, more than "
                                                    "maxGroupSize 1"),
        ({"id": group_id, "maxGroupSize": 0}, 1640,
         "Group max size field should be a positive value"),
    ]
    for body, code, message in cases:
        r = await client.put("/v2/userGroup2", headers=loyalty, json=body)
        assert r.status_code == 400 and r.json() == _error(code, message), body
    r = await client.put("/v2/userGroup2", headers=loyalty, json={"id": 987654321,
                                                                  "groupName": "x"})
    assert r.status_code == 404 and r.json() == _not_found(987654321)
    r = await client.put("/v2/userGroup2", headers=loyalty, json={"id": group_id,
                                                                  "maxGroupSize": 2})
    assert r.status_code == 200  # exactly the members it has


async def test_group_reference_errors(client: httpx.AsyncClient,
                                      loyalty: dict[str, str]) -> None:
    for method in ("GET", "DELETE"):
        r = await client.request(method, "/v2/userGroup2", headers=loyalty)
        assert r.status_code == 400 and r.json() == _error(1635, "Group query param is not passed")
        for ref in ("id=abc", "id=123456789", "externalId=nope"):
            r = await client.request(method, f"/v2/userGroup2?{ref}", headers=loyalty)
            assert r.status_code == 404 and r.json() == _not_found(ref.split("=")[1])
    r = await client.post("/v2/userGroup2/join", headers=loyalty, json=[])
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1635
    r = await client.post("/v2/userGroup2/join?id=42", headers=loyalty, json=[])
    assert r.status_code == 404 and r.json() == _not_found(42)


async def test_another_orgs_group_is_a_404_like_a_missing_one(
        client: httpx.AsyncClient, loyalty: dict[str, str], other_org: Any) -> None:
    group_id = await _group(client, loyalty, "mine")
    (member,) = await _customers(client, loyalty, 1)
    assert (await _join(client, loyalty, group_id, {"userId": member})).status_code == 200
    other = till_auth(other_org)
    missing = group_id + 1_000_000
    for gid in (group_id, missing):
        expected = _not_found(gid)
        requests = [
            ("GET", f"/v2/userGroup2?id={gid}", None),
            ("DELETE", f"/v2/userGroup2?id={gid}", None),
            ("PUT", "/v2/userGroup2", {"id": gid, "groupName": "stolen"}),
            ("POST", f"/v2/userGroup2/join?id={gid}", [{"userId": member}]),
            ("DELETE", f"/v2/userGroup2/{gid}/leave?source=INSTORE&identifierName=id"
                       f"&identifierValue={member}", None),
            ("GET", f"/v2/userGroup2/members?source=INSTORE&identifierName=id"
                    f"&identifierValue={gid}", None),
        ]
        for method, path, body in requests:
            r = await client.request(method, path, headers=other, json=body)
            assert (r.status_code, r.json()) == (404, expected), (method, path)
    r = await client.get("/v2/userGroup2?externalId=mine", headers=other)
    assert r.status_code == 404 and r.json() == _not_found("mine")
    # Nothing changed for the owner; the other org's customers cannot be added to it.
    body = await _get(client, loyalty, f"id={group_id}")
    assert body["groupName"] == "name mine" and body["totalActiveMembers"] == 1
    stranger = await add_customer(client, other, identifiers=[{"type": "mobile",
                                                               "value": "919811111111"}])
    r = await _join(client, loyalty, group_id, {"userId": stranger})
    assert r.status_code == 400
    assert r.json()["response"][0]["errors"] == [
        {"status": False, "code": 8015, "message": "Customer not found for the given identifiers"}]
    r = await client.get(f"/v2/customers/{member}?source=INSTORE&userGroup2Id={group_id}",
                         headers=loyalty)
    assert [g["groupId"] for g in r.json()["userGroup2Details"]] == [group_id]


async def test_join_answers_per_element(client: httpx.AsyncClient,
                                        loyalty: dict[str, str]) -> None:
    group_id = await _group(client, loyalty, "fam", 3)
    a, b, c = await _customers(client, loyalty, 3)
    r = await _join(client, loyalty, group_id,
                    {"userId": a, "primaryMember": True,
                     "permissions": ["allow_points_redemption", "allow_points_transfer"]},
                    {"userId": str(b), "primaryMember": False,
                     "permissions": ["block_points_redemption"], "defaultGroup": True})
    assert r.status_code == 200, r.text
    first = {"userId": a, "groupId": group_id,
             "permissions": ["allow_points_redemption", "allow_points_transfer"],
             "defaultGroup": True, "active": True, "primaryMember": True}
    second = {"userId": b, "groupId": group_id, "permissions": ["block_points_redemption"],
              "defaultGroup": True, "active": True, "primaryMember": False}
    assert r.json() == {"response": [
        {"entityId": first, "result": first, "warnings": []},
        {"entityId": second, "result": second, "warnings": []}],
        "totalCount": 2, "failureCount": 0}

    bad = [
        ({"userId": c, "primaryMember": True}, 1637, "Primary member exists for the group"),
        ({"userId": a}, 1636, "Customer is already a member of the group"),
        ({"userId": c, "permissions": ["fly"]}, 1641, "Invalid permission code fly passed"),
        ({"userId": 999999999}, 8015, "Customer not found for the given identifiers"),
        ({"userId": "abc"}, 8015, "Customer not found for the given identifiers"),
        ({"primaryMember": True}, 403, "Field userId is mandatory"),
        ({"userId": c, "primaryMember": "perhaps"}, 400,
         "primaryMember: Input should be a valid boolean, unable to interpret input"),
        ("text", 1645, "Group details passed are not valid"),
    ]
    r = await _join(client, loyalty, group_id, *(e for e, _, _ in bad))
    assert r.status_code == 400
    body = r.json()
    assert (body["totalCount"], body["failureCount"]) == (len(bad), len(bad))
    for (element, code, message), result in zip(bad, body["response"], strict=True):
        assert result == {"result": element, "errors": [
            {"status": False, "code": code, "message": message}], "warnings": []}
    # Some succeed, some fail: 201.
    r = await _join(client, loyalty, group_id, {"userId": c}, {"userId": 999999999})
    assert r.status_code == 201 and r.json()["failureCount"] == 1
    assert "entityId" in r.json()["response"][0] and "entityId" not in r.json()["response"][1]
    r = await _join(client, loyalty, group_id, *({"userId": a} for _ in range(101)))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1060


async def test_maximum_size(client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    group_id = await _group(client, loyalty, "pair", 2)
    a, b, c = await _customers(client, loyalty, 3)
    r = await _join(client, loyalty, group_id, {"userId": a}, {"userId": b}, {"userId": c})
    assert r.status_code == 201
    assert r.json()["response"][2]["errors"] == [{
        "status": False, "code": 1638,
        "message": "Total members in the group reached maximum group capacity 2"}]
    # A member leaving makes room; raising the size too.
    r = await client.delete(f"/v2/userGroup2/{group_id}/leave?source=INSTORE&identifierName=id"
                            f"&identifierValue={a}", headers=loyalty)
    assert r.status_code == 200
    assert (await _join(client, loyalty, group_id, {"userId": c})).status_code == 200
    assert (await _join(client, loyalty, group_id, {"userId": a})).status_code == 400
    r = await client.put("/v2/userGroup2", headers=loyalty, json={"id": group_id,
                                                                  "maxGroupSize": 3})
    assert r.status_code == 200
    assert (await _join(client, loyalty, group_id, {"userId": a})).status_code == 200


async def test_one_primary_member(client: httpx.AsyncClient, loyalty: dict[str, str],
                                  clock: FixedClock) -> None:
    first = await _group(client, loyalty, "first")
    second = await _group(client, loyalty, "second")
    a, b = await _customers(client, loyalty, 2)
    assert (await _join(client, loyalty, first, {"userId": a, "primaryMember": True},
                        {"userId": b})).status_code == 200
    r = await _join(client, loyalty, second, {"userId": a, "primaryMember": True})
    assert r.json()["response"][0]["errors"][0] == {
        "status": False, "code": 1642, "message": "User is primary member in a different group"}
    # A secondary membership elsewhere is fine.
    assert (await _join(client, loyalty, second, {"userId": a})).status_code == 200

    # The primary leaving makes the group defunct: no new members, and never a new primary.
    clock.advance(HOUR_MS)
    r = await client.delete(f"/v2/userGroup2/{first}/leave?source=INSTORE&identifierName=mobile"
                            "&identifierValue=919900000000", headers=loyalty)
    assert r.status_code == 200 and r.json() == {"warnings": [], "errors": [], "success": True}
    body = await _get(client, loyalty, f"id={first}")
    assert body["groupStatus"] == "INACTIVE"
    assert body["fleetGroupUsers"] == [
        {"userId": b, "groupId": first, "defaultGroup": False, "primaryMember": False,
         "active": True},
        {"userId": a, "groupId": first, "defaultGroup": True, "primaryMember": True,
         "active": False}]
    assert (body["totalActiveMembers"], body["totalExitedMembers"]) == (1, 1)
    r = await _join(client, loyalty, first, {"userId": a, "primaryMember": True})
    assert r.json()["response"][0]["errors"][0] == {
        "status": False, "code": 1619, "message": f"Group id {first} is invalid: the group is "
                                                  "INACTIVE"}
    # Once no longer primary anywhere, the customer may be primary of another group.
    third = await _group(client, loyalty, "third")
    assert (await _join(client, loyalty, third, {"userId": a, "primaryMember": True})
            ).status_code == 200
    r = await _join(client, loyalty, third, {"userId": b, "primaryMember": True})
    assert r.json()["response"][0]["errors"][0]["code"] == 1637


async def test_leave_errors_and_joining_again(client: httpx.AsyncClient,
                                              loyalty: dict[str, str],
                                              clock: FixedClock) -> None:
    group_id = await _group(client, loyalty)
    (member,) = await _customers(client, loyalty, 1)
    base = f"/v2/userGroup2/{group_id}/leave"
    who = "identifierName=mobile&identifierValue=919900000000"
    r = await client.delete(f"{base}?source=INSTORE&{who}", headers=loyalty)
    assert r.status_code == 400
    assert r.json() == _error(1620, f"User {member} does not belong to group {group_id}")
    assert (await _join(client, loyalty, group_id, {"userId": member})).status_code == 200
    for query, status, code in [
        (who, 400, 403), (f"source=SHOP&{who}", 400, 8003),
        ("source=INSTORE&identifierValue=919900000000", 400, 403),
        ("source=INSTORE&identifierName=mobile", 400, 403),
        ("source=INSTORE&identifierName=mobile&identifierValue=919900000099", 404, 8015),
    ]:
        r = await client.delete(f"{base}?{query}", headers=loyalty)
        assert (r.status_code, r.json()["errors"][0]["code"]) == (status, code), query
    r = await client.delete(f"/v2/userGroup2/abc/leave?source=INSTORE&{who}", headers=loyalty)
    assert r.status_code == 404 and r.json() == _not_found("abc")
    assert (await client.delete(f"{base}?source=instore&accountId=&{who}",
                                headers=loyalty)).status_code == 200
    # Joining again: current again, with the join date of now.
    clock.advance(5 * 24 * HOUR_MS)
    assert (await _join(client, loyalty, group_id, {"userId": member})).status_code == 200
    r = await client.get(f"/v2/userGroup2/members?source=INSTORE&identifierName=id"
                         f"&identifierValue={group_id}", headers=loyalty)
    assert [m["joinedOn"] for m in r.json()["data"]] == ["2026-01-06"]
    body = await _get(client, loyalty, f"id={group_id}")
    assert (body["totalActiveMembers"], body["totalExitedMembers"]) == (1, 0)


async def test_members_list(client: httpx.AsyncClient, loyalty: dict[str, str],
                            services: Services, org: Any, clock: FixedClock) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    group_id = await _group(client, loyalty, "club", 10)
    ids = await _customers(client, loyalty, 4)
    r = await client.post("/v2/transactions?source=INSTORE&identifierName=mobile"
                          "&identifierValue=919900000003", headers=loyalty,
                          json={"type": "REGULAR", "billNumber": "m-1", "billAmount": 250})
    assert r.status_code == 200, r.text
    # One joins a day, the primary (ids[2]) third; ids[3] leaves again.
    for day, (member, primary) in enumerate([(ids[0], False), (ids[1], False),
                                             (ids[2], True), (ids[3], False)]):
        clock.value = START_MS + day * 24 * HOUR_MS
        body: dict[str, Any] = {"userId": member, "primaryMember": primary}
        if member == ids[1]:
            body["permissions"] = ["allow_points_redemption", "block_points_transfer"]
        assert (await _join(client, loyalty, group_id, body)).status_code == 200
    base = f"/v2/userGroup2/members?source=INSTORE&identifierName=id&identifierValue={group_id}"
    r = await client.get(base, headers=loyalty)
    assert r.status_code == 200
    body = r.json()
    assert body["pagination"] == {"limit": 20, "offset": 0, "sortBy": "IS_PRIMARY",
                                  "sortOrder": "DESC", "total": 4}
    assert [m["fleetUserId"] for m in body["data"]] == [ids[2], ids[0], ids[1], ids[3]]
    assert body["data"][0] == {
        "fleetUserId": ids[2], "firstName": "Member2", "lastName": "Kin",
        "joinedOn": "2026-01-03", "permissions": "", "pointsContributed": 0.0, "email": None,
        "mobile": "919900000002", "role": "PRIMARY",
        "identifiers": [{"type": "mobile", "value": "919900000002"}], "inActive": True,
        "primaryMember": True}
    assert body["data"][2]["permissions"] == "allow_points_redemption,block_points_transfer"
    assert body["data"][2]["role"] == "SECONDARY"
    assert body["data"][3]["pointsContributed"] == 25.0  # default program's points
    assert (body["warnings"], body["errors"]) == ([], [])

    r = await client.delete(f"/v2/userGroup2/{group_id}/leave?source=INSTORE&identifierName=id"
                            f"&identifierValue={ids[3]}", headers=loyalty)
    assert r.status_code == 200
    r = await client.get(f"{base}&sortOrder=ASC&limit=2&offset=1", headers=loyalty)
    body = r.json()
    assert [m["fleetUserId"] for m in body["data"]] == [ids[1], ids[2]]  # exited: not listed
    assert body["pagination"] == {"limit": 2, "offset": 1, "sortBy": "IS_PRIMARY",
                                  "sortOrder": "ASC", "total": 3}
    r = await client.get(f"{base}&fromDate=2026-01-02%2000:00:00&toDate=2026-01-03",
                         headers=loyalty)
    assert [m["fleetUserId"] for m in r.json()["data"]] == [ids[2], ids[1]]
    assert r.json()["pagination"]["total"] == 2
    r = await client.get(f"{base}&toDate=2026-01-01T00:00:00Z", headers=loyalty)
    assert [m["fleetUserId"] for m in r.json()["data"]] == [ids[0]]
    # Without an offset, the organisation's local time: 05:00 in Kolkata is 23:30Z the day
    # before, so the member who joined at 2026-01-02T00:00Z is not yet in.
    await services.tenancy.configure(org.org_id, time_zone="Asia/Kolkata")
    r = await client.get(f"{base}&toDate=2026-01-02%2005:00:00", headers=loyalty)
    assert [m["fleetUserId"] for m in r.json()["data"]] == [ids[0]]
    await services.tenancy.configure(org.org_id, time_zone="UTC")
    series = (await client.post("/v2/card/series", headers=loyalty,
                                json={"code": "GC", "type": "DIGITAL"})).json()["entity"]
    r = await client.post(f"/v2/customers/{ids[0]}/changeIdentifier?source=INSTORE",
                          headers=loyalty, json={"add": [{"type": "cardnumber", "value": "GCARD1",
                                                          "seriesId": series}]})
    assert r.status_code == 200, r.text
    r = await client.get("/v2/userGroup2/members?source=INSTORE&identifierName=externalId"
                         "&identifierValue=club&includeCardDetails=true", headers=loyalty)
    cards = {m["fleetUserId"]: [c["cardNumber"] for c in m["cards"]] for m in r.json()["data"]}
    assert cards[ids[0]] == ["GCARD1"]
    assert all(numbers == [] for member, numbers in cards.items() if member != ids[0])

    for query, code in [("&sortBy=NAME", 400), ("&sortOrder=UP", 400), ("&limit=0", 400),
                        ("&limit=1001", 400), ("&offset=-1", 400), ("&fromDate=yesterday", 400),
                        ("&paginationDetails=maybe", 400)]:
        r = await client.get(base + query, headers=loyalty)
        assert (r.status_code, r.json()["errors"][0]["code"]) == (400, code), query
    r = await client.get(f"/v2/userGroup2/members?identifierName=id&identifierValue={group_id}",
                         headers=loyalty)
    assert r.json() == _error(403, "Field source is mandatory")
    r = await client.get("/v2/userGroup2/members?source=INSTORE", headers=loyalty)
    assert r.json() == _error(1635, "Group query param is not passed")
    r = await client.get(f"/v2/userGroup2/members?source=INSTORE&identifierName=mobile"
                         f"&identifierValue={group_id}", headers=loyalty)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1635


async def test_group_points_pool_active_members(client: httpx.AsyncClient,
                                                loyalty: dict[str, str], services: Services,
                                                org: Any) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    group_id = await _group(client, loyalty, "pool")
    a, b, c, outsider = await _customers(client, loyalty, 4)
    for n, amount in ((0, 1000), (1, 500), (2, 3000), (3, 7000)):
        r = await client.post("/v2/transactions?source=INSTORE&identifierName=mobile"
                              f"&identifierValue=91990000000{n}", headers=loyalty,
                              json={"type": "REGULAR", "billNumber": f"p-{n}",
                                    "billAmount": amount})
        assert r.status_code == 200, r.text
    r = await client.post("/v1.1/points/redeem?format=json", headers=loyalty, json={
        "root": {"redeem": [{"points_redeemed": 30, "customer": {"mobile": "919900000000"}}]}})
    assert r.status_code == 200, r.text
    assert (await _join(client, loyalty, group_id, {"userId": a, "primaryMember": True},
                        {"userId": b}, {"userId": c})).status_code == 200
    r = await client.delete(f"/v2/userGroup2/{group_id}/leave?source=INSTORE&identifierName=id"
                            f"&identifierValue={c}", headers=loyalty)
    assert r.status_code == 200
    body = await _get(client, loyalty, f"id={group_id}")
    # a: 100 earned, 30 redeemed; b: 50 earned; c left; the outsider never joined.
    assert body["lifeTimePurchases"] == 1500.0
    assert (body["totalActiveMembers"], body["totalExitedMembers"]) == (2, 1)
    family, miles = body["pointsSummaries"]
    assert family == {
        "redeemed": 30.0, "expired": 0.0, "returned": 0.0, "adjusted": 0.0,
        "lifetimePoints": 150.0, "loyaltyPoints": 120.0, "userGroup2Id": group_id,
        "programId": 31, "delayedPoints": 0.0, "delayedReturnedPoints": 0.0,
        "delayedExpiredPoints": 0.0, "totalAvailablePoints": 120.0, "totalReturnedPoints": 0.0,
        "linkedPartnerPrograms": [], "programTitle": "Family", "programDescription": "pooled",
        "programPointsToCurrencyRatio": 0.5}
    assert (miles["programId"], miles["loyaltyPoints"], miles["lifetimePoints"]) == (32, 15.0,
                                                                                     15.0)
    assert outsider  # registered, bought, not counted
    # A group nobody is in yet still lists every program, at zero.
    empty = await _group(client, loyalty, "empty")
    body = await _get(client, loyalty, f"id={empty}")
    assert [(p["programId"], p["loyaltyPoints"]) for p in body["pointsSummaries"]] == [
        (31, 0.0), (32, 0.0)]


async def test_group_points_leave_out_points_whose_day_is_over(
        client: httpx.AsyncClient, loyalty: dict[str, str], services: Services, org: Any,
        clock: FixedClock) -> None:
    """A member's promotion expiring on 2026-01-05, read on 2026-01-06 before any job run: the
    group pools it as expired, as the member's own details show it."""
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    group_id = await _group(client, loyalty, "lapse")
    (member,) = await _customers(client, loyalty, 1)
    assert (await _join(client, loyalty, group_id, {"userId": member, "primaryMember": True})
            ).status_code == 200
    r = await client.post("/v2/loyalty/promotionalPoints", headers=loyalty, json={
        "identifierName": "id", "identifierValue": str(member), "points": 20,
        "promotionName": "bonus", "expiryDate": "2026-01-05"})
    assert r.status_code == 200, r.text
    clock.value = START_MS + 5 * 24 * HOUR_MS
    family = (await _get(client, loyalty, f"id={group_id}"))["pointsSummaries"][0]
    assert (family["loyaltyPoints"], family["expired"], family["lifetimePoints"]) == (
        0.0, 20.0, 20.0)
    r = await client.get(f"/v2/userGroup2/members?source=INSTORE&identifierName=id"
                         f"&identifierValue={group_id}", headers=loyalty)
    assert r.json()["data"][0]["pointsContributed"] == 0.0


async def _two_groups(client: httpx.AsyncClient, loyalty: dict[str, str],
                      clock: FixedClock) -> tuple[int, int, int, int]:
    """A customer who joined `club` on 2026-01-01 and, as its primary member, `family` on
    2026-01-03; and a third group they are no longer in."""
    member, other = await _customers(client, loyalty, 2)
    club = await _group(client, loyalty, "club")
    family = await _group(client, loyalty, "family")
    gone = await _group(client, loyalty, "gone")
    assert (await _join(client, loyalty, club, {"userId": member},
                        {"userId": other})).status_code == 200
    clock.value = START_MS + 2 * 24 * HOUR_MS
    assert (await _join(client, loyalty, family, {"userId": member, "primaryMember": True})
            ).status_code == 200
    clock.value = START_MS + 3 * 24 * HOUR_MS
    assert (await _join(client, loyalty, gone, {"userId": member})).status_code == 200
    r = await client.delete(f"/v2/userGroup2/{gone}/leave?source=INSTORE&identifierName=id"
                            f"&identifierValue={member}", headers=loyalty)
    assert r.status_code == 200
    return member, club, family, other


async def test_customer_details_user_groups(client: httpx.AsyncClient,
                                            loyalty: dict[str, str], clock: FixedClock,
                                            services: Services, org: Any) -> None:
    member, club, family, _ = await _two_groups(client, loyalty, clock)
    base = f"/v2/customers/{member}?source=INSTORE"

    async def details(query: str) -> Any:
        r = await client.get(f"{base}&{query}", headers=loyalty)
        assert r.status_code == 200, r.text
        return r.json()

    plain = await details("embed=points")
    assert "userGroup2Details" not in plain and "ug2Pagination" not in plain
    # The default group: the one marked default (family: its primary member).
    body = await details("embed=userGroup")
    assert body["warnings"] == []
    assert body["userGroup2Details"] == [{
        "userId": member, "groupId": family, "externalId": "family", "groupName": "name family",
        "groupStatus": "ACTIVE", "maxGroupSize": 5, "defaultGroup": True, "primaryMember": True,
        "active": True, "permissions": [], "joinedDate": "2026-01-03T00:00:00Z"}]
    assert list(body)[-2:] == ["userGroup2Details", "warnings"]
    body = await details("embed=userGroup,customerImage,nonsense")
    assert body["customerImage"] == []
    assert body["warnings"] == [{"status": False, "code": 8099,
                                 "message": "Invalid embed value: nonsense"}]

    async def group_ids(query: str) -> list[int]:
        return [g["groupId"] for g in (await details(query))["userGroup2Details"]]

    assert await group_ids("includedAllUserGroup2=true") == [family, club]
    assert await group_ids("embed=userGroup&includedAllUserGroup2=true&ug2SortOrder=ASC") == [
        club, family]
    assert await group_ids("includedAllUserGroup2=true&ug2SortBy=JoinedDate&ug2Limit=1"
                           "&ug2Offset=1") == [club]
    assert await group_ids("includedAllUserGroup2=true&ug2JoinedStartDate=2026-01-02") == [
        family]
    assert await group_ids("includedAllUserGroup2=true&ug2JoinedEndDate=2026-01-02") == [club]
    assert await group_ids("includedAllUserGroup2=true&ug2JoinedStartDate=2026-01-03T00:00:01Z"
                           ) == []
    assert await group_ids(f"userGroup2Id={club}") == [club]
    assert await group_ids("userGroup2Id=123") == []
    # Without a default group among those in range, the group joined last.
    assert await group_ids("embed=userGroup&ug2JoinedEndDate=2026-01-02%2023:59:59") == [club]
    # Without an offset, a date-time is the organisation's local time (family joined at
    # 2026-01-03T00:00Z, 05:30 in Kolkata); a date alone stays a UTC day.
    await services.tenancy.configure(org.org_id, time_zone="Asia/Kolkata")
    assert await group_ids("includedAllUserGroup2=true&ug2JoinedEndDate=2026-01-03%2005:29:58"
                           ) == [club]
    assert await group_ids("includedAllUserGroup2=true&ug2JoinedStartDate=2026-01-03%2005:30:00"
                           ) == [family]
    assert await group_ids("includedAllUserGroup2=true&ug2JoinedStartDate=2026-01-03") == [
        family]

    body = await details("includedAllUserGroup2=true&ug2PaginationDetails=true&ug2Limit=1")
    assert body["ug2Pagination"] == {"limit": 1, "offset": 0, "sortBy": "JoinedDate",
                                     "sortOrder": "DESC", "total": 2}
    assert list(body)[-3:] == ["userGroup2Details", "ug2Pagination", "warnings"]
    body = await details("embed=userGroup&ug2PaginationDetails=true")
    assert body["ug2Pagination"]["total"] == 1
    # Pagination parameters alone ask for nothing, but are still checked.
    assert "userGroup2Details" not in await details("ug2Limit=5&ug2SortOrder=asc")

    body = await details(f"userGroup2Id={club}&includedUserGroup2LoyaltyDetails=true")
    (group,) = body["userGroup2Details"]
    assert (group["totalActiveMembers"], group["totalExitedMembers"]) == (2, 0)
    assert group["lifeTimePurchases"] == 0.0 and group["pointsSummaries"] == []

    r = await client.get("/v2/customers/lookup/customerDetails?source=INSTORE"
                         "&identifierName=mobile&identifierValue=919900000000"
                         "&includedAllUserGroup2=true", headers=loyalty)
    assert [g["groupId"] for g in r.json()["userGroup2Details"]] == [family, club]


@pytest.mark.parametrize(("query", "message"), [
    ("ug2Limit=0", "ug2Limit must be a whole number from 1 to 100"),
    ("embed=userGroup&ug2Limit=101", "ug2Limit must be a whole number from 1 to 100"),
    ("embed=userGroup&ug2Offset=-1", "ug2Offset must be a whole number from 0 to 10000000"),
    ("embed=userGroup&ug2Offset=%C2%B2", "ug2Offset must be a whole number from 0 to 10000000"),
    ("userGroup2Id=%C2%B2", "userGroup2Id must be a group id"),
    ("embed=userGroup&ug2SortOrder=UP", "ug2SortOrder must be ASC or DESC"),
    ("embed=userGroup&ug2SortBy=Name", "ug2SortBy must be JoinedDate"),
    ("userGroup2Id=abc", "userGroup2Id must be a group id"),
    ("includedAllUserGroup2=maybe", "includedAllUserGroup2 must be true or false"),
    ("embed=userGroup&ug2PaginationDetails=2x", "ug2PaginationDetails must be true or false"),
    ("embed=userGroup&ug2JoinedStartDate=yesterday",
     "ug2JoinedStartDate must be YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or an ISO 8601 date-time"),
    ("ug2JoinedEndDate=2026-02-30",
     "ug2JoinedEndDate must be YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or an ISO 8601 date-time"),
])
async def test_customer_details_rejects_bad_ug2_values(client: httpx.AsyncClient,
                                                       loyalty: dict[str, str], query: str,
                                                       message: str) -> None:
    (member,) = await _customers(client, loyalty, 1)
    r = await client.get(f"/v2/customers/{member}?source=INSTORE&{query}", headers=loyalty)
    assert r.status_code == 400 and r.json() == _error(400, message)


async def test_pii_erasure_takes_the_customer_out_of_groups(
        client: httpx.AsyncClient, loyalty: dict[str, str], clock: FixedClock) -> None:
    member, club, family, other = await _two_groups(client, loyalty, clock)
    r = await client.post("/v2/requests", headers=loyalty, json={
        "type": "CUSTOMER", "baseType": "DELETE", "comments": "gone",
        "customerIdentificationInfo": {"source": "INSTORE", "identifierType": "id",
                                       "identifierValue": str(member)}})
    assert r.status_code == 200, r.text
    clock.advance(HOUR_MS)
    r = await client.put("/v2/requests", headers=loyalty, json=[
        {"id": str(r.json()["createdId"]), "status": "APPROVED"}])
    assert r.status_code == 200, r.text
    club_body = await _get(client, loyalty, f"id={club}")
    assert club_body["groupStatus"] == "ACTIVE"
    assert [(u["userId"], u["active"]) for u in club_body["fleetGroupUsers"]] == [
        (other, True), (member, False)]
    # They were the primary member of family: it is defunct now.
    family_body = await _get(client, loyalty, f"id={family}")
    assert family_body["groupStatus"] == "INACTIVE"
    assert (family_body["totalActiveMembers"], family_body["totalExitedMembers"]) == (0, 1)
    r = await client.get(f"/v2/userGroup2/members?source=INSTORE&identifierName=id"
                         f"&identifierValue={club}", headers=loyalty)
    assert [m["fleetUserId"] for m in r.json()["data"]] == [other]
    r = await _join(client, loyalty, club, {"userId": member})
    assert r.json()["response"][0]["errors"][0] == {
        "status": False, "code": 8015, "message": "Customer is deleted after PII delete request"}


async def test_concurrent_joins_keep_the_rules(client: httpx.AsyncClient,
                                               loyalty: dict[str, str],
                                               services: Services, org: Any) -> None:
    """Joins racing for the last places and for the primary role: the group row lock lets
    exactly the allowed number through, on both engines."""
    group_id = await _group(client, loyalty, "race", 3)
    ids = await _customers(client, loyalty, 8)

    async def attempt(customer_id: int, primary: bool) -> bool:
        try:
            await services.groups.join(org.org_id, group_id, customer_id, primary=primary,
                                       default_group=False, permissions=[], till_id=None)
        except PatronError as exc:
            assert exc.reason in ("group_full", "primary_member_exists")
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(c, True) for c in ids))
    assert sum(outcomes) == 1
    outcomes = await asyncio.gather(*(attempt(c, False) for c, won in zip(ids, outcomes,
                                                                          strict=True)
                                      if not won))
    assert sum(outcomes) == 2
    body = await _get(client, loyalty, f"id={group_id}")
    assert body["totalActiveMembers"] == 3
    assert sum(u["primaryMember"] for u in body["fleetGroupUsers"]) == 1


async def test_bad_input_gets_the_envelope_never_a_500(client: httpx.AsyncClient,
                                                       loyalty: dict[str, str]) -> None:
    group_id = await _group(client, loyalty)
    cases = [
        ("POST", "/v2/userGroup2", b"{not json"),
        ("POST", "/v2/userGroup2", b"[1]"),
        ("POST", "/v2/userGroup2", b'{"externalId": 5, "maxGroupSize": 2}'),
        ("PUT", "/v2/userGroup2", b"null"),
        ("PUT", "/v2/userGroup2", b'{"id": [1]}'),
        ("POST", f"/v2/userGroup2/join?id={group_id}", b'{"userId": 1}'),
        ("POST", f"/v2/userGroup2/join?id={group_id}", b"[[1], null, 5]"),
        ("POST", f"/v2/userGroup2/join?id={group_id}", b'[{"userId": 1, "permissions": "x"}]'),
        ("POST", f"/v2/userGroup2/join?id={group_id}", b'[{"userId": 99999999999999999999}]'),
        ("GET", "/v2/userGroup2?id=99999999999999999999999", None),
        ("GET", "/v2/userGroup2?id=%C2%B2", None),
        ("POST", f"/v2/userGroup2/join?id={group_id}", '[{"userId": "\u00b2"}]'.encode()),
        ("GET", f"/v2/userGroup2/members?source=INSTORE&identifierName=id"
                f"&identifierValue={group_id}&limit=%C2%B2", None),
        ("DELETE", "/v2/userGroup2/%C2%B2/leave?source=INSTORE&identifierName=id"
                   "&identifierValue=1", None),
        ("DELETE", f"/v2/userGroup2/{group_id}/leave?source=INSTORE&identifierName=shoe"
                   "&identifierValue=1", None),
    ]
    for method, path, body in cases:
        r = await client.request(method, path, content=body,
                                 headers={**loyalty, "content-type": "application/json"})
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        payload = r.json()
        assert payload.get("errors") or payload.get("failureCount"), (method, path, payload)


async def test_join_date_is_the_servers_clock(services: Services, org: Any,
                                              client: httpx.AsyncClient,
                                              loyalty: dict[str, str], clock: FixedClock) -> None:
    group_id = await _group(client, loyalty)
    (member,) = await _customers(client, loyalty, 1)
    clock.value = parse_iso("2026-03-04T05:06:07Z")
    r = await _join(client, loyalty, group_id, {"userId": member, "joinedOn": "2020-01-01"})
    assert r.status_code == 200
    found = await services.groups.of_customer(
        org.org_id, member, group_id=None, all_groups=True, joined_from=None, joined_to=None,
        descending=True, limit=10, offset=0, with_total=True, with_pool=False)
    assert found.total == 1
    assert found.groups[0].membership.joined_at == parse_iso("2026-03-04T05:06:07Z")
