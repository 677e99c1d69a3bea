"""`patron import` / `patron export`: JSON Lines and CSV, per-line error reports, idempotent
re-runs, a round trip into another organisation, and the CLI end to end."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance
from patron.db.database import Database, open_database, while_committing
from patron.db.statement import sql
from patron.engagement.transfer import RecordWriter, export_records, import_records
from patron.errors import ValidationFailed
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import till_auth

LINES = [
    {"kind": "customer", "firstName": "Ida", "lastName": "Lund", "email": "ida@example.com",
     "mobile": "+46 70 123 45 67", "externalId": "CRM-1", "extendedFields": {"city": "Lund"}},
    {"kind": "message", "id": "m-1", "customer": {"identifierName": "externalId",
                                                  "identifierValue": "CRM-1"},
     "channel": "email", "subject": "Hej", "receiver": "ida@example.com",
     "sentAt": "2025-11-02T10:00:00.250Z", "campaignId": "c-7"},
    {"kind": "delivery", "message": "m-1", "event": "opened", "at": "2025-11-02T11:00:00Z"},
    {"kind": "subscription", "customer": {"identifierName": "email",
                                          "identifierValue": "ida@example.com"},
     "channel": "MOBILE", "priority": "BULK", "type": "OPTOUT", "at": 1762077600000},
    {"kind": "email_subscription", "customer": {"identifierName": "externalId",
                                                "identifierValue": "CRM-1"},
     "action": "subscribed", "at": "2025-10-01T00:00:00Z"},
    {"kind": "tag", "customer": {"identifierName": "externalId", "identifierValue": "CRM-1"},
     "ref": "vip", "at": "2025-10-02T00:00:00Z"},
    {"kind": "message", "customer": {"identifierName": "externalId", "identifierValue": "NOPE"},
     "channel": "sms", "sentAt": "2025-11-02T10:00:00Z"},
]


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(r).decode() + "\n" for r in records)


async def test_import_reports_errors_and_reruns_idempotently(services: Services,
                                                             org: OrgCredentials) -> None:
    text = _jsonl(LINES) + "{not json\n"
    report = io.StringIO()
    summary = await import_records(services.engagement, org.org_id, io.StringIO(text), "jsonl",
                                   report, batch_size=3)
    assert summary.lines == 8
    assert summary.counts == {"created": 3, "updated": 0, "applied": 3, "duplicate": 0,
                              "failed": 2}
    errors = [json.loads(line) for line in report.getvalue().splitlines()]
    assert [(e["line"], e["error"]["code"]) for e in errors] == [
        (7, "customer_not_found"), (8, "invalid_json")]
    again = await import_records(services.engagement, org.org_id, io.StringIO(text), "jsonl",
                                 io.StringIO(), batch_size=1000)
    assert again.counts == {"created": 0, "updated": 1, "applied": 3, "duplicate": 2,
                            "failed": 2}


async def test_export_imports_into_another_org(client: httpx.AsyncClient, services: Services,
                                               org: OrgCredentials,
                                               other_org: OrgCredentials) -> None:
    lines = [{**LINES[0], "loyaltyType": "non_loyalty"}, *LINES[1:6]]
    await import_records(services.engagement, org.org_id, io.StringIO(_jsonl(lines)),
                         "jsonl", io.StringIO())
    for fmt in ("jsonl", "csv"):
        out = io.StringIO()
        writer = RecordWriter(out, fmt)
        async for record in export_records(services.db, org.org_id):
            writer.write(record)
        target = other_org if fmt == "jsonl" else await services.tenancy.create_org("csv")
        summary = await import_records(services.engagement, target.org_id,
                                       io.StringIO(out.getvalue()), fmt, io.StringIO())
        assert summary.counts["failed"] == 0, fmt
        # customer, message, delivery, subscription, e-mail subscription, tag
        assert summary.lines == 6
        r = await client.get("/v1.1/customer/interaction?external_id=CRM-1&type=emailbulk",
                             headers=till_auth(target))
        customer = r.json()["response"]["customer"]
        (email,) = customer["interactions"]["network"][0]["interaction"]
        (message,) = email["messages"]["message"]
        assert message["status"] == "OPENED" and message["subject"] == "Hej", fmt
        assert message["sent_time"] == "2025-11-02 10:00:00" and customer["mobile"] == \
            "46701234567"
        details = await client.get(f"/v2/customers/{customer['id']}?source=INSTORE",
                                   headers=till_auth(target))
        assert details.json()["loyaltyInfo"]["loyaltyType"] == "non_loyalty", fmt


def test_unreadable_lines_fail_alone_and_a_bom_is_skipped(tmp_path: Path) -> None:
    """A byte that is not UTF-8 fails its line, not the run; the byte-order mark a spreadsheet
    writes is not part of the first field; a CSV record is reported by its first line."""
    from patron.engagement.transfer import NotUtf8, open_records, read_records

    jsonl = tmp_path / "r.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"kind": "tag"}\n{"kind": "t\xffg"}\n{"kind": "x"}\n')
    with open_records(jsonl) as handle:
        got = list(read_records(handle, "jsonl"))
    assert got[0] == (1, {"kind": "tag"}) and got[2] == (3, {"kind": "x"})
    assert got[1][0] == 2 and isinstance(got[1][1], NotUtf8)
    # A whole number beyond 64 bits fails its line (orjson reads it as a float, digits lost);
    # twenty digits in text, or 2**64 - 1, do not.
    jsonl.write_text(f'{{"n": {2**64}}}\n{{"n": "{"9" * 30}"}}\n{{"n": {2**64 - 1}}}\n')
    with open_records(jsonl) as handle:
        got = list(read_records(handle, "jsonl"))
    assert got[0][0] == 1 and str(got[0][1]) == "a number is out of range"
    assert got[1:] == [(2, {"n": "9" * 30}), (3, {"n": 2**64 - 1})]
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes(b'\xef\xbb\xbfkind,ref\ntag,"two\nlines"\ntag,\xff\n')
    with open_records(csv_file) as handle:
        got = list(read_records(handle, "csv"))
    assert got[0] == (2, {"kind": "tag", "ref": "two\nlines"})
    assert got[1][0] == 4 and isinstance(got[1][1], NotUtf8)


def test_a_csv_record_is_read_whole_or_fails_alone(tmp_path: Path) -> None:
    """Cells beyond the header fail their record instead of being dropped; a cell too long for
    the reader fails its record and the next ones are read; a header that would drop cells (a
    column twice, `customer` beside `customer.id`) stops the import before anything is read."""
    from patron.engagement.transfer import MAX_CSV_FIELD, open_records, read_records

    csv_file = tmp_path / "r.csv"
    csv_file.write_text("kind,ref\ntag,vip,EXTRA\ntag,\"" + "x" * (MAX_CSV_FIELD + 1)
                        + "\"\ntag,gold\n", encoding="utf-8")
    with open_records(csv_file) as handle:
        got = list(read_records(handle, "csv"))
    assert got[0][0] == 2 and "more cell(s) than the header" in str(got[0][1])
    assert got[1][0] == 3 and str(got[1][1]).startswith("not CSV:")
    assert got[2] == (4, {"kind": "tag", "ref": "gold"})
    for header, named in (("kind,ref,ref", "'ref' twice"),
                          ("kind,customer,customer.id", "'customer' and 'customer.id'")):
        csv_file.write_text(f"{header}\ntag,a,b\n", encoding="utf-8")
        with open_records(csv_file) as handle, pytest.raises(ValidationFailed) as caught:
            list(read_records(handle, "csv"))
        assert named in caught.value.message


def test_cli_import_and_export(tmp_path: Path) -> None:
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path / "data")}
    env.pop("PATRON_DATABASE_URL", None)
    exe = str(Path(sys.executable).parent / "patron")
    creds = json.loads(subprocess.run([exe, "org", "create", "--name", "imp", "--json"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    org = str(creds["org_id"])
    source = tmp_path / "records.csv"
    source.write_text(
        "kind,id,customer.identifierName,customer.identifierValue,firstName,email,channel,"
        "sentAt,subject,extendedFields.city\n"
        "customer,,,,Ola,ola@example.com,,,,Oslo\n"
        "message,m1,email,ola@example.com,,,email,2025-11-02T10:00:00Z,Hei,\n"
        "message,m2,email,ola@example.com,,,fax,2025-11-02T10:00:00Z,Hei,\n")
    run = subprocess.run([exe, "import", str(source), "--org", org], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert "3 records" in run.stderr and "1 failed" in run.stderr
    report = [json.loads(x) for x in (tmp_path / "records.csv.errors.jsonl").read_text()
              .splitlines()]
    assert report[0]["line"] == 4 and report[0]["error"]["field"] == "message.channel"
    out = tmp_path / "out.jsonl"
    subprocess.run([exe, "export", str(out), "--org", org], env=env, check=True,
                   capture_output=True)
    kinds = [json.loads(x)["kind"] for x in out.read_text().splitlines()]
    assert kinds == ["customer", "message"]


# -- commits and kills ---------------------------------------------------------------------------

SYNCHRONOUS = sql("SHOW synchronous_commit", sqlite="PRAGMA synchronous")


async def test_unflushed_commits_are_what_the_database_is_asked_for(db: Database) -> None:
    """`patron import` opens the database with flush_commits=False: SQLite's synchronous=NORMAL
    (1) instead of FULL (2), PostgreSQL's synchronous_commit off."""
    for flush, want in ((True, {"sqlite": 2, "postgresql": "on"}),
                        (False, {"sqlite": 1, "postgresql": "off"})):
        other = await open_database(db.url, flush_commits=flush, pg_pool_min=1, pg_pool_max=1)
        try:
            async with other.transaction() as tx:  # on SQLite, the writer's connection
                assert await tx.fetchval(SYNCHRONOUS) == want[other.dialect]
        finally:
            await other.close()


