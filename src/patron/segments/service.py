"""Segments: named classifications of customers into ordered partitions ("Activity segment":
Active, At risk, Lapsed), and which partition each customer is in.

Capillary builds segments in its Insights+ UI, either from filters or by uploading a CSV whose
rows name a customer (`user_id`, `mobile`, `email` or `external_id`) and a partition (`value`),
and shows them in customer details (`segments: {name: partition}`). Patron keeps static segments
only: the loyalty face's routes and `patron segments load` both assign through `assign`, the one
implementation of the upload's rules:

- a customer is in at most one partition of a segment; assigning again moves it;
- a partition must be one of the segment's (matched without regard to case, stored in the
  segment's spelling);
- each row applies on its own: a bad row is reported and the others still apply.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from patron.clock import Clock
from patron.customers import repository as customers_repo
from patron.customers.service import Customers
from patron.db.database import Database, Queryable, Row
from patron.db.ids import next_id
from patron.errors import Conflict, NotFound, PatronError, ValidationFailed
from patron.jsonio import dumps_text, loads
from patron.segments import repository as repo

# The upload's identifier columns, and the customer identifier each names.
IDENTIFIER_COLUMNS = {"user_id": "id", "mobile": "mobile", "email": "email",
                      "external_id": "externalId"}
PARTITION_COLUMN = "value"
MAX_NAME = 200
MAX_DESCRIPTION = 1000
MAX_PARTITIONS = 100
MAX_PARTITION_NAME = 100
MAX_ASSIGN_BATCH = 1000


@dataclass(frozen=True)
class Segment:
    id: int
    name: str
    description: str
    partitions: tuple[str, ...]
    created_at: int
    updated_at: int
    members: dict[str, int] = field(default_factory=dict)  # partition -> customers in it

    @classmethod
    def of(cls, row: Row, counts: Mapping[str, int] | None = None) -> Segment:
        partitions = tuple(loads(row["partitions"]))
        counts = counts or {}
        return cls(int(row["id"]), row["name"], row["description"], partitions,
                   row["created_at"], row["updated_at"],
                   {p: int(counts.get(p, 0)) for p in partitions})

    def partition_named(self, value: str) -> str | None:
        wanted = value.strip().lower()
        return next((p for p in self.partitions if p.lower() == wanted), None)


@dataclass
class Assignment:
    """One row of an assignment batch: the customer and partition it set, or why it failed."""

    row: Any
    customer_id: int | None = None
    partition: str | None = None
    error: PatronError | None = None


@dataclass
class LoadReport:
    """What `load` did with an upload file: rows read, rows applied, and the failed rows' line
    numbers and reasons (the first MAX_REPORTED of them; `failed` counts them all)."""

    segment: Segment
    rows: int = 0
    assigned: int = 0
    failed: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)


MAX_REPORTED = 1000


@dataclass
class _Parsed:
    identifier: str = ""
    value: str = ""
    partition: str = ""


def segment_not_found() -> NotFound:
    return NotFound("Segment not found", reason="segment_not_found")


class Segments:
    def __init__(self, db: Database, clock: Clock, customers: Customers) -> None:
        self.db = db
        self.clock = clock
        self.customers = customers

    # -- definitions --------------------------------------------------------------------------

    async def create(self, org_id: int, name: str, description: str,
                     partitions: Sequence[str]) -> Segment:
        name, description, ordered = _definition(name, description, partitions)
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            segment_id = await next_id(tx)
            await tx.execute(repo.INSERT_SEGMENT, org_id, segment_id, name, description,
                             dumps_text(list(ordered)), now)
            row = await tx.fetchrow(repo.GET_SEGMENT, org_id, segment_id)
        if row is None:  # the name is taken (the unique index decides, races included)
            raise _name_taken(name)
        return Segment.of(row)

    async def listed(self, org_id: int) -> list[Segment]:
        rows = await self.db.fetch(repo.LIST_SEGMENTS, org_id)
        counts = _counts(await self.db.fetch(repo.MEMBER_COUNTS, org_id))
        return [Segment.of(r, counts.get(int(r["id"]))) for r in rows]

    async def get(self, org_id: int, segment_id: int) -> Segment:
        row = await self.db.fetchrow(repo.GET_SEGMENT, org_id, segment_id)
        if row is None:
            raise segment_not_found()
        counts = _counts(await self.db.fetch(repo.SEGMENT_MEMBER_COUNTS, org_id, segment_id))
        return Segment.of(row, counts.get(segment_id))

    async def _exists(self, org_id: int, segment_id: int) -> None:
        if await self.db.fetchrow(repo.GET_SEGMENT, org_id, segment_id) is None:
            raise segment_not_found()

    async def by_name(self, org_id: int, name: str) -> Segment:
        row = await self.db.fetchrow(repo.FIND_SEGMENT_BY_NAME, org_id, name.strip())
        if row is None:
            raise segment_not_found()
        return Segment.of(row)

    async def update(self, org_id: int, segment_id: int, *, name: str | None = None,
                     description: str | None = None,
                     partitions: Sequence[str] | None = None) -> tuple[Segment, int]:
        """Change what is given. `partitions` replaces the ordered list: a partition spelled
        differently only in case is the same partition (its members follow the new spelling);
        the members of a partition no longer listed leave the segment. Answers the segment and
        how many customers left it."""
        now = self.clock.now_ms()
        removed = 0
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(repo.LOCK_SEGMENT, org_id, segment_id)
            if row is None:
                raise segment_not_found()
            current = Segment.of(row)
            new_name, new_description, ordered = _definition(
                current.name if name is None else name,
                current.description if description is None else description,
                current.partitions if partitions is None else partitions)
            if new_name != current.name:
                other = await tx.fetchrow(repo.FIND_SEGMENT_BY_NAME, org_id, new_name)
                if other is not None and int(other["id"]) != segment_id:
                    raise _name_taken(new_name)
            kept = {p.lower(): p for p in ordered}
            for old in current.partitions:
                new = kept.get(old.lower())
                if new is None:
                    removed += int(await tx.fetchval(repo.COUNT_PARTITION, org_id, segment_id,
                                                     old))
                    await tx.execute(repo.EMPTY_PARTITION, org_id, segment_id, old)
                elif new != old:
                    await tx.execute(repo.RENAME_PARTITION, org_id, segment_id, old, new)
            await tx.execute(repo.UPDATE_SEGMENT, org_id, segment_id, new_name, new_description,
                             dumps_text(list(ordered)), now)
        return await self.get(org_id, segment_id), removed

    # -- membership ---------------------------------------------------------------------------

    async def assign(self, org_id: int, segment_id: int,
                     rows: Sequence[Any]) -> list[Assignment]:
        """Put customers into partitions: each row a mapping with one identifier column
        (`user_id`, `mobile`, `email`, `external_id`) and `value`, the partition. Rows apply
        on their own (a later row for the same customer wins); the segment must exist."""
        if len(rows) > MAX_ASSIGN_BATCH:
            raise ValidationFailed(f"at most {MAX_ASSIGN_BATCH} rows per batch",
                                   reason="batch_too_large")
        await self._exists(org_id, segment_id)  # NotFound before any row is looked at
        outcomes = [Assignment(row) for row in rows]
        parsed: list[tuple[Assignment, _Parsed]] = []
        for outcome in outcomes:
            try:
                parsed.append((outcome, _parse_row(outcome.row)))
            except PatronError as exc:
                outcome.error = exc
        found = await self.customers.resolve_many(
            org_id, [(IDENTIFIER_COLUMNS[p.identifier], p.value) for _, p in parsed])
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(repo.LOCK_SEGMENT, org_id, segment_id)
            if row is None:  # removed since: there is no segment removal yet, but be exact
                raise segment_not_found()
            segment = Segment.of(row)
            # Locked until the batch commits (as active_state locks one): a customer erased
            # since they were found is not found.
            active = await customers_repo.active_customers(
                tx, org_id, sorted({c for c in found if c is not None}), lock=True)
            writes = []
            for (outcome, p), customer_id in zip(parsed, found, strict=True):
                partition = segment.partition_named(p.partition) if p.partition else None
                if customer_id is None or customer_id not in active:
                    outcome.error = NotFound("Customer not found for the given identifiers",
                                             reason="customer_not_found")
                elif partition is None:
                    outcome.error = ValidationFailed(
                        f"Partition {p.partition!r} is not a partition of segment "
                        f"{segment.name!r}" if p.partition else "Partition value is required",
                        reason="unknown_partition", field=PARTITION_COLUMN)
                else:
                    outcome.customer_id, outcome.partition = customer_id, partition
                    writes.append((org_id, customer_id, segment_id, partition, now))
            if writes:
                await tx.executemany(repo.ASSIGN_MEMBER, writes)
        return outcomes

    async def load(self, org_id: int, segment_name: str, handle: TextIO) -> LoadReport:
        """Apply a segment upload file (`csv_rows`) to the named segment, in batches, each row
        on its own as `assign` does."""
        segment = await self.by_name(org_id, segment_name)
        report = LoadReport(segment)
        batch: list[tuple[int, dict[str, str]]] = []

        async def flush() -> None:
            outcomes = await self.assign(org_id, segment.id, [row for _, row in batch])
            for (line, _), outcome in zip(batch, outcomes, strict=True):
                if outcome.error is None:
                    report.assigned += 1
                    continue
                report.failed += 1
                if len(report.failures) < MAX_REPORTED:
                    report.failures.append((line, outcome.error.message))
            batch.clear()

        for line, row in csv_rows(handle):
            report.rows += 1
            batch.append((line, row))
            if len(batch) == MAX_ASSIGN_BATCH:
                await flush()
        if batch:
            await flush()
        report.segment = await self.get(org_id, segment.id)
        return report

    async def remove(self, org_id: int, segment_id: int, customer_id: int) -> str:
        """Take a customer out of the segment; answers the partition it was in. A customer of
        another organisation is not found, exactly as a missing one."""
        await self._exists(org_id, segment_id)
        await self.customers.resolve(org_id, "id", str(customer_id))
        async with self.db.transaction() as tx:
            partition = await tx.fetchval(repo.MEMBER_PARTITION, org_id, segment_id,
                                          customer_id)
            if partition is None:
                raise NotFound("Customer is not in this segment", reason="not_segment_member")
            await tx.execute(repo.REMOVE_MEMBER, org_id, segment_id, customer_id)
        return str(partition)

    async def of_customer(self, org_id: int, customer_id: int) -> dict[str, str]:
        """Segment name -> partition, for customer details (`embed=segments`)."""
        rows = await self.db.fetch(repo.CUSTOMER_SEGMENTS, org_id, customer_id)
        return {r["name"]: r["partition"] for r in rows}

    @staticmethod
    async def scrub(tx: Queryable, org_id: int, customer_id: int) -> None:
        """Part of PII erasure: an erased customer leaves every segment."""
        await tx.execute(repo.DELETE_CUSTOMER_MEMBERSHIPS, org_id, customer_id)


# -- the upload file ----------------------------------------------------------------------------

def csv_rows(handle: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a segment upload file with their line numbers: a header naming one
    identifier column (`user_id`, `mobile`, `email` or `external_id`) and `value`, in either
    order, then one customer per line. A bad header raises ValidationFailed before any row."""
    reader = csv.reader(handle)
    header = next(reader, None)
    columns = [c.strip().lower().lstrip("\ufeff") for c in header or []]
    identifiers = [c for c in columns if c in IDENTIFIER_COLUMNS]
    if len(columns) != 2 or len(identifiers) != 1 or PARTITION_COLUMN not in columns:
        raise ValidationFailed(
            "the header must be one of user_id, mobile, email, external_id, and value "
            f"(found {','.join(header or []) or 'nothing'})", reason="invalid_segment_file")
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines, as spreadsheets leave them
        yield reader.line_num, dict(zip(columns, row + [""] * (2 - len(row)), strict=False))


