"""The loyalty engine at scale: customer details with the loyalty parts, and bills.

`python -m bench loyalty` does, for each engine:

1. makes sure the customers exist (bench/generate.py), that the demo program file
   (src/patron/loyalty/demo-programs.yaml: a points program with four tiers, a tracker program
   with two) is applied through `Loyalty.apply_programs`, and that every customer has a year of
   bills with everything the engine derives from them: a member row per program, a points lot and
   an EARN ledger row per bill and program, the tier upgrades, and the customer's lifetime
   purchases. Most customers have 10-12 bills at one of five spending levels; the first 32
   customers have 5,000 bills each ("heavy"), the next 10,000 one bill each ("light"). The rows
   are bulk-loaded with the raw drivers; `check_against_service` first pushes a sample (a heavy
   customer, a light one and one of each spending level) through `Commerce.add_transaction` in a
   scratch database, the clock at each bill's time, and compares every row of every table the
   engine wrote, ids included (counted from the bill's id);
2. serves Patron (bench.app, durable commits) and measures with wrk, beside the static ceiling
   of the same run, customer details with `embed=points,mlp`, `tierUpgradeCriteria`,
   `membershipRetentionCriteria` and `slabHistory` for random, heavy and light customers, each
   read once before with that query (load.keep_documents), as the load run's customers are:
   the answer comes from the customer's document and the engine's parts kept beside it, which
   hold until the day ends or a lot or tier period expires first. With `--first-reads` the
   customers were read once without the engine's parts, which each measured read then reads
   (as the first read of a customer in a day, or after a write, does). The
   tables and indexes these reads use are read into the page cache right before (READ_SET; the
   whole data set is too large to stay there on the bench machine, see load.prewarm);
3. posts bills (`POST /v2/transactions`, customer named by id, unique bill numbers; WRITE_SET
   warmed first) to random, heavy and light customers, then checks that every acknowledged
   bill was stored and that the written customers' balances, lots, ledgers, visits and
   purchases still agree.

Reads and writes use different halves of the heavy and of the light customers: the bills a run
posts stay in the data (`--force` reloads the history), and must not lengthen the histories the
next run reads.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import random
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bench.generate import DATA_DIR, Manifest, Person, _mix, ensure, schema_head, scratch
from bench.load import (
    RESULTS_DIR,
    ROOT,
    Endpoint,
    Measured,
    Server,
    capture_static_body,
    count_rows,
    ensure_wrk,
    keep_documents,
    machine,
    machine_line,
    measure,
    prewarm,
    table,
    till_auth,
    write_report,
)
from patron.clock import FixedClock
from patron.commerce.service import TransactionInput
from patron.config import Settings
from patron.db import schema
from patron.db.database import open_database
from patron.db.statement import sql
from patron.loyalty import repository as loyalty_repo
from patron.loyalty.programs import Program, read_program_file
from patron.loyalty.rules import (
    DAY_MS,
    Member,
    PeriodTotals,
    earned_points,
    points_expiry,
    shown_tier_expiry,
    thousandths,
    tier_expiry,
    upgrade_note,
    upgrade_value,
)
from patron.services import Services

VERSION = 2  # 2: a member's tier period starts at the customer's enrolment, as the engine's
PROGRAM_FILE = ROOT / "src" / "patron" / "loyalty" / "demo-programs.yaml"
YEAR_MS = 365 * DAY_MS
HEAVY, HEAVY_BILLS = 32, 5_000  # customers 0..31
LIGHT = 10_000  # customers 32..10,031: one bill each
SCALES = (1, 1, 2, 4, 8)  # spending levels of the other customers (bills of 100-2,000 x scale)
CHUNK = 10_000  # customers per bulk-load transaction
REUSE_DAYS = 30  # a history is reused while it ended within this many days
DETAILS = ("/v2/customers/{id}?source=INSTORE&embed=points,mlp&tierUpgradeCriteria=true"
           "&membershipRetentionCriteria=true&slabHistory=true")
WRK_TRANSACTIONS = Path(__file__).resolve().parent / "transactions.lua"
MIN_RATIO = 0.4
# Customers whose document holds the engine's parts of DETAILS for now (load.keep_documents).
PARTS_KEPT = ("SELECT count(*) FROM customer_documents WHERE org_id = $1 AND renderer = $2 "
              "AND parts IS NOT NULL AND parts_from <= $3 AND parts_until > $3")
FORGET_PARTS = sql("UPDATE customer_documents SET parts_key = NULL, parts_from = NULL, "
                   "parts_until = NULL, parts = NULL WHERE org_id = $1")
FLAT = 0.9  # heavy customers at >= 90% of light customers' rate: cost does not grow

TABLES = {t.name: tuple(c.name for c in t.columns) for t in (
    schema.transactions, schema.points_lots, schema.points_ledger, schema.tier_changes,
    schema.loyalty_members)}
assert TABLES["transactions"] == (
    "org_id", "id", "customer_id", "type", "bill_number", "amount", "billed_at", "till_id",
    "created_at", "source", "return_type", "original_id", "gross_amount", "discount",
    "line_items", "line_count", "returned_amount", "notes", "extended_fields", "in_loyalty")
assert TABLES["points_lots"] == (
    "org_id", "id", "customer_id", "program_id", "kind", "points", "remaining", "earned_at",
    "expires_at", "transaction_id", "promotion_name", "promotion_source_type",
    "promotion_source_id", "till_id", "expired")
assert TABLES["points_ledger"] == (
    "org_id", "id", "customer_id", "program_id", "kind", "points", "lot_id", "transaction_id",
    "redemption_id", "at", "till_id", "notes")
assert TABLES["tier_changes"] == (
    "org_id", "id", "customer_id", "program_id", "type", "from_tier", "to_tier",
    "from_expires_at", "to_expires_at", "changed_at", "notes", "till_id")
assert TABLES["loyalty_members"] == (
    "org_id", "customer_id", "program_id", "tier", "tier_since", "tier_expires_at", "points",
    "lifetime_points", "promotional_points", "redeemed_points", "expired_points",
    "returned_points", "adjusted_points", "cumulative_purchases", "visits", "joined_at",
    "updated_at")
# The engine's tables this load empties first; the bench database holds only the bench org.
CLEARED = ("points_ledger", "points_lots", "tier_changes", "redemptions", "loyalty_members",
           "customer_documents",
           "transactions")


def _log(message: str) -> None:
    print(f"[loyalty] {message}", flush=True)


# -- the history -------------------------------------------------------------------------------


def bills_of(i: int) -> int:
    if i < HEAVY:
        return HEAVY_BILLS
    if i < HEAVY + LIGHT:
        return 1
    return 10 + _mix(i ^ 0x10BA1) % 3


def scale_of(i: int) -> int:
    return 1 if i < HEAVY + LIGHT else SCALES[(_mix(i ^ 0x5CA1E) >> 8) % len(SCALES)]


def history(i: int, end_ms: int) -> Iterator[tuple[str, int, int]]:
    """Customer number i's bills over the year before end_ms: (bill number, billed at, amount in
    thousandths), one in each equal slot of the year, oldest first."""
    n, scale = bills_of(i), scale_of(i)
    slot = YEAR_MS // n
    start = end_ms - YEAR_MS
    for k in range(n):
        h = _mix((i << 13) + k)
        yield (f"H{i:07d}-{k:04d}", start + k * slot + h % slot,
               (10_000 + (h >> 32) % 190_000) * 10 * scale)


@dataclass(frozen=True)
class Plan:
    """A program as the generator applies it: the engine's rules with the rates as fractions, so
    that earning is integer arithmetic (proved equal to `earned_points` before every load)."""

    id: int
    program: Program
    rates: tuple[tuple[int, int], ...]
    thresholds: tuple[int | None, ...]
    window_ms: int | None

    @classmethod
    def of(cls, program: Program) -> Plan:
        tracker = program.upgrade.tracker
        return cls(program.id, program,
                   tuple(Decimal(t.points_per_currency).as_integer_ratio() for t in program.tiers),
                   tuple(None if t.threshold is None else thousandths(t.threshold)
                         for t in program.tiers),
                   tracker.window_days * DAY_MS if tracker else None)

    def earned(self, tier: int, amount: int) -> int:
        num, den = self.rates[tier - 1]
        d = 1000 * den
        rounding = self.program.rounding
        if rounding == "FLOOR":
            whole = amount * num // d
        elif rounding == "CEIL":
            whole = -(-amount * num // d)
        else:
            whole = (2 * amount * num + d) // (2 * d)
        return whole * 1000

    def reached(self, value: int) -> int:
        tier = 1
        for serial, threshold in enumerate(self.thresholds, start=1):
            if threshold is not None and value >= threshold:
                tier = serial
        return tier


def plans() -> list[Plan]:
    """The program file's programs in the engine's order: the default first, then by id."""
    programs = read_program_file(PROGRAM_FILE.read_text()).programs
    default = next((p.id for p in programs if p.default), programs[0].id)
    return [Plan.of(p) for p in sorted(programs, key=lambda p: (p.id != default, p.id))]


@dataclass
class Rows:
    """Every row the engine writes for some customers' histories, table by table."""

    tables: dict[str, list[tuple]] = field(default_factory=lambda: {t: [] for t in TABLES})
    totals: list[tuple[int, int]] = field(default_factory=list)  # (customer id, purchases)


