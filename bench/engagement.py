"""Communications at scale: the interaction API over 10M stored messages, and bulk import.

`python -m bench engagement` does, for each engine:

1. makes sure the customers exist (bench/generate.py) and that N messages (10M by default) with
   their delivery events exist for them, one customer holding 1,000 of them. They are bulk-loaded
   with the raw drivers, then summarised (message_summaries); `check_against_service` first
   proves on a sample that the bulk rows and their summaries are exactly the rows
   `Engagement.ingest` writes for the same records (all columns but the message id and the time
   of writing);
2. serves Patron (bench.app, durable commits) and measures with wrk
   `GET /v1.1/customer/interaction?user_id=<that customer>&format=json` (8 types, 50 newest
   messages of each) beside a static ceiling answering the same bytes from the same server,
   and, not a target, the same read over 1,000 customers of about ten messages each, so that
   concurrent reads name different customers;
3. runs `patron import` on JSON Lines files of new messages, delivery events and engagement
   facts for random customers, at two sizes, reporting records/s and the importer's peak RSS
   (memory must not grow with the file), then checks that every record was stored;
4. not a target: times the import's stores alone, in process, on a file of the smaller size
   read and checked beforehand (`measure_stores`): the most the import could reach without
   changing how records are written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.generate import DATA_DIR, Manifest, ensure, schema_head, scratch
from bench.load import (
    RESULTS_DIR,
    ROOT,
    Endpoint,
    Measured,
    MemorySampler,
    Server,
    ensure_wrk,
    machine,
    machine_line,
    measure,
    prewarm,
    till_auth,
    write_report,
)
from patron.clock import FixedClock
from patron.config import Settings
from patron.customers.models import Provenance
from patron.db import schema
from patron.db.database import open_database
from patron.db.statement import sql
from patron.engagement import repository as engagement_repo
from patron.engagement.models import DeliveryRecord
from patron.engagement.service import checked
from patron.engagement.transfer import BATCH, open_records, read_records
from patron.services import Services

VERSION = 2  # 2: with the message summaries the service keeps
FROM_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
STEP_MS = 3_000
HEAVY_MESSAGES = 1_000
CHANNELS = ("email",) * 10 + ("sms",) * 6 + ("whatsapp",) * 2 + ("missed_call", "survey")
MESSAGE_COLUMNS = tuple(c.name for c in schema.messages.columns)
EVENT_COLUMNS = tuple(c.name for c in schema.message_events.columns)
CHUNK = 50_000
MIN_RATIO = 0.4
MIN_IMPORT_PER_S = {"sqlite": 50_000}


def _log(message: str) -> None:
    print(f"[engagement] {message}", flush=True)


def customer_of(i: int, first_id: int, customers: int) -> int:
    """Message i's customer: the first customer holds the first 1,000 messages."""
    return first_id if i < HEAVY_MESSAGES else first_id + 1 + (i * 7919) % (customers - 1)


def records_for(i: int, first_id: int, customers: int) -> list[dict[str, Any]]:
    """The records a client would have sent for stored message i and its delivery events."""
    channel = CHANNELS[i % len(CHANNELS)]
    sent = FROM_MS + i * STEP_MS
    message: dict[str, Any] = {"kind": "message", "id": f"bm-{i:x}",
                               "customer": {"id": customer_of(i, first_id, customers)},
                               "channel": channel, "sentAt": sent}
    out = [message]
    if channel == "email":
        message.update(sender="news@bench.patron", receiver=f"c{i % 100_000}@example.com",
                       subject=f"Offer {i % 97}")
        if i % 3:
            message["campaignId"] = str(260_000 + i % 50)
    elif channel in ("sms", "whatsapp"):
        message.update(sender="BENCH", receiver=f"9190{i % 100_000_000:08d}",
                       body=f"Hello, your code is {i % 1_000_000:06d}", otp=i % 4 == 0)
    else:
        message["sender"] = f"9190{i % 100_000_000:08d}"
    if channel in ("email", "sms", "whatsapp"):
        out.append({"kind": "delivery", "message": message["id"], "event": "delivered",
                    "at": sent + 3_000})
        if channel == "email" and i % 5 < 2:
            out.append({"kind": "delivery", "message": message["id"], "event": "opened",
                        "at": sent + 3_600_000})
    return out


