"""`Idempotency-Key` on writes (DESIGN.md): a write sent again with its key is answered as the
first time and not carried out twice; the same key with another request, or while the first is
still running, is refused in the face's envelope; a failed request gives its key back; keys are
the credential's own, kept for a day, and an erasure forgets every kept answer."""

from __future__ import annotations

import asyncio
import re
from contextlib import nullcontext as _nothing
from typing import Any

import httpx
import pytest

from patron.auth.service import Principal
from patron.clock import FixedClock
from patron.db.statement import sql
from patron.idempotency.service import ABANDONED_MS, KEEP_MS, Answer, fingerprint
from patron.jsonio import dumps
from patron.loyalty.programs import read_program_file
from patron.services import Services
from tests.conftest import add_customer, workspace_auth
from tests.test_events import _setup_webhook
from tests.test_loyalty_engine import PROGRAMS, _buy
from tests.test_workspace_face import assert_error, scoped_key

COUNT_KEPT = sql("SELECT count(*) FROM idempotency_keys WHERE org_id = $1 AND status > 2")


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def ann(n: int, **more: Any) -> dict[str, Any]:
    return {"externalId": f"ann-{n}", "firstName": "Ann", **more}


async def customers(client: httpx.AsyncClient, work: dict[str, str]) -> int:
    r = await client.get("/api/customers/count", headers=work)
    return int(r.json()["data"]["count"])


async def test_a_write_sent_again_is_answered_as_the_first_time(
        client: httpx.AsyncClient, org: Any) -> None:
    work = workspace_auth(org)
    first = await client.post("/api/customers", headers=keyed(work, "k-1"), json=ann(1))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/api/customers", headers=keyed(work, "k-1"), json=ann(1))
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert await customers(client, work) == 1
    # Without a key, or with another, the same request is another customer.
    for n, headers in ((2, work), (3, keyed(work, "k-2"))):
        r = await client.post("/api/customers", headers=headers, json=ann(n))
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert await customers(client, work) == 3


async def test_the_same_key_with_another_request_is_refused(
        client: httpx.AsyncClient, org: Any, loyalty: dict[str, str]) -> None:
    work = workspace_auth(org)
    r = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    assert r.status_code == 201
    made = r.json()["data"]["id"]
    assert_error(await client.post("/api/customers", headers=keyed(work, "k"), json=ann(2)),
                 409, "CONFLICT")
    assert_error(await client.patch(f"/api/customers/{made}", headers=keyed(work, "k"),
                                    json=ann(1)), 409, "CONFLICT")
    assert await customers(client, work) == 1
    # The loyalty face answers in Capillary's envelope (which has no 409).
    body = {"profiles": [{"firstName": "Cy", "identifiers": [
        {"type": "mobile", "value": "919811100001"}]}]}
    first = await client.post("/v2/customers", headers=keyed(loyalty, "L"), json=body)
    assert first.status_code == 200, first.text
    again = await client.post("/v2/customers", headers=keyed(loyalty, "L"), json=body)
    assert again.json()["createdId"] == first.json()["createdId"]
    body["profiles"][0]["firstName"] = "Di"
    r = await client.post("/v2/customers", headers=keyed(loyalty, "L"), json=body)
    assert r.status_code == 400 and r.json()["warnings"] == []
    assert "different request" in r.json()["errors"][0]["message"]


async def test_a_failed_request_gives_its_key_back(client: httpx.AsyncClient, org: Any) -> None:
    work = workspace_auth(org)
    assert_error(await client.post("/api/customers", headers=keyed(work, "k"),
                                   json=ann(1, email="not an e-mail")), 400, "VALIDATION_ERROR")
    r = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers


async def test_keys_are_the_credentials_own(client: httpx.AsyncClient, services: Services,
                                            org: Any, other_org: Any) -> None:
    work = workspace_auth(org)
    other_key = await scoped_key(services, org, "links:read links:create")
    # The same request with the same key from another credential is carried out (an update of
    # the customer with that external id: 200), not answered with the first one's answer (201).
    for headers, status in ((work, 201), (other_key, 200), (workspace_auth(other_org), 201)):
        r = await client.post("/api/customers", headers=keyed(headers, "same"), json=ann(1))
        assert r.status_code == status and "idempotent-replayed" not in r.headers, r.text
    assert await customers(client, work) == 1


async def test_a_key_in_flight_is_refused_until_it_is_abandoned(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock) -> None:
    work = workspace_auth(org)
    principal = await services.auth.api_key(org.workspace_key)
    assert isinstance(principal, Principal)
    key = f"{principal.credential_id}:k"
    # A request that claimed the key and has not finished (or whose process was killed).
    same = fingerprint("POST", "/api/customers", "", dumps(ann(1)))
    assert await services.idempotency.claim(org.org_id, key, same) is None
    r = await client.post("/api/customers", content=dumps(ann(1)), headers={
        **keyed(work, "k"), "Content-Type": "application/json"})
    assert_error(r, 409, "CONFLICT")
    assert "has not finished" in r.json()["error"]["message"]
    # Another request with that key is refused for that, whether or not the first has finished.
    r = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(2))
    assert "different request" in r.json()["error"]["message"]
    clock.advance(ABANDONED_MS + 1)
    r = await client.post("/api/customers", content=dumps(ann(1)), headers={
        **keyed(work, "k"), "Content-Type": "application/json"})
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