class _Window:
    """A tracker's moving window over a customer's bills (what PERIOD_TOTALS sums)."""

    def __init__(self, width_ms: int) -> None:
        self.width = width_ms
        self.bills: deque[tuple[int, int]] = deque()
        self.purchases = 0

    def add(self, at: int, amount: int) -> None:
        self.bills.append((at, amount))
        self.purchases += amount

    def totals(self, at: int) -> PeriodTotals:
        while self.bills and self.bills[0][0] < at - self.width:
            self.purchases -= self.bills.popleft()[1]
        return PeriodTotals(self.purchases, len(self.bills), 0)


def customer_rows(out: Rows, plans: list[Plan], org_id: int, till_id: int, customer_id: int,
                  i: int, end_ms: int, ids: Iterator[int], enrolled_ms: int) -> None:
    """What `Commerce.add_transaction` writes for customer i's bills, each added at its billing
    time: the bill, then per program the lot and ledger row of the points (if any) and an
    upgrade when one is reached; ids are drawn from `ids` in the engine's order. A program's
    member joins, in its base tier, when the customer enrolled (`enrolled_ms`)."""
    t = out.tables
    members: dict[int, Member] = {}
    windows = {p.id: _Window(p.window_ms) for p in plans if p.window_ms is not None}
    total = 0
    for bill, at, amount in history(i, end_ms):
        transaction_id = next(ids)
        t["transactions"].append((org_id, transaction_id, customer_id, "REGULAR", bill, amount,
                                  at, till_id, at, "INSTORE", None, None, None, 0, "[]", 0, 0,
                                  "", "{}", True))
        total += amount
        for w in windows.values():
            w.add(at, amount)
        for plan in plans:
            p = plan.program
            m = members.get(plan.id)
            if m is None:
                m = members[plan.id] = Member.new(customer_id, plan.id, at)
                m.tier_since = m.joined_at = enrolled_ms  # loyalty.repository.ENSURE_MEMBER
            points = plan.earned(m.tier, amount)
            if points:
                lot_id, ledger_id = next(ids), next(ids)
                t["points_lots"].append((org_id, lot_id, customer_id, plan.id, "REGULAR", points,
                                         points, at, points_expiry(p, at), transaction_id, None,
                                         None, None, till_id, 0))
                t["points_ledger"].append((org_id, ledger_id, customer_id, plan.id, "EARN",
                                           points, lot_id, transaction_id, None, at, till_id, ""))
                m.points += points
                m.lifetime_points += points
            m.cumulative_purchases += amount
            m.visits += 1
            tracked = windows[plan.id].totals(at).tracker_value(p.upgrade.tracker.type) \
                if p.upgrade.tracker else 0
            reached = plan.reached(upgrade_value(p, m, tracked))
            if reached > m.tier:
                before = p.tier(m.tier).name
                before_expiry = shown_tier_expiry(m.tier_expires_at, m.tier_since)
                m.tier, m.tier_since = reached, at
                m.tier_expires_at = tier_expiry(p, reached, at)
                t["tier_changes"].append((org_id, next(ids), customer_id, plan.id, "UPGRADE",
                                          before, p.tier(reached).name, before_expiry,
                                          shown_tier_expiry(m.tier_expires_at, at), at,
                                          upgrade_note(p, reached), till_id))
            m.updated_at = at
    for m in members.values():
        t["loyalty_members"].append((
            org_id, customer_id, m.program_id, m.tier, m.tier_since, m.tier_expires_at, m.points,
            m.lifetime_points, m.promotional_points, m.redeemed_points, m.expired_points,
            m.returned_points, m.adjusted_points, m.cumulative_purchases, m.visits, m.joined_at,
            m.updated_at))
    out.totals.append((customer_id, total))


