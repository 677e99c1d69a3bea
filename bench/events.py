"""Behavioural events at scale: ingestion through the webhook, and `event_data` look-ups.

`python -m bench events` does, for each engine:

1. makes sure the customers exist (bench/generate.py) and that N stored events (10M by default)
   exist for them. The organisation's event definition and webhook are made through
   `Events.define` and `Events.add_webhook` (the public path); the events are then bulk-loaded
   with the raw drivers, and `check_against_service` proves on a sample, before every load, that
   the bulk rows are exactly the rows `Events.ingest` writes for the same webhook calls (all
   columns but the random request id);
2. serves Patron (bench.app, as `patron serve` would, durable commits: SQLite
   `synchronous=FULL`, PostgreSQL `synchronous_commit=on`) and measures, with wrk,
   `GET /v2/events/event_data?id=` over random stored events beside a static ceiling answering
   the bytes of a median real response from the same server;
3. posts events to the webhook, one per request and 100 per request, and checks that the table
   grew by exactly the events the 2xx answers acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.generate import DATA_DIR, Manifest, ensure, schema_head, scratch
from bench.load import (
    RESULTS_DIR,
    Endpoint,
    Measured,
    Server,
    count_rows,
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
from patron.db import schema
from patron.db.database import Database, open_database
from patron.jsonio import dumps_text
from patron.services import Services

EVENTS_VERSION = 1
EVENT_NAME = "bench_view"
DEFINITION = {
    "eventName": EVENT_NAME,
    "description": "A product page view (benchmark)",
    "fields": [
        {"name": "customer", "type": "customer",
         "attributes": {"identifierType": {"valueType": "string", "value": "userId"}}},
        {"name": "sku", "type": "productSku"},
        {"name": "category", "type": "productCategory"},
        {"name": "price", "type": "double"},
        {"name": "page", "type": "string"},
    ],
}
CATEGORIES = ("shoes", "bags", "shirts", "jackets", "watches", "toys", "books", "garden")
# Stored events happened every 3 s from 2025-01-01 UTC on; request ids are the index in hex.
EVENTS_FROM_MS = 1_735_689_600_000
EVENT_STEP_MS = 3_000
REQUEST_ID = "be000000-0000-4000-8000-{:012x}"
REQUEST_ID_LUA = "be000000-0000-4000-8000-%012x"
EVENT_COLUMNS = tuple(c.name for c in schema.events.columns)
CHUNK = 50_000
MIN_LOOKUP_RATIO = 0.5
MIN_BATCH_EVENTS_PER_S = {"sqlite": 20_000}
WRK_EVENTS = Path(__file__).resolve().parent / "events.lua"


def body_for(i: int, first_id: int, customers: int) -> dict[str, Any]:
    """The webhook body of stored event i (what a client would have posted)."""
    return {"eventName": EVENT_NAME, "customer": first_id + (i * 7919) % customers,
            "sku": f"SKU-{i % 5000:05d}", "category": CATEGORIES[i % len(CATEGORIES)],
            "price": (i % 20_000) / 100, "page": f"/p/{i % 997}",
            "eventDateTime": EVENTS_FROM_MS + i * EVENT_STEP_MS}


def row_for(org_id: int, till_id: int | None, i: int, first_id: int, customers: int) -> tuple:
    """The events row `Events.ingest` writes for body_for(i), received when it happened."""
    b = body_for(i, first_id, customers)
    at = b["eventDateTime"]
    attributes = {"sku": b["sku"], "category": b["category"], "price": str(float(b["price"])),
                  "page": b["page"], "accountId": None}
    values = {"org_id": org_id, "request_id": REQUEST_ID.format(i), "customer_id": b["customer"],
              "event_name": EVENT_NAME, "occurred_at": at, "input_offset": "+00:00",
              "received_at": at, "lineage_start": at, "till_id": till_id, "source": "INSTORE",
              "attributes": dumps_text(attributes), "psi_fields": "[]",
              "external_event_id": None, "dedup_key": None, "is_duplicate": False}
    return tuple(values[c] for c in EVENT_COLUMNS)


@dataclass
class EventsManifest:
    engine: str
    events: int
    customers: int
    first_id: int
    version: int
    schema_revision: str
    webhook_path: str
    seconds: float

    def write(self) -> None:
        events_manifest_path(self.engine).write_text(json.dumps(asdict(self), indent=2) + "\n")


def events_manifest_path(engine: str) -> Path:
    return DATA_DIR / f"{engine}-events.json"


def _log(message: str) -> None:
    print(f"[events] {message}", flush=True)


async def _define(db: Database, org_id: int, till_id: int) -> tuple[str, int | None]:
    """The definition and a webhook, through the service: (webhook token, its till id)."""
    services = Services.build(Settings(), db, FixedClock(EVENTS_FROM_MS))
    if not any(d.name == EVENT_NAME for d in await services.events.definitions(org_id)):
        await services.events.define(org_id, DEFINITION)
    token, _ = await services.events.add_webhook(
        org_id, transformer="WebEngageTransformer", till_code=None, default_till_id=till_id,
        auth_enabled=False, auth_mechanism=None, uniqueness_check=False)
    hook = await services.events.webhook(token)
    return token, hook.till_id


async def check_against_service(manifest: Manifest) -> None:
    """Ingest a sample through `Events.ingest` in a scratch database and compare every column
    (but the request id, which the service draws at random) with `row_for`."""
    clock = FixedClock(EVENTS_FROM_MS)
    async with scratch(clock) as (db, org, services):
        first_id = await _sample_customers(services, org.org_id, 3)
        token, till_id = await _define(db, org.org_id, org.till_id)
        hook = await services.events.webhook(token)
        for i in (0, 1, 2, 4_321, 9_999_999):
            clock.value = body_for(i, first_id, 3)["eventDateTime"]
            [result] = await services.events.ingest(hook, [body_for(i, first_id, 3)])
            assert result.error is None, result.error
            raw: sqlite3.Connection = db._conn  # type: ignore[attr-defined]
            got = raw.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events "
                              "WHERE request_id = ?", (result.request_id,)).fetchone()
            want = row_for(org.org_id, till_id, i, first_id, 3)
            skip = EVENT_COLUMNS.index("request_id")
            diff = [(c, g, w) for n, (c, g, w) in enumerate(zip(EVENT_COLUMNS, tuple(got), want,
                                                                strict=True))
                    if n != skip and g != w]
            if diff:
                raise AssertionError(f"bulk event rows differ from the service's: {diff}")


async def _sample_customers(services: Services, org_id: int, count: int) -> int:
    from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance

    ids = []
    for n in range(count):
        written = await services.customers.register(org_id, CustomerInput(profiles=[
            ProfileInput(source="INSTORE", identifiers=[Identifier("mobile", f"91900000{n:04d}")])
        ]), Provenance(None, EVENTS_FROM_MS), customer_id=3_000_000_000 + n)
        ids.append(written.customer_id)
    assert ids == list(range(ids[0], ids[0] + count))
    return ids[0]


async def _load_sqlite(manifest: Manifest, count: int) -> str:
    db = await open_database(manifest.database_url)
    try:
        token, till_id = await _define(db, manifest.org_id, manifest.till_id)
    finally:
        await db.close()
    conn = sqlite3.connect(manifest.database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1048576")
        conn.execute("DELETE FROM events WHERE request_id LIKE 'be000000-%'")
        insert = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                  f"({', '.join('?' * len(EVENT_COLUMNS))})")
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            rows = [row_for(manifest.org_id, till_id, i, manifest.first_id, manifest.customers)
                    for i in range(start, min(start + CHUNK, count))]
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
            _progress(start + len(rows), count, started)
        _log("ANALYZE")
        conn.execute("ANALYZE events")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return f"/webhooks/{token}"


async def _load_postgresql(manifest: Manifest, count: int) -> str:
    import asyncpg

    db = await open_database(manifest.database_url, pg_pool_min=1, pg_pool_max=2)
    try:
        token, till_id = await _define(db, manifest.org_id, manifest.till_id)
    finally:
        await db.close()
    conn = await asyncpg.connect(manifest.database_url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("DELETE FROM events WHERE request_id LIKE 'be000000-%'")
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            rows = [row_for(manifest.org_id, till_id, i, manifest.first_id, manifest.customers)
                    for i in range(start, min(start + CHUNK, count))]
            await conn.copy_records_to_table("events", records=rows, columns=list(EVENT_COLUMNS))
            _progress(start + len(rows), count, started)
        _log("VACUUM ANALYZE events")
        await conn.execute("VACUUM (ANALYZE) events")
    finally:
        await conn.close()
    return f"/webhooks/{token}"


def _progress(done: int, count: int, started: float) -> None:
    if done % 1_000_000 == 0 or done == count:
        _log(f"{done:,}/{count:,} events ({done / (time.perf_counter() - started):,.0f}/s)")


async def ensure_events(engine: str, manifest: Manifest, count: int) -> EventsManifest:
    try:
        found = EventsManifest(**json.loads(events_manifest_path(engine).read_text()))
    except (OSError, ValueError, TypeError):
        found = None
    if (found is not None and found.events == count and found.first_id == manifest.first_id
            and found.customers == manifest.customers and found.version == EVENTS_VERSION
            and found.schema_revision == schema_head()):
        _log(f"{engine}: reusing {count:,} events")
        return found
    _log("checking bulk event rows against Events.ingest")
    await check_against_service(manifest)
    _log(f"{engine}: loading {count:,} events")
    started = time.perf_counter()
    load = _load_sqlite if engine == "sqlite" else _load_postgresql
    path = await load(manifest, count)
    made = EventsManifest(engine, count, manifest.customers, manifest.first_id, EVENTS_VERSION,
                          schema_head(), path, round(time.perf_counter() - started, 1))
    made.write()
    return made


# -- the run -------------------------------------------------------------------------------------


def stored_events(manifest: Manifest) -> int:
    return count_rows(manifest, "SELECT count(*) FROM events WHERE org_id = $1", manifest.org_id)


def capture_event_body(server: Server, em: EventsManifest, auth: str, target: Path) -> int:
    """The median-sized body of 101 real event_data responses becomes the static response."""
    rng = random.Random(20260102)
    bodies = []
    for _ in range(101):
        request_id = REQUEST_ID.format(rng.randrange(em.events))
        status, body = server.get(f"/v2/events/event_data?id={request_id}", auth)
        if status != 200 or b'"data":[]' in body:
            raise RuntimeError(f"event_data {request_id}: {status} {body[:300]!r}")
        bodies.append(body)
    bodies.sort(key=len)
    target.write_bytes(bodies[len(bodies) // 2])
    status, body = server.get("/bench/static", None)
    if status != 200 or body != bodies[len(bodies) // 2]:
        raise RuntimeError("the static route does not answer the captured body")
    return len(body)


def run_engine(engine: str, manifest: Manifest, em: EventsManifest, wrk: str,
               args: argparse.Namespace, stamp: str) -> tuple[list[Measured], list[str]]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    static_body = RESULTS_DIR / f"{stamp}-{engine}-event-static.json"
    static_body.write_bytes(b"{}")
    auth = till_auth(manifest)
    prewarm(manifest)
    server = Server(manifest, args.workers, static_body,
                    RESULTS_DIR / f"{stamp}-{engine}-events.log")
    checks = []
    try:
        size = capture_event_body(server, em, auth, static_body)
        _log(f"{engine}: static event body {size} bytes")
        lookups = [
            Endpoint("static (ceiling)", "/bench/static", auth=False),
            Endpoint("GET /v2/events/event_data?id=", "/v2/events/event_data?id={id}", True,
                     script_args=("0", str(em.events), "/v2/events/event_data?id={id}", auth,
                                  REQUEST_ID_LUA)),
        ]
        results = [measure(engine, server, wrk, e, manifest, auth, args) for e in lookups]
        results[1].ratio = results[1].requests_per_s / results[0].requests_per_s
        results[0].ratio = 1.0
        for batch in (1, 100):
            endpoint = Endpoint(
                f"POST webhook, {batch} event{'s' if batch > 1 else ''}/request", em.webhook_path,
                auth=False, script=WRK_EVENTS, per_request=batch,
                script_args=(em.webhook_path, str(manifest.first_id), str(manifest.customers),
                             str(batch)))
            before = stored_events(manifest)
            warm = args.warmup
            args.warmup = 1  # a short warm-up: every posted event is stored and counted
            try:
                measured = measure(engine, server, wrk, endpoint, manifest, auth, args)
            finally:
                args.warmup = warm
            grown = stored_events(manifest) - before
            posted_ok = (measured.raw["requests"] - measured.errors) * batch
            checks.append(f"{engine}: {endpoint.name}: {grown:,} events stored for "
                          f"{posted_ok:,} acknowledged in the measured run (+ warm-up)")
            if grown < posted_ok:
                raise RuntimeError(f"{endpoint.name}: {grown:,} stored for {posted_ok:,} "
                                   "acknowledged")
            if measured.errors:
                timeouts = measured.raw.get("errors_timeout", 0)
                checks.append(f"{engine}: {endpoint.name}: {measured.errors} failed requests "
                              f"({timeouts} over wrk's 5 s timeout)")
            results.append(measured)
    finally:
        server.stop()
    return results, checks


def events_table(results: list[Measured]) -> str:
    lines = [
        "| engine | endpoint | req/s | events/s | of ceiling | p50 ms | p99 ms | max ms "
        "| max RSS MB | CPU % server / db / wrk | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in results:
        per = int(r.raw.get("per_request", 1))
        events = f"{r.requests_per_s * per:,.0f}" if r.endpoint.startswith("POST") else ""
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        lines.append(
            f"| {r.engine} | {r.endpoint} | {r.requests_per_s:,.0f} | {events} | {ratio} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.0f} | {r.rss_max_mb:.0f} "
            f"| {r.server_cpu_pct:.0f} / {r.database_cpu_pct:.0f} / {r.wrk_cpu_pct:.0f} "
            f"| {r.errors} |")
    return "\n".join(lines)


def verdicts(results: list[Measured]) -> list[str]:
    out = []
    for r in results:
        if r.endpoint.startswith("GET"):
            ok = (r.ratio or 0) >= MIN_LOOKUP_RATIO
            out.append(f"{r.engine}: event_data ratio {r.ratio:.2f} (target >= "
                       f"{MIN_LOOKUP_RATIO}) {'met' if ok else 'MISSED'}")
        elif r.endpoint.startswith("POST") and int(r.raw.get("per_request", 1)) == 100:
            rate = r.requests_per_s * 100
            want = MIN_BATCH_EVENTS_PER_S.get(r.engine)
            target = "" if want is None else (
                f" (target >= {want:,}) {'met' if rate >= want else 'MISSED'}")
            out.append(f"{r.engine}: batched ingestion {rate:,.0f} events/s{target}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per look-up")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or "python -m bench events " + " ".join(
        argv if argv is not None else sys.argv[1:])
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: list[Measured] = []
    checks: list[str] = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        manifest = asyncio.run(ensure(engine, args.customers))
        em = asyncio.run(ensure_events(engine, manifest, args.events))
        measured, checked = run_engine(engine, manifest, em, wrk, args, stamp)
        results.extend(measured)
        checks.extend(checked)
    facts = machine()
    report = "\n".join([
        f"# Patron events run {stamp}",
        "",
        f"command: `{command}`",
        "",
        machine_line(facts),
        "",
        f"{args.customers:,} customers, {args.events:,} stored events; {args.workers} server "
        f"workers; wrk {args.threads} threads, {args.connections} connections, {args.duration} s "
        "per row; durable commits (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on)",
        "",
        events_table(results),
        "",
        *[f"- {v}" for v in verdicts(results)],
        *[f"- {c}" for c in checks],
        "",
    ])
    write_report(f"{stamp}-events", "latest-events", report, {
        "command": command, "machine": facts, "args": vars(args),
        "results": [asdict(r) for r in results], "checks": checks})