def rows_for(org_id: int, message_id: int, i: int, first_id: int,
             customers: int) -> tuple[tuple, list[tuple]]:
    """The messages row and message_events rows `Engagement.ingest` writes for records_for(i)."""
    message, *deliveries = records_for(i, first_id, customers)
    channel = message["channel"]
    inbound = channel in ("missed_call", "survey")
    values = {
        "org_id": org_id, "id": message_id, "record_id": message["id"],
        "customer_id": message["customer"]["id"], "direction": "INBOUND" if inbound else
        "OUTBOUND", "channel": channel, "network": "capillary",
        "priority": "BULK" if message.get("campaignId") else "TRANS",
        "sender": message.get("sender", ""), "receiver": message.get("receiver", ""),
        "subject": message.get("subject", ""), "body": message.get("body", ""),
        "campaign_id": message.get("campaignId"), "broadcast_id": None, "newsletter_id": None,
        "sequence_id": None, "is_otp": bool(message.get("otp", False)),
        "sent_at": message["sentAt"], "created_at": message["sentAt"], "bounce_type": None,
        "clicked_at": None, "bounced_at": None, "dropped_at": None, "complained_at": None,
        "unsubscribed_at": None, "delivered_at": None, "opened_at": None,
    }
    events = []
    for d in deliveries:
        values[f"{d['event']}_at"] = d["at"]
        events.append({"org_id": org_id, "message_id": message_id, "kind": d["event"],
                       "occurred_at": d["at"], "bounce_type": None})
    return (tuple(values[c] for c in MESSAGE_COLUMNS),
            [tuple(e[c] for c in EVENT_COLUMNS) for e in events])


async def check_against_service() -> None:
    """Ingest a sample through `Engagement.ingest` in a scratch database and compare every column
    (but the message id, which the service draws, and the write time) with `rows_for`."""
    from bench.events import _sample_customers

    clock = FixedClock(FROM_MS)
    async with scratch(clock) as (db, org, services):
        first_id = await _sample_customers(services, org.org_id, 3)
        raw: sqlite3.Connection = db._conn  # type: ignore[attr-defined]
        for i in (0, 1, 2, 3, 4, 10, 18, 19, 999, 1_000, 4_321):
            clock.value = FROM_MS + i * STEP_MS
            outcomes = await services.engagement.ingest(
                org.org_id, records_for(i, first_id, 3), Provenance(None, clock.value))
            assert all(o.error is None for o in outcomes), outcomes
            message_id = outcomes[0].entity_id
            got = raw.execute(f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages WHERE id = ?",
                              (message_id,)).fetchone()
            want, want_events = rows_for(org.org_id, message_id, i, first_id, 3)
            diff = [(c, g, w) for c, g, w in zip(MESSAGE_COLUMNS, tuple(got), want, strict=True)
                    if g != w]
            got_events = [tuple(r) for r in raw.execute(
                f"SELECT {', '.join(EVENT_COLUMNS)} FROM message_events WHERE message_id = ? "
                "ORDER BY occurred_at", (message_id,))]
            if diff or got_events != want_events:
                raise AssertionError(f"bulk rows differ from the service's: {diff} "
                                     f"{got_events} != {want_events}")
        # The loaders summarise the messages they load (SUMMARISE_MESSAGES): the same rows as the
        # service keeps while it writes them.
        # (All but the revisions, which count the writes: the loaders make one write of each.)
        summaries = ("SELECT customer_id, network, channel, priority, count, last_at, used, "
                     f"first_time, last_time FROM message_summaries WHERE org_id = {org.org_id} "
                     "ORDER BY customer_id, network, channel, priority")
        kept = [tuple(r) for r in raw.execute(summaries)]
        raw.execute("DELETE FROM message_summaries WHERE org_id = ?", (org.org_id,))
        raw.execute(engagement_repo.SUMMARISE_MESSAGES.sqlite, (org.org_id,))
        computed = [tuple(r) for r in raw.execute(summaries)]
        if kept != computed:
            raise AssertionError(f"summaries of bulk rows differ from the service's: {kept} "
                                 f"!= {computed}")


