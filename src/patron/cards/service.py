"""Cards: series with their numbering, status labels, cards and their life (generated or added,
issued to a customer, suspended, expired, deleted), as Capillary's card APIs describe them.

A card issued to a customer is also an identifier of that customer (`cardnumber`, and
`cardExternalId` when it has one), held in the identifier registry, so every look-up by
identifier finds the customer by card. Every status change is a row of the card's status log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from patron.cards import repository as repo
from patron.clock import Clock
from patron.customers import repository as customers_repo
from patron.customers.models import Identifier
from patron.customers.service import active_state
from patron.db.database import Database, Queryable, Row
from patron.db.ids import next_id, next_ids
from patron.db.statement import value_list
from patron.errors import Conflict, NotFound, ValidationFailed, number_out_of_range
from patron.jsonio import dumps_text, loads
from patron.tenancy import repository as tenancy_repo

DAY_MS = 86_400_000
TYPES = ("DIGITAL", "PHYSICAL")
STATUSES = ("NOT_ISSUED", "ACTIVE", "SUSPENDED", "EXPIRED", "DELETED")
# The built-in labels are the statuses' own names; their ids are Capillary's entity status ids.
BUILT_IN_LABEL_IDS = {"NOT_ISSUED": 1, "ACTIVE": 2, "EXPIRED": 3, "SUSPENDED": 4, "DELETED": 11}
# Which status a card may move to from each status by a status change (issuing and delinking
# are their own operations). A generated card is neither expired nor deleted, and an expired or
# deleted card stays so (Capillary's card docs).
MOVES = {
    "NOT_ISSUED": frozenset({"NOT_ISSUED"}),
    "ACTIVE": frozenset({"ACTIVE", "SUSPENDED", "EXPIRED", "DELETED"}),
    "SUSPENDED": frozenset({"ACTIVE", "SUSPENDED", "EXPIRED", "DELETED"}),
    "EXPIRED": frozenset(),
    "DELETED": frozenset(),
}
GENERATION_METHODS = ("DEFAULT",)
MAX_GENERATE = 100_000
GENERATE_BATCH = 1_000
MIN_LENGTH, MAX_LENGTH = 5, 150
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_CARD_NUMBER = re.compile(r"^[A-Za-z0-9_\-]+$")
EXPIRE_BATCH = 1_000


# Expiry days, active cards and number length are 32-bit columns (db/schema.py): a larger value
# is refused on both databases alike, as PostgreSQL would refuse it.
MAX_SERIES_COUNT = 2**31 - 1
# A card expires its series' expiry days after the day it is made: at most 2,000,000 days (about
# 5,475 years), so that a card made before the year 4500 expires before 10000, as a date shows.
MAX_EXPIRY_DAYS = 2_000_000


@dataclass
class SeriesInput:
    code: str
    type: str
    name: str = ""
    description: str = ""
    expiry_days: int | None = None
    card_expiry_enabled: bool = True
    max_active_cards: int = 0
    generation_enabled: bool = False
    generation_method: str = "DEFAULT"
    prefix: str = ""
    suffix: str = ""
    number_length: int | None = None
    offset: int = 1
    is_active: bool = True


@dataclass
class CardChange:
    """A `PUT /v2/card`: the card by number or external id, and what changes."""

    series_id: int
    label: str
    card_number: str | None = None
    card_external_id: str | None = None
    reason: str = ""
    custom_fields: dict[str, Any] | None = None
    extended_fields: dict[str, Any] | None = None
    mapped_till_code: str | None = None


@dataclass
class Changed:
    card: Row
    warnings: list[str] = field(default_factory=list)


def card_error(code: int, message: str, status: int = 400) -> ValidationFailed:
    """A card rule's failure, carrying Capillary's card code (3000-3051, 70x) as its reason."""
    exc = ValidationFailed(message, reason=f"card_{code}")
    exc.status = status
    return exc


def _not_found(code: int, message: str) -> NotFound:
    return NotFound(message, reason=f"card_{code}")


def series_not_found() -> NotFound:
    return _not_found(3004, "Series does not exist")


def _expires_at(s: Row, now: int) -> int | None:
    """When a card of series `s` made now expires: the series' expiry days after today."""
    if s["card_expiry_enabled"] and s["expiry_days"] is not None:
        return now - now % DAY_MS + s["expiry_days"] * DAY_MS
    return None