async def test_answers_are_kept_for_a_day(client: httpx.AsyncClient, services: Services,
                                          org: Any, clock: FixedClock) -> None:
    work = workspace_auth(org)
    first = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    clock.advance(KEEP_MS - 1)
    again = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    # A day on, the same request is carried out again (an update of the customer it made).
    clock.advance(2)
    r = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers, r.text
    # The scheduled jobs drop what is past keeping.
    r = await client.post("/api/customers", headers=keyed(work, "k2"), json=ann(2))
    assert r.status_code == 201
    assert await services.db.fetchval(COUNT_KEPT, org.org_id) == 2
    clock.advance(KEEP_MS + 1)
    await services.run_jobs(org.org_id)
    assert await services.db.fetchval(COUNT_KEPT, org.org_id) == 0


@pytest.mark.parametrize("key", [b"", b"x" * 256, "ключ".encode(), b"tab\there"])
async def test_a_key_that_cannot_be_one_is_refused(client: httpx.AsyncClient, org: Any,
                                                   key: bytes) -> None:
    work = workspace_auth(org)
    r = await client.post("/api/customers", headers={**work, "Idempotency-Key": key},
                          json=ann(1))
    assert_error(r, 400, "VALIDATION_ERROR")
    assert "Idempotency-Key" in r.json()["error"]["message"]
    assert await customers(client, work) == 0


async def test_the_openapi_document_declares_the_header_where_it_is_taken(
        client: httpx.AsyncClient, org: Any) -> None:
    """Every write that takes a key declares it (so generated clients can send it), with the
    keys `checked_key` takes; the writes that ignore one (token endpoints, the webhook whose
    answer holds a secret) and the reads do not."""
    document = (await client.get("/openapi.json")).json()
    declared = {(method.upper(), path): {p["name"]: p for p in op.get("parameters", ())}
                .get("Idempotency-Key")
                for path, ops in document["paths"].items() for method, op in ops.items()}
    taking = {route for route, header in declared.items() if header is not None}
    assert {("POST", "/v2/customers"), ("DELETE", "/api/customers/{customer_id}"),
            ("POST", "/patron/v1/records")} <= taking
    assert not {route for route in taking if route[0] == "GET"}
    assert not taking & {("POST", "/v2/events/webhook"), ("POST", "/v3/oauth/token/generate"),
                         ("POST", "/v1/oauth/token"), ("POST", "/v1/oauth/revoke")}
    schema = declared["POST", "/api/customers"]["schema"]  # type: ignore[index]
    assert not declared["POST", "/api/customers"]["required"]  # type: ignore[index]
    work = workspace_auth(org)
    for n, key in enumerate((" ", "~" * schema["maxLength"])):
        assert re.fullmatch(schema["pattern"], key)
        r = await client.post("/api/customers", headers=keyed(work, key), json=ann(n))
        assert r.status_code == 201, r.text
    for key in ("~" * (schema["maxLength"] + 1), "caf\u00e9", "tab\t"):
        assert not (re.fullmatch(schema["pattern"], key) and len(key) <= schema["maxLength"])


async def test_an_xml_answer_is_sent_again_as_xml(client: httpx.AsyncClient,
                                                  services: Services, org: Any,
                                                  loyalty: dict[str, str]) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    await add_customer(client, loyalty, firstName="Ed",
                       identifiers=[{"type": "mobile", "value": "919811100002"}])
    assert (await _buy(client, loyalty, "b-1", 1000, mobile="919811100002")).status_code == 200
    body = {"root": {"redeem": [{"points_redeemed": 1, "customer": {"mobile": "919811100002"}}]}}
    first = await client.post("/v1.1/points/redeem?format=xml", headers=keyed(loyalty, "x"),
                              json=body)
    again = await client.post("/v1.1/points/redeem?format=xml", headers=keyed(loyalty, "x"),
                              json=body)
    assert first.status_code == again.status_code == 200, first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content and b"<?xml" in again.content[:50]
    assert again.headers["content-type"] == first.headers["content-type"]


async def test_a_write_whose_answer_holds_a_secret_is_not_kept(
        client: httpx.AsyncClient, services: Services, org: Any,
        loyalty: dict[str, str]) -> None:
    keyed_loyalty = keyed(loyalty, "hook")
    first = await _setup_webhook(client, keyed_loyalty)
    again = await _setup_webhook(client, keyed_loyalty)
    assert first != again
    assert await services.db.fetchval(COUNT_KEPT, org.org_id) == 0


