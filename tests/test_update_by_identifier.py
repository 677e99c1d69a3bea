"""`PUT /v2/customers/lookup`: Capillary's Update Customer Details by identifier, the customer
found as `GET /v2/customers/lookup` finds it and updated as `PUT /v2/customers/{id}` updates it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import add_customer, till_auth

TOM = {
    "firstName": "Tom", "lastName": "Sawyer",
    "identifiers": [{"type": "mobile", "value": "+91 99860-00581"},
                    {"type": "email", "value": "Tom@Example.com"},
                    {"type": "externalId", "value": "EXT-TOM"}],
}
BY_MOBILE = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": "919986000581"}
NOT_FOUND = {"errors": [{"status": False, "code": 8015,
                         "message": "Customer not found for the given identifiers"}],
             "warnings": []}


def _change(last_name: str) -> dict[str, Any]:
    return {"profiles": [{"source": "INSTORE", "lastName": last_name,
                          "fields": {"city": last_name}}],
            "extendedFields": {"gender": "Male"}}


async def _details(client: httpx.AsyncClient, headers: dict[str, str],
                   customer_id: int) -> dict[str, Any]:
    r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_updates_the_customer_an_identifier_names(client: httpx.AsyncClient,
                                                        loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    for name, value, last_name in (("mobile", "+91 99860-00581", "ByMobile"),
                                   ("email", "TOM@example.com", "ByEmail"),
                                   ("externalId", "EXT-TOM", "ByExternalId"),
                                   ("id", str(customer_id), "ById")):
        r = await client.put("/v2/customers/lookup", headers=loyalty, json=_change(last_name),
                             params={"source": "INSTORE", "identifierName": name,
                                     "identifierValue": value})
        assert r.status_code == 200, (name, r.text)
        assert r.json() == {"createdId": customer_id, "warnings": [], "sideEffects": []}
        profile = (await _details(client, loyalty, customer_id))["profiles"][0]
        assert (profile["firstName"], profile["lastName"]) == ("Tom", last_name)
        assert profile["fields"]["city"] == last_name
    # The docs' request: WECHAT with its accountId, a profile added in that source.
    r = await client.put("/v2/customers/lookup", headers=loyalty, params={
        **BY_MOBILE, "source": "WECHAT", "accountId": "WeChat1234"}, json={
        "profiles": [{"firstName": "Tom", "lastName": "Sawyer", "source": "WECHAT",
                      "accountId": "WeChat1234",
                      "identifiers": [{"type": "wechat", "value": "wc_2"}],
                      "commChannels": [{"type": "wechat", "value": "wc_2", "primary": "true",
                                        "verified": "true", "meta": {"residence": True}}]}],
        "loyaltyInfo": {"loyaltyType": "loyalty"},
        "extendedFields": {"gender": "MALE", "city": "Bangalore"}})
    assert r.status_code == 200 and r.json()["createdId"] == customer_id, r.text
    r = await client.get("/v2/customers/lookup", headers=loyalty, params={
        "source": "WECHAT", "accountId": "WeChat1234", "identifierName": "wechat",
        "identifierValue": "wc_2"})
    assert r.json() == {"entity": customer_id, "warnings": []}


async def test_updates_the_holder_of_a_card(client: httpx.AsyncClient,
                                            loyalty: dict[str, str]) -> None:
    r = await client.post("/v2/card/series", headers=loyalty, json={
        "code": "mtest", "name": "series", "type": "DIGITAL", "expiryDays": 1000,
        "maxActiveCardsPerCustomer": 2})
    assert r.status_code == 200, r.text
    customer_id = await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": "919900000011"},
        {"type": "cardnumber", "value": "mtest00000000067003",
         "seriesId": int(r.json()["entity"]), "statusLabel": "ACTIVE"}])
    r = await client.put("/v2/customers/lookup", headers=loyalty, json=_change("Carded"),
                         params={"source": "INSTORE", "identifierName": "cardnumber",
                                 "identifierValue": "mtest00000000067003"})
    assert r.status_code == 200 and r.json()["createdId"] == customer_id, r.text
    assert (await _details(client, loyalty, customer_id))["profiles"][0]["lastName"] == "Carded"


async def test_answers_as_the_update_by_id_does(client: httpx.AsyncClient,
                                                loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    other = await add_customer(client, loyalty, identifiers=[
        {"type": "email", "value": "huck@example.com"}])
    by_id = f"/v2/customers/{customer_id}"
    bodies: list[Any] = [
        _change("Finn"),
        # a warning (an invalid secondary identifier is dropped)
        {"profiles": [{"source": "INSTORE", "identifiers": [
            {"type": "externalId", "value": "EXT-2"},
            {"type": "email", "value": "not-an-email"}]}]},
        # errors: another customer's identifier, loyalty to non-loyalty, a bad source, a bad
        # body
        {"profiles": [{"source": "INSTORE",
                       "identifiers": [{"type": "email", "value": "huck@example.com"}]}]},
        {"profiles": [{"source": "INSTORE"}], "loyaltyInfo": {"loyaltyType": "non_loyalty"}},
        {"profiles": [{"source": "MYSPACE"}]},
        {"profiles": "nope"},
    ]
    answers: list[tuple[int, list[int]]] = []
    for body in bodies:
        first = await client.put(by_id, headers=loyalty, json=body)
        before = await _details(client, loyalty, customer_id)
        second = await client.put("/v2/customers/lookup", headers=loyalty, params=BY_MOBILE,
                                  json=body)
        assert (second.status_code, second.json()) == (first.status_code, first.json()), body
        answers.append((first.status_code, [e["code"] for e in first.json().get("errors", [])
                                            + first.json()["warnings"]]))
        after = await _details(client, loyalty, customer_id)
        assert after == before  # the same change again changes nothing
    assert answers == [(200, []), (200, [8055]), (400, [8007]), (400, [8018]), (400, [8003]),
                       (400, [400])]
    assert (await _details(client, loyalty, other))["profiles"][0]["identifiers"] == [
        {"type": "email", "value": "huck@example.com"}]


async def test_an_identifier_nobody_holds_is_not_found(client: httpx.AsyncClient,
                                                       loyalty: dict[str, str],
                                                       other_org: Any) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    theirs = await add_customer(client, till_auth(other_org), identifiers=[
        {"type": "mobile", "value": "919811112222"}])
    for params in ({**BY_MOBILE, "identifierValue": "919000000000"},
                   {**BY_MOBILE, "identifierName": "email", "identifierValue": "not-an-email"},
                   # another organisation's customer, by identifier and by id
                   {**BY_MOBILE, "identifierValue": "919811112222"},
                   {**BY_MOBILE, "identifierName": "id", "identifierValue": str(theirs)},
                   # a source with accounts and no accountId, as the look-ups answer it
                   {**BY_MOBILE, "source": "WECHAT"}):
        looked = await client.get("/v2/customers/lookup", headers=loyalty, params=params)
        r = await client.put("/v2/customers/lookup", headers=loyalty, params=params,
                             json=_change("Nobody"))
        assert (r.status_code, r.json()) == (404, NOT_FOUND), params
        assert (looked.status_code, looked.json()) == (404, NOT_FOUND), params
    assert (await _details(client, loyalty, customer_id))["profiles"][0]["lastName"] == "Sawyer"
    theirs_now = await _details(client, till_auth(other_org), theirs)
    assert theirs_now["profiles"][0]["lastName"] != "Nobody"
    assert theirs_now["extendedFields"] == {}


async def test_bad_query_gives_the_look_ups_errors(client: httpx.AsyncClient,
                                                   loyalty: dict[str, str]) -> None:
    await add_customer(client, loyalty, **TOM)
    for params, code in (({"source": "INSTORE"}, 11013),
                         ({k: v for k, v in BY_MOBILE.items() if k != "source"}, 11013),
                         ({**BY_MOBILE, "identifierValue": ""}, 11013),
                         ({**BY_MOBILE, "source": "MYSPACE"}, 8003),
                         ({**BY_MOBILE, "identifierName": "shoeSize"}, 8013),
                         ({**BY_MOBILE, "identifierName": "email,mobile"}, 8013)):
        looked = await client.get("/v2/customers/lookup", headers=loyalty, params=params)
        r = await client.put("/v2/customers/lookup", headers=loyalty, params=params,
                             json=_change("Bad"))
        assert r.json()["errors"][0]["code"] == code, (params, r.text)
        assert (r.status_code, r.json()) == (looked.status_code, looked.json()), params
    # The sources the look-up takes, any case.
    for source in ("instore", "ALL", "FACEBOOK", "LINE"):
        r = await client.put("/v2/customers/lookup", headers=loyalty, json=_change(source),
                             params={**BY_MOBILE, "source": source, "accountId": "a1"})
        assert r.status_code == 200, (source, r.text)


async def test_an_erased_customer_answers_as_the_update_by_id(
        client: httpx.AsyncClient, loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    r = await client.post("/v2/requests", headers=loyalty, json={
        "type": "CUSTOMER", "baseType": "DELETE",
        "customerIdentificationInfo": {"source": "INSTORE", "identifierType": "mobile",
                                       "identifierValue": "919986000581"}})
    r = await client.put("/v2/requests", headers=loyalty, json=[
        {"type": "CUSTOMER", "baseType": "DELETE", "id": str(r.json()["createdId"]),
         "status": "APPROVED"}])
    assert r.json()["failureCount"] == 0, r.text
    by_id = await client.put(f"/v2/customers/{customer_id}", headers=loyalty,
                             json=_change("Ghost"))
    assert by_id.status_code == 404
    assert by_id.json()["errors"][0]["message"] == "Customer is deleted after PII delete request"
    r = await client.put("/v2/customers/lookup", headers=loyalty, json=_change("Ghost"),
                         params={**BY_MOBILE, "identifierName": "id",
                                 "identifierValue": str(customer_id)})
    assert (r.status_code, r.json()) == (by_id.status_code, by_id.json())
    # Its identifiers were released: by them it is not found, as the look-ups answer.
    r = await client.put("/v2/customers/lookup", headers=loyalty, params=BY_MOBILE,
                         json=_change("Ghost"))
    assert (r.status_code, r.json()) == (404, NOT_FOUND)


async def test_an_idempotency_key_carries_it_out_once(client: httpx.AsyncClient,
                                                      loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, **TOM)
    headers = {**loyalty, "Idempotency-Key": "update-tom-1"}
    first = await client.put("/v2/customers/lookup", headers=headers, params=BY_MOBILE,
                             json=_change("Once"))
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = await client.put("/v2/customers/lookup", headers=headers, params=BY_MOBILE,
                             json=_change("Once"))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() == {"createdId": customer_id, "warnings": [],
                                            "sideEffects": []}


async def test_the_openapi_document_lists_it(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v2/customers/lookup"]["put"]
    assert {p["name"] for p in operation["parameters"]} == {
        "source", "accountId", "identifierName", "identifierValue", "Idempotency-Key"}
    assert operation["requestBody"] == \
        document["paths"]["/v2/customers/{customer_id}"]["put"]["requestBody"]
