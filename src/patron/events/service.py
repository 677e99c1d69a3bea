"""Behavioural events: definitions, webhooks, ingestion with de-duplication, reads, PSI scrub.

Ingestion validates every event of a batch against its definition first, resolves customers
with one query per identifier type, then writes the batch in one transaction. A repeat of a
unique key (or of an `external_event_id`) is stored once more, marked `isDuplicate`, so it
never counts twice.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from patron.auth.secrets import digest, new_secret
from patron.clock import Clock, epoch_ms, zone_named
from patron.customers import normalize
from patron.customers import repository as customers_repo
from patron.customers.models import SOURCES, CustomerInput, Identifier, ProfileInput, Provenance
from patron.customers.service import Customers
from patron.db.database import Database, Queryable, Row
from patron.db.ids import next_id
from patron.errors import Conflict, NotFound, PatronError, ValidationFailed
from patron.events import repository as repo
from patron.events.definitions import (
    RESERVED,
    Definition,
    FieldRule,
    parse_rules,
    validate_actions,
    validate_name,
)
from patron.jsonio import dumps_text, loads
from patron.tenancy import repository as tenancy_repo

TRANSFORMERS = ("WebEngageTransformer",)
AUTH_MECHANISMS = ("Basic", "OAuth")
MAX_BATCH = 1000
MAX_VALUE_LENGTH = 1000
GROUP_WRITES = 16  # requests committed together, at most
_EPOCH_DIGITS = re.compile(r"^-?\d{1,15}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The event times taken, both included: 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z.
EARLIEST_EVENT, LATEST_EVENT = 0, 4_102_444_800_000


class EventRejected(ValidationFailed):
    """One event of a batch failed validation; the others are unaffected."""


@dataclass
class Webhook:
    org_id: int
    id: int
    till_id: int | None
    till_code: str | None
    auth_enabled: bool
    auth_mechanism: str | None
    zone: ZoneInfo  # the organisation's, as read with the webhook: event times read in it


@dataclass
class Ingested:
    request_id: str | None = None
    error: PatronError | None = None


@dataclass
class _Pending:
    index: int
    definition: Definition
    customer_value: str
    attributes: dict[str, Any]
    psi: list[str]
    occurred_at: int
    offset: str
    source: str
    account_id: str | None
    external_event_id: str | None
    dedup_key: str | None
    request_id: str
    customer_id: int | None = None
    duplicate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Write:
    """One request's events waiting for the group writer."""

    org_id: int
    hook: Webhook
    ready: list[_Pending]
    now: int
    lineage_start: int
    done: asyncio.Future[None]


def request_ids(count: int, now_ms: int) -> list[str]:
    """Fresh request ids: UUIDs of version 7 (RFC 9562), the time first, so a batch's rows land
    together at the end of the primary-key index instead of on random pages of it."""
    ids = []
    stamp = f"{now_ms & 0xFFFF_FFFF_FFFF:012x}"
    random = os.urandom(10 * count).hex()
    for i in range(0, 20 * count, 20):
        r = random[i:i + 20]
        variant = "89ab"[int(r[3], 16) & 3]
        ids.append(f"{stamp[:8]}-{stamp[8:]}-7{r[:3]}-{variant}{r[4:7]}-{r[8:20]}")
    return ids


def _offset_text(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=64)
def _offset_at(zone: ZoneInfo, ms: int) -> str:
    """The zone's offset at an instant; cached, as a batch asks it for the same `now` often."""
    return _offset_text(datetime.fromtimestamp(ms / 1000, zone).utcoffset())


def event_time(value: Any, zone: ZoneInfo, now_ms: int) -> tuple[int, str]:
    """`eventDateTime` as (epoch ms, the offset the client meant): epoch milliseconds, or a
    date-time with an offset, or a local date-time read in the organisation's time zone."""
    if value is None:
        return now_ms, _offset_at(zone, now_ms)
    if isinstance(value, int | float) and not isinstance(value, bool) or (
            isinstance(value, str) and _EPOCH_DIGITS.match(value.strip())):
        ms = int(float(value))
        offset = _offset_text(datetime.fromtimestamp(ms / 1000, zone).utcoffset()) \
            if EARLIEST_EVENT <= ms <= LATEST_EVENT else ""
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise EventRejected(f"eventDateTime {value!r} is neither epoch milliseconds nor an "
                                "ISO 8601 date-time", reason="invalid_event_time",
                                field="eventDateTime") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        ms = epoch_ms(parsed)
        offset = _offset_text(parsed.utcoffset())
    else:
        raise EventRejected("eventDateTime must be a string or a number",
                            reason="invalid_event_time", field="eventDateTime")
    if not EARLIEST_EVENT <= ms <= LATEST_EVENT:
        raise EventRejected("eventDateTime is out of range", reason="invalid_event_time",
                            field="eventDateTime")
    return ms, offset