async def test_an_erasure_forgets_the_kept_answers(client: httpx.AsyncClient,
                                                   services: Services, org: Any) -> None:
    work = workspace_auth(org)
    r = await client.post("/api/customers", headers=keyed(work, "k"),
                          json=ann(1, email="ann@example.com"))
    made = r.json()["data"]["id"]
    assert await services.db.fetchval(COUNT_KEPT, org.org_id) == 1
    # A request still running during the erasure keeps its key (as if just claimed).
    await services.idempotency.claim(org.org_id, "running", "its fingerprint")
    r = await client.delete(f"/api/customers/{made}", headers=work)
    assert r.status_code == 200, r.text
    assert await services.db.fetchval(COUNT_KEPT, org.org_id) == 0
    assert await services.db.fetchval(WRITTEN_KEYS, org.org_id, "running") == 0  # in flight
    # The forgotten request is not carried out again: its key says it was.
    r = await client.post("/api/customers", headers=keyed(work, "k"),
                          json=ann(1, email="ann@example.com"))
    assert r.status_code == 409 and "answer was not kept" in r.text, r.text
    assert await customers(client, work) == 0


async def test_requests_sent_at_once_with_one_key_are_carried_out_once(
        client: httpx.AsyncClient, org: Any) -> None:
    work = workspace_auth(org)
    answers = await asyncio.gather(*(
        client.post("/api/customers", headers=keyed(work, "k"), json=ann(1)) for _ in range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    made = {r.json()["data"]["id"] for r in answers if r.status_code == 201}
    assert len(made) == 1 and await customers(client, work) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answers
               if r.status_code == 201) == 1


WRITTEN_KEYS = sql("SELECT status FROM idempotency_keys WHERE org_id = $1 AND key = $2")


async def test_a_write_whose_answer_was_lost_is_not_carried_out_again(
        client: httpx.AsyncClient, services: Services, org: Any, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after the write committed and before its answer was kept: the retry
    is refused, never carried out a second time (the key was marked in the write's own
    transaction)."""
    work = workspace_auth(org)

    async def died(*args: Any) -> None:
        raise ConnectionResetError("the process died here")

    monkeypatch.setattr(services.idempotency, "finish", died)
    with pytest.raises(ConnectionResetError):
        await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    monkeypatch.undo()
    assert await customers(client, work) == 1  # written
    r = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    assert_error(r, 409, "CONFLICT")
    assert "has not finished" in r.json()["error"]["message"]
    clock.advance(ABANDONED_MS + 1)  # a request still running would have ended by now
    # Carried out again, it would be an update of the customer it made (200).
    r = await client.post("/api/customers", headers=keyed(work, "k"), json=ann(1))
    assert_error(r, 409, "CONFLICT")
    assert "was carried out, but its answer was not kept" in r.json()["error"]["message"]
    # A new key carries it out.
    r = await client.post("/api/customers", headers=keyed(work, "k2"), json=ann(1))
    assert r.status_code == 200 and await customers(client, work) == 1


async def test_a_key_is_marked_written_with_the_write_and_only_with_it(
        services: Services, org: Any) -> None:
    idem, db = services.idempotency, services.db
    stmt = sql("UPDATE orgs SET name = name WHERE id = $1")
    for key, commits in (("rolled-back", False), ("committed", True), ("autocommit", True)):
        assert await idem.claim(org.org_id, key, "f") is None
        with idem.guarding(org.org_id, key, "f"):
            if key == "autocommit":  # a statement outside a transaction commits with the mark
                await db.execute(stmt, org.org_id)
            else:
                with pytest.raises(RuntimeError) if not commits else _nothing():
                    async with db.transaction() as tx:
                        await tx.execute(stmt, org.org_id)
                        if not commits:
                            raise RuntimeError("rolled back")
        assert await db.fetchval(WRITTEN_KEYS, org.org_id, key) == (1 if commits else 0), key
        await idem.finish(org.org_id, key, "f", None)
        # Failed before writing: the key is given back. Wrote, no answer: kept, unanswered.
        assert await db.fetchval(WRITTEN_KEYS, org.org_id, key) == (2 if commits else None)


async def test_a_request_that_wrote_and_failed_keeps_its_answer(
        services: Services, org: Any) -> None:
    idem, db = services.idempotency, services.db
    failed = Answer(400, b'{"error": "late"}', [("content-type", "application/json")])
    assert await idem.claim(org.org_id, "wrote", "f") is None
    with idem.guarding(org.org_id, "wrote", "f"):
        await db.execute(sql("UPDATE orgs SET name = name WHERE id = $1"), org.org_id)
    await idem.finish(org.org_id, "wrote", "f", failed)
    assert await idem.claim(org.org_id, "wrote", "f") == failed
    # The same failure without a write gives the key back.
    assert await idem.claim(org.org_id, "clean", "f") is None
    await idem.finish(org.org_id, "clean", "f", failed)
    assert await idem.claim(org.org_id, "clean", "f") is None
