"""The request and response examples of Capillary's older public docs (the GitHub repository
`Capillary/api-documentation`, files `source/includes/_transaction.md`,
`source/includes/_points.md` and `source/includes/_customer.md`), sent to Patron as a client
written against them would send them. Only ids, identifiers, bill numbers and dates are adapted
to a test organisation; fields Patron does not keep (payment modes, custom fields, promotions)
are sent anyway, as a client would. Each answer is checked against the docs' example response:
status, envelope, field names, nesting and JSON types. Where Patron answers otherwise on
purpose, the test says so and docs/compat/loyalty.md names it."""

from __future__ import annotations

from typing import Any

import httpx

from patron.loyalty.programs import read_program_file
from patron.services import Services
from tests.conftest import add_customer, till_auth

PROGRAMS = """
programs:
  - id: 7
    name: Gems
    default: true
    rounding: FLOOR
    upgrade: {strategy: CURRENT_POINTS}
    tiers:
      - {name: Topaz, pointsPerCurrency: 0.1}
"""
MOBILE = "919740000000"  # the docs' own examples' mobile


async def _setup(client: httpx.AsyncClient, services: Services,
                 org: Any) -> tuple[int, dict[str, str]]:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    headers = till_auth(org)
    customer_id = await add_customer(client, headers, firstName="Tom", lastName="Sawyer",
                                     identifiers=[{"type": "mobile", "value": MOBILE}])
    return customer_id, headers


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# _transaction.md, "Add Transaction", Sample POST Request (the identifier is a mobile here, not
# the example's card number; the two base64 promotion identifiers are shortened).
ADD_TRANSACTION = {
    "type": "REGULAR", "billNumber": "num-1234", "discount": "10", "billAmount": "200",
    "note": "This is test", "grossAmount": "110", "deliveryStatus": "SHIPPED",
    "paymentModes": [{"mode": "Card Payment", "value": 5104, "notes": "Sample notes",
                      "attributes": {"card_type": "Visa"}}],
    "extendedFields": {"ship_first_name": "Ram", "ship_last_name": "Singh",
                       "checkin_date": "2010-06-04 21:08:12",
                       "checkout_date": "2010-06-05 21:08:12"},
    "customFields": {"paymentmode": "cash"},
    "lineItemsV2": [
        {"itemCode": "sku_234_2", "amount": 100.5, "rate": 100.5, "qty": 1.0,
         "extendedFields": {"MetalRate": "22.02", "GrossWeight": "10.50"}},
        {"itemCode": "sku_sdf_10", "amount": 100.5, "rate": 100.5, "qty": 1.0,
         "extendedFields": {"MetalRate": "22.02", "GrossWeight": "10.50"}}],
    "promotionEvaluationId": "60f5713c4c5cb92ab2da320e",
    "loyaltyPromotionIdentifiers": ["ABC-12345", "Diwali_Promotion_2020",
                                    "New_Year_Promotion_2020"],
    "appliedPromotionIdentifiers": ["eyJwcm9tb3Rpb25JZCI6IjYxMmU1YzVlNDEzM2I1NmFiZTBmMDczZSJ9"],
}