def _field_value(rule: FieldRule, value: Any) -> str:
    if rule.type == "double":
        if isinstance(value, bool):
            raise EventRejected(f"{rule.name} must be a number", reason="invalid_field_type",
                                field=rule.name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise EventRejected(f"{rule.name} must be a number", reason="invalid_field_type",
                                field=rule.name) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise EventRejected(f"{rule.name} must be a finite number",
                                reason="invalid_field_type", field=rule.name)
        return str(number)
    if rule.type == "customer" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise EventRejected(f"{rule.name} must be a string", reason="invalid_field_type",
                            field=rule.name)
    if len(value) > MAX_VALUE_LENGTH:
        raise EventRejected(f"{rule.name} is longer than {MAX_VALUE_LENGTH} characters",
                            reason="invalid_field_type", field=rule.name)
    return value


@dataclass(frozen=True)
class StoredEvent:
    """An event as the reads give it: its row and the code of the till it came through."""

    row: Row
    till_code: str | None


class Events:
    def __init__(self, db: Database, clock: Clock, customers: Customers) -> None:
        self.db = db
        self.clock = clock
        self.customers = customers
        self._waiting: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    # -- definitions ---------------------------------------------------------------------

    async def define(self, org_id: int, body: dict[str, Any]) -> Definition:
        name = validate_name(body.get("eventName"))
        rules = parse_rules(body.get("fields"))
        actions = validate_actions(body.get("actions"))
        description = str(body.get("description") or "")[:1000]
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            if await tx.fetchrow(repo.GET_DEFINITION, org_id, name) is not None:
                raise Conflict(f"Event {name} already exists", reason="event_exists")
            definition_id = await next_id(tx)
            await tx.execute(repo.INSERT_DEFINITION, org_id, definition_id, name, description,
                             dumps_text(actions), dumps_text(body["fields"]), now)
        return Definition(definition_id, name, description, actions, body["fields"], rules)

    async def redefine(self, org_id: int, body: dict[str, Any]) -> Definition:
        """A full replacement of a definition; events already stored keep what they were."""
        name = validate_name(body.get("eventName"))
        rules = parse_rules(body.get("fields"))
        actions = validate_actions(body.get("actions"))
        description = str(body.get("description") or "")[:1000]
        async with self.db.transaction() as tx:
            definition_id = await tx.fetchval(repo.UPDATE_DEFINITION, org_id, name, description,
                                              dumps_text(actions), dumps_text(body["fields"]),
                                              self.clock.now_ms())
        if definition_id is None:
            raise NotFound(f"Event {name} not found", reason="event_not_found")
        return Definition(int(definition_id), name, description, actions, body["fields"], rules)

    async def definitions(self, org_id: int) -> list[Definition]:
        return [self._definition(r) for r in await self.db.fetch(repo.LIST_DEFINITIONS, org_id)]

    @staticmethod
    def _definition(row: Row) -> Definition:
        fields = loads(row["fields"])
        return Definition(int(row["id"]), row["name"], row["description"],
                          loads(row["actions"]), fields, parse_rules(fields))

    # -- webhooks ------------------------------------------------------------------------

    async def add_webhook(self, org_id: int, *, transformer: str | None, till_code: str | None,
                          default_till_id: int | None, auth_enabled: bool,
                          auth_mechanism: str | None, uniqueness_check: bool) -> tuple[str, int]:
        """A new webhook; returns its secret path token (shown once) and its id."""
        if transformer not in TRANSFORMERS:
            raise ValidationFailed("transformer not present", reason="transformer_not_present")
        if auth_enabled and auth_mechanism not in AUTH_MECHANISMS:
            raise ValidationFailed("auth mechanism not present",
                                   reason="auth_mechanism_not_present")
        token = new_secret(24)
        async with self.db.transaction() as tx:
            till_id = default_till_id
            if till_code:
                till = await tenancy_repo.till_by_code(tx, org_id, till_code)
                if till is None:
                    raise ValidationFailed(f"unknown tillCode {till_code!r}",
                                           reason="invalid_till", field="tillCode")
                till_id = int(till["id"])
            webhook_id = await next_id(tx)
            await tx.execute(repo.INSERT_WEBHOOK, org_id, webhook_id, digest(token), transformer,
                             till_id, auth_enabled, auth_mechanism if auth_enabled else None,
                             uniqueness_check, self.clock.now_ms())
        return token, webhook_id

    async def webhook(self, token: str) -> Webhook:
        row = await self.db.fetchrow(repo.FIND_WEBHOOK, digest(token))
        if row is None:
            raise NotFound("webhook not found", reason="webhook_not_found")
        return Webhook(int(row["org_id"]), int(row["id"]), row["till_id"], row["till_code"],
                       bool(row["auth_enabled"]), row["auth_mechanism"],
                       zone_named(row["time_zone"]))

    # -- ingestion -----------------------------------------------------------------------

    async def ingest(self, hook: Webhook, bodies: list[Any], *, lineage_id: str | None = None,
                     lineage_start: int | None = None) -> list[Ingested]:
        if len(bodies) > MAX_BATCH:
            raise ValidationFailed(f"at most {MAX_BATCH} events in one request",
                                   reason="batch_too_large")
        org_id = hook.org_id
        now = self.clock.now_ms()
        zone = hook.zone
        definitions: dict[str, Definition | None] = {}
        results = [Ingested() for _ in bodies]
        pending: list[_Pending] = []
        use_lineage = lineage_id if (lineage_id and len(bodies) == 1
                                     and _UUID.match(lineage_id)) else None
        fresh = [use_lineage] if use_lineage else request_ids(len(bodies), now)
        for i, body in enumerate(bodies):
            try:
                pending.append(await self._prepare(org_id, i, body, definitions, zone, now,
                                                   fresh[i]))
            except PatronError as exc:
                results[i].error = exc
        if use_lineage and pending and use_lineage in await repo.existing_requests(
                self.db, org_id, [use_lineage]):
            results[0].request_id = use_lineage  # a retry of an accepted event: stored once
            return results
        await self._resolve_customers(org_id, hook, pending, results, now)
        ready = [p for p in pending if p.customer_id is not None]
        if ready:
            await self._store(org_id, hook, ready, now, lineage_start or now)
        for p in ready:
            results[p.index].request_id = p.request_id
        return results

    async def _prepare(self, org_id: int, index: int, body: Any,
                       definitions: dict[str, Definition | None], zone: ZoneInfo, now: int,
                       request_id: str) -> _Pending:
        if not isinstance(body, dict):
            raise EventRejected("an event must be a JSON object", reason="invalid_event")
        name = body.get("eventName", body.get("event_name"))
        if not isinstance(name, str) or not name:
            raise EventRejected("eventName is required", reason="missing_field",
                                field="eventName")
        if name not in definitions:
            row = await self.db.fetchrow(repo.GET_DEFINITION, org_id, name)
            definitions[name] = None if row is None else self._definition(row)
        definition = definitions[name]
        if definition is None:
            raise EventRejected(f"Event {name} not found", reason="event_not_found",
                                field="eventName")
        undeclared = [k for k in body if k not in definition.rules and k not in RESERVED]
        if undeclared:
            raise EventRejected(f"fields not in the definition of {name}: "
                                f"{', '.join(sorted(undeclared)[:10])}", reason="undeclared_field",
                                field=undeclared[0])
        attributes: dict[str, Any] = {}
        customer_value = ""
        for rule in definition.rules.values():
            value = body.get(rule.name)
            if value is None or value == "":
                if rule.required:
                    raise EventRejected(f"{rule.name} is required", reason="missing_field",
                                        field=rule.name)
                continue
            text = _field_value(rule, value)
            if rule.type == "customer":
                customer_value = text
            else:
                attributes[rule.name] = text
        occurred_at, offset = event_time(body.get("eventDateTime"), zone, now)
        source = str(body.get("source") or "INSTORE").upper()
        if source not in SOURCES:
            raise EventRejected("Invalid source", reason="invalid_source", field="source")
        external = body.get("external_event_id")
        if external is not None and (not isinstance(external, str | int) or
                                     len(str(external)) > 200):
            raise EventRejected("external_event_id must be a string", field="external_event_id",
                                reason="invalid_field_type")
        external_id = None if external is None else str(external)
        keys = definition.unique_keys
        if keys and all(k in attributes or k == definition.customer_rule.name for k in keys):
            dedup = "u:" + dumps_text([attributes.get(k, customer_value) for k in keys])
        elif external_id is not None:
            dedup = "x:" + external_id
        else:
            dedup = None
        account = body.get("accountId")
        return _Pending(index=index, definition=definition, customer_value=customer_value,
                        attributes=attributes,
                        psi=[f for f in definition.psi_fields if f in attributes],
                        occurred_at=occurred_at, offset=offset, source=source,
                        account_id=None if account is None else str(account),
                        external_event_id=external_id, dedup_key=dedup, request_id=request_id)

    async def _resolve_customers(self, org_id: int, hook: Webhook, pending: list[_Pending],
                                 results: list[Ingested], now: int) -> None:
        by_type: dict[str, list[_Pending]] = {}
        for p in pending:
            by_type.setdefault(p.definition.customer_rule.identifier_type, []).append(p)
        for id_type, group in by_type.items():
            if id_type == "userId":
                ids = [int(p.customer_value) for p in group if p.customer_value.isdigit()]
                active = await customers_repo.active_customers(self.db, org_id, ids)
                found = {str(i): i for i in active}
                kind = None
            else:
                kind = normalize.identifier_type(id_type)
                for p in group:
                    try:
                        p.customer_value = normalize.identifier_value(kind, p.customer_value)
                    except ValidationFailed:
                        pass  # not resolvable: reported below as customer not found
                found = await customers_repo.customers_by_identifier(
                    self.db, org_id, kind, sorted({p.customer_value for p in group}))
            for p in group:
                p.customer_id = found.get(p.customer_value)
                if p.customer_id is None and kind is not None and \
                        p.definition.customer_rule.add_customer:
                    added = await self._add_customer(org_id, hook, kind, p, now)
                    p.customer_id = added
                    if added is not None:
                        found[p.customer_value] = added
                if p.customer_id is None:
                    results[p.index].error = EventRejected(
                        "Cannot find customer for the given identifier",
                        reason="customer_not_found", field=p.definition.customer_rule.name)

    async def _add_customer(self, org_id: int, hook: Webhook, kind: str, p: _Pending,
                            now: int) -> int | None:
        data = CustomerInput(profiles=[ProfileInput(
            source=p.source, identifiers=[Identifier(kind, p.customer_value)])])
        try:
            written = await self.customers.register(org_id, data, Provenance(hook.till_id, now))
        except Conflict:
            return None
        except ValidationFailed:
            return None
        return written.customer_id

    async def _store(self, org_id: int, hook: Webhook, ready: list[_Pending], now: int,
                     lineage_start: int) -> None:
        """Stores a request's events, durably, before returning. Requests arriving while a
        write is under way are committed together by one group write: a commit (an fsync)
        per group instead of per request, which is what bounds ingestion on one disk."""
        write = _Write(org_id, hook, ready, now, lineage_start,
                       asyncio.get_running_loop().create_future())
        self._waiting.append(write)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_groups())
        await asyncio.shield(write.done)

    async def _write_groups(self) -> None:
        while self._waiting:
            # A bounded group: the write lock is shared with other server workers.
            group, self._waiting = self._waiting[:GROUP_WRITES], self._waiting[GROUP_WRITES:]
            try:
                async with self.db.transaction() as tx:
                    for write in group:
                        await self._write(tx, write)
            except Exception:  # noqa: BLE001 - one bad write must not fail its neighbours
                for write in group:
                    await self._write_alone(write)
                continue
            for write in group:
                if not write.done.done():
                    write.done.set_result(None)

    async def _write_alone(self, write: _Write) -> None:
        try:
            async with self.db.transaction() as tx:
                await self._write(tx, write)
        except Exception as exc:  # noqa: BLE001 - handed to the request that sent it
            if not write.done.done():
                write.done.set_exception(exc)
        else:
            if not write.done.done():
                write.done.set_result(None)

    async def _write(self, tx: Queryable, w: _Write) -> None:
        org_id, hook, ready, now, lineage_start = (w.org_id, w.hook, w.ready, w.now,
                                                   w.lineage_start)
        for p in ready:
            p.duplicate = False  # decided afresh: an earlier attempt may have rolled back
        # The customers, locked until the write commits (as active_state locks one): events of
        # a customer erased since the request found them are not stored.
        named = sorted({p.customer_id for p in ready if p.customer_id is not None})
        if len(await customers_repo.active_customers(tx, org_id, named, lock=True)) < len(named):
            raise EventRejected("Cannot find customer for the given identifier",
                                reason="customer_not_found")
        await self._mark_duplicates(tx, org_id, ready)
        await tx.executemany(repo.INSERT_EVENT, [self._row(org_id, hook, p, now, lineage_start)
                                                 for p in ready])
        # An original that lost a race to a concurrent batch was skipped: store it as the
        # duplicate it turned out to be.
        keyed = [p for p in ready if p.dedup_key is not None and not p.duplicate]
        if keyed:
            stored = await repo.existing_requests(tx, org_id, [p.request_id for p in keyed])
            late = [p for p in keyed if p.request_id not in stored]
            for p in late:
                p.duplicate = True
            if late:
                await tx.executemany(repo.INSERT_EVENT, [
                    self._row(org_id, hook, p, now, lineage_start) for p in late])

    @staticmethod
    async def _mark_duplicates(tx: Queryable, org_id: int, ready: list[_Pending]) -> None:
        by_name: dict[str, list[_Pending]] = {}
        for p in ready:
            if p.dedup_key is not None:
                by_name.setdefault(p.definition.name, []).append(p)
        for name, group in by_name.items():
            seen = await repo.originals(tx, org_id, name, sorted({p.dedup_key for p in group
                                                                  if p.dedup_key}))
            for p in group:
                if p.dedup_key in seen:
                    p.duplicate = True
                else:
                    seen.add(p.dedup_key or "")

    @staticmethod
    def _row(org_id: int, hook: Webhook, p: _Pending, now: int, lineage_start: int) -> tuple:
        extra = {"accountId": p.account_id}
        return (org_id, p.request_id, p.customer_id, p.definition.name, p.occurred_at, p.offset,
                now, lineage_start, hook.till_id, p.source,
                dumps_text({**p.attributes, **extra}), dumps_text(p.psi), p.external_event_id,
                p.dedup_key, p.duplicate)

    # -- reads ---------------------------------------------------------------------------

    async def get(self, org_id: int, request_id: str) -> StoredEvent | None:
        row = await repo.event(self.db, org_id, request_id)
        return None if row is None else (await self._with_tills(org_id, [row]))[0]

    async def for_customer(self, org_id: int, customer_id: int, *, start: int, end: int,
                           event_name: str | None, include_duplicates: bool, limit: int,
                           offset: int) -> tuple[list[StoredEvent], int]:
        rows = await self.db.fetch(repo.CUSTOMER_EVENTS, org_id, customer_id, start, end,
                                   event_name, include_duplicates, limit, offset)
        total = await self.db.fetchval(repo.COUNT_CUSTOMER_EVENTS, org_id, customer_id, start,
                                       end, event_name, include_duplicates)
        return await self._with_tills(org_id, rows), int(total)

    async def _with_tills(self, org_id: int, rows: list[Row]) -> list[StoredEvent]:
        tills = await self.customers.tills.named(self.db, org_id, (r["till_id"] for r in rows))
        return [StoredEvent(r, tills[r["till_id"]]["code"] if r["till_id"] in tills else None)
                for r in rows]

    # -- PII -----------------------------------------------------------------------------

    async def scrub(self, tx: Queryable, org_id: int, customer_id: int) -> None:
        """Removes from a customer's events their PSI-flagged attributes and their unique-key
        attributes (by the event's definition: values such as a mobile, which identify the
        person), and the events' de-duplication keys, made of those values."""
        unique_keys = {d["name"]: self._definition(d).unique_keys
                       for d in await tx.fetch(repo.LIST_DEFINITIONS, org_id)}
        for row in await tx.fetch(repo.CUSTOMER_EVENT_ATTRIBUTES, org_id, customer_id):
            attributes = loads(row["attributes"])
            dropped = {*loads(row["psi_fields"]), *unique_keys.get(row["event_name"], ())}
            kept = {k: v for k, v in attributes.items() if k not in dropped}
            if kept != attributes:
                await tx.execute(repo.SCRUB_EVENT, org_id, row["request_id"], dumps_text(kept))
        await tx.execute(repo.RELEASE_DEDUP_KEYS, org_id, customer_id)