STORED = sql(
    "SELECT (SELECT count(*) FROM messages WHERE org_id = $1), "
    "(SELECT count(*) FROM message_events WHERE org_id = $1), "
    "(SELECT count(*) FROM messages WHERE org_id = $1 AND delivered_at IS NOT NULL), "
    "(SELECT coalesce(sum(count), 0) FROM message_summaries WHERE org_id = $1)"
)


def _kill_file(path: Path, customers: int, messages: int) -> None:
    """Customers, then messages to them, each message followed by its delivery event."""
    with path.open("w") as out:
        for c in range(customers):
            out.write(orjson.dumps({"kind": "customer", "externalId": f"K-{c}",
                                    "firstName": "K"}).decode() + "\n")
        for m in range(messages):
            out.write(orjson.dumps({
                "kind": "message", "id": f"km-{m}", "channel": "sms", "body": f"n{m}",
                "customer": {"identifierName": "externalId",
                             "identifierValue": f"K-{m % customers}"},
                "sentAt": 1_760_000_000_000 + m}).decode() + "\n")
            out.write(orjson.dumps({"kind": "delivery", "message": f"km-{m}", "event": "delivered",
                                    "at": 1_760_000_000_500 + m}).decode() + "\n")


async def test_an_import_killed_midway_keeps_whole_records_and_a_rerun_completes(
        db: Database, tmp_path: Path) -> None:
    env = {**os.environ}
    if db.url.startswith("postgresql"):
        env["PATRON_DATABASE_URL"] = db.url
    else:
        env["PATRON_DATA_DIR"] = str(tmp_path / "data")
        env.pop("PATRON_DATABASE_URL", None)
    exe = str(Path(sys.executable).parent / "patron")
    created = await asyncio.to_thread(subprocess.run, [exe, "org", "create", "--name", "kill",
                                                       "--json"], env=env, capture_output=True,
                                      text=True, check=True)
    creds = json.loads(created.stdout)
    org_id = int(creds["org_id"])
    source = tmp_path / "many.jsonl"
    messages = 12_000
    _kill_file(source, 40, messages)
    url = db.url if db.url.startswith("postgresql") else \
        f"sqlite:///{(tmp_path / 'data' / 'patron.db').resolve()}"
    store = await open_database(url, pg_pool_min=1, pg_pool_max=1)
    try:
        proc = subprocess.Popen([exe, "import", str(source), "--org", str(org_id)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while (await store.fetchrow(STORED, org_id))[0] < 1_000:  # some batches in
                assert proc.poll() is None and time.monotonic() < deadline
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
        stored, events, delivered, summarised = tuple(await store.fetchrow(STORED, org_id))
        assert 1_000 <= stored < messages, "the kill came too late to test anything"
        # Every record whole: each message counted in its summary, each delivery event with
        # the message's delivered time it sets.
        assert summarised == stored and events == delivered <= stored
        again = await asyncio.to_thread(subprocess.run, [exe, "import", str(source), "--org",
                                                         str(org_id)], env=env,
                                        capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert tuple(await store.fetchrow(STORED, org_id)) == (messages,) * 4
    finally:
        await store.close()


class _BreaksAfter(io.StringIO):
    """A file whose reading fails after `lines` lines (a disk error, say)."""

    def __init__(self, text: str, lines: int) -> None:
        super().__init__(text)
        self.left = lines

    def __next__(self) -> str:
        if self.left == 0:
            raise OSError("the disk went away")
        self.left -= 1
        return super().__next__()


async def test_a_read_failing_while_a_batch_commits_ends_the_import_after_that_batch(
        services: Services, org: OrgCredentials) -> None:
    """The next batch is read while one commits (while_committing): a failure to read it ends
    the import with that failure, after the batch in flight is stored whole."""
    customer = await services.customers.register(org.org_id, CustomerInput(profiles=[
        ProfileInput(identifiers=[Identifier("externalId", "RB-1")])]), Provenance(None, 0))
    records = [{"kind": "message", "id": f"rb-{n}", "channel": "sms", "sentAt": 1_760_000_000_000,
                "customer": {"id": customer.customer_id}} for n in range(7)]
    with pytest.raises(OSError, match="the disk went away"):
        await import_records(services.engagement, org.org_id, _BreaksAfter(_jsonl(records), 5),
                             "jsonl", io.StringIO(), batch_size=3)
    stored = await services.db.fetchval(sql(
        "SELECT count(*) FROM messages WHERE org_id = $1"), org.org_id)
    assert stored == 3  # the first batch; the second was never read whole


async def test_work_while_committing_runs_once_per_committed_transaction(
        db: Database) -> None:
    """while_committing's work runs as each write transaction commits: after its writes, once,
    and a failing transaction (rolled back) does not run it."""
    seen: list[int] = []
    probe = sql("SELECT count(*) FROM orgs")

    def work() -> None:
        seen.append(len(seen))

    with while_committing(work):
        async with db.transaction() as tx:
            await tx.fetchval(probe)
        assert seen == [0]
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.fetchval(probe)
                raise RuntimeError("no commit")
        assert seen == [0]
        async with db.transaction() as tx:
            await tx.fetchval(probe)
    async with db.transaction() as tx:
        await tx.fetchval(probe)
    assert seen == [0, 1]


async def test_work_failing_while_committing_leaves_the_transaction_committed(
        db: Database, org: OrgCredentials) -> None:
    """An exception from while_committing's work is raised once the transaction has committed,
    on either database."""
    rename = sql("UPDATE orgs SET name = $2 WHERE id = $1")

    def work() -> None:
        raise LookupError("after the commit")

    with pytest.raises(LookupError), while_committing(work):
        async with db.transaction() as tx:
            await tx.execute(rename, org.org_id, "Renamed while committing")
    assert await db.fetchval(sql("SELECT name FROM orgs WHERE id = $1"),
                             org.org_id) == "Renamed while committing"