def ids_needed(plans: list[Plan], customers: int) -> int:
    """At most the ids the history of `customers` customers draws: per bill one, and a lot and a
    ledger row per program; per customer an upgrade to each tier above the base at most."""
    bills = sum(bills_of(i) for i in range(customers))
    return bills * (1 + 2 * len(plans)) + customers * sum(len(p.program.tiers) - 1
                                                          for p in plans)


def chunks(manifest: Manifest, plans: list[Plan], end_ms: int, first_id: int
           ) -> Iterator[tuple[int, Rows]]:
    ids = itertools.count(first_id)
    for start in range(0, manifest.customers, CHUNK):
        rows = Rows()
        stop = min(start + CHUNK, manifest.customers)
        for i in range(start, stop):
            customer_rows(rows, plans, manifest.org_id, manifest.till_id, manifest.first_id + i,
                          i, end_ms, ids, Person.number(i).created_ms)
        yield stop, rows


# -- proof that the bulk rows are the engine's rows --------------------------------------------


def check_earning(plans: list[Plan]) -> None:
    """The generator's integer earning equals the engine's `earned_points` (Decimal)."""
    rng = random.Random(7)
    amounts = [*range(0, 20_000, 10), *(rng.randrange(16_000_000) * 10 for _ in range(5_000))]
    for plan in plans:
        for serial, tier in enumerate(plan.program.tiers, start=1):
            for amount in amounts:
                want = earned_points(plan.program, tier, amount)
                got = plan.earned(serial, amount)
                if got != want:
                    raise AssertionError(f"earning differs: program {plan.id} tier {serial} "
                                         f"amount {amount}: {got} != {want}")


