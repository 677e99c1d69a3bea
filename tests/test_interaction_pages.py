"""Pages of the interaction reads kept in memory (engagement/pages.py): sent again only while the
summaries they were read under are unchanged, whichever process wrote since, and forgotten on a
PII deletion."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from patron.customers.models import Provenance
from patron.db.statement import sql
from patron.engagement import repository as repo
from patron.engagement.pages import KeptPages
from patron.faces.loyalty import interactions as face
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import START_MS, till_auth, workspace_auth
from tests.test_engagement import DAY, _history, _message, _post

REVISIONS = sql("SELECT network, channel, priority, revision FROM message_summaries "
                "WHERE org_id = $1 AND customer_id = $2 ORDER BY network, channel, priority")
QUERIES = ({}, {"type": "sms"}, {"network": "facebook"}, {"limit": "1", "offset": "1"},
           {"format": "xml"})


async def _read(client: httpx.AsyncClient, org: OrgCredentials, cid: int,
                extra: dict[str, str] | None = None) -> httpx.Response:
    r = await client.get("/v1.1/customer/interaction", headers=till_auth(org),
                         params={"user_id": str(cid), **(extra or {})})
    assert r.status_code == 200, r.text
    return r


async def _rendered(client: httpx.AsyncClient, services: Services, org: OrgCredentials, cid: int,
                    extra: dict[str, str] | None = None) -> httpx.Response:
    """The same read with nothing kept: its pages read from the messages."""
    pages = services.engagement.pages
    memory, pages.max_bytes = pages.max_bytes, 0
    try:
        return await _read(client, org, cid, extra)
    finally:
        pages.max_bytes = memory


async def test_a_read_again_sends_the_kept_pages(client: httpx.AsyncClient, org: OrgCredentials,
                                                 services: Services,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cid = await _history(client, org)
    first = {str(q): (await _read(client, org, cid, q)).content for q in QUERIES}
    assert any(key[:2] == (org.org_id, cid) for key in services.engagement.pages._kept)

    def unread(*args: Any) -> Any:
        raise AssertionError("the pages were read again")

    monkeypatch.setattr(repo, "interaction_pages", unread)
    monkeypatch.setattr(face, "v11_response", unread)  # the kept answer is sent as it is
    for q in QUERIES:
        kept = await _read(client, org, cid, q)
        assert kept.content == first[str(q)], q
        assert kept.headers["content-type"].startswith(
            "application/xml" if q.get("format") == "xml" else "application/json"), q
    # A range of time reads its messages every time (only the whole history is kept).
    with pytest.raises(AssertionError, match="read again"):
        await _read(client, org, cid, {"start_date": "2020-01-01"})


async def test_every_write_to_the_messages_is_seen(client: httpx.AsyncClient,
                                                   org: OrgCredentials,
                                                   services: Services) -> None:
    """After each write, the read equals a read with nothing kept, and the revision of the
    summary the write touched has moved."""
    cid = await _history(client, org)
    at = START_MS - 3 * DAY
    writes: list[list[dict[str, Any]]] = [
        [_message("e9", {"id": cid}, sent=START_MS - 4 * DAY, subject="Older")],
        *[[{"kind": "delivery", "message": "e2", "event": event, "at": at + step}]
          for step, event in enumerate(("delivered", "opened", "clicked", "complained",
                                        "unsubscribed", "dropped"))],
        [{"kind": "delivery", "message": "e9", "event": "bounced", "bounceType": "soft",
          "at": at}],
        [{"kind": "delivery", "message": "e1", "event": "delivered", "at": at - 5 * DAY}],
    ]
    before = [tuple(r) for r in await services.db.fetch(REVISIONS, org.org_id, cid)]
    for records in writes:
        for q in QUERIES:
            await _read(client, org, cid, q)  # kept
        results = await _post(client, org, records)
        assert all(r["status"] in ("created", "applied") for r in results), results
        after = [tuple(r) for r in await services.db.fetch(REVISIONS, org.org_id, cid)]
        assert after != before, records
        before = after
        for q in QUERIES:
            kept = await _read(client, org, cid, q)
            assert kept.content == (await _rendered(client, services, org, cid, q)).content, (
                records, q)


async def test_the_customers_addresses_are_not_kept(client: httpx.AsyncClient,
                                                    org: OrgCredentials,
                                                    services: Services) -> None:
    """An answer shows the customer's mobile, e-mail and external id besides the pages: a
    change to them is seen while the pages are still kept."""
    cid = await _history(client, org)
    before = await _read(client, org, cid)
    r = await client.post(f"/v2/customers/{cid}/changeIdentifier?source=INSTORE",
                          headers=till_auth(org), json={
                              "add": [{"type": "externalId", "value": "HAL-9000"}]})
    assert r.status_code == 200, r.text
    after = await _read(client, org, cid)
    assert after.json()["response"]["customer"]["external_id"] == "HAL-9000", after.text
    assert before.json()["response"]["customer"]["external_id"] == ""
    assert after.content == (await _rendered(client, services, org, cid)).content


async def test_the_organisations_settings_are_not_kept(client: httpx.AsyncClient,
                                                        org: OrgCredentials,
                                                        services: Services) -> None:
    """Masking OTPs, or another time zone, is seen at once: the read takes the organisation's
    view with the summaries, and pages are kept under it."""
    cid = await _history(client, org)
    plain = (await _read(client, org, cid)).content
    assert b"482913" in plain
    await services.tenancy.configure(org.org_id, otp_masking=True)
    masked = (await _read(client, org, cid)).content
    assert b"482913" not in masked and b"******" in masked
    assert masked == (await _rendered(client, services, org, cid)).content
    await services.tenancy.configure(org.org_id, time_zone="Asia/Kolkata", otp_masking=True)
    local = (await _read(client, org, cid)).content
    assert local != masked
    assert local == (await _rendered(client, services, org, cid)).content


async def test_a_write_by_another_process_is_seen(client: httpx.AsyncClient, org: OrgCredentials,
                                                  services: Services) -> None:
    """Another server process (its own memory, the same database) writes: this one's kept pages
    are not sent."""
    cid = await _history(client, org)
    other = Services.build(services.settings, services.db, services.clock)
    try:
        before = await _read(client, org, cid)
        outcomes = await other.engagement.ingest(org.org_id, [
            {"kind": "delivery", "message": "e2", "event": "opened", "at": START_MS}],
            Provenance(till_id=None, at_ms=START_MS))
        assert outcomes[0].status == "applied"
        after = await _read(client, org, cid)
        assert after.content != before.content
        assert after.content == (await _rendered(client, services, org, cid)).content
    finally:
        await other.close()


async def test_pii_deletion_forgets_the_pages(client: httpx.AsyncClient, org: OrgCredentials,
                                              services: Services) -> None:
    cid = await _history(client, org)
    await _read(client, org, cid)
    assert any(key[:2] == (org.org_id, cid) for key in services.engagement.pages._kept)
    r = await client.delete(f"/api/customers/{cid}", headers=workspace_auth(org))
    assert r.status_code in (200, 204), r.text
    assert not any(key[:2] == (org.org_id, cid) for key in services.engagement.pages._kept)


async def test_kept_pages_are_bounded_and_expire() -> None:
    pages = KeptPages(max_bytes=4_000, keep_seconds=0.05)
    page = {("capillary", "email"): "x" * 700}
    for customer in range(5):
        pages.keep((1, customer), ("token",), page)
    assert len(pages._kept) == 4 and pages._bytes <= 4_000  # the oldest went
    assert pages.get((1, 0), ("token",)) is None
    kept = pages.get((1, 4), ("token",))
    assert kept is not None and kept.pages == page
    assert pages.get((1, 4), ("other",)) is None  # read under other summaries
    # A face's answer goes with its pages, and counts in the memory.
    pages.keep_answer(kept, "json", b"{}" * 50)
    assert kept.answers == {"json": b"{}" * 50} and pages._bytes <= 4_000
    assert len(pages._kept) == 4
    pages.keep((1, 9), ("token",), {("capillary", "sms"): "y" * 1_001})  # over a quarter
    assert pages.get((1, 9), ("token",)) is None
    pages.forget(1, 4)
    assert pages.get((1, 4), ("token",)) is None
    pages.keep_answer(kept, "xml", b"<x/>")  # no longer kept: nor is the answer
    assert "xml" not in kept.answers
    await asyncio.sleep(0.2)  # the timer drops what is past keeping, read again or not
    assert not pages._kept and pages._bytes == 0
    pages.close()


async def test_concurrent_reads_answer_as_alone(client: httpx.AsyncClient, org: OrgCredentials,
                                                other_org: OrgCredentials,
                                                services: Services) -> None:
    """Reads that arrive together (on PostgreSQL: sent in one statement, db/batched.py) answer
    each as it would alone: its own organisation, customer and query; a customer not found is
    not found, beside ones that are."""
    ours, theirs = await _history(client, org), await _history(client, other_org)
    asked = [(org, ours, {}), (org, ours, {"type": "sms"}), (other_org, theirs, {}),
             (other_org, ours, {}), (org, theirs, {}), (org, ours, {"network": "facebook"}),
             (other_org, theirs, {"limit": "1", "offset": "1"}), (org, 9_999_999, {})]

    async def read(who: OrgCredentials, cid: int, extra: dict[str, str]) -> bytes:
        r = await client.get("/v1.1/customer/interaction", headers=till_auth(who),
                             params={"user_id": str(cid), **extra})
        return r.content

    alone = [await read(*a) for a in asked]
    assert sum(b'"code":1012' in body for body in alone) == 3  # the other's customer, and none
    batches: list[int] = []
    kept_reads = services.engagement._kept_reads
    if kept_reads is not None:  # PostgreSQL: count the reads in each statement
        db = kept_reads.db

        class Counting:
            async def fetch(self, stmt: Any, *columns: Any) -> Any:
                batches.append(len(columns[1]))
                return await db.fetch(stmt, *columns)

        kept_reads.db = Counting()  # type: ignore[assignment]
    try:
        for _ in range(3):
            together = await asyncio.gather(*(read(*a) for a in asked * 2))
            assert together == alone * 2
    finally:
        if kept_reads is not None:
            kept_reads.db = db
    if kept_reads is not None:
        assert sum(batches) == 3 * 2 * len(asked) and len(batches) < 3 * 2 * len(asked)


async def test_a_failed_batch_fails_its_reads_only() -> None:
    """A statement that fails fails each read it carried; reads asked for later are sent in a
    statement of their own, and a read given up by its caller does not hold the others. A read
    asked for while no statement is out goes at once, alone; a statement carries the reads of
    one organisation."""
    from patron.db.batched import BatchedRead

    class Flaky:
        def __init__(self) -> None:
            self.sent: list[tuple[int, list[Any]]] = []

        async def fetch(self, stmt: Any, org_id: int, *columns: Any) -> list[tuple[Any, ...]]:
            self.sent.append((org_id, list(columns[0])))
            await asyncio.sleep(0.01)
            if "fail" in columns[0]:
                raise RuntimeError("statement failed")
            return [(f"{org_id}:{value}", n) for n, value in enumerate(columns[0], start=1)
                    for _ in range(2 if value == "two" else 1)]

    db = Flaky()
    reads = BatchedRead(db, sql("SELECT 1"))  # type: ignore[arg-type]
    first = asyncio.ensure_future(reads.fetch(1, "one"))
    await asyncio.sleep(0)  # sent alone: nothing else was asked for yet
    failing = [asyncio.ensure_future(reads.fetch(1, v)) for v in ("fail", "two")]
    given_up = asyncio.ensure_future(reads.fetch(1, "three"))
    await asyncio.sleep(0)
    given_up.cancel()
    assert await first == [("1:one", 1)]
    for read in failing:
        with pytest.raises(RuntimeError, match="statement failed"):
            await read
    assert db.sent == [(1, ["one"]), (1, ["fail", "two", "three"])]
    assert await reads.fetch(1, "two") == [("1:two", 1), ("1:two", 1)]
    # The first goes alone at once; those asked for while it is out go after it, together for
    # each organisation.
    asked = ((1, "a"), (1, "b"), (2, "x"), (1, "c"))
    assert await asyncio.gather(*(reads.fetch(o, v) for o, v in asked)) == [
        [("1:a", 1)], [("1:b", 1)], [("2:x", 1)], [("1:c", 2)]]
    assert db.sent[-3:] == [(1, ["a"]), (1, ["b", "c"]), (2, ["x"])]