@dataclass
class MessagesManifest:
    engine: str
    messages: int
    customers: int
    first_id: int
    first_message_id: int
    version: int
    schema_revision: str
    seconds: float

    def write(self) -> None:
        manifest_path(self.engine).write_text(json.dumps(asdict(self), indent=2) + "\n")


def manifest_path(engine: str) -> Path:
    return DATA_DIR / f"{engine}-messages.json"


def _chunks(manifest: Manifest, first_message_id: int, count: int):  # noqa: ANN202
    for start in range(0, count, CHUNK):
        messages, events = [], []
        for i in range(start, min(start + CHUNK, count)):
            row, rows = rows_for(manifest.org_id, first_message_id + i, i, manifest.first_id,
                                 manifest.customers)
            messages.append(row)
            events.extend(rows)
        yield start + len(messages), messages, events


def _progress(done: int, count: int, started: float) -> None:
    if done % 1_000_000 == 0 or done == count:
        _log(f"{done:,}/{count:,} messages ({done / (time.perf_counter() - started):,.0f}/s)")


def _load_sqlite(manifest: Manifest, count: int) -> int:
    conn = sqlite3.connect(manifest.database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1048576")
        conn.execute("DELETE FROM message_events WHERE org_id = ?", (manifest.org_id,))
        conn.execute("DELETE FROM messages WHERE org_id = ?", (manifest.org_id,))
        conn.execute("DELETE FROM message_summaries WHERE org_id = ?", (manifest.org_id,))
        first = conn.execute("UPDATE id_counters SET next_value = next_value + ? "
                             "WHERE name = 'patron_ids' RETURNING next_value - ?",
                             (count, count)).fetchone()[0]
        insert_m = (f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(MESSAGE_COLUMNS))})")
        insert_e = (f"INSERT INTO message_events ({', '.join(EVENT_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(EVENT_COLUMNS))})")
        started = time.perf_counter()
        for done, messages, events in _chunks(manifest, first, count):
            conn.execute("BEGIN")
            conn.executemany(insert_m, messages)
            conn.executemany(insert_e, events)
            conn.execute("COMMIT")
            _progress(done, count, started)
        _log("summarising the messages")
        conn.execute(engagement_repo.SUMMARISE_MESSAGES.sqlite, (manifest.org_id,))
        _log("ANALYZE")
        conn.execute("ANALYZE messages")
        conn.execute("ANALYZE message_summaries")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return int(first)