# -- internals ----------------------------------------------------------------------------------

def _parse_row(row: Any) -> _Parsed:
    if not isinstance(row, Mapping):
        raise ValidationFailed("Each row must be an object", reason="invalid_segment_row")
    named = [k for k in IDENTIFIER_COLUMNS if row.get(k) not in (None, "")]
    if len(named) != 1:
        raise ValidationFailed("Each row must give exactly one of user_id, mobile, email, "
                               "external_id", reason="invalid_segment_row")
    value, partition = row[named[0]], row.get(PARTITION_COLUMN)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationFailed(f"{named[0]} must be a string", reason="invalid_segment_row")
    if partition is not None and not isinstance(partition, str):
        raise ValidationFailed("value must be a string", reason="unknown_partition",
                               field=PARTITION_COLUMN)
    return _Parsed(named[0], str(value), (partition or "").strip())


def _definition(name: str, description: str,
                partitions: Sequence[str]) -> tuple[str, str, tuple[str, ...]]:
    name, description = name.strip(), description.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"name must have 1 to {MAX_NAME} characters",
                               reason="invalid_segment", field="name")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"description must have at most {MAX_DESCRIPTION} characters",
                               reason="invalid_segment", field="description")
    ordered = tuple(p.strip() for p in partitions)
    if not 1 <= len(ordered) <= MAX_PARTITIONS:
        raise ValidationFailed(f"a segment has 1 to {MAX_PARTITIONS} partitions",
                               reason="invalid_segment", field="partitions")
    if any(not p or len(p) > MAX_PARTITION_NAME for p in ordered):
        raise ValidationFailed(f"a partition name has 1 to {MAX_PARTITION_NAME} characters",
                               reason="invalid_segment", field="partitions")
    if len({p.lower() for p in ordered}) != len(ordered):
        raise ValidationFailed("partition names must differ (case is not a difference)",
                               reason="invalid_segment", field="partitions")
    return name, description, ordered


def _name_taken(name: str) -> Conflict:
    return Conflict(f"Segment {name!r} already exists", reason="segment_exists")


def _counts(rows: list[Row]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        out.setdefault(int(r["segment_id"]), {})[r["partition"]] = int(r["members"])
    return out