class Cards:
    @staticmethod
    async def scrub(tx: Queryable, org_id: int, customer_id: int) -> None:
        """Part of PII erasure: the custom and extended fields and status reasons of the
        customer's cards, and the reasons in their status logs."""
        await tx.execute(repo.SCRUB_CARD_LOG_REASONS, org_id, customer_id)
        await tx.execute(repo.SCRUB_CARD_TEXT, org_id, customer_id)

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- series ---------------------------------------------------------------------------

    async def add_series(self, org_id: int, s: SeriesInput, till_id: int | None, *,
                         series_id: int | None = None) -> int:
        """A new series; `series_id` is for data carried over (the demo's seed series)."""
        self._check_series(s)
        async with self.db.transaction() as tx:
            if await tx.fetchrow(repo.SERIES_BY_CODE, org_id, s.code) is not None:
                raise card_error(3002, "Series already exists")
            series_id = series_id or await next_id(tx)
            await self._check_format(tx, org_id, series_id, s)
            await tx.execute(
                repo.INSERT_SERIES, org_id, series_id, s.code, s.name, s.description, s.type,
                s.expiry_days, s.card_expiry_enabled, s.max_active_cards, s.generation_enabled,
                s.generation_method, s.prefix, s.suffix, s.number_length, s.offset, s.is_active,
                self.clock.now_ms(), till_id)
        return series_id

    async def update_series(self, org_id: int, series_id: int, changes: dict[str, Any],
                            till_id: int | None) -> Row:
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(repo.SERIES, org_id, series_id)
            if row is None:
                raise series_not_found()
            s = SeriesInput(
                code=row["code"], type=row["type"], name=row["name"],
                description=row["description"], expiry_days=row["expiry_days"],
                card_expiry_enabled=bool(row["card_expiry_enabled"]),
                max_active_cards=row["max_active_cards"],
                generation_enabled=bool(row["generation_enabled"]),
                generation_method=row["generation_method"], prefix=row["prefix"],
                suffix=row["suffix"], number_length=row["number_length"],
                offset=row["next_number"], is_active=bool(row["is_active"]))
            for key, value in changes.items():
                setattr(s, key, value)
            self._check_series(s)
            await self._check_format(tx, org_id, series_id, s)
            await tx.execute(
                repo.UPDATE_SERIES, org_id, series_id, s.name, s.description, s.expiry_days,
                s.card_expiry_enabled, s.max_active_cards, s.generation_enabled,
                s.generation_method, s.prefix, s.suffix, s.number_length, s.offset, s.is_active,
                self.clock.now_ms(), till_id)
            return await tx.fetchrow(repo.SERIES, org_id, series_id)

    async def series(self, org_id: int, series_id: int) -> Row:
        row = await self.db.fetchrow(repo.SERIES, org_id, series_id)
        if row is None:
            raise series_not_found()
        return row

    async def all_series(self, org_id: int) -> list[Row]:
        return await self.db.fetch(repo.ALL_SERIES, org_id)

    @staticmethod
    def _check_series(s: SeriesInput) -> None:
        if not s.code:
            raise card_error(3001, "Series code empty")
        if not _ALNUM.match(s.code) or len(s.code) > 50:
            raise card_error(3032, f"{s.code} is not alphanumeric")
        if not s.type:
            raise card_error(3003, "Series type is empty")
        if s.type not in TYPES:
            raise card_error(3020, "DIGITAL & PHYSICAL are the only possible card types")
        if s.expiry_days is not None and s.expiry_days < 0:
            raise card_error(3019, "Card expiry days should not be negative")
        if s.max_active_cards < 0:
            raise card_error(3034, "Max active card per customer passed is negative")
        if s.offset < 0:
            raise card_error(3047, "Card offset invalid")
        if any(n is not None and n > MAX_SERIES_COUNT
               for n in (s.expiry_days, s.max_active_cards, s.number_length)):
            raise number_out_of_range()
        if s.expiry_days is not None and s.expiry_days > MAX_EXPIRY_DAYS:
            raise card_error(3019, f"Card expiry days should not be more than {MAX_EXPIRY_DAYS}")
        if not s.generation_enabled:
            return
        if s.number_length is None:
            raise card_error(3007, "Card generation config not passed")
        if s.generation_method not in GENERATION_METHODS:
            raise card_error(701, f"Invalid configurations set: card generation method "
                                  f"{s.generation_method} is not supported")
        for text, code, what in ((s.prefix, 3022, "prefix"), (s.suffix, 3023, "suffix")):
            if text and (not _ALNUM.match(text) or len(text) > 50):
                raise card_error(code, f"Card {what} passed is not a standard string")
        if s.number_length < MIN_LENGTH:
            raise card_error(3028, f"Card length should not be less than {MIN_LENGTH}")
        if s.number_length > MAX_LENGTH:
            raise card_error(3024, f"Card number total length should not be more than "
                                   f"{MAX_LENGTH}")
        if s.number_length <= len(s.prefix) + len(s.suffix):
            raise card_error(3005, "Card length invalid")

    @staticmethod
    async def _check_format(tx: Queryable, org_id: int, series_id: int, s: SeriesInput) -> None:
        if s.generation_enabled and await tx.fetchval(
                repo.SAME_FORMAT, org_id, series_id, s.prefix, s.suffix,
                s.number_length) is not None:
            raise card_error(3006, "Card configuration already exists with the same prefix,"
                                   "suffix and cardlength")

    # -- labels ---------------------------------------------------------------------------

    async def labels(self, org_id: int) -> list[dict[str, Any]]:
        built_in = [{"id": i, "label": s, "status": s, "created_at": None, "built_in": True}
                    for s, i in BUILT_IN_LABEL_IDS.items()]
        own = [{**dict(r), "built_in": False} for r in await self.db.fetch(repo.LABELS, org_id)]
        return built_in + own

    async def add_labels(self, org_id: int, pairs: list[tuple[str, str]]) -> None:
        """Adds an organisation's own labels (label, status), all or none."""
        if not pairs:
            raise card_error(3014, "Status labels are empty")
        seen: set[str] = set()
        for label, status in pairs:
            if status not in STATUSES:
                raise card_error(3016, f"{status} card status is not valid")
            if not label.strip() or len(label) > 100:
                raise card_error(3017, "Status label invalid")
            if label in seen or label in BUILT_IN_LABEL_IDS:
                raise card_error(3036, f"{label} label passed is repeating")
            seen.add(label)
        async with self.db.transaction() as tx:
            now = self.clock.now_ms()
            for label, status in pairs:
                if await tx.fetchrow(repo.LABEL, org_id, label) is not None:
                    raise card_error(3036, f"{label} label passed is repeating")
                await tx.execute(repo.INSERT_LABEL, org_id, await next_id(tx), label, status, now)

    async def _label(self, conn: Queryable, org_id: int, label: str | None) -> tuple[str, str]:
        """The (label, status) a status label names; built-in labels are the statuses."""
        if not label:
            raise card_error(3011, "Card status not passed")
        if label in BUILT_IN_LABEL_IDS:
            return label, label
        row = await conn.fetchrow(repo.LABEL, org_id, label)
        if row is None:
            raise card_error(3017, "Status label invalid")
        return row["label"], row["status"]

    # -- cards ----------------------------------------------------------------------------

    async def generate(self, org_id: int, series_id: int, count: int, label: str | None,
                       till_id: int | None) -> list[str]:
        """`count` new cards of an incremental series, not issued; their numbers."""
        if not 1 <= count <= MAX_GENERATE:
            raise card_error(3026 if count > MAX_GENERATE else 3025,
                             f"Card count exceeds {MAX_GENERATE}" if count > MAX_GENERATE
                             else "Count field invalid")
        async with self.db.transaction() as tx:
            s = await tx.fetchrow(repo.SERIES, org_id, series_id)
            if s is None:
                raise series_not_found()
            if not s["generation_enabled"]:
                raise card_error(703, "Card number generation disabled")
            label, status = await self._label(tx, org_id, label)
            if status != "NOT_ISSUED":
                raise card_error(3018, "Card status label is not mapped to NOT_ISSUED")
            digits = s["number_length"] - len(s["prefix"]) - len(s["suffix"])
            made: list[str] = []
            while len(made) < count:
                need = count - len(made)
                first = int(await tx.fetchval(repo.TAKE_NUMBERS, org_id, series_id, need))
                if first + need - 1 >= 10 ** digits:
                    raise card_error(702, "Maximum card numbers reached.")
                # In batches: a number already taken (a card added by hand) is skipped, and the
                # loop takes more numbers for it.
                for start in range(first, first + need, GENERATE_BATCH):
                    numbers = [f"{s['prefix']}{n:0{digits}d}{s['suffix']}"
                               for n in range(start, min(start + GENERATE_BATCH, first + need))]
                    taken = {r["card_number"] for r in await tx.fetch(
                        repo.TAKEN_NUMBERS, org_id, value_list(tx, numbers))}
                    free = [n for n in numbers if n not in taken]
                    await self._insert_new(tx, org_id, s, free, label, status, till_id)
                    made += free
            return made

    async def add(self, org_id: int, series_id: int, number: str, external_id: str | None,
                  label: str | None, reason: str, custom_fields: dict[str, Any],
                  extended_fields: dict[str, Any], till_id: int | None, *,
                  card_id: int | None = None) -> int:
        """One card added to a series by number (an external or manual card), not issued;
        `card_id` is for data carried over (the demo's seed cards)."""
        self._check_number(number)
        async with self.db.transaction() as tx:
            s = await tx.fetchrow(repo.SERIES, org_id, series_id)
            if s is None:
                raise card_error(3000, "Invalid card series.")
            label, status = await self._label(tx, org_id, label)
            if status != "NOT_ISSUED":
                raise card_error(3018, "Card status label is not mapped to NOT_ISSUED")
            if await tx.fetchrow(repo.CARD_BY_NUMBER, org_id, number) is not None:
                raise card_error(3009, "Card number exists.")
            return await self._insert(tx, org_id, s, number, external_id, label, status, reason,
                                      custom_fields, extended_fields, till_id, card_id=card_id)

    @staticmethod
    def _check_number(number: str) -> None:
        if not number:
            raise card_error(3010, "Card number does not exists")
        if len(number) > MAX_LENGTH:
            raise card_error(3029, "Card number max length exceeded")
        if not _CARD_NUMBER.match(number):
            raise card_error(3032, f"{number} is not alphanumeric")

    async def _insert_new(self, tx: Queryable, org_id: int, s: Row, numbers: list[str],
                          label: str, status: str, till_id: int | None) -> None:
        """Generated cards: free numbers of the series, each with its first status, written in
        one batch (as `_insert` writes one card)."""
        if not numbers:
            return
        now = self.clock.now_ms()
        ids = await next_ids(tx, 2 * len(numbers))
        expires_at = _expires_at(s, now)
        await tx.executemany(repo.INSERT_CARD, [
            (org_id, ids[2 * i], s["id"], number, None, None, label, status, ids[2 * i + 1], "",
             now, None, expires_at, "{}", "{}", None, till_id)
            for i, number in enumerate(numbers)])
        await tx.executemany(repo.INSERT_STATUS_LOG, [
            (org_id, ids[2 * i + 1], ids[2 * i], label, status, "", now, till_id)
            for i in range(len(numbers))])

    async def _insert(self, tx: Queryable, org_id: int, s: Row, number: str,
                      external_id: str | None, label: str, status: str, reason: str,
                      custom_fields: dict[str, Any], extended_fields: dict[str, Any],
                      till_id: int | None, card_id: int | None = None) -> int:
        """A new card row and its first status; the caller has seen that the number is free."""
        if external_id and await tx.fetchrow(repo.CARD_BY_EXTERNAL_ID, org_id,
                                             external_id) is not None:
            raise card_error(3045, "Card external id exists")
        now = self.clock.now_ms()
        if card_id is None:
            card_id, log_id = await next_ids(tx, 2)
        else:
            log_id = await next_id(tx)
        await tx.execute(
            repo.INSERT_CARD, org_id, card_id, s["id"], number, external_id or None, None,
            label, status, log_id, reason, now, None, _expires_at(s, now),
            dumps_text(custom_fields), dumps_text(extended_fields), None, till_id)
        await tx.execute(repo.INSERT_STATUS_LOG, org_id, log_id, card_id, label, status, reason,
                         now, till_id)
        return card_id

    async def card(self, org_id: int, number: str | None = None,
                   external_id: str | None = None, conn: Queryable | None = None) -> Row:
        conn = conn or self.db
        row = None
        if number:
            row = await conn.fetchrow(repo.CARD_BY_NUMBER, org_id, number)
            if row is not None and external_id and row["card_external_id"] != external_id:
                raise card_error(3046, "Card external id & card number mismatch")
        elif external_id:
            row = await conn.fetchrow(repo.CARD_BY_EXTERNAL_ID, org_id, external_id)
        if row is None:
            raise _not_found(3010, "Card number does not exists")
        return row

    async def status_log(self, org_id: int, number: str) -> list[Row]:
        card = await self.card(org_id, number)
        return await self.db.fetch(repo.STATUS_LOG, org_id, card["id"])

    async def of_customer(self, org_id: int, customer_id: int) -> list[Row]:
        return await self.db.fetch(repo.CARDS_OF_CUSTOMER, org_id, customer_id)

    async def change(self, org_id: int, c: CardChange, till_id: int | None) -> Changed:
        """`PUT /v2/card`: a status change by label (with a reason), fields, the mapped till,
        an external id for a card that has none."""
        warnings: list[str] = []
        async with self.db.transaction() as tx:
            card = await self.card(org_id, c.card_number, c.card_external_id, tx)
            if card["series_id"] != c.series_id:
                raise card_error(3000, "Invalid card series.")
            label, status = await self._label(tx, org_id, c.label)
            if label == card["label"]:
                warnings.append("card_label_unchanged")
            elif status not in MOVES[card["status"]]:
                raise card_error(3038, f"Card status can not be changed from {card['status']} "
                                       f"to {status}")
            else:
                if status == "ACTIVE" != card["status"] and card["customer_id"] is not None:
                    await self._check_active_limit(tx, org_id, card, int(card["customer_id"]))
                await self._set_status(tx, org_id, card["id"], label, status, c.reason, till_id)
                if status == "DELETED" and card["customer_id"] is not None:
                    await self._release(tx, org_id, card, int(card["customer_id"]))
            external_id = card["card_external_id"]
            if c.card_external_id and c.card_number and not external_id:
                if await tx.fetchrow(repo.CARD_BY_EXTERNAL_ID, org_id,
                                     c.card_external_id) is not None:
                    raise card_error(3045, "Card external id exists")
                external_id = c.card_external_id
                if card["customer_id"] is not None:
                    await self._register(tx, org_id, card["customer_id"], "cardExternalId",
                                         external_id)
            mapped = card["mapped_till_id"]
            if c.mapped_till_code is not None:
                till = await tenancy_repo.till_by_code(tx, org_id, c.mapped_till_code)
                mapped = None if till is None else till["id"]
                if mapped is None:
                    raise card_error(3048, f"Mapped Entity type TILL and Entity value "
                                           f"{c.mapped_till_code} passed is invalid")
            await tx.execute(
                repo.SET_FIELDS, org_id, card["id"], external_id,
                dumps_text(c.custom_fields if c.custom_fields is not None
                           else loads(card["custom_fields"])),
                dumps_text(c.extended_fields if c.extended_fields is not None
                           else loads(card["extended_fields"])), mapped)
            return Changed(await tx.fetchrow(repo.CARD_BY_NUMBER, org_id, card["card_number"]),
                           warnings)

    async def _set_status(self, tx: Queryable, org_id: int, card_id: int, label: str,
                          status: str, reason: str, till_id: int | None) -> None:
        now = self.clock.now_ms()
        log_id = await next_id(tx)
        await tx.execute(repo.INSERT_STATUS_LOG, org_id, log_id, card_id, label, status, reason,
                         now, till_id)
        await tx.execute(repo.SET_STATUS, org_id, card_id, label, status, log_id, reason, now)

    # -- issuing ----------------------------------------------------------------------------

    async def issue(self, tx: Queryable, org_id: int, customer_id: int, ident: Identifier,
                    source: str, account_id: str, till_id: int | None) -> int:
        """Links a card to a customer inside the caller's transaction. The card is found by
        number; a number no card has yet is added to the series the identifier names
        (`seriesId` or `seriesCode`). Its label must be an ACTIVE one (default `ACTIVE`)."""
        extra = ident.extra
        card = await tx.fetchrow(repo.CARD_BY_NUMBER, org_id, ident.value)
        label, status = await self._label(tx, org_id, extra.get("statusLabel") or "ACTIVE")
        if status != "ACTIVE":
            raise card_error(3017, "Status label invalid")
        if card is None:
            series = await self._series_named(tx, org_id, extra)
            self._check_number(ident.value)
            await self._insert(tx, org_id, series, ident.value, extra.get("cardExternalId"),
                               "NOT_ISSUED", "NOT_ISSUED", "", {},
                               extra.get("extendedFields") or {}, till_id)
            card = await tx.fetchrow(repo.CARD_BY_NUMBER, org_id, ident.value)
            assert card is not None  # noqa: S101 - inserted just above in this transaction
        elif "seriesId" in extra and str(extra["seriesId"]) != str(card["series_id"]):
            raise card_error(3000, "Invalid card series.")
        if card["customer_id"] == customer_id and card["status"] == "ACTIVE":
            return int(card["id"])
        if card["customer_id"] is not None or card["status"] != "NOT_ISSUED":
            raise card_error(3027, "Card is not linkable")
        now = self.clock.now_ms()
        if card["expires_at"] is not None and card["expires_at"] <= now:
            raise card_error(3008, "Card series expired.")
        await self._check_active_limit(tx, org_id, card, customer_id)
        await tx.execute(repo.LINK, org_id, card["id"], customer_id, now, None)
        await self._set_status(tx, org_id, card["id"], label, status, "", till_id)
        await self._register(tx, org_id, customer_id, "cardnumber", ident.value, source,
                             account_id)
        if card["card_external_id"]:
            await self._register(tx, org_id, customer_id, "cardExternalId",
                                 card["card_external_id"], source, account_id)
        return int(card["id"])

    async def delink(self, tx: Queryable, org_id: int, customer_id: int, number: str,
                     till_id: int | None) -> None:
        """Unlinks a card from its customer: it leaves the customer's identifiers and is
        NOT_ISSUED again, so it can be issued anew."""
        card = await tx.fetchrow(repo.CARD_BY_NUMBER, org_id, number)
        if card is None:
            raise _not_found(3010, "Card number does not exists")
        if card["customer_id"] != customer_id:
            raise card_error(3031, "Card can not get be unlinked")
        await tx.execute(repo.UNLINK, org_id, card["id"])
        await self._set_status(tx, org_id, card["id"], "NOT_ISSUED", "NOT_ISSUED", "delinked",
                               till_id)
        await self._release(tx, org_id, card, customer_id)

    @staticmethod
    async def _check_active_limit(tx: Queryable, org_id: int, card: Row,
                                  customer_id: int) -> None:
        """A card made ACTIVE for a customer (issued, or moved back to ACTIVE) must keep them
        within the series' `maxActiveCardsPerCustomer` (0: no limit): 3036."""
        limit = card["max_active_cards"]
        if limit and await tx.fetchval(repo.ACTIVE_IN_SERIES, org_id, customer_id,
                                       card["series_id"]) >= limit:
            raise card_error(3036, "Active cards of the customer exceeded the max configured "
                                   "value for this card series")

    @staticmethod
    async def _release(tx: Queryable, org_id: int, card: Row, customer_id: int) -> None:
        """The card's number and external id no longer name the customer (delinked, deleted)."""
        await tx.execute(customers_repo.RELEASE_IDENTIFIER, org_id, "cardnumber",
                         card["card_number"], customer_id)
        if card["card_external_id"]:
            await tx.execute(customers_repo.RELEASE_IDENTIFIER, org_id, "cardExternalId",
                             card["card_external_id"], customer_id)

    async def change_identifiers(self, org_id: int, customer_id: int, source: str,
                                 account_id: str, add: list[Identifier], remove: list[str],
                                 till_id: int | None) -> None:
        """Issues and delinks cards of one customer, all or nothing (`changeIdentifier`)."""
        if len(add) + len(remove) > 1:
            raise card_error(3037, "Multiple cards can not be linked or unlinked at once")
        async with self.db.transaction() as tx:
            await active_state(tx, org_id, customer_id)
            for ident in add:
                await self.issue(tx, org_id, customer_id, ident, source, account_id, till_id)
            for number in remove:
                await self.delink(tx, org_id, customer_id, number, till_id)

    async def _series_named(self, tx: Queryable, org_id: int, extra: dict[str, Any]) -> Row:
        series = None
        if extra.get("seriesId") not in (None, ""):
            try:
                series = await tx.fetchrow(repo.SERIES, org_id, int(extra["seriesId"]))
            except (TypeError, ValueError):
                series = None
        elif extra.get("seriesCode"):
            series = await tx.fetchrow(repo.SERIES_BY_CODE, org_id, str(extra["seriesCode"]))
        if series is None or not series["is_active"]:
            raise card_error(3000, "Invalid card series.")
        return series

    async def _register(self, tx: Queryable, org_id: int, customer_id: int, kind: str,
                        value: str, source: str = "INSTORE", account_id: str = "") -> None:
        hit = await customers_repo.find_identifier(tx, org_id, kind, value)
        if hit is None:
            await tx.execute(customers_repo.INSERT_IDENTIFIER, org_id, kind, value, customer_id,
                             source, account_id)
        elif int(hit["customer_id"]) != customer_id:
            raise Conflict("an identifier belongs to another customer",
                           reason="identifier_conflict", field=kind)

    # -- time ------------------------------------------------------------------------------

    async def expire_due(self, org_id: int) -> int:
        """Cards whose expiry date has come are EXPIRED (a status log row each); idempotent."""
        expired = 0
        while True:
            async with self.db.transaction() as tx:
                now = self.clock.now_ms()
                due = await tx.fetch(repo.DUE_CARDS, org_id, now, EXPIRE_BATCH)
                for row in due:
                    await self._set_status(tx, org_id, row["id"], "EXPIRED", "EXPIRED",
                                           "expired", None)
            expired += len(due)
            if len(due) < EXPIRE_BATCH:
                return expired