def check_sample() -> list[int]:
    """A heavy customer, a light one, and the first customer of each spending level."""
    sample = [0, HEAVY]
    for scale in sorted(set(SCALES)):
        sample.append(next(i for i in itertools.count(HEAVY + LIGHT) if scale_of(i) == scale))
    return sample


async def check_against_service(plans: list[Plan], end_ms: int) -> None:
    """Push the sample's bills through `Commerce.add_transaction` in a scratch database (the
    clock at each bill's time) and compare every row it wrote with `customer_rows`."""
    from bench.events import EVENTS_FROM_MS, _sample_customers

    check_earning(plans)
    clock = FixedClock(end_ms - YEAR_MS)
    sample = check_sample()
    async with scratch(clock) as (db, org, services):
        await services.loyalty.apply_programs(org.org_id,
                                              read_program_file(PROGRAM_FILE.read_text()))
        first = await _sample_customers(services, org.org_id, len(sample))
        raw: sqlite3.Connection = db._conn  # type: ignore[attr-defined]
        reached: set[tuple[int, str]] = set()
        for n, i in enumerate(sample):
            customer_id, first_bill = first + n, None
            for bill, at, amount in history(i, end_ms):
                clock.value = at
                outcome = await services.commerce.add_transaction(
                    org.org_id, customer_id, TransactionInput("REGULAR", bill, amount, at),
                    org.till_id)
                first_bill = first_bill or outcome.id
            want = Rows()
            customer_rows(want, plans, org.org_id, org.till_id, customer_id, i, end_ms,
                          itertools.count(first_bill), EVENTS_FROM_MS)
            for name, columns in TABLES.items():
                got = [tuple(r) for r in raw.execute(
                    f"SELECT {', '.join(columns)} FROM {name} WHERE customer_id = ? "
                    f"ORDER BY {'program_id' if name == 'loyalty_members' else 'id'}",
                    (customer_id,))]
                if name == "loyalty_members":
                    want.tables[name].sort(key=lambda r: r[2])
                if got != want.tables[name]:
                    diff = next(((g, w) for g, w in zip(got, want.tables[name], strict=False)
                                 if g != w), (len(got), len(want.tables[name])))
                    raise AssertionError(f"customer {i}: bulk {name} rows differ from the "
                                         f"engine's (first difference: {diff})")
            totals = raw.execute("SELECT lifetime_purchases, net_revenue FROM customers "
                                 "WHERE id = ?", (customer_id,)).fetchone()
            if tuple(totals) != (want.totals[0][1],) * 2:
                raise AssertionError(f"customer {i}: totals {tuple(totals)} != {want.totals}")
            reached |= {(r[3], r[6]) for r in want.tables["tier_changes"]}
    tops = {(p.id, p.program.tiers[-1].name) for p in plans}
    if not tops <= reached:
        raise AssertionError(f"the sample reaches no top tier of {tops - reached}")
    _log(f"bulk rows equal the engine's for customers {sample} "
         f"({sum(bills_of(i) for i in sample):,} bills)")


# -- manifests ---------------------------------------------------------------------------------


