"""Communications and engagement: recording messages, delivery events, subscriptions, consent and
engagement facts; the interaction history and subscription state the faces read; engagement
health.

`ingest()` takes a batch of records (engagement.models) and answers one outcome per record. Every
record applies whole or not at all: records are validated and their customers resolved before
anything is written; the valid ones are written in one transaction, and should that fail, each is
retried in a transaction of its own so that one bad record never takes others down with it.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from patron.clock import Clock, zone_named
from patron.customers import normalize
from patron.customers import repository as customers_repo
from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance
from patron.customers.service import Customers
from patron.db.batched import BatchedRead
from patron.db.database import Database, Queryable, Row, is_unique_violation, unavailable
from patron.db.ids import next_ids
from patron.engagement import repository as repo
from patron.engagement.models import (
    RECORD,
    ConsentRecord,
    CustomerRecord,
    DeliveryRecord,
    EmailSubscriptionRecord,
    FactRecord,
    MessageRecord,
    MessageShape,
    SubscriptionRecord,
    record_id,
)
from patron.engagement.pages import Kept, KeptPages
from patron.errors import Conflict, NotFound, PatronError, ValidationFailed
from patron.jsonio import dumps_text, loads
from patron.tenancy import repository as tenancy_repo

MAX_BATCH = 1000
# The kinds of record in the order a batch writes them: messages before the delivery events
# that name them (Engagement._apply), then the others, each by the Engagement method named.
APPLY_ORDER = ((MessageRecord, "_messages"), (DeliveryRecord, "_deliveries"),
               (SubscriptionRecord, "_subscriptions"), (ConsentRecord, "_consents"),
               (EmailSubscriptionRecord, "_email_subscriptions"), (FactRecord, "_facts"))
_APPLY_RANK: dict[type, int] = {kind: rank for rank, (kind, _) in enumerate(APPLY_ORDER)}
_END_OF_TIME = 253_402_300_800_000  # 10000-01-01T00:00Z: every stored instant is before it
DAY_MS = 86_400_000
CREATED, UPDATED, DUPLICATE, APPLIED, FAILED = "created", "updated", "duplicate", "applied", \
    "failed"

# Delivery events on e-mail that move the customer's engagement columns.
EMAIL_LATEST = {"delivered": "last_delivered_at", "opened": "last_opened_at",
                "clicked": "last_clicked_at", "complained": "complained_at",
                "unsubscribed": "unsubscribed_at"}


@dataclass
class Outcome:
    index: int
    kind: str | None
    id: str | None
    status: str = FAILED
    entity_id: int | None = None
    error: PatronError | None = None


@dataclass
class _Item:
    index: int
    id: str
    record: Any
    customer_id: int | None = None


@dataclass
class Interactions:
    """A customer's messages for the interaction APIs: per (network, channel) the count, the
    last time, whether any was opened or clicked, and a page of the newest messages (a JSON
    array in the face's MessageShape); with the organisation's time zone."""

    summary: dict[tuple[str, str], Row]
    zone: ZoneInfo
    pages: dict[tuple[str, str], str] = field(default_factory=dict)
    # Where the pages are kept (engagement/pages.py), if they are: a face's answers go with them.
    kept: Kept | None = None
    keeper: KeptPages | None = None
    # The customer's status and addresses, when the read was asked for them (`with_customer`).
    customer: Row | None = None

    def answer(self, key: Hashable) -> bytes | None:
        """The face's answer kept under `key` with these pages, if any."""
        return self.kept.answers.get(key) if self.kept is not None else None

    def keep_answer(self, key: Hashable, answer: bytes) -> None:
        """Keep the face's answer rendered from these pages (under its key of what else the
        answer shows), while the pages are kept."""
        if self.kept is not None and self.keeper is not None:
            self.keeper.keep_answer(self.kept, key, answer)

    def local(self, ms: int | None, day_first: bool) -> str:
        """An instant in the organisation's time zone: `DD-MM-YYYY HH:MM:SS` (day first) or
        `YYYY-MM-DD HH:MM:SS`, no later than the end of 9999 (as the statements show it); ""
        for none."""
        if ms is None:
            return ""
        return time.strftime(
            "%d-%m-%Y %H:%M:%S" if day_first else "%Y-%m-%d %H:%M:%S",
            time.gmtime(min(ms // 1000 + _utc_offset(self.zone, ms // _OFFSET_STEP_MS),
                            repo.LAST_LOCAL_SECOND)))


# Time zones change offset on quarter hours at the finest, so one offset per zone and quarter
# hour is exact. The interaction statements format local times in SQL, given these offsets.
_OFFSET_STEP_MS = 900_000
_DAY_QUARTERS = 96
_BLOCK_QUARTERS = 2**15  # about 341 days: the unit in which a zone's offset changes are cached
_LAST_QUARTER = 253_402_300_800_000 // _OFFSET_STEP_MS - 2 * _DAY_QUARTERS  # 9999-12-30


@lru_cache(maxsize=65_536)
def _utc_offset(zone: ZoneInfo, quarter: int) -> int:
    """The zone's offset (seconds) in a quarter hour. After 9999-12-30 (where the local time
    of an eastern zone would pass the year 9999, which datetime cannot hold) it is the offset
    of that day: instants taken end there (models.LATEST_INSTANT), but one stored before that
    limit must still read."""
    moment = datetime.fromtimestamp(min(quarter, _LAST_QUARTER) * _OFFSET_STEP_MS // 1000, zone)
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


@lru_cache(maxsize=4096)
def _offset_changes(zone: ZoneInfo, block: int) -> tuple[tuple[int, int], ...]:
    """The quarter hours of a block at which the zone's offset changes, with the new offset:
    found by sampling every day and bisecting (no zone changes offset and back within a day)."""
    changes = []
    start, end = block * _BLOCK_QUARTERS - 1, min((block + 1) * _BLOCK_QUARTERS - 1, _LAST_QUARTER)
    at, offset = start, _utc_offset(zone, start)
    while at < end:
        probe = min(at + _DAY_QUARTERS, end)
        if _utc_offset(zone, probe) == offset:
            at = probe
            continue
        low, high = at, probe  # offset at low is `offset`, at high not: find the first change
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if _utc_offset(zone, middle) == offset else (low, middle)
        at, offset = high, _utc_offset(zone, high)
        changes.append((at, offset))
    return tuple(changes)


# Over more blocks than this (about 60 years), walking the zone's offset changes costs more than
# reading the quarter hours a page shows; and over more spans than this, looking a time up in
# them does (a customer with messages dated decades apart in a zone with summer time).
_MAX_WALKED_BLOCKS = 64
_MAX_SPANS = 16


def utc_offsets(zone: ZoneInfo, first_ms: int, last_ms: int) -> tuple[int | None, Any] | None:
    """The zone's offsets from UTC over [first_ms, last_ms], as the interaction statements take
    them: (the offset in seconds, None) when one covers the whole range, else (None, spans), the
    spans [first quarter hour, offset] newest first, the oldest open to the past. None when the
    range has too many to walk or look up: see offsets_at."""
    first, last = first_ms // _OFFSET_STEP_MS, last_ms // _OFFSET_STEP_MS
    blocks = range(first // _BLOCK_QUARTERS, last // _BLOCK_QUARTERS + 1)
    if len(blocks) > _MAX_WALKED_BLOCKS:
        return None
    changes = [change for block in blocks for change in _offset_changes(zone, block)
               if first < change[0] <= last]
    start = _utc_offset(zone, first)
    if not changes:
        return start, None
    if len(changes) >= _MAX_SPANS:
        return None
    return None, [list(change) for change in reversed(changes)] + [[-1, start]]


def offsets_at(zone: ZoneInfo, quarters: set[int]) -> tuple[int | None, Any]:
    """utc_offsets' answer for exactly the quarter hours given (those a page shows)."""
    spans: list[list[int]] = []
    for quarter in sorted(quarters):
        offset = _utc_offset(zone, quarter)
        if not spans or spans[-1][1] != offset:
            spans.append([quarter, offset])
    if len(spans) <= 1:
        return (spans[0][1] if spans else 0), None
    spans[0][0] = -1
    return None, spans[::-1]


def _view(time_zone: str | None, settings: str | None) -> tuple[ZoneInfo, bool]:
    """An organisation's time zone and whether it masks OTPs (UTC and no, for none)."""
    masked = bool(loads(settings).get("otpMasking")) if settings else False
    return zone_named(time_zone), masked


def engagement_health(row: Row | None, now_ms: int) -> str | None:
    """Kajabi's engagement health "with open data", from e-mail open history:
    healthy (opened within 30 days), passive (last open 31 to 90 days ago), unengaged (last open
    over 90 days ago) and inactive (e-mails delivered, never opened). A click is an open too: a
    clicked e-mail was read, though its open may not have been tracked (images blocked). A
    customer never delivered an e-mail has no open data (None)."""
    if row is None:
        return None
    opens = [t for t in (row["last_opened_at"], row["last_clicked_at"]) if t is not None]
    opened, delivered = max(opens, default=None), row["last_delivered_at"]
    if opened is None:
        return "inactive" if delivered is not None else None
    age = now_ms - opened
    if age <= 30 * DAY_MS:
        return "healthy"
    if age <= 90 * DAY_MS:
        return "passive"
    return "unengaged"


def is_suppressed(row: Row | None) -> bool:
    """E-mail to the customer is suppressed after a complaint or a suppression, until a later
    unsuppression."""
    if row is None:
        return False
    since = max((t for t in (row["suppressed_at"], row["complained_at"]) if t is not None),
                default=None)
    return since is not None and (row["unsuppressed_at"] is None or row["unsuppressed_at"] < since)


def email_status(row: Row | None) -> str | None:
    """The customer's e-mail subscription: the latest of its subscription actions."""
    if row is None:
        return None
    times = {name: row[f"{name}_at"] for name in (
        "subscribed", "unsubscribed", "manually_unsubscribed", "opted_out")}
    latest = max(((t, name) for name, t in times.items() if t is not None), default=None)
    return None if latest is None else latest[1]


def _first_error(exc: ValidationError) -> ValidationFailed:
    """The first problem, named by where it is (`message.channel`, `kind`, `record`)."""
    first = exc.errors()[0]
    if first.get("type") == "union_tag_not_found":
        return ValidationFailed("kind is required", field="kind")
    if first.get("type") == "union_tag_invalid":
        where = "kind"
    else:  # the location starts with the record kind: `message.channel`
        where = ".".join(str(x) for x in first.get("loc", ())) or "record"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return ValidationFailed(f"{where}: {message}", field=where)


def _no_customer() -> NotFound:
    return NotFound("Cannot find customer for provided mobile/external-id/e-mail/id",
                    reason="customer_not_found", field="customer")


@dataclass
class Checked:
    """A batch of records checked: an outcome per record (its error, if it is not a valid
    record), and the valid ones, customers apart (they are written first)."""

    outcomes: list[Outcome]
    people: list[_Item]
    items: list[_Item]


def checked(raws: Sequence[Any]) -> Checked:
    """Each record validated (engagement.models) and given its id; no database involved."""
    batch = Checked([], [], [])
    for index, raw in enumerate(raws):
        kind = raw.get("kind") if isinstance(raw, dict) else None
        outcome = Outcome(index, kind if isinstance(kind, str) else None,
                          raw.get("id") if isinstance(raw, dict) else None)
        batch.outcomes.append(outcome)
        if not isinstance(raw, dict):
            outcome.error = ValidationFailed("a record is a JSON object", field="record")
            continue
        try:
            record = RECORD.validate_python(raw)
        except ValidationError as exc:
            outcome.error = _first_error(exc)
            continue
        outcome.id = record_id(raw)
        item = _Item(index, outcome.id, record)
        (batch.people if isinstance(record, CustomerRecord) else batch.items).append(item)
    return batch


class Engagement:
    def __init__(self, db: Database, clock: Clock, customers: Customers,
                 pages: KeptPages | None = None) -> None:
        self.db = db
        self.clock = clock
        self.customers = customers
        self.pages = pages or KeptPages(0)
        # On PostgreSQL, the reads of a customer with the kept summaries that concurrent requests
        # ask for go in one statement (a round trip costs more than the read).
        self._kept_reads = BatchedRead(db, repo.KEPT_SUMMARIES_WITH_CUSTOMERS) \
            if db.dialect == "postgresql" else None

    def close(self) -> None:
        """Drops the kept pages and stops the batched reads."""
        self.pages.close()
        if self._kept_reads is not None:
            self._kept_reads.close()

    # -- writes ---------------------------------------------------------------------------

    async def ingest(self, org_id: int, raws: Sequence[Any], prov: Provenance) -> list[Outcome]:
        if len(raws) > MAX_BATCH:
            raise ValidationFailed(f"a batch holds at most {MAX_BATCH} records",
                                   reason="batch_too_large", field="records")
        return await self.store(org_id, checked(raws), prov)

    async def store(self, org_id: int, batch: Checked, prov: Provenance) -> list[Outcome]:
        """Writes a batch of checked records (`checked`): customers first, then the rest in one
        transaction, each record alone should that fail. The batch's outcomes, completed."""
        outcomes, people, items = batch.outcomes, batch.people, batch.items
        for item in people:  # first, so that the batch's other records can name them
            await self._customer(org_id, item, outcomes[item.index], prov)
        if items:
            try:
                async with self.db.transaction() as tx:
                    await self._apply(tx, org_id, items, outcomes)
            except PatronError:
                raise
            except Exception as exc:  # noqa: BLE001 - one record's failure must not fail others
                if unavailable(exc):  # no record's own failure: the request's (503)
                    raise
                # The batch was rolled back: nothing it answered holds. Each record is tried on
                # its own, in the order the batch applies them (a message before its events).
                for item in items:
                    outcomes[item.index].status = FAILED
                    outcomes[item.index].entity_id = None
                for item in sorted(items, key=lambda i: _APPLY_RANK[type(i.record)]):
                    await self._apply_alone(org_id, item, outcomes)
        return outcomes

    async def _apply_alone(self, org_id: int, item: _Item, outcomes: list[Outcome]) -> None:
        """One record of a batch that failed, in a transaction of its own. A unique violation
        means that another request stored the same record id meanwhile (its transaction was not
        committed when this one looked, on PostgreSQL): tried once more, it is a duplicate."""
        for attempt in range(2):
            try:
                async with self.db.transaction() as tx:
                    await self._apply(tx, org_id, [item], outcomes)
                return
            except Exception as exc:  # noqa: BLE001 - one record's failure must not fail others
                if attempt == 0 and is_unique_violation(exc):
                    continue
                if unavailable(exc):
                    raise
                outcomes[item.index].status = FAILED
                outcomes[item.index].entity_id = None
                outcomes[item.index].error = PatronError(
                    "the record could not be stored", status=500, reason="record_not_stored")
                return

    async def _customer(self, org_id: int, item: _Item, outcome: Outcome,
                        prov: Provenance) -> None:
        r: CustomerRecord = item.record
        identifiers = [Identifier(kind, value) for kind, value in (
            ("mobile", r.mobile), ("email", r.email), ("externalId", r.externalId)) if value]
        for ident in identifiers:  # a record applies whole: a bad address is not just dropped
            try:
                normalize.identifier_value(ident.type, ident.value)
            except ValidationFailed as exc:
                outcome.error = ValidationFailed(f"customer.{ident.type}: {exc.message}",
                                                 field=f"customer.{ident.type}")
                return
        data = CustomerInput(
            profiles=[ProfileInput(source=r.source, account_id=r.accountId,
                                   first_name=r.firstName, last_name=r.lastName,
                                   identifiers=identifiers)],
            extended_fields=r.extendedFields or None, loyalty_type=r.loyaltyType)
        try:
            try:
                written = await self.customers.register(org_id, data, prov)
                outcome.status = CREATED if written.created else UPDATED
            except Conflict as exc:
                if exc.reason != "customer_exists_same_source":
                    raise
                existing = None
                for ident in identifiers:
                    try:
                        existing = await self.customers.resolve(org_id, ident.type, ident.value)
                        break
                    except NotFound:
                        continue
                if existing is None:
                    raise
                written = await self.customers.update(org_id, existing, data, prov)
                outcome.status = UPDATED
            outcome.entity_id = written.customer_id
        except PatronError as exc:
            outcome.error = exc

    async def _customers_named(self, tx: Queryable, org_id: int, items: list[_Item],
                               outcomes: list[Outcome]) -> list[_Item]:
        """The records whose customer is found and active, each given its customer's id; the
        others fail. The customers are locked until the batch commits (in id order, as
        active_state locks one), so that one erased meanwhile gets nothing written. A delivery
        names its message, not a customer: it is kept."""
        by_identifier: dict[str, list[tuple[_Item, str]]] = {}
        for item in items:
            item.customer_id = None
            if isinstance(item.record, DeliveryRecord):
                continue
            ref = item.record.customer
            name = (ref.identifierName or "").strip()
            if ref.id is not None or normalize.names_id(name):
                item.customer_id = normalize.customer_id(
                    ref.id if ref.id is not None else ref.identifierValue)
                continue
            try:
                kind = normalize.identifier_type(name)
                value = normalize.identifier_value(kind, ref.identifierValue)
            except ValidationFailed:
                continue
            by_identifier.setdefault(kind, []).append((item, value))
        for kind, pairs in by_identifier.items():
            found = await customers_repo.customers_by_identifier(
                tx, org_id, kind, sorted({v for _, v in pairs}))
            for item, value in pairs:
                item.customer_id = found.get(value)
        named = sorted({i.customer_id for i in items if i.customer_id is not None})
        active = await customers_repo.active_customers(tx, org_id, named, lock=True) \
            if named else set()
        kept = []
        for item in items:
            if item.customer_id in active or isinstance(item.record, DeliveryRecord):
                kept.append(item)
            else:
                item.customer_id = None
                outcomes[item.index].error = _no_customer()
        return kept

    async def _apply(self, tx: Queryable, org_id: int, items: list[_Item],
                     outcomes: list[Outcome]) -> None:
        by_type: dict[type, list[_Item]] = {}
        for item in await self._customers_named(tx, org_id, items, outcomes):
            by_type.setdefault(type(item.record), []).append(item)
        messages, deliveries = by_type.get(MessageRecord, []), by_type.get(DeliveryRecord, [])
        made = await self._messages(tx, org_id, messages, deliveries, outcomes) \
            if messages else {}
        if deliveries:
            await self._deliveries(tx, org_id, deliveries, outcomes, made)
        for kind, method in APPLY_ORDER[2:]:
            if kind in by_type:
                await getattr(self, method)(tx, org_id, by_type[kind], outcomes)

    async def _subscriptions(self, tx: Queryable, org_id: int, items: list[_Item],
                             outcomes: list[Outcome]) -> None:
        for item in items:
            r: Any = item.record
            await tx.execute(repo.UPSERT_SUBSCRIPTION, org_id, item.customer_id, r.channel,
                             r.priority, r.type, r.source, r.accountId, r.reason, r.at)
            self._done(outcomes, item, APPLIED)

    async def _consents(self, tx: Queryable, org_id: int, items: list[_Item],
                        outcomes: list[Outcome]) -> None:
        for item in items:
            r: Any = item.record
            if r.ndncStatus is not None:
                await tx.execute(repo.SET_NDNC, org_id, item.customer_id, r.ndncStatus)
            if r.optinStatus is not None:
                await tx.execute(repo.SET_OPTIN, org_id, item.customer_id, r.optinStatus)
            self._done(outcomes, item, APPLIED)

    async def _email_subscriptions(self, tx: Queryable, org_id: int, items: list[_Item],
                                   outcomes: list[Outcome]) -> None:
        for item in items:
            r: Any = item.record
            await tx.execute(repo.ENSURE_ENGAGEMENT, org_id, item.customer_id)
            await tx.execute(repo.LATEST[f"{r.action}_at"], org_id, item.customer_id, r.at)
            self._done(outcomes, item, APPLIED)

    @staticmethod
    def _done(outcomes: list[Outcome], item: _Item, status: str,
              entity_id: int | None = None) -> None:
        outcome = outcomes[item.index]
        outcome.status, outcome.error = status, None
        outcome.entity_id = entity_id if entity_id is not None else item.customer_id

    async def _messages(self, tx: Queryable, org_id: int, items: list[_Item],
                        deliveries: list[_Item], outcomes: list[Outcome]) -> dict[str, Any]:
        """Stores the new messages, with what the batch's delivery events on them say folded in
        (their first times, and their summaries' times): as written one after the other, in
        fewer statements. The new messages by record id, as messages_by_record reads them."""
        now = self.clock.now_ms()
        stored = await repo.messages_by_record(tx, org_id, [i.id for i in items])
        fresh: dict[str, _Item] = {}
        for item in items:
            if item.id in stored:
                self._done(outcomes, item, DUPLICATE, int(stored[item.id]["id"]))
            elif item.id in fresh:  # the same record twice in one batch
                outcomes[item.index].status = DUPLICATE
            else:
                fresh[item.id] = item
        # Per new message: the first time of each event, the first bounce's type, and the
        # latest delivery (its summary's last time bounds the delivered times from above).
        events: dict[str, dict[str, Any]] = {}
        for delivery in deliveries:
            d: DeliveryRecord = delivery.record
            if d.message not in fresh:
                continue
            seen = events.setdefault(d.message, {})
            column = f"{d.event}_at"
            first = seen.get(column)
            if d.event == "bounced" and (first is None or d.at < first
                                         or d.at == first and d.bounceType == "hard"):
                seen["bounce_type"] = d.bounceType
            if first is None or d.at < first:
                seen[column] = d.at
            if d.event == "delivered":
                seen["last_delivered"] = max(seen.get("last_delivered", d.at), d.at)
        ids = await next_ids(tx, len(fresh))
        rows, made = [], {}
        # (org, customer, network, channel, priority): count, last sent, used, first, last time
        summaries: dict[tuple[Any, ...], tuple[int, int, int, int, int]] = {}
        for new_id, item in zip(ids, fresh.values(), strict=True):
            r: MessageRecord = item.record
            seen = events.get(item.id, {})
            rows.append((org_id, new_id, item.id, item.customer_id, r.direction, r.channel,
                         r.network, r.priority, r.sender, r.receiver, r.subject, r.body,
                         r.campaignId, r.broadcastId, r.newsletterId, r.sequenceId, r.otp,
                         r.sentAt, now, *(seen.get(column) for column in repo.EVENT_COLUMNS)))
            made[item.id] = {"id": new_id, "customer_id": item.customer_id,
                             "network": r.network, "channel": r.channel, "priority": r.priority}
            self._done(outcomes, item, CREATED, new_id)
            key = (org_id, item.customer_id, r.network, r.channel, r.priority)
            used = int("opened_at" in seen or "clicked_at" in seen)
            first = min(r.sentAt, seen.get("delivered_at", r.sentAt))
            last = max(r.sentAt, seen.get("last_delivered", r.sentAt))
            kept = summaries.get(key)
            summaries[key] = (1, r.sentAt, used, first, last) if kept is None else (
                kept[0] + 1, max(kept[1], r.sentAt), max(kept[2], used), min(kept[3], first),
                max(kept[4], last))
        for item in items:  # a repeat inside the batch names the message its first made
            if outcomes[item.index].status == DUPLICATE and outcomes[item.index].entity_id is None:
                outcomes[item.index].entity_id = outcomes[fresh[item.id].index].entity_id
        if rows:
            await tx.executemany(repo.INSERT_MESSAGE, rows)
            # in key order, so that concurrent batches take the rows' locks in one order
            await tx.executemany(repo.ADD_TO_SUMMARY, [(*key, *kept) for key, kept in sorted(
                summaries.items())])
        return made

    async def _deliveries(self, tx: Queryable, org_id: int, items: list[_Item],
                          outcomes: list[Outcome], made: dict[str, Any]) -> None:
        """The delivery events; those on the batch's new messages (`made`) already counted in
        the messages' rows and summaries (_messages)."""
        named = sorted({i.record.message for i in items
                        if i.record.message and i.record.message not in made})
        by_record = {**made, **(await repo.messages_by_record(tx, org_id, named) if named
                                else {})}
        numbered = sorted({i.record.messageId for i in items if i.record.messageId})
        by_id = await repo.messages_by_id(tx, org_id, numbered) if numbered else {}
        events, firsts, latest, engaged = [], [], [], set()
        bounces: list[tuple[int, int, int]] = []
        # Per summary of the messages: the earliest and latest delivery, and whether one was
        # opened or clicked. Every event moves its summary's revision (engagement/pages.py).
        summaries: dict[tuple[Any, ...], tuple[int | None, int | None, int]] = {}
        for item in items:
            r: DeliveryRecord = item.record
            message = by_record.get(r.message) if r.message else by_id.get(r.messageId or 0)
            if message is None:
                outcomes[item.index].error = NotFound("message not found", field="message",
                                                      reason="message_not_found")
                continue
            message_id, customer_id = int(message["id"]), int(message["customer_id"])
            events.append((org_id, message_id, r.event, r.at, r.bounceType))
            if r.message not in made:
                summary = (org_id, customer_id, message["network"], message["channel"],
                           message["priority"])
                first, last, used = summaries.get(summary, (None, None, 0))
                if r.event == "delivered":
                    first = r.at if first is None else min(first, r.at)
                    last = r.at if last is None else max(last, r.at)
                elif r.event in ("opened", "clicked"):
                    used = 1
                summaries[summary] = (first, last, used)
                firsts.append((r.event, (org_id, message_id, r.at, r.bounceType)
                               if r.event == "bounced" else (org_id, message_id, r.at)))
            if message["channel"] == "email":
                if r.event == "bounced" and r.bounceType == "hard":
                    bounces.append((org_id, customer_id, r.at))
                column = EMAIL_LATEST.get(r.event)
                if column is not None:
                    engaged.add((org_id, customer_id))
                    latest.append((column, (org_id, customer_id, r.at)))
            self._done(outcomes, item, APPLIED, message_id)
        if events:
            await tx.executemany(repo.INSERT_MESSAGE_EVENT, events)
        for kind, stmt in repo.FIRST_EVENT.items():
            rows = [args for k, args in firsts if k == kind]
            if rows:
                await tx.executemany(stmt, rows)
        if engaged:
            await tx.executemany(repo.ENSURE_ENGAGEMENT, sorted(engaged))
        for column, stmt in repo.LATEST.items():
            rows = [args for c, args in latest if c == column]
            if rows:
                await tx.executemany(stmt, rows)
        if bounces:
            await tx.executemany(repo.HARD_BOUNCE, bounces)
        if summaries:  # in key order, as the messages' writes take the rows' locks
            await tx.executemany(repo.SUMMARY_EVENTS, [
                (*key, *moved) for key, moved in sorted(summaries.items())])

    async def _facts(self, tx: Queryable, org_id: int, items: list[_Item],
                     outcomes: list[Outcome]) -> None:
        stored = await repo.existing_facts(tx, org_id, [i.id for i in items])
        rows, signed_in, requested, seen = [], [], [], set()
        for item in items:
            r: FactRecord = item.record
            if item.id in stored or item.id in seen:
                self._done(outcomes, item, DUPLICATE)
                continue
            seen.add(item.id)
            rows.append((org_id, item.id, item.customer_id, r.kind, r.ref, r.state, r.at))
            if r.kind == "sign_in":
                signed_in.append((org_id, item.customer_id, r.at))
            elif r.kind == "request":
                requested.append((org_id, item.customer_id, r.at))
            self._done(outcomes, item, CREATED)
        if rows:
            await tx.executemany(repo.INSERT_FACT, rows)
        if signed_in:
            await tx.executemany(repo.SIGNED_IN, signed_in)
        if requested:
            await tx.executemany(repo.REQUESTED, requested)

    async def update_subscriptions(self, org_id: int, customer_id: int,
                                   changes: Sequence[dict[str, Any]], reason: str) -> None:
        """Capillary's subscription update: every change applies, or none does."""
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            if not await self.customers.is_active(tx, org_id, customer_id):
                raise NotFound("Cannot find customer for provided mobile/external-id/e-mail/id",
                               reason="customer_not_found")
            for change in changes:
                await tx.execute(repo.UPSERT_SUBSCRIPTION, org_id, customer_id,
                                 change["channel"], change["priority"], change["type"],
                                 change["source"], change["accountId"], reason, now)

    async def scrub_pii(self, tx: Queryable, org_id: int, customer_id: int) -> None:
        """Message contents and the customer's own addresses in them, and the reasons given
        for subscription changes (PII deletion)."""
        await tx.execute(repo.SCRUB_MESSAGES, org_id, customer_id)
        await tx.execute(repo.SCRUBBED_SUMMARIES, org_id, customer_id)
        await tx.execute(repo.SCRUB_SUBSCRIPTION_REASONS, org_id, customer_id)
        self.pages.forget(org_id, customer_id)

    # -- reads ----------------------------------------------------------------------------

    async def org_view(self, org_id: int) -> tuple[ZoneInfo, bool]:
        """The organisation's time zone (for local times) and whether it masks OTPs."""
        org = await self.db.fetchrow(tenancy_repo.GET_ORG, org_id)
        return _view(None, None) if org is None else _view(org["time_zone"], org["settings"])

    async def interactions(self, org_id: int, customer_id: int,
                           view: tuple[ZoneInfo, bool] | None, *,
                           network: str | None, channel: str | None, priority: str | None,
                           since_ms: int | None, until_ms: int | None, limit: int, offset: int,
                           shape: MessageShape, with_customer: bool = False) -> Interactions:
        """Per (network, channel) the summary of the customer's messages sent in [since_ms,
        until_ms) (None: unbounded), and a page of them (`limit` after `offset`, newest first)
        in `shape`; in the organisation's view (`org_view`), read here when None.

        `with_customer`: over the whole history in the organisation's view, the customer's
        status and addresses (customers.repository.ADDRESSES_OF_C) are read in the same
        statement (`found.customer`), and NotFound (CustomerDeleted after a PII delete) raised
        before anything else is read if the customer is not active."""
        whole_history = since_ms is None and until_ms is None
        since_ms, until_ms = since_ms or 0, _END_OF_TIME if until_ms is None else until_ms
        customer, own = None, None  # own: the slice of a row's columns that are the read's
        if whole_history and view is None:  # the view and the kept summaries in one statement
            if with_customer and self._kept_reads is not None:
                rows = await self._kept_reads.fetch(org_id, customer_id, network, channel,
                                                    priority)
                own = -1  # all but `read_no`
            else:
                rows = await self.db.fetch(repo.KEPT_SUMMARY_WITH_CUSTOMER if with_customer
                                           else repo.KEPT_SUMMARY_IN_ORG, org_id, customer_id,
                                           network, channel, priority)
            if with_customer:
                customer = self.customers.active_row(rows[0] if rows else None)
            zone, mask_otp = _view(rows[0]["org_time_zone"], rows[0]["org_settings"]) \
                if rows else _view(None, None)
            rows = [r for r in rows if r["network"] is not None]
        elif with_customer:
            raise ValueError("the customer is read with the summaries of the whole history")
        else:
            zone, mask_otp = view or await self.org_view(org_id)
            if whole_history:  # kept as messages are written: no scan of the customer's messages
                rows = await self.db.fetch(repo.KEPT_SUMMARY, org_id, customer_id, network,
                                           channel, priority)
            else:
                rows = await self.db.fetch(repo.INTERACTION_SUMMARY, org_id, customer_id,
                                           since_ms, until_ms, network, channel, priority)
        found = Interactions({(r["network"], r["channel"]): r for r in rows}, zone,
                             customer=customer)
        paged = [r for r in rows if r["count"] > offset] if limit > 0 else []
        if not paged:
            return found
        # Over the whole history, the pages read under the same summaries are the same pages
        # (the rows as read: with the organisation's view, and the customer's addresses).
        kept_as = None
        if whole_history and self.pages.on:
            kept_as = ((org_id, customer_id, network, channel, priority, limit, offset, shape,
                        zone.key, mask_otp), tuple(r[:own] for r in rows))
            found.kept = self.pages.get(*kept_as)
            if found.kept is not None:
                found.pages, found.keeper = found.kept.pages, self.pages
                return found
        args = (org_id, customer_id, dumps_text([[r["network"], r["channel"]] for r in paged]),
                since_ms, until_ms, priority, limit, offset)
        offsets = utc_offsets(zone, min(r["first_time"] for r in paged),
                              max(r["last_time"] for r in paged))
        if offsets is None:
            quarters = {q for r in await self.db.fetch(repo.INTERACTION_PAGE_QUARTERS, *args)
                        for pair in loads(r["quarters"] or "[]") for q in pair
                        if q is not None}
            offsets = offsets_at(zone, quarters)
        fixed, spans = offsets
        pages = await self.db.fetch(repo.interaction_pages(shape, spans is not None), *args,
                                    mask_otp, fixed if spans is None else dumps_text(spans))
        found.pages = {(r["network"], r["channel"]): r["page"] for r in pages if r["page"] != "[]"}
        if kept_as is not None:
            found.kept, found.keeper = self.pages.keep(*kept_as, found.pages), self.pages
        return found

    async def subscriptions(self, org_id: int, customer_id: int) -> list[Row]:
        return await self.db.fetch(repo.CUSTOMER_SUBSCRIPTIONS, org_id, customer_id)

    async def email_subscribed(self, org_id: int, customer_ids: Sequence[int]) -> set[int]:
        """Which of these customers are subscribed to e-mail: their latest subscription action
        is `subscribed` (email_status)."""
        rows = await repo.engagement_of(self.db, org_id, customer_ids) if customer_ids else {}
        return {cid for cid, row in rows.items() if email_status(row) == "subscribed"}

    async def profile(self, org_id: int, customer_id: int) -> dict[str, Any]:
        """Everything recorded about a customer's engagement, in the domain's words."""
        row = await self.db.fetchrow(repo.GET_ENGAGEMENT, org_id, customer_id)
        facts: dict[tuple[str, str], Row] = {}
        for fact in await self.db.fetch(repo.CUSTOMER_FACTS, org_id, customer_id):
            facts[(fact["kind"], fact["ref_id"])] = fact  # rows come oldest first: latest wins
        return {
            "row": row,
            "health": engagement_health(row, self.clock.now_ms()),
            "email_status": email_status(row),
            "suppressed": is_suppressed(row),
            "facts": list(facts.values()),
            "subscriptions": await self.subscriptions(org_id, customer_id),
        }