async def _load_postgresql(manifest: Manifest, count: int) -> int:
    import asyncpg

    conn = await asyncpg.connect(manifest.database_url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("DELETE FROM message_events WHERE org_id = $1", manifest.org_id)
        await conn.execute("DELETE FROM messages WHERE org_id = $1", manifest.org_id)
        await conn.execute("DELETE FROM message_summaries WHERE org_id = $1", manifest.org_id)
        first = await conn.fetchval("SELECT nextval('patron_ids')")
        await conn.execute("SELECT setval('patron_ids', $1)", first + count)
        started = time.perf_counter()
        for done, messages, events in _chunks(manifest, first, count):
            await conn.copy_records_to_table("messages", records=messages,
                                             columns=list(MESSAGE_COLUMNS))
            await conn.copy_records_to_table("message_events", records=events,
                                             columns=list(EVENT_COLUMNS))
            _progress(done, count, started)
        _log("summarising the messages")
        await conn.execute(engagement_repo.SUMMARISE_MESSAGES.pg, manifest.org_id)
        _log("VACUUM ANALYZE")
        await conn.execute("VACUUM (ANALYZE) messages")
        await conn.execute("VACUUM (ANALYZE) message_summaries")
        await conn.execute("VACUUM (ANALYZE) message_events")
    finally:
        await conn.close()
    return int(first)


async def ensure_messages(engine: str, manifest: Manifest, count: int) -> MessagesManifest:
    try:
        found = MessagesManifest(**json.loads(manifest_path(engine).read_text()))
    except (OSError, ValueError, TypeError):
        found = None
    if (found is not None and found.messages == count and found.first_id == manifest.first_id
            and found.customers == manifest.customers and found.version == VERSION
            and found.schema_revision == schema_head()):
        _log(f"{engine}: reusing {count:,} messages")
        return found
    _log("checking bulk message rows against Engagement.ingest")
    await check_against_service()
    _log(f"{engine}: loading {count:,} messages with their delivery events")
    started = time.perf_counter()
    if engine == "sqlite":
        first = await asyncio.to_thread(_load_sqlite, manifest, count)
    else:
        first = await _load_postgresql(manifest, count)
    made = MessagesManifest(engine, count, manifest.customers, manifest.first_id, first, VERSION,
                            schema_head(), round(time.perf_counter() - started, 1))
    made.write()
    return made


# -- import -------------------------------------------------------------------------------------

def import_file(path: Path, records: int, first_id: int, customers: int, salt: int) -> None:
    """New messages (with delivery events), tags and sign-ins for random customers."""
    with path.open("w", encoding="utf-8") as out:
        written, i = 0, 0
        while written < records:
            n = 20_000_000 + i
            who = {"id": first_id + (n * 104_729) % customers}
            batch = records_for(n, first_id, customers)
            batch[0]["id"] = f"imp-{salt}-{i:x}"
            batch[0]["customer"] = who
            for d in batch[1:]:
                d["message"] = batch[0]["id"]
            if i % 4 == 0:
                batch.append({"kind": "tag", "id": f"imp-tag-{salt}-{i:x}", "customer": who,
                              "ref": f"t{i % 20}", "at": FROM_MS + i})
            if i % 3 == 0:
                batch.append({"kind": "sign_in", "id": f"imp-in-{salt}-{i:x}", "customer": who,
                              "at": FROM_MS + i})
            for record in batch[:records - written]:
                out.write(orjson.dumps(record).decode() + "\n")
                written += 1
            i += 1


COUNT_STORED = sql(
    "SELECT (SELECT count(*) FROM messages WHERE org_id = $1 AND record_id LIKE 'imp-%') + "
    "(SELECT count(*) FROM engagement_facts WHERE org_id = $1 AND record_id LIKE 'imp-%')"
)


def run_import(engine: str, manifest: Manifest, path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
    if engine == "sqlite":
        env["PATRON_DATA_DIR"] = str(Path(manifest.database_url.removeprefix("sqlite:///"))
                                     .parent)
    else:
        env["PATRON_DATABASE_URL"] = manifest.database_url
    exe = str(Path(sys.executable).parent / "patron")
    started = time.perf_counter()
    proc = subprocess.Popen([exe, "import", str(path), "--org", str(manifest.org_id)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = MemorySampler(proc.pid)  # the importer's own resident memory, every 100 ms
    sampler.start()
    try:
        _, err = proc.communicate()
    finally:
        sampler.stop()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"patron import failed: {err[-2000:]}")
    lines = sum(1 for _ in path.open())
    return {"records": lines, "seconds": round(seconds, 2), "records_per_s": lines / seconds,
            "peak_rss_mb": sampler.max_total / 2**20, "summary": err.strip().splitlines()[-1]}


# What an import of messages, delivery events and facts for random customers reads and writes,
# read into the page cache right before each import (see load.prewarm: the bench machine pages
# out what nobody touched for a minute, so without it the import measures the disk).
IMPORT_SET = (("customers", "customer_engagement", "message_summaries", "engagement_facts"),
              ("customers_state", "messages_customer", "messages_record",
               "engagement_facts_ref", "engagement_facts_customer"))


def measure_imports(engine: str, manifest: Manifest, sizes: list[int],
                    stamp: str) -> list[dict[str, Any]]:
    out = []
    for n, size in enumerate(sizes):
        path = DATA_DIR / f"import-{engine}-{size}.jsonl"
        import_file(path, size, manifest.first_id, manifest.customers,
                    salt=int(time.time()) * 10 + n)
        before = asyncio.run(_count(manifest))
        prewarm(manifest, *IMPORT_SET)
        result = run_import(engine, manifest, path)
        stored = asyncio.run(_count(manifest)) - before
        result.update(engine=engine, size=size, stored=stored)
        if stored != result["records"] - _deliveries(path):
            raise RuntimeError(f"import stored {stored:,} of {result['records']:,} records")
        _log(f"{engine}: import {size:,} records: {result['records_per_s']:,.0f}/s, peak RSS "
             f"{result['peak_rss_mb']:.0f} MB")
        out.append(result)
        path.unlink()
    return out


async def measure_stores(engine: str, manifest: Manifest, size: int) -> dict[str, Any]:
    """Not a target: what the import's stores alone sustain, in process. The same kind of file as
    measure_imports', read and checked first; then only `Engagement.store` is timed, batch by
    batch, as `patron import` calls it (commits not flushed). The gap to the import's own rate is
    what reading and checking cost it; this rate is the most the import could reach without
    changing how records are written."""
    path = DATA_DIR / f"stores-{engine}-{size}.jsonl"
    import_file(path, size, manifest.first_id, manifest.customers, salt=int(time.time()) * 10 + 9)
    try:
        with open_records(path) as handle:
            records = [r for _, r in read_records(handle, "jsonl")]
        batches = [checked(records[i:i + BATCH]) for i in range(0, len(records), BATCH)]
    finally:
        path.unlink()
    del records
    before = await _count(manifest)
    await asyncio.to_thread(prewarm, manifest, *IMPORT_SET)  # it runs an event loop of its own
    db = await open_database(manifest.database_url, flush_commits=False)
    try:
        engagement = Services.build(Settings.from_env(), db).engagement
        prov = Provenance(None, FixedClock(FROM_MS).now_ms())
        started, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            await engagement.store(manifest.org_id, batch, prov)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await db.close()
    stored = await _count(manifest) - before
    deliveries = sum(isinstance(i.record, DeliveryRecord) for b in batches for i in b.items)
    if stored != size - deliveries:
        raise RuntimeError(f"stores stored {stored:,} of {size - deliveries:,} records")
    result = {"engine": engine, "records": size, "seconds": round(seconds, 2),
              "records_per_s": size / seconds, "cpu_s_per_100k": cpu / size * 100_000}
    _log(f"{engine}: the import's stores alone, {size:,} records: "
         f"{result['records_per_s']:,.0f}/s ({result['cpu_s_per_100k']:.1f} CPU s per 100,000)")
    return result


def _deliveries(path: Path) -> int:
    return sum(1 for line in path.open() if '"kind":"delivery"' in line)


async def _count(manifest: Manifest) -> int:
    db = await open_database(manifest.database_url, pg_pool_min=1, pg_pool_max=1)
    try:
        return int(await db.fetchval(COUNT_STORED, manifest.org_id))
    finally:
        await db.close()


SPREAD = "GET /v1.1/customer/interaction (1,000 customers, not a target)"
SPREAD_PATH = "/v1.1/customer/interaction?user_id={id}&format=json"


# -- the run ------------------------------------------------------------------------------------

def run_engine(engine: str, manifest: Manifest, mm: MessagesManifest, wrk: str,
               args: argparse.Namespace, stamp: str) -> list[Measured]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    static_body = RESULTS_DIR / f"{stamp}-{engine}-interaction-static.json"
    static_body.write_bytes(b"{}")
    auth = till_auth(manifest)
    prewarm(manifest)
    server = Server(manifest, args.workers, static_body,
                    RESULTS_DIR / f"{stamp}-{engine}-engagement.log")
    path = f"/v1.1/customer/interaction?user_id={manifest.first_id}&format=json"
    try:
        status, body = server.get(path, auth)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")
        static_body.write_bytes(body)
        _log(f"{engine}: interaction body {len(body):,} bytes")
        endpoints = [
            Endpoint("static (ceiling)", "/bench/static", auth=False),
            Endpoint("GET /v1.1/customer/interaction (1,000 messages)", path, auth=True,
                     script_args=(str(manifest.first_id), "1", path, auth)),
            # Not a target: the same read spread over 1,000 customers (about ten messages each),
            # so that concurrent reads name different customers (db/batched.py).
            Endpoint(SPREAD, SPREAD_PATH, auth=True,
                     script_args=(str(manifest.first_id + 1), "1000", SPREAD_PATH, auth)),
        ]
        results = [measure(engine, server, wrk, e, manifest, auth, args) for e in endpoints]
    finally:
        server.stop()
    for r in results:
        r.ratio = r.requests_per_s / results[0].requests_per_s
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench engagement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--imports", default="100000,500000",
                        help="record counts of the import files, smallest first")
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or "python -m bench engagement " + " ".join(
        argv if argv is not None else sys.argv[1:])
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    sizes = [int(s) for s in args.imports.split(",") if s.strip()]
    results: list[Measured] = []
    imports: list[dict[str, Any]] = []
    stores: list[dict[str, Any]] = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        manifest = asyncio.run(ensure(engine, args.customers))
        mm = asyncio.run(ensure_messages(engine, manifest, args.messages))
        results.extend(run_engine(engine, manifest, mm, wrk, args, stamp))
        imports.extend(measure_imports(engine, manifest, sizes, stamp))
        if sizes:
            stores.append(asyncio.run(measure_stores(engine, manifest, sizes[0])))
    lines = [
        "| engine | endpoint | req/s | of ceiling | p50 ms | p99 ms | max RSS MB | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    verdicts = []
    for r in results:
        lines.append(f"| {r.engine} | {r.endpoint} | {r.requests_per_s:,.0f} | {r.ratio:.2f} "
                     f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.rss_max_mb:.0f} | {r.errors} |")
        if r.endpoint.startswith("GET") and r.endpoint != SPREAD:
            ok = (r.ratio or 0) >= MIN_RATIO
            verdicts.append(f"{r.engine}: interaction ratio {r.ratio:.2f} (target >= "
                            f"{MIN_RATIO}) {'met' if ok else 'MISSED'}")
    lines += ["", "| engine | import records | records/s | seconds | importer peak RSS MB |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for i in imports:
        lines.append(f"| {i['engine']} | {i['records']:,} | {i['records_per_s']:,.0f} "
                     f"| {i['seconds']} | {i['peak_rss_mb']:.0f} |")
    for st in stores:
        lines.append(f"| {st['engine']} | {st['records']:,}, the stores alone (not a target) "
                     f"| {st['records_per_s']:,.0f} | {st['seconds']} | |")
    for engine in {i["engine"] for i in imports}:
        runs = [i for i in imports if i["engine"] == engine]
        rate = runs[-1]["records_per_s"]
        want = MIN_IMPORT_PER_S.get(engine)
        verdicts.append(f"{engine}: import {rate:,.0f} records/s" + (
            "" if want is None else f" (target >= {want:,}) {'met' if rate >= want else 'MISSED'}"))
        if len(runs) > 1:
            verdicts.append(f"{engine}: importer peak RSS {runs[0]['peak_rss_mb']:.0f} MB "
                            f"for {runs[0]['records']:,} records, "
                            f"{runs[-1]['peak_rss_mb']:.0f} MB for "
                            f"{runs[-1]['records']:,}")
    facts = machine()
    report = "\n".join([
        f"# Patron engagement run {stamp}", "", f"command: `{command}`", "", machine_line(facts),
        "", f"{args.customers:,} customers, {args.messages:,} stored messages with delivery "
        f"events; {args.workers} server workers; wrk {args.threads} threads, "
        f"{args.connections} connections, {args.duration} s per row; durable commits", "",
        *lines, "", *[f"- {v}" for v in verdicts], ""])
    write_report(f"{stamp}-engagement", "latest-engagement", report, {
        "command": command, "machine": facts, "args": vars(args),
        "results": [asdict(r) for r in results], "imports": imports,
        "stores": stores})