@dataclass
class LoyaltyManifest:
    engine: str
    customers: int
    first_id: int
    version: int
    schema_revision: str
    programs_sha1: str
    history_end_ms: int
    rows: dict[str, int]
    seconds: float

    def write(self) -> None:
        manifest_path(self.engine).write_text(json.dumps(asdict(self), indent=2) + "\n")

    def groups(self, *, writes: bool) -> dict[str, tuple[int, int]]:
        """The customer groups measured, name -> (first id, count). Reads and writes use
        different halves of the heavy and light customers, so that the bills a run posts never
        lengthen the histories the next run reads."""
        half = (HEAVY // 2, LIGHT // 2) if writes else (0, 0)
        return {"random customers (10-12 bills)": (self.first_id + HEAVY + LIGHT,
                                                   self.customers - HEAVY - LIGHT),
                f"heavy customers ({HEAVY_BILLS:,} bills)": (self.first_id + half[0],
                                                             HEAVY // 2),
                "light customers (1 bill)": (self.first_id + HEAVY + half[1], LIGHT // 2)}


def manifest_path(engine: str) -> Path:
    return DATA_DIR / f"{engine}-loyalty.json"


def programs_sha1() -> str:
    return hashlib.sha1(PROGRAM_FILE.read_bytes(), usedforsecurity=False).hexdigest()


def today_ms() -> int:
    now = int(time.time() * 1000)
    return now - now % DAY_MS


async def usable(manifest: Manifest) -> LoyaltyManifest | None:
    try:
        found = LoyaltyManifest(**json.loads(manifest_path(manifest.engine).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if (found.customers != manifest.customers or found.first_id != manifest.first_id
            or found.version != VERSION or found.schema_revision != schema_head()
            or found.programs_sha1 != programs_sha1()
            or today_ms() - found.history_end_ms > REUSE_DAYS * DAY_MS):
        return None
    # The customers may have been regenerated under the same manifest values: look.
    heavy = await asyncio.to_thread(
        count_rows, manifest, "SELECT count(*) FROM transactions WHERE org_id = $1 "
        "AND customer_id = $2", manifest.org_id, manifest.first_id)
    return found if heavy >= HEAVY_BILLS else None


# -- loading -----------------------------------------------------------------------------------


async def _apply_programs(manifest: Manifest, end_ms: int) -> None:
    """The program file, through the service (the public path)."""
    db = await open_database(manifest.database_url, pg_pool_min=1, pg_pool_max=2)
    try:
        services = Services.build(Settings(), db, FixedClock(end_ms - YEAR_MS))
        await services.loyalty.apply_programs(manifest.org_id,
                                              read_program_file(PROGRAM_FILE.read_text()))
    finally:
        await db.close()


def _insert(table: str) -> str:
    columns = TABLES[table]
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' * len(columns))})")


def _progress(done: int, count: int, rows: dict[str, int], started: float) -> None:
    if done % 100_000 == 0 or done == count:
        _log(f"{done:,}/{count:,} customers, {rows['transactions']:,} bills, "
             f"{rows['points_lots']:,} lots ({done / (time.perf_counter() - started):,.0f} "
             "customers/s)")


def _load_sqlite(manifest: Manifest, plans: list[Plan], end_ms: int) -> dict[str, int]:
    conn = sqlite3.connect(manifest.database_url.removeprefix("sqlite:///"), isolation_level=None)
    counts = dict.fromkeys(TABLES, 0)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1048576")
        for name in CLEARED:
            conn.execute(f"DELETE FROM {name}")  # noqa: S608 - no WHERE: SQLite truncates
        need = ids_needed(plans, manifest.customers)
        first = conn.execute("UPDATE id_counters SET next_value = next_value + ? "
                             "WHERE name = 'patron_ids' RETURNING next_value - ?",
                             (need, need)).fetchone()[0]
        started = time.perf_counter()
        for done, rows in chunks(manifest, plans, end_ms, first):
            conn.execute("BEGIN")
            for name, table_rows in rows.tables.items():
                conn.executemany(_insert(name), table_rows)
                counts[name] += len(table_rows)
            conn.executemany("UPDATE customers SET lifetime_purchases = ?2, net_revenue = ?2 "
                             "WHERE org_id = ?3 AND id = ?1",
                             [(c, total, manifest.org_id) for c, total in rows.totals])
            conn.execute("COMMIT")
            _progress(done, manifest.customers, counts, started)
        _log("ANALYZE")
        for name in TABLES:
            conn.execute(f"ANALYZE {name}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return counts


async def _load_postgresql(manifest: Manifest, plans: list[Plan], end_ms: int) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(manifest.database_url)
    counts = dict.fromkeys(TABLES, 0)
    try:
        await conn.execute("SET synchronous_commit = off")
        # Without the triggers that count each loyalty row on its customer (migration 0013):
        # millions of updates of the customers for a count that only tells kept documents
        # apart, and none is kept yet (TRUNCATE below empties them).
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(f"TRUNCATE {', '.join(CLEARED)}")
        need = ids_needed(plans, manifest.customers)
        first = int(await conn.fetchval("SELECT nextval('patron_ids')"))
        await conn.execute("SELECT setval('patron_ids', $1)", first + need)
        await conn.execute("CREATE TEMPORARY TABLE bench_totals (id BIGINT, total BIGINT)")
        started = time.perf_counter()
        for done, rows in chunks(manifest, plans, end_ms, first):
            for name, table_rows in rows.tables.items():
                await conn.copy_records_to_table(name, records=table_rows,
                                                 columns=list(TABLES[name]))
                counts[name] += len(table_rows)
            await conn.copy_records_to_table("bench_totals", records=rows.totals)
            _progress(done, manifest.customers, counts, started)
        _log("customer totals; VACUUM ANALYZE")
        await conn.execute("UPDATE customers c SET lifetime_purchases = t.total, "
                           "net_revenue = t.total FROM bench_totals t "
                           "WHERE c.org_id = $1 AND c.id = t.id", manifest.org_id)
        for name in (*TABLES, "customers"):
            await conn.execute(f"VACUUM (ANALYZE) {name}")
    finally:
        await conn.close()
    return counts


async def ensure_history(manifest: Manifest, *, force: bool = False) -> LoyaltyManifest:
    found = None if force else await usable(manifest)
    if found is not None:
        _log(f"{manifest.engine}: reusing the loyalty history ({found.rows['transactions']:,} "
             f"bills, ending {datetime.fromtimestamp(found.history_end_ms / 1000, UTC):%Y-%m-%d})")
        return found
    end_ms = today_ms()
    plan_list = plans()
    _log("checking bulk loyalty rows against Commerce.add_transaction")
    await check_against_service(plan_list, end_ms)
    _log(f"{manifest.engine}: loading a year of bills for {manifest.customers:,} customers")
    started = time.perf_counter()
    await _apply_programs(manifest, end_ms)
    if manifest.engine == "sqlite":
        counts = await asyncio.to_thread(_load_sqlite, manifest, plan_list, end_ms)
    else:
        counts = await _load_postgresql(manifest, plan_list, end_ms)
    made = LoyaltyManifest(manifest.engine, manifest.customers, manifest.first_id, VERSION,
                           schema_head(), programs_sha1(), end_ms, counts,
                           round(time.perf_counter() - started, 1))
    made.write()
    _log(f"{manifest.engine}: loaded in {made.seconds:.0f} s: "
         + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
    return made


async def catch_up(manifest: Manifest) -> str:
    """`patron loyalty run` before serving: the server's workers run the scheduled jobs at
    start-up, and a history loaded some days ago has tiers due by now; caught up here, that
    work does not land inside the measured runs."""
    db = await open_database(manifest.database_url, pg_pool_min=1, pg_pool_max=2)
    try:
        report = await Services.build(Settings(), db).loyalty.run_jobs(manifest.org_id)
    finally:
        await db.close()
    return (f"{manifest.engine}: scheduled jobs caught up before serving: "
            f"{report.expired_lots:,} lots expired, {report.renewed:,} tiers renewed, "
            f"{report.downgraded:,} downgraded")


async def forget_parts(manifest: Manifest) -> None:
    """Drops the engine's parts kept beside the documents (`--first-reads`)."""
    db = await open_database(manifest.database_url, pg_pool_min=1, pg_pool_max=2)
    try:
        await db.execute(FORGET_PARTS, manifest.org_id)
    finally:
        await db.close()
    if manifest.engine == "sqlite":  # the rewritten pages, out of the WAL before the run
        with sqlite3.connect(manifest.database_url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:  # the old rows' versions, vacuumed before the run rather than during it
        import asyncpg

        conn = await asyncpg.connect(manifest.database_url)
        try:
            await conn.execute("VACUUM (ANALYZE) customer_documents")
        finally:
            await conn.close()


# -- checks after writing ----------------------------------------------------------------------

# The same agreement `Loyalty.check_ledger` checks, for many members in one query: its lots sum
# (repository LOTS_SUM) lacks `remaining > 0`, so on SQLite it cannot use the partial index
# points_lots_member and reads all 22M lots per call.
MEMBER_FACTS = sql(
    "SELECT m.program_id, m.points, m.visits, m.cumulative_purchases, c.lifetime_purchases, "
    "(SELECT COALESCE(SUM(l.points), 0) FROM points_ledger l WHERE l.org_id = m.org_id "
    "AND l.customer_id = m.customer_id AND l.program_id = m.program_id) AS ledger, "
    "(SELECT COALESCE(SUM(o.remaining), 0) FROM points_lots o WHERE o.org_id = m.org_id "
    "AND o.customer_id = m.customer_id AND o.program_id = m.program_id "
    "AND o.remaining > 0) AS lots, "
    "(SELECT count(*) FROM transactions t WHERE t.org_id = m.org_id "
    "AND t.customer_id = m.customer_id AND t.type = 'REGULAR') AS bills, "
    "(SELECT COALESCE(SUM(t.amount), 0) FROM transactions t WHERE t.org_id = m.org_id "
    "AND t.customer_id = m.customer_id AND t.type = 'REGULAR') AS billed "
    "FROM loyalty_members m JOIN customers c ON c.org_id = m.org_id AND c.id = m.customer_id "
    "WHERE m.org_id = $1 AND m.customer_id = $2 ORDER BY m.program_id"
)


async def check_members(manifest: Manifest, lm: LoyaltyManifest, sample: int = 100) -> str:
    """Every heavy customer and a sample of each group: points = open lots = ledger sum, the
    balance rule holds, and visits, purchases and lifetime purchases agree with the stored
    bills (no returns here)."""
    rng = random.Random(11)
    customers = [lm.first_id + i for i in range(HEAVY)]
    for writes in (False, True):
        for first, count in lm.groups(writes=writes).values():
            customers += [first + rng.randrange(count) for _ in range(sample)]
    customers = sorted(set(customers))
    db = await open_database(manifest.database_url, pg_pool_min=1, pg_pool_max=2)
    try:
        members = 0
        for customer_id in customers:
            facts = await db.fetch(MEMBER_FACTS, manifest.org_id, customer_id)
            rows = await db.fetch(loyalty_repo.MEMBERS, manifest.org_id, customer_id)
            standing = sorted((Member.of(r) for r in rows), key=lambda m: m.program_id)
            for f, m in zip(facts, standing, strict=True):
                if not (f["points"] == f["ledger"] == f["lots"] >= 0 and m.balance_rule_holds()
                        and f["visits"] == f["bills"] and f["cumulative_purchases"]
                        == f["lifetime_purchases"] == f["billed"]):
                    raise AssertionError(f"customer {customer_id}: {dict(f)} {m}")
                members += 1
    finally:
        await db.close()
    return (f"{manifest.engine}: {members} members of {len(customers)} customers (all {HEAVY} "
            "heavy ones): points = open lots = ledger, balance rule holds, visits and "
            "purchases = bills")


# -- the run -----------------------------------------------------------------------------------

COUNT_BILLS = "SELECT count(*) FROM transactions WHERE org_id = $1"
# What customer details with the loyalty parts read (tables with their primary keys, then the
# other indexes), and what a bill reads at random places (it appends everything else): warmed
# right before the runs over random customers (bench/load.py `prewarm`).
READ_SET = (("customer_documents", "customers", "profiles", "tills", "credentials",
             "loyalty_programs", "loyalty_members", "points_lots", "tier_changes"),
            ("points_lots_member", "tier_changes_customer", "transactions_customer"))
WRITE_SET = (("customers", "loyalty_members", "transactions"),
             ("transactions_customer", "points_lots_member", "points_ledger_member"))


def run_engine(engine: str, manifest: Manifest, lm: LoyaltyManifest, wrk: str,
               args: argparse.Namespace, stamp: str) -> tuple[list[Measured], list[str]]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    static_body = RESULTS_DIR / f"{stamp}-{engine}-loyalty-static.json"
    static_body.write_bytes(b"{}")
    auth = till_auth(manifest)
    groups = lm.groups(writes=False)
    random_first, random_count = next(iter(groups.values()))
    checks = [asyncio.run(catch_up(manifest))]
    _log(checks[0])
    server = Server(manifest, args.workers, static_body,
                    RESULTS_DIR / f"{stamp}-{engine}-loyalty.log")
    try:
        # As the load run does (bench/load.py): customers read before and unchanged since,
        # whose details other than the engine's parts come from their documents.
        if args.first_reads:  # documents without the engine's parts: each read reads them
            documents = keep_documents(server, manifest, auth, args.connections)
            asyncio.run(forget_parts(manifest))
        else:
            documents = keep_documents(server, manifest, auth, args.connections, path=DETAILS,
                                       counted=PARTS_KEPT)
        checks.append(f"{engine}: {documents:,} customers with a kept document at the start"
                      + (", without the engine's parts" if args.first_reads else
                         ", with the engine's parts of the measured read"))
        size = capture_static_body(server, manifest, auth, static_body, path=DETAILS,
                                   first_id=random_first, count=random_count)
        _log(f"{engine}: static details body {size:,} bytes")
        reads = [Endpoint("static (ceiling)", "/bench/static", auth=False)] + [
            Endpoint(f"GET details + loyalty, {name}", DETAILS, auth=True,
                     script_args=(str(first), str(count), DETAILS, auth))
            for name, (first, count) in groups.items()]
        results = []
        for endpoint in reads:
            if endpoint is reads[1]:
                prewarm(manifest, *READ_SET)
            results.append(measure(engine, server, wrk, endpoint, manifest, auth, args))
        for r in results:
            r.ratio = r.requests_per_s / results[0].requests_per_s
        # Every posted bill is stored and counted: a 1 s warm-up, as many connections as tills.
        writing = argparse.Namespace(**{**vars(args), "warmup": 1,
                                        "connections": args.write_connections,
                                        "duration": args.write_duration})
        prewarm(manifest, *WRITE_SET)
        for name, (first, count) in lm.groups(writes=True).items():
            endpoint = Endpoint(f"POST /v2/transactions, {name}", "/v2/transactions", auth=True,
                                script=WRK_TRANSACTIONS,
                                script_args=(str(first), str(count), auth))
            before = count_rows(manifest, COUNT_BILLS, manifest.org_id)
            measured = measure(engine, server, wrk, endpoint, manifest, auth, writing)
            grown = count_rows(manifest, COUNT_BILLS, manifest.org_id) - before
            acknowledged = measured.raw["requests"] - measured.errors
            checks.append(f"{engine}: {endpoint.name}: {grown:,} bills stored for "
                          f"{acknowledged:,} acknowledged in the measured run (+ warm-up)")
            if grown < acknowledged:
                raise RuntimeError(f"{endpoint.name}: {grown:,} stored for {acknowledged:,} "
                                   "acknowledged")
            if measured.errors:
                checks.append(f"{engine}: {endpoint.name}: {measured.errors} failed requests")
            results.append(measured)
    finally:
        server.stop()
    checks.append(asyncio.run(check_members(manifest, lm)))
    return results, checks


def verdicts(results: list[Measured]) -> list[str]:
    out = []
    for engine in dict.fromkeys(r.engine for r in results):
        mine = [r for r in results if r.engine == engine]
        gets = [r for r in mine if r.endpoint.startswith("GET")]
        posts = [r for r in mine if r.endpoint.startswith("POST")]
        if gets:
            ratio = gets[0].ratio or 0
            verdict = "met" if ratio >= MIN_RATIO else "MISSED"
            out.append(f"{engine}: details + loyalty, random customers: {ratio:.2f} of the "
                       f"ceiling (target >= {MIN_RATIO}) {verdict}; p99 {gets[0].p99_ms:.1f} ms")
        for kind, rows in (("read", gets), ("write", posts)):
            if len(rows) == 3:
                heavy, light = rows[1].requests_per_s, rows[2].requests_per_s
                out.append(f"{engine}: {kind}s of {HEAVY_BILLS:,}-bill customers at "
                           f"{heavy / light:.2f} of 1-bill customers' rate ({heavy:,.0f} vs "
                           f"{light:,.0f}/s): {kind} cost "
                           f"{'does not grow' if heavy >= FLAT * light else 'GROWS'} with "
                           "history")
        if posts:
            out.append(f"{engine}: {posts[0].requests_per_s:,.0f} bills/s to random customers, "
                       f"durable commits; p99 {posts[0].p99_ms:.1f} ms")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench loyalty", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--force", action="store_true", help="reload the loyalty history")
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured read run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per read run")
    parser.add_argument("--connections", type=int, default=32, help="connections for reads")
    parser.add_argument("--first-reads", action="store_true",
                        help="measure reads whose engine's parts are not kept yet (the first "
                        "read of a customer in a day, or after a write)")
    parser.add_argument("--write-duration", type=int, default=15,
                        help="seconds per measured write run (after a 1 s warm-up)")
    parser.add_argument("--write-connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args(argv)
    if args.customers < HEAVY + LIGHT + 1_000:
        parser.error(f"--customers must be at least {HEAVY + LIGHT + 1_000:,}")
    command = os.environ.get("BENCH_COMMAND") or "python -m bench loyalty " + " ".join(
        argv if argv is not None else sys.argv[1:])
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: list[Measured] = []
    checks: list[str] = []
    loaded: list[LoyaltyManifest] = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        manifest = asyncio.run(ensure(engine, args.customers))
        lm = asyncio.run(ensure_history(manifest, force=args.force))
        loaded.append(lm)
        measured, checked = run_engine(engine, manifest, lm, wrk, args, stamp)
        results.extend(measured)
        checks.extend(checked)
    facts = machine()
    data = "; ".join(f"{lm.engine}: " + ", ".join(f"{n:,} {t}" for t, n in lm.rows.items())
                     for lm in loaded)
    report = "\n".join([
        f"# Patron loyalty run {stamp}", "", f"command: `{command}`", "", machine_line(facts), "",
        f"{args.customers:,} customers with a year of bills under the demo programs ({data}); "
        f"{args.workers} server workers; wrk {args.threads} threads; reads {args.connections} "
        f"connections, {args.warmup} s warm-up + {args.duration} s; writes "
        f"{args.write_connections} connections, 1 s warm-up + {args.write_duration} s, durable "
        "commits (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on)", "",
        f"`GET {DETAILS}`", "",
        table(results), "", *[f"- {v}" for v in verdicts(results)],
        *[f"- {c}" for c in checks], ""])
    write_report(f"{stamp}-loyalty", "latest-loyalty", report, {
        "command": command, "machine": facts, "args": vars(args),
        "data": [asdict(lm) for lm in loaded], "results": [asdict(r) for r in results],
        "checks": checks})