async def _add(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    # _transaction.md, "Add Transaction", Sample Request: `source` in lower case, an empty
    # `accountId`, as the example's URL has them.
    return await client.post(f"/v2/transactions?source=instore&identifierValue={MOBILE}"
                             "&identifierName=mobile&accountId=", headers=headers,
                             json=ADD_TRANSACTION)


async def test_add_transaction_example(client: httpx.AsyncClient, services: Services,
                                       org: Any) -> None:
    await _setup(client, services, org)
    r = await _add(client, headers=till_auth(org))
    assert r.status_code == 200, r.text
    body = r.json()
    # Sample Response: createdId, warnings, errors, sideEffects (customerInfo is not returned:
    # docs/compat/loyalty.md, "Transactions").
    assert set(body) == {"createdId", "warnings", "errors", "sideEffects"}
    assert isinstance(body["createdId"], int)
    assert body["warnings"] == [] and body["errors"] == []
    [points] = body["sideEffects"]
    assert points["entityType"] == "USER" and points["type"] == "points"
    assert isinstance(points["rawAwardedPoints"], float) and points["rawAwardedPoints"] == 20.0
    assert type(points["awardedPoints"]) is int and points["awardedPoints"] == 20
    assert points["programId"] == 7  # Patron's addition


async def test_get_transaction_example(client: httpx.AsyncClient, services: Services,
                                       org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    created = (await _add(client, headers)).json()["createdId"]
    # _transaction.md, "Get Transaction Details", Sample Request.
    r = await client.get(f"/v2/transactions/{created}?type=REGULAR", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == created and body["customerId"] == customer_id
    assert body["type"] == "REGULAR" and body["warnings"] == []
    assert body["outlierStatus"] == "NORMAL"
    assert isinstance(body["autoUpdateTime"], str)
    assert body["extendedFields"] == ADD_TRANSACTION["extendedFields"]
    # Sample Response: `attribution` with the till as a full object, `modifiedBy` `{}`.
    attribution = body["attribution"]
    assert set(attribution) == {"createDate", "createdBy", "modifiedBy", "modifiedDate"}
    assert attribution["createDate"] == attribution["modifiedDate"] == body["autoUpdateTime"]
    assert attribution["modifiedBy"] == {}
    till = attribution["createdBy"]
    assert {"id", "code", "description", "name", "type", "adminType", "isActive", "isOuEnabled",
            "timeZoneId", "currencyId", "languageId"} <= set(till)
    assert till["code"] == org.till_code and till["type"] == "TILL"
    assert isinstance(till["id"], int) and till["isActive"] is True
    assert till["isOuEnabled"] is False and isinstance(till["timeZoneId"], int)
    bill = body["billDetails"]
    assert bill["billingStore"] == till
    assert bill["amount"] == 200.0 and bill["discount"] == 10.0 and bill["grossAmount"] == 110.0
    assert all(isinstance(bill[k], float) for k in ("amount", "discount", "grossAmount"))
    assert bill["billNumber"] == "num-1234" and bill["note"] == "This is test"
    assert isinstance(bill["billingTime"], str) and bill["invalidBill"] is False
    # `returnDetails.canceled` in `billDetails` and at the top, as the example has both.
    assert bill["returnDetails"]["canceled"] is False
    assert body["returnDetails"]["canceled"] is False
    first = body["lineItems"][0]["details"]
    assert {"amount": 100.5, "description": "", "discount": 0.0, "itemCode": "sku_234_2",
            "qty": 1.0, "rate": 100.5, "value": 0.0, "returnable": True,
            "returnableDays": -1}.items() <= first.items()
    assert [li["details"]["itemCode"] for li in body["lineItems"]] == ["sku_234_2", "sku_sdf_10"]


# _transaction.md, "Add or Return Transaction (Bulk)", Sample POST Request (of Add
# Transaction): its two elements, the first by `id`, with the first three of its line items.
def _bulk_add(customer_id: int) -> list[dict[str, Any]]:
    line = {"amount": 100.5, "rate": 100.5, "qty": 1,
            "extendedFields": {"MetalRate": "22.02", "GrossWeight": "10.50"}}
    return [
        {"identifierType": "id", "identifierValue": str(customer_id), "source": "INSTORE",
         "accountId": "", "type": "REGULAR", "billNumber": "num-668288857749",
         "billingDate": "2025-12-28T10:18:01.534Z", "discount": "10.0", "billAmount": "4800.0",
         "note": "this is test", "grossAmount": "110", "deliveryStatus": "SHIPPED",
         "paymentModes": [{"mode": "CardPayment", "value": "5100.0", "notes": "SPay",
                           "attributes": {"card_type": "Visa"}}],
         "redemptions": {"pointsRedemptions": [123453, 345673],
                         "couponRedemptions": [727272, 237878]},
         "extendedFields": {"ship_first_name": "Sam", "ship_last_name": "Sundar"},
         "customFields": {"booking_ota": "Website", "trans_cf_a": "abc"},
         "lineItemsV2": [
             {"itemCode": "sku_486741_2", "description": "sample description", "discount": 0,
              **line},
             {"itemCode": "sku_486741_2", "description": "sample description", "discount": 0,
              **line},
             {"itemCode": "sku_486741_3", **line,
              "customFields": {"cashierid": "jim2345", "city": "Bangalore"}}]},
        {"identifierType": "mobile", "identifierValue": MOBILE, "source": "INSTORE",
         "accountId": "", "type": "REGULAR", "billNumber": "num-668288857765", "discount": "10",
         "billAmount": "200", "note": "this is test", "grossAmount": "110",
         "deliveryStatus": "SHIPPED",
         "paymentModes": [{"attributes": {"BankNameAPI": "value_6555444"},
                           "notes": "notes_6555444", "mode": "CHECKAPI", "value": "500"}],
         "extendedFields": {"ship_first_name": "22.02", "ship_last_name": "10.50"},
         "customFields": {"trans_cf_a": "abc"},
         "lineItemsV2": [{"itemCode": "sku_486741_2", **line}],
         "loyaltyPromotionIdentifiers": ["ABC-12345"],
         "promotionEvaluationId": "60f5713c4c5cb92ab2da320e"},
    ]


async def test_bulk_add_and_return_examples(client: httpx.AsyncClient, services: Services,
                                            org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    sent = _bulk_add(customer_id)
    r = await client.post("/v2/transactions/bulk", headers=headers, json=sent)
    assert r.status_code == 200, r.text
    body = r.json()
    # Sample Response: {response: [{entityId, result, errors, warnings}], totalCount,
    # failureCount}.
    assert set(body) == {"response", "totalCount", "failureCount"}
    assert body["totalCount"] == 2 and body["failureCount"] == 0
    for element, asked in zip(body["response"], sent, strict=True):
        assert set(element) == {"entityId", "result", "errors", "warnings"}
        assert isinstance(element["entityId"], int)
        assert element["errors"] == [] and element["warnings"] == []
        result = element["result"]
        assert result["billNumber"] == asked["billNumber"]
        assert result["identifierType"] == asked["identifierType"]
        # The example sends its amounts as text and answers them as numbers
        # (`"billAmount": 4808`, `"grossAmount": 110.0`, `"discount": 0`).
        assert all(_number(result[k]) for k in ("billAmount", "discount", "grossAmount"))
        [points] = result["sideEffects"]
        assert points["entityType"] == "USER" and points["type"] == "points"
        assert isinstance(points["rawAwardedPoints"], float)
        assert type(points["awardedPoints"]) is int
    first = body["response"][0]["result"]
    assert (first["billAmount"], first["discount"], first["grossAmount"]) == (4800.0, 10.0, 110.0)
    assert body["response"][0]["result"]["sideEffects"][0]["awardedPoints"] == 480

    # _transaction.md, same section, Sample POST Request (Return Transaction): a LINE_ITEM
    # return of the first bill (the example's `id` value, a mobile number, is the customer's id
    # here).
    r = await client.post("/v2/transactions/bulk", headers=headers, json=[{
        "identifierType": "id", "identifierValue": str(customer_id), "source": "INSTORE",
        "type": "RETURN", "returnType": "LINE_ITEM", "billNumber": "num-668288857749",
        "billingDate": "2025-12-28T10:18:01.534Z", "discount": "10", "billAmount": "210",
        "paymentModes": [{"attributes": {"CASH": "200"}}],
        "redemptions": {"pointsRedemptions": [123453, 345673],
                        "couponRedemptions": [727272, 237878]},
        "extendedFields": {"ship_first_name": "22.02", "ship_last_name": "10.50"},
        "customFields": {"trans_cf_a": "abc"},
        "lineItemsV2": [
            {"itemCode": "sku_486741_2", "description": "ribon box", "amount": 50, "rate": 100,
             "qty": 1, "value": 100, "discount": 50},
            {"itemCode": "sku_486741_2", "description": "Lower", "amount": 100, "rate": 100,
             "qty": 1, "value": 100, "discount": 0},
            {"itemCode": "sku_486741_3", "description": "Upper T-shirt", "amount": 60,
             "rate": 100, "qty": 1, "value": 100, "discount": 40}]}])
    assert r.status_code == 200, r.text
    [element] = r.json()["response"]
    assert element["errors"] == [] and isinstance(element["entityId"], int)
    assert element["result"]["billAmount"] == 210.0
    [returned] = element["result"]["sideEffects"]
    assert returned == {"entityType": "USER", "returnedPoints": 21.0, "type": "points",
                        "programId": 7}
    got = await client.get(f"/v2/transactions/{element['entityId']}?type=RETURN",
                           headers=headers)
    assert got.status_code == 200, got.text
    assert got.json()["billDetails"]["amount"] == 210.0
    assert got.json()["parentBillNumber"] == "num-668288857749"
    bill = (await client.get(f"/v2/transactions/{body['response'][0]['entityId']}",
                             headers=headers)).json()
    assert bill["returnDetails"]["canceled"] is False
    assert bill["returnDetails"]["returnedAmount"] == 210.0


async def test_reverse_redeemed_points_example(client: httpx.AsyncClient, services: Services,
                                               org: Any) -> None:
    customer_id, headers = await _setup(client, services, org)
    assert (await _add(client, headers)).status_code == 200  # 20 points
    r = await client.post("/v1.1/points/redeem?format=json", headers=headers, json={
        "root": {"redeem": [{"points_redeemed": 20, "customer": {"mobile": MOBILE},
                             "transaction_number": "num-1234"}]}})
    assert r.status_code == 200, r.text
    redemption_id = r.json()["response"]["responses"]["points"]["redemption_id"]
    # _points.md, "Reverse Redeemed Points", Sample POST Request (Patron's redemption ids are
    # numbers, sent here as text as the example sends its id).
    r = await client.post("/v2/points/reverse", headers=headers, json={
        "redemptionId": redemption_id, "pointsToBeReversed": 10,
        "identifier": {"type": "mobile", "value": MOBILE}})
    assert r.status_code == 200, r.text
    # Sample Response, but for `reversalId`, which Patron does not have (docs/compat/loyalty.md).
    assert r.json() == {"redemptionId": redemption_id, "pointsToBeReversed": 10.0,
                        "orgId": org.org_id,
                        "identifier": {"type": "mobile", "value": MOBILE},
                        "customerId": customer_id, "pointsReversed": 10.0, "warnings": []}
    assert isinstance(r.json()["pointsReversed"], float)


# _customer.md, "Register Customer", Sample POST Request (the card identifier is left out: its
# series 19 does not exist here).
REGISTER = {
    "loyaltyInfo": {"loyaltyType": "loyalty"}, "associatedWith": "bukl.till",
    "profiles": [{
        "firstName": "Tom", "lastName": "Sawyer",
        "identifiers": [{"type": "mobile", "value": "919010000022"},
                        {"type": "cuid", "value": "cuid_91901000002"},
                        {"type": "unionId", "value": "unionId_91901000002"}],
        "commChannels": [
            {"type": "mobilePush", "meta": {"lastViewedDate": "2019-10-10T22:04:38+05:30",
                                            "residence": False, "office": False},
             "verified": "true", "primary": "true", "value": "abc123456"},
            {"type": "mobile", "value": "91901000001", "primary": True, "verified": True,
             "meta": {"lastViewedDate": "", "residence": True, "office": False}}],
        "source": "MOBILE_APP", "fields": {"employee": "true", "dateofbirth": "22-10-2000"},
        "accountId": "400"}],
    "extendedFields": {"gender": "Male", "city": "Bangalore"},
    "loyaltyProgramEnrollments": [{"programId": 1016, "tierNumber": 234, "loyaltyPoints": 75,
                                   "tierExpiryDate": "2022-02-11T16:36:17+05:30",
                                   "pointsExpiryDate": "2022-02-11T16:36:17+05:30"}],
}


async def test_register_and_update_customer_examples(client: httpx.AsyncClient,
                                                     org: Any) -> None:
    headers = till_auth(org)
    # Sample Request: `?source=MOBILE_APP&accountId=400`. Patron keeps profiles in INSTORE,
    # MARTJACK, WECHAT and LINE only, and refuses the rest (docs/compat/loyalty.md).
    r = await client.post("/v2/customers?source=MOBILE_APP&accountId=400", headers=headers,
                          json=REGISTER)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8003
    # The same body in INSTORE, associated with this organisation's till.
    body = {**REGISTER, "associatedWith": org.till_code,
            "profiles": [{**REGISTER["profiles"][0], "source": "INSTORE", "accountId": ""}]}
    r = await client.post("/v2/customers?source=INSTORE", headers=headers, json=body)
    assert r.status_code == 200, r.text
    # Sample Response: createdId, warnings, sideEffects (`loyaltyProgramEnrollments` is ignored:
    # no points are awarded).
    assert set(r.json()) == {"createdId", "warnings", "sideEffects"}
    customer_id = r.json()["createdId"]
    assert isinstance(customer_id, int) and r.json()["warnings"] == []
    assert r.json()["sideEffects"] == []
    got = (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                            headers=headers)).json()
    channels = {c["type"]: c for c in got["profiles"][0]["commChannels"]}
    # `"verified": "true"` and `"primary": "true"` are read as the booleans they spell.
    assert channels["mobilePush"]["verified"] is True and channels["mobilePush"]["primary"] is True
    assert got["associatedWith"] == org.till_code
    assert got["extendedFields"] == {"gender": "Male", "city": "Bangalore"}

    # _customer.md, "Update Customer Details (using userId)", Sample PUT request, in INSTORE
    # (the example's WECHAT account 1234 is another profile); the mobile is sent as a number,
    # as the example sends it.
    r = await client.put(f"/v2/customers/{customer_id}?source=INSTORE", headers=headers, json={
        "profiles": [{
            "firstName": "Tom", "lastName": "Sawyer",
            "fields": {"gender": "Male", "city": "Bangalore"},
            "identifiers": [{"type": "mobile", "value": 919111111111},
                            {"type": "email", "value": "tom.sawyer@example.com"},
                            {"type": "wechat", "value": "wc_2"}],
            "commChannels": [
                {"type": "email", "value": "tom.sawyer@example.com", "primary": "true",
                 "verified": "false", "meta": {"residence": True}},
                {"type": "wechat", "value": "wc_2", "primary": "true", "verified": "true",
                 "meta": {"residence": True}}],
            "source": "INSTORE"}],
        "loyaltyInfo": {"loyaltyType": "loyalty"},
        "extendedFields": {"gender": "MALE", "city": "Bangalore"}})
    assert r.status_code == 200, r.text
    # Sample Response: createdId (the customer's id), warnings, sideEffects.
    assert r.json() == {"createdId": customer_id, "warnings": [], "sideEffects": []}
    got = (await client.get(f"/v2/customers/{customer_id}?source=INSTORE",
                            headers=headers)).json()
    assert {"type": "mobile", "value": "919111111111"} in got["profiles"][0]["identifiers"]
    channels = {c["type"]: c for c in got["profiles"][0]["commChannels"]}
    assert channels["email"]["verified"] is False and channels["wechat"]["verified"] is True
    assert got["extendedFields"] == {"gender": "MALE", "city": "Bangalore"}
