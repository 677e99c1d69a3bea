"""Customer documents (customers/documents.py): a customer's default details are kept as rendered
after a read, served as they are by the next one, and never outlive a change to anything they
show, whichever write path makes it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from patron.customers import repository as repo
from patron.customers.documents import CustomerDocuments
from patron.db.statement import sql
from patron.faces.loyalty.routes import RENDERER
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import add_customer, till_auth

KEPT = sql("SELECT version, sources, renderer FROM customer_documents "
           "WHERE org_id = $1 AND customer_id = $2")
VERSION = sql("SELECT version FROM customers WHERE org_id = $1 AND id = $2")


async def _read(client: httpx.AsyncClient, services: Services, headers: dict[str, str],
                customer_id: int, query: str = "source=INSTORE") -> httpx.Response:
    """The read, then whatever it offered stored."""
    r = await client.get(f"/v2/customers/{customer_id}?{query}", headers=headers)
    await services.documents.store_waiting()
    return r


async def _rendered(client: httpx.AsyncClient, services: Services, headers: dict[str, str],
                    customer_id: int, query: str = "source=INSTORE") -> httpx.Response:
    """The same read rendered from the customer, past any document."""
    services.documents.enabled = False
    try:
        return await client.get(f"/v2/customers/{customer_id}?{query}", headers=headers)
    finally:
        services.documents.enabled = True


async def _kept(services: Services, org_id: int, customer_id: int) -> Any:
    return await services.db.fetchrow(KEPT, org_id, customer_id)


async def test_a_read_keeps_the_answer_and_the_next_sends_it(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, firstName="Ann", identifiers=[
        {"type": "mobile", "value": "919900000101"}])
    assert await _kept(services, org.org_id, customer_id) is None
    first = await _read(client, services, loyalty, customer_id)
    kept = await _kept(services, org.org_id, customer_id)
    assert kept is not None and kept["renderer"] == RENDERER and kept["sources"] == "INSTORE"
    assert kept["version"] == await services.db.fetchval(VERSION, org.org_id, customer_id)
    second = await _read(client, services, loyalty, customer_id)
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    # From the document, the source is checked as the rendered read checks it.
    for query in ("source=WECHAT", "source=ALL"):
        from_document = await _read(client, services, loyalty, customer_id, query)
        rendered = await _rendered(client, services, loyalty, customer_id, query)
        assert (from_document.status_code, from_document.content) == (
            rendered.status_code, rendered.content), query
    # A query of more than the default details and the engine's parts is rendered every time,
    # and keeps nothing of its own (tests/test_loyalty_engine.py has the engine's parts).
    await services.db.execute(sql("DELETE FROM customer_documents WHERE org_id = $1"),
                              org.org_id)
    for query in ("source=INSTORE&ndncStatus=true", "source=INSTORE&optinStatus=true",
                  "source=INSTORE&accountId=", "source=INSTORE&embed=subscriptions",
                  "source=INSTORE&embed=points,segments",
                  "source=INSTORE&includedFraudDetails=true",
                  "source=INSTORE&embed=ignoreCardDetails", "source=INSTORE&embed=userGroup",
                  "source=INSTORE&includedOnlyCurrentProfile=true", "source=INSTORE&embed=x"):
        r = await _read(client, services, loyalty, customer_id, query)
        assert r.status_code == 200, (query, r.text)
        assert await _kept(services, org.org_id, customer_id) is None, query


async def test_a_document_of_other_code_is_not_sent(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, firstName="Ann", identifiers=[
        {"type": "mobile", "value": "919900000102"}])
    await _read(client, services, loyalty, customer_id)
    await services.db.execute(sql(
        "UPDATE customer_documents SET renderer = 'older', body = $3 WHERE org_id = $1 "
        "AND customer_id = $2"), org.org_id, customer_id, b'{"stale": true}')
    r = await _read(client, services, loyalty, customer_id)
    assert r.json()["id"] == customer_id
    assert (await _kept(services, org.org_id, customer_id))["renderer"] == RENDERER


async def test_every_change_to_what_the_details_show_drops_the_document(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        loyalty: dict[str, str]) -> None:
    h = loyalty
    r = await client.post("/v2/card/series", headers=h, json={
        "code": "docs", "name": "Docs series", "type": "DIGITAL", "expiryDays": 100,
        "maxActiveCardsPerCustomer": 3})
    assert r.status_code == 200, r.text
    series_id = int(r.json()["entity"])
    customer_id = await add_customer(client, h, firstName="Ann", lastName="Lee", identifiers=[
        {"type": "mobile", "value": "919900000103"}])

    async def changed(what: str, before: bytes) -> bytes:
        """The document is gone, and the next read shows the change, as rendered."""
        assert await _kept(services, org.org_id, customer_id) is None, what
        now = await _read(client, services, h, customer_id)
        assert now.status_code == 200, (what, now.text)
        assert now.content != before, what
        assert now.content == (await _rendered(client, services, h, customer_id)).content, what
        assert await _kept(services, org.org_id, customer_id) is not None, what
        return now.content

    body = (await _read(client, services, h, customer_id)).content
    r = await client.put(f"/v2/customers/{customer_id}", headers=h, json={
        "profiles": [{"source": "INSTORE", "lastName": "Moore"}]})
    assert r.status_code == 200, r.text
    body = await changed("a profile's name", body)
    r = await client.put(f"/v2/customers/{customer_id}", headers=h, json={
        "extendedFields": {"city": "Pune"}})
    assert r.status_code == 200, r.text
    body = await changed("the customer's extended fields", body)
    r = await client.post(f"/v2/customers/{customer_id}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "email", "value": "ann@x.com"}]})
    assert r.status_code == 200, r.text
    body = await changed("an identifier", body)
    r = await client.post("/v2/customers", headers=h, json={"profiles": [{
        "source": "WECHAT", "accountId": "WX1", "firstName": "Ann",
        "identifiers": [{"type": "mobile", "value": "919900000103"},
                        {"type": "wechat", "value": "wx-ann"}]}]})
    assert r.status_code == 200 and r.json()["createdId"] == customer_id, r.text
    body = await changed("a profile in another source", body)
    assert (await _kept(services, org.org_id, customer_id))["sources"] == "INSTORE WECHAT"
    r = await client.post(f"/v2/customers/{customer_id}/changeIdentifier?source=INSTORE",
                          headers=h, json={"add": [{"type": "cardnumber", "value": "docs0001",
                                                    "seriesId": series_id}]})
    assert r.status_code == 200, r.text
    body = await changed("a card issued", body)
    r = await client.put(f"/v2/card/series/{series_id}", headers=h, json={"expiryDays": 200})
    assert r.status_code == 200, r.text
    body = await changed("the card's series", body)
    r = await client.post("/v2/genericStatus/card/labels", headers=h,
                          json=[{"status": "SUSPENDED", "label": "HELD"}])
    assert r.status_code == 200, r.text
    r = await client.put("/v2/card", headers=h, json={
        "cardNumber": "docs0001", "seriesId": series_id, "statusLabel": "HELD"})
    assert r.status_code == 200, r.text
    body = await changed("the card's status", body)
    r = await client.post("/v2/transactions", headers=h, params={
        "source": "INSTORE", "identifierName": "mobile", "identifierValue": "919900000103"},
        json={"type": "REGULAR", "billNumber": "DOC-1", "billAmount": 250})
    assert r.status_code in (200, 201), r.text
    body = await changed("a bill (lifetimePurchases)", body)

    # An erasure: nothing of the customer is left in the documents.
    r = await client.post("/v2/requests", headers=h, json={
        "type": "CUSTOMER", "baseType": "DELETE", "customerIdentificationInfo": {
            "source": "INSTORE", "identifierType": "id", "identifierValue": str(customer_id)}})
    assert r.status_code == 200, r.text
    r = await client.put("/v2/requests", headers=h, json=[
        {"type": "CUSTOMER", "baseType": "DELETE", "id": str(r.json()["createdId"]),
         "status": "APPROVED"}])
    assert r.status_code == 200, r.text
    assert await _kept(services, org.org_id, customer_id) is None
    r = await _read(client, services, h, customer_id)
    assert "deleted after PII delete request" in r.text
    assert await _kept(services, org.org_id, customer_id) is None


async def test_an_answer_rendered_before_a_change_is_not_kept(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        loyalty: dict[str, str]) -> None:
    customer_id = await add_customer(client, loyalty, firstName="Ann", identifiers=[
        {"type": "mobile", "value": "919900000104"}])
    version = await services.db.fetchval(VERSION, org.org_id, customer_id)
    r = await client.put(f"/v2/customers/{customer_id}", headers=loyalty, json={
        "profiles": [{"source": "INSTORE", "lastName": "Later"}]})
    assert r.status_code == 200, r.text
    assert await services.db.fetchval(VERSION, org.org_id, customer_id) > version
    # An answer read at the earlier count, offered after the change: not stored.
    services.documents.keep(org.org_id, customer_id, version, RENDERER, "INSTORE", b"{}")
    await services.documents.store_waiting()
    assert await _kept(services, org.org_id, customer_id) is None


async def test_a_change_in_flight_wins_over_a_document_being_kept(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        loyalty: dict[str, str]) -> None:
    """PostgreSQL: a document offered while a change to its customer is uncommitted is not
    stored (the row is skipped), and one stored before the change is deleted by it."""
    if services.db.dialect != "postgresql":
        pytest.skip("SQLite's writes take turns: a change cannot be in flight")
    customer_id = await add_customer(client, loyalty, firstName="Ann", identifiers=[
        {"type": "mobile", "value": "919900000105"}])
    version = await services.db.fetchval(VERSION, org.org_id, customer_id)
    bump = sql("UPDATE profiles SET last_name = 'X' WHERE org_id = $1 AND customer_id = $2")
    other = CustomerDocuments(services.db)
    async with services.db.transaction() as tx:
        await tx.execute(bump, org.org_id, customer_id)
        other.keep(org.org_id, customer_id, version, RENDERER, "INSTORE", b"{}")
        await other.store_waiting()  # another connection: skips the locked row at once
    assert await _kept(services, org.org_id, customer_id) is None
    # Offered again at the count the change left: kept.
    version = await services.db.fetchval(VERSION, org.org_id, customer_id)
    other.keep(org.org_id, customer_id, version, RENDERER, "INSTORE", b"{}")
    await other.store_waiting()
    assert (await _kept(services, org.org_id, customer_id))["version"] == version
    await other.close()


async def test_reads_that_arrive_together_are_looked_up_together(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        other_org: OrgCredentials, loyalty: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL, reads waiting at once are looked up in one statement; each still gets its
    own customer's document, and never another organisation's customer."""
    ids = [await add_customer(client, loyalty, firstName=f"Ann{n}", identifiers=[
        {"type": "mobile", "value": f"91990000011{n}"}]) for n in range(4)]
    for customer_id in ids[:3]:  # the fourth has no document: it is rendered
        await _read(client, services, loyalty, customer_id)
    expected = {i: (await _rendered(client, services, loyalty, i)).content for i in ids}
    looked_up: list[int] = []
    fetch = services.db.fetch

    async def counted(stmt: Any, *args: Any) -> Any:
        if stmt is repo.GET_DOCUMENTS:
            looked_up.append(len(args[1]))
        return await fetch(stmt, *args)

    monkeypatch.setattr(services.db, "fetch", counted)
    stranger = till_auth(other_org)
    asks = [(loyalty, i) for i in ids * 3] + [(stranger, ids[0]), (stranger, ids[1])]
    answers = await asyncio.gather(*(client.get(f"/v2/customers/{i}?source=INSTORE",
                                                headers=h) for h, i in asks))
    for (headers, customer_id), r in zip(asks, answers, strict=True):
        if headers is stranger:
            assert r.status_code == 404, r.text
        else:
            assert (r.status_code, r.content) == (200, expected[customer_id])
    if services.db.dialect == "postgresql":
        assert max(looked_up) > 1, looked_up  # a statement read several customers
    else:  # SQLite reads without a round trip: each read looks up its own
        assert looked_up == []


async def test_a_failed_look_up_leaves_each_read_to_look_up_its_own(
        client: httpx.AsyncClient, services: Services, org: OrgCredentials,
        loyalty: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A look-up that fails leaves no read waiting: each looks its customer up alone (and would
    get its own error, such as PostgreSQL being unreachable)."""
    ids = [await add_customer(client, loyalty, firstName=f"Bo{n}", identifiers=[
        {"type": "mobile", "value": f"91990000012{n}"}]) for n in range(3)]
    for customer_id in ids:
        await _read(client, services, loyalty, customer_id)
    expected = [(await _rendered(client, services, loyalty, i)).content for i in ids]
    fetch = services.db.fetch

    async def failing(stmt: Any, *args: Any) -> Any:
        if stmt is repo.GET_DOCUMENTS:
            raise ConnectionResetError("the look-up's connection went away")
        return await fetch(stmt, *args)

    alone: list[int] = []
    fetchrow = services.db.fetchrow

    async def counted(stmt: Any, *args: Any) -> Any:
        if stmt is repo.GET_DOCUMENT:
            alone.append(args[1])
        return await fetchrow(stmt, *args)

    monkeypatch.setattr(services.db, "fetch", failing)
    monkeypatch.setattr(services.db, "fetchrow", counted)
    answers = await asyncio.gather(*(client.get(f"/v2/customers/{i}?source=INSTORE",
                                                headers=loyalty) for i in ids))
    assert [(r.status_code, r.content) for r in answers] == [(200, e) for e in expected]
    assert sorted(alone) == sorted(ids)  # each from its document, looked up alone
