"""The loyalty engine: programs, points (earn, promote, redeem, reverse, return, adjust,
expire) and tiers (upgrade, renew, downgrade, manual adjustment).

Every change to a member locks the member row first, expires its lots whose day is over and
renews or downgrades its tier if its period ended (whether or not the scheduled job has run), and
leaves three things agreeing: the member's `points`, the sum of its open lots, and the sum of its
ledger (`check_ledger`). Reads count those lots as expired too (`_member_now`), and show the tier
the job would leave (`standing`). Balances never go negative: a debit larger than the balance
is refused (redemptions, adjustments) or capped at the balance (returns of points already spent;
docs/loyalty.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from patron.clock import Clock
from patron.customers.fraud import ensure_may_redeem
from patron.customers.service import Customers, active_state
from patron.db.database import Database, Queryable
from patron.db.ids import next_id, next_ids
from patron.errors import NotFound, PatronError, ValidationFailed
from patron.jsonio import dumps_text, loads
from patron.loyalty import repository as repo
from patron.loyalty.programs import Program, ProgramFile, program_from_json, program_json
from patron.loyalty.rules import (
    DAY_MS,
    Member,
    PeriodTotals,
    earned_points,
    end_of_day,
    exact_points,
    next_threshold,
    points_expiry,
    points_owed_back,
    renewal_gaps,
    renews,
    shown_tier_expiry,
    thousandths,
    tier_expiry,
    tier_reached,
    upgrade_note,
    upgrade_value,
)

# Other server workers see an applied program file within this many seconds.
PROGRAM_CACHE_SECONDS = 2.0
JOB_BATCH = 1000
HISTORY_LIMIT = 100


@dataclass(frozen=True)
class ProgramEntry:
    id: int
    program: Program
    is_default: bool
    version: int
    updated_at: int


@dataclass(frozen=True)
class TierChange:
    program_id: int
    type: str
    from_tier: str
    to_tier: str
    from_expires_at: int | None
    to_expires_at: int | None
    changed_at: int = 0
    notes: str = ""


@dataclass
class SideEffects:
    """What one write did, per program: points credited or debited, and tier changes."""

    points: dict[int, int] = field(default_factory=dict)
    tier_changes: list[TierChange] = field(default_factory=list)
    # Per program, what a bill's points were worth before rounding (thousandths).
    raw_points: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Standing:
    """Everything customer details need of one customer's loyalty, read in a few queries."""

    customer_id: int
    programs: list[ProgramEntry]
    members: dict[int, Member]
    open_lots: list[Any]
    # Per program: when its next open lot expires (a CURRENT_POINTS gap's valueValidUpto today).
    next_expiry: dict[int, int | None] = field(default_factory=dict)
    tier_changes: list[Any] = field(default_factory=list)  # newest first, when asked for
    # When the customer enrolled: where a program has not seen it yet, its base tier began then.
    enrolled_at: int = 0
    read_at: int = 0  # the clock's time the standing is read as of
    # The customer's first bill dated after `read_at`, where a program's upgrade tracker counts
    # the bills up to now (None otherwise, or none).
    next_bill: int | None = None

    def member(self, program_id: int) -> Member:
        return (self.members.get(program_id)
                or Member.new(self.customer_id, program_id, self.enrolled_at))


@dataclass(frozen=True)
class UpgradeGap:
    """How far a member is from the next tier `days` ahead, counting the points that expire
    by then (CURRENT_POINTS) and the purchases that leave the tracker's window."""

    strategy: str
    next_tier: int | None
    threshold: int | None
    value: int
    valid_upto: int | None

    @property
    def gap(self) -> int:
        return max((self.threshold or 0) - self.value, 0) if self.threshold is not None else 0


@dataclass(frozen=True)
class JobReport:
    expired_lots: int
    expired_points: int
    renewed: int
    downgraded: int


class Loyalty:
    @staticmethod
    async def scrub(tx: Queryable, org_id: int, customer_id: int) -> None:
        """Part of PII erasure: the notes of the customer's redemptions, points movements and
        tier changes."""
        for statement in (repo.SCRUB_REDEMPTION_NOTES, repo.SCRUB_LEDGER_NOTES,
                          repo.SCRUB_TIER_CHANGE_NOTES):
            await tx.execute(statement, org_id, customer_id)

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._programs: dict[int, tuple[float, list[ProgramEntry]]] = {}

    # -- programs ---------------------------------------------------------------------------

    async def apply_programs(self, org_id: int, programs: ProgramFile) -> list[ProgramEntry]:
        """Add or change the file's programs (programs it does not name stay as they are)."""
        now = self.clock.now_ms()
        default_id = programs.default_program().id
        async with self.db.transaction() as tx:
            await tx.execute(repo.CLEAR_DEFAULT, org_id)
            for program in programs.programs:
                await tx.execute(repo.UPSERT_PROGRAM, org_id, program.id, program.name,
                                 program.description, program.id == default_id,
                                 dumps_text(program_json(program)), now)
        self._programs.pop(org_id, None)
        return await self.programs(org_id)

    async def programs(self, org_id: int, conn: Queryable | None = None) -> list[ProgramEntry]:
        """The organisation's programs, the default first (briefly cached per process)."""
        cached = self._programs.get(org_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        rows = await (conn or self.db).fetch(repo.PROGRAMS, org_id)
        entries = [ProgramEntry(r["id"], program_from_json(loads(r["definition"])),
                                bool(r["is_default"]), r["version"], r["updated_at"])
                   for r in rows]
        self._programs[org_id] = (time.monotonic() + PROGRAM_CACHE_SECONDS, entries)
        return entries

    async def program(self, org_id: int, program_id: int | None,
                      conn: Queryable | None = None) -> ProgramEntry:
        entries = await self.programs(org_id, conn)
        if not entries:
            raise NotFound("No loyalty program is configured", reason="program_not_found")
        if program_id is None:
            return entries[0]
        for entry in entries:
            if entry.id == program_id:
                return entry
        raise NotFound(f"Loyalty program {program_id} not found", reason="program_not_found")

    # -- members ------------------------------------------------------------------------------

    @staticmethod
    async def ensure_enrolled(conn: Queryable, org_id: int, customer_id: int) -> None:
        """Points and tiers are for loyalty customers: a `non_loyalty` customer's bills earn
        nothing (Commerce records them outside the programs), and nothing else moves its points
        or tier until it converts to `loyalty`."""
        if await conn.fetchval(repo.LOYALTY_TYPE, org_id, customer_id) == "non_loyalty":
            raise _not_enrolled()

    @staticmethod
    async def _enrolled_for_write(tx: Queryable, org_id: int, customer_id: int) -> None:
        """`ensure_enrolled` first in a points or tier write's transaction: the customer must be
        active too, and their row stays locked until it ends (active_state), so that nothing
        is written about a customer after their erasure."""
        if (await active_state(tx, org_id, customer_id))["loyalty_type"] == "non_loyalty":
            raise _not_enrolled()

    async def _locked_member(self, tx: Queryable, org_id: int, customer_id: int,
                             program_id: int, now: int, *, expire: bool = True) -> Member:
        """The member, locked after its customer (every write locks the customer first: a write
        to the loyalty tables counts on the customer's row, migration 0013), with its lots due
        by `now` expired, so that nothing spends or counts points whose day is over, and its
        tier periods that ended by `now` renewed or downgraded (`_catch_up_tier`), so that
        nothing earns at or reads an expired tier (the jobs, which count what they do, pass
        `expire=False`)."""
        await tx.execute(repo.ENSURE_MEMBER, org_id, customer_id, program_id, now)
        row = await tx.fetchrow(repo.MEMBER_FOR_UPDATE, org_id, customer_id, program_id)
        assert row is not None  # noqa: S101 - inserted just above in this transaction
        m = Member.of(row)
        if expire and ((await self._expire_due(tx, org_id, m, now))[0]
                       + len(await self._catch_up_tier(tx, org_id, m, now))):
            await self._save(tx, org_id, m, now)
        return m

    async def _save(self, tx: Queryable, org_id: int, m: Member, now: int) -> None:
        await tx.execute(repo.SAVE_MEMBER, org_id, m.customer_id, m.program_id, m.tier,
                         m.tier_since, m.tier_expires_at, m.points, m.lifetime_points,
                         m.promotional_points, m.redeemed_points, m.expired_points,
                         m.returned_points, m.adjusted_points, m.cumulative_purchases, m.visits,
                         now)

    async def _ledger(self, tx: Queryable, org_id: int, m: Member, rows: list[tuple]) -> None:
        """Ledger rows `(kind, points, lot_id, transaction_id, redemption_id, at, till, notes)`."""
        ids = await next_ids(tx, len(rows))
        await tx.executemany(repo.INSERT_LEDGER, [
            (org_id, i, m.customer_id, m.program_id, *row) for i, row in zip(ids, rows, strict=True)
        ])

    async def _credit(self, tx: Queryable, org_id: int, m: Member, kind: str, points: int,
                      at: int, expires_at: int | None, *, ledger_kind: str,
                      transaction_id: int | None = None, till_id: int | None = None,
                      promotion: tuple[str | None, str | None, str | None] = (None, None, None),
                      notes: str = "") -> int:
        """Credits a lot of `points` and answers its id."""
        lot_id = await next_id(tx)
        await tx.execute(repo.INSERT_LOT, org_id, lot_id, m.customer_id, m.program_id, kind,
                         points, at, expires_at, transaction_id, *promotion, till_id)
        await self._ledger(tx, org_id, m, [(ledger_kind, points, lot_id, transaction_id, None,
                                            at, till_id, notes)])
        m.points += points
        return lot_id

    async def _expire(self, tx: Queryable, org_id: int, m: Member, due: list[Any],
                      now: int) -> int:
        """Expires the member's lots `due` (each with its `id` and `remaining` points): their
        points move to `expiredPoints`. Answers how many points expired."""
        ledger = [("EXPIRE", -lot["remaining"], lot["id"], None, None, now, None, "")
                  for lot in due]
        expired = sum(lot["remaining"] for lot in due)
        m.expire(expired)
        await tx.executemany(repo.EXPIRE_LOT, [(org_id, lot["id"]) for lot in due])
        await self._ledger(tx, org_id, m, ledger)
        return expired

    async def _expire_due(self, tx: Queryable, org_id: int, m: Member,
                          now: int) -> tuple[int, int]:
        """Expires the lots of the locked member `m` that are due by `now`: how many, and their
        points."""
        due = await tx.fetch(repo.DUE_LOTS_OF_MEMBER, org_id, m.customer_id, m.program_id, now)
        return (len(due), await self._expire(tx, org_id, m, due, now)) if due else (0, 0)

    async def _debit(self, tx: Queryable, org_id: int, m: Member, points: int, at: int, *,
                     ledger_kind: str, transaction_id: int | None = None,
                     redemption_id: int | None = None, till_id: int | None = None,
                     notes: str = "", first_lots: tuple[int, ...] = ()) -> int:
        """Takes up to `points` from the member's open lots (`first_lots` first, then the
        earliest expiry) and returns what it took, which is less only when the balance is."""
        lots = await tx.fetch(repo.OPEN_LOTS, org_id, m.customer_id, m.program_id)
        lots.sort(key=lambda r: r["id"] not in first_lots)  # stable: keeps expiry order
        left, updates, ledger = points, [], []
        for lot in lots:
            if left <= 0:
                break
            take = min(left, lot["remaining"])
            left -= take
            updates.append((org_id, lot["id"], lot["remaining"] - take))
            ledger.append((ledger_kind, -take, lot["id"], transaction_id, redemption_id, at,
                           till_id, notes))
        if updates:
            await tx.executemany(repo.SET_LOT_REMAINING, updates)
            await self._ledger(tx, org_id, m, ledger)
        taken = points - left
        m.points -= taken
        return taken

    # -- tiers --------------------------------------------------------------------------------

    async def _period(self, conn: Queryable, org_id: int, customer_id: int, start: int,
                      end: int) -> PeriodTotals:
        row = await conn.fetchrow(repo.PERIOD_TOTALS, org_id, customer_id, start, end)
        return PeriodTotals(int(row[0]), int(row[1]), int(row[2])) if row else \
            PeriodTotals(0, 0, 0)

    async def tracker_value(self, conn: Queryable, org_id: int, program: Program,
                            customer_id: int, at: int) -> int:
        tracker = program.upgrade.tracker
        if tracker is None:
            return 0
        period = await self._period(conn, org_id, customer_id,
                                    at - tracker.window_days * DAY_MS, at)
        return period.tracker_value(tracker.type)

    @staticmethod
    def _move_tier(program: ProgramEntry, m: Member, to: int, kind: str, at: int, notes: str,
                   *, period_end: int | None = None) -> TierChange:
        """Moves the member `m` to tier `to` at `at` (in memory) and answers the change. A change
        at the end of a tier period (`period_end`: a renewal or downgrade) begins the new period
        right after it, lasting the new tier's validity from it: no day gained per period."""
        p = program.program
        # History keeps the expiry dates as customer details showed them at the time.
        from_name = p.tier(m.tier).name
        from_expiry = shown_tier_expiry(m.tier_expires_at, m.tier_since)
        if period_end is not None:
            since, m.tier_expires_at = period_end + 1, tier_expiry(p, to, period_end)
        else:
            since, m.tier_expires_at = at, tier_expiry(p, to, at)
        m.tier, m.tier_since = to, since
        return TierChange(program.id, kind, from_name, p.tier(to).name, from_expiry,
                          shown_tier_expiry(m.tier_expires_at, since), at, notes)

    @staticmethod
    async def _record_tier_change(tx: Queryable, org_id: int, m: Member, change: TierChange,
                                  till_id: int | None, *, manual: bool = False) -> None:
        # Capillary's history of a manual adjustment names no expiry of the new tier (seed 000).
        await tx.execute(repo.INSERT_TIER_CHANGE, org_id, await next_id(tx), m.customer_id,
                         change.program_id, change.type, change.from_tier, change.to_tier,
                         change.from_expires_at, None if manual else change.to_expires_at,
                         change.changed_at, change.notes, till_id)

    async def _change_tier(self, tx: Queryable, org_id: int, program: ProgramEntry, m: Member,
                           to: int, kind: str, at: int, notes: str, till_id: int | None,
                           effects: SideEffects | None, *, manual: bool = False) -> None:
        change = self._move_tier(program, m, to, kind, at, notes)
        await self._record_tier_change(tx, org_id, m, change, till_id, manual=manual)
        if effects is not None:
            effects.tier_changes.append(change)

    async def overdue_tier_changes(self, conn: Queryable, org_id: int, program: ProgramEntry,
                                   m: Member, now: int) -> list[TierChange]:
        """The one rule of tier expiry: renews or downgrades the member `m` (in memory) period
        after period, each by its own retention rule over that period, until its tier expires
        after `now`, and answers the changes, oldest first. Each change happens when its period
        ends (`changed_at` = the expiry), whenever this runs, so the job, a write and a read
        agree. Reads only: the caller records the changes, or shows them."""
        changes: list[TierChange] = []
        while m.tier_expires_at is not None and m.tier_expires_at <= now:
            ended = m.tier_expires_at
            gaps = await self.renewal_gaps(conn, org_id, program.program, m, ended)
            if renews(gaps):
                kind, to, notes = "RENEWAL", m.tier, "Tier renewed: retention criteria met"
            else:
                kind, to = "DOWNGRADE", program.program.downgrade_target(m.tier)
                notes = "Tier downgraded: retention criteria not met"
            changes.append(self._move_tier(program, m, to, kind, ended, notes,
                                           period_end=ended))
        return changes

    async def _catch_up_tier(self, tx: Queryable, org_id: int, m: Member,
                             now: int) -> list[TierChange]:
        """Carries out, and records, the renewals or downgrades of the locked member `m` whose
        tier period ended by `now` (`overdue_tier_changes`), as the job would; no statement while
        its period is running."""
        if m.tier_expires_at is None or m.tier_expires_at > now:
            return []
        program = await self.program(org_id, m.program_id, tx)
        changes = await self.overdue_tier_changes(tx, org_id, program, m, now)
        for change in changes:
            await self._record_tier_change(tx, org_id, m, change, None)
        return changes

    async def _maybe_upgrade(self, tx: Queryable, org_id: int, program: ProgramEntry,
                             m: Member, at: int, till_id: int | None,
                             effects: SideEffects, *, tracked_at: int | None = None) -> None:
        """Upgrades the member at `at` to the highest tier its value reaches; the tracker's
        window ends at `tracked_at` (default `at`)."""
        p = program.program
        if m.tier >= len(p.tiers):
            return  # already at the top: no threshold left, no tracker window to read
        tracked = await self.tracker_value(tx, org_id, p, m.customer_id,
                                           at if tracked_at is None else tracked_at) \
            if p.upgrade.tracker else 0
        reached = tier_reached(p, upgrade_value(p, m, tracked))
        if reached > m.tier:
            await self._change_tier(tx, org_id, program, m, reached, "UPGRADE", at,
                                    upgrade_note(p, reached), till_id, effects)

    # -- what moves the engine ------------------------------------------------------------------

    async def on_purchase(self, tx: Queryable, org_id: int, customer_id: int,
                          transaction_id: int, amount: int, billed_at: int,
                          till_id: int | None) -> SideEffects:
        """A regular bill, inside the caller's transaction: points in every program by the
        member's tier, purchases and visits, then any upgrade it earns."""
        effects = SideEffects()
        now = self.clock.now_ms()
        for program in await self.programs(org_id, tx):
            p = program.program
            m = await self._locked_member(tx, org_id, customer_id, program.id, now)
            points = earned_points(p, p.tier(m.tier), amount)
            effects.raw_points[program.id] = thousandths(exact_points(p.tier(m.tier), amount))
            if points:
                expires_at = points_expiry(p, billed_at)
                lot_id = await self._credit(tx, org_id, m, "REGULAR", points, billed_at,
                                            expires_at, ledger_kind="EARN",
                                            transaction_id=transaction_id, till_id=till_id)
                m.lifetime_points += points
                if expires_at is not None and expires_at <= now:
                    # A bill dated so far back that its points' expiry has passed: they are
                    # earned and expired at once, never spendable, never counted for a tier.
                    await self._expire(tx, org_id, m, [{"id": lot_id, "remaining": points}],
                                       now)
            m.cumulative_purchases += amount
            m.visits += 1
            effects.points[program.id] = points
            # A bill dated ahead (up to a day) counts in the tracker from its own time.
            await self._maybe_upgrade(tx, org_id, program, m, now, till_id, effects,
                                      tracked_at=max(now, billed_at))
            await self._save(tx, org_id, m, now)
        return effects

    async def on_return(self, tx: Queryable, org_id: int, customer_id: int,
                        original_id: int, return_id: int, returned: int, original_amount: int,
                        already_returned: int, till_id: int | None) -> SideEffects:
        """A return of `returned` (thousandths) of a bill: takes back the same share of the
        points the bill earned (`points_owed_back`), from the bill's own lot first. The last
        return of a bill takes back exactly what is left of them. Points that expired are not
        taken again; points already spent are taken from the balance, and what the balance
        cannot cover stays owed: a reversal that gives points back to the bill's lot settles it
        first (`reverse`), and a later return of the bill asks for it again. Tiers do not fall on
        a return: only tier expiry downgrades."""
        effects = SideEffects()
        now = self.clock.now_ms()
        members = [(program, await self._locked_member(tx, org_id, customer_id, program.id, now))
                   for program in await self.programs(org_id, tx)]
        # Read with the members locked: the expiry job cannot expire the bill's lots meanwhile.
        owed = await self._owed_back(tx, org_id, original_id, already_returned + returned,
                                     original_amount)
        for program, m in members:
            due, lots = owed.get(program.id, (0, []))
            taken = await self._debit(tx, org_id, m, due, now, ledger_kind="RETURN",
                                      transaction_id=return_id, till_id=till_id,
                                      first_lots=tuple(lots)) if due else 0
            m.returned_points += taken
            m.cumulative_purchases = max(m.cumulative_purchases - returned, 0)
            effects.points[program.id] = -taken
            await self._save(tx, org_id, m, now)
        return effects

    async def _owed_back(self, tx: Queryable, org_id: int, bill_id: int, returned: int,
                         amount: int) -> dict[int, tuple[int, list[int]]]:
        """Per program: what the bill's returns (`returned` of its `amount` so far) still take
        back of its points (`points_owed_back`), and the bill's own lots."""
        earned: dict[int, tuple[int, int, list[int]]] = {}
        for r in await tx.fetch(repo.EARNED_BY_TRANSACTION, org_id, bill_id):
            total, expired, lots = earned.get(r["program_id"], (0, 0, []))
            earned[r["program_id"]] = (total + r["points"], expired + r["expired"],
                                       [*lots, r["lot_id"]])
        taken_back = {r["program_id"]: int(r["points"])
                      for r in await tx.fetch(repo.RETURNED_FOR_BILL, org_id, bill_id)}
        return {program_id: (points_owed_back(total, expired, taken_back.get(program_id, 0),
                                              returned, amount), lots)
                for program_id, (total, expired, lots) in earned.items()}

    async def award_promotion(self, org_id: int, customer_id: int, program_id: int | None,
                              points: int, name: str, source_type: str, source_id: str | None,
                              expires_at: int | None, till_id: int | None) -> SideEffects:
        if points <= 0:
            raise ValidationFailed("points must be positive", field="points")
        now = self.clock.now_ms()
        if expires_at is not None:
            expires_at = end_of_day(expires_at)  # as every lot: the end of the (UTC) day named
            if expires_at <= now:
                raise ValidationFailed("the expiry date must be in the future",
                                       field="expiryDate")
        effects = SideEffects()
        async with self.db.transaction() as tx:
            program = await self.program(org_id, program_id, tx)
            await self._enrolled_for_write(tx, org_id, customer_id)
            m = await self._locked_member(tx, org_id, customer_id, program.id, now)
            await self._credit(tx, org_id, m, "PROMOTIONAL", points, now,
                               expires_at if expires_at is not None
                               else points_expiry(program.program, now),
                               ledger_kind="PROMOTION", till_id=till_id,
                               promotion=(name, source_type, source_id), notes=name)
            m.lifetime_points += points
            m.promotional_points += points
            effects.points[program.id] = points
            await self._maybe_upgrade(tx, org_id, program, m, now, till_id, effects)
            await self._save(tx, org_id, m, now)
        return effects

    async def adjust_points(self, org_id: int, customer_id: int, program_id: int | None,
                            points: int, reason: str, till_id: int | None) -> Member:
        """A manual credit (a lot with the program's expiry) or debit, with its reason."""
        if points == 0:
            raise ValidationFailed("points must not be zero", field="points")
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            program = await self.program(org_id, program_id, tx)
            await self._enrolled_for_write(tx, org_id, customer_id)
            m = await self._locked_member(tx, org_id, customer_id, program.id, now)
            if points > 0:
                await self._credit(tx, org_id, m, "ADJUSTMENT", points, now,
                                   points_expiry(program.program, now), ledger_kind="ADJUST",
                                   till_id=till_id, notes=reason)
            else:
                if -points > m.points:
                    raise ValidationFailed("Insufficient points for the deduction",
                                           reason="insufficient_points", field="points")
                await self._debit(tx, org_id, m, -points, now, ledger_kind="ADJUST",
                                  till_id=till_id, notes=reason)
            m.adjusted_points += points
            await self._maybe_upgrade(tx, org_id, program, m, now, till_id, SideEffects())
            await self._save(tx, org_id, m, now)
        return m

    async def redeemable(self, org_id: int, customer_id: int, program_id: int | None,
                         points: int) -> tuple[PatronError | None, Member, ProgramEntry]:
        """Whether `redeem` would take these points now: None, or the error it would raise
        (a non_loyalty customer, a customer marked as fraud, then a short balance)."""
        program = await self.program(org_id, program_id)
        now = self.clock.now_ms()
        rows, _ = await repo.members_of(self.db, org_id, customer_id, now, None)
        m = next((_member_now(r) for r in rows if r["program_id"] == program.id), None) or \
            Member.new(customer_id, program.id, int(await self.db.fetchval(
                repo.ENROLLED_AT, org_id, customer_id, now)))
        try:
            await self.ensure_enrolled(self.db, org_id, customer_id)
            await ensure_may_redeem(self.db, org_id, customer_id)
        except PatronError as refused:
            return refused, m, program
        if not 0 < points <= m.points:
            return _insufficient(), m, program
        return None, m, program

    async def redeem(self, org_id: int, customer_id: int, program_id: int | None, points: int,
                     bill_number: str, notes: str, till_id: int | None) -> tuple[int, Member]:
        """Spends points, earliest-expiring lots first; refused when the balance is short.
        The member row is locked for the whole check-and-spend."""
        if points <= 0:
            raise ValidationFailed("points must be positive", reason="invalid_points",
                                   field="points")
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            program = await self.program(org_id, program_id, tx)
            await self._enrolled_for_write(tx, org_id, customer_id)
            m = await self._locked_member(tx, org_id, customer_id, program.id, now)
            await ensure_may_redeem(tx, org_id, customer_id)
            if points > m.points:
                raise _insufficient()
            redemption_id = await next_id(tx)
            await tx.execute(repo.INSERT_REDEMPTION, org_id, redemption_id, customer_id,
                             program.id, points, bill_number, notes, now, till_id)
            await self._debit(tx, org_id, m, points, now, ledger_kind="REDEEM",
                              redemption_id=redemption_id, till_id=till_id, notes=notes)
            m.redeemed_points += points
            await self._save(tx, org_id, m, now)
        return redemption_id, m

    async def reverse(self, org_id: int, redemption_id: int, points: int | None,
                      till_id: int | None, *, customer_id: int | None = None
                      ) -> tuple[int, Member]:
        """Gives back redeemed points (all that is left of the redemption when `points` is
        None) to the lots they came from, latest taken first. Points given back to the lot of a
        returned bill first settle what its returns could not take (`on_return`)."""
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            found = await tx.fetchrow(repo.REDEMPTION, org_id, redemption_id)
            if found is None:
                raise NotFound("Redemption ID does not exist", reason="redemption_not_found")
            if customer_id is not None and customer_id != found["customer_id"]:
                raise ValidationFailed("Invalid customer details passed",
                                       reason="redemption_customer_mismatch")
            await active_state(tx, org_id, found["customer_id"])
            m = await self._locked_member(tx, org_id, found["customer_id"],
                                          found["program_id"], now)
            found = await tx.fetchrow(repo.REDEMPTION, org_id, redemption_id)  # now serialised
            left = found["points"] - found["reversed_points"]
            points = left if points is None else points
            if left == 0:
                raise ValidationFailed("Points reversal redeemed points already reversed",
                                       reason="redemption_reversed")
            if points <= 0 or points > left:
                raise ValidationFailed(f"Only {left / 1000:g} points of this redemption can be "
                                       "reversed", reason="invalid_reversal", field="points")
            ledger: list[tuple[Any, ...]] = []
            remaining = points
            settled: dict[int, int] = {}  # bill id -> points its returns took here
            debits = await tx.fetch(repo.REDEMPTION_DEBITS, org_id, redemption_id)
            reversed_by_lot = await self._reversed_by_lot(tx, org_id, redemption_id)
            for d in debits:
                give = min(remaining, d["points"] - reversed_by_lot.get(d["lot_id"], 0))
                if give <= 0:
                    continue
                remaining -= give
                ledger.append(("REDEEM_REVERSAL", give, d["lot_id"], None, redemption_id, now,
                               till_id, ""))
                bill = await tx.fetchrow(repo.RETURNED_BILL_OF_LOT, org_id, d["lot_id"])
                settle = 0
                if bill is not None:
                    owed = await self._owed_back(tx, org_id, bill["id"],
                                                 bill["returned_amount"], bill["amount"])
                    due = owed.get(m.program_id, (0, []))[0] - settled.get(bill["id"], 0)
                    settle = min(give, max(due, 0))
                if settle:
                    settled[bill["id"]] = settled.get(bill["id"], 0) + settle
                    ledger.append(("RETURN", -settle, d["lot_id"], bill["last_return_id"], None,
                                   now, till_id, ""))
                await tx.execute(repo.CREDIT_LOT, org_id, d["lot_id"], give - settle)
                if remaining == 0:
                    break
            await self._ledger(tx, org_id, m, ledger)
            await tx.execute(repo.ADD_REVERSED, org_id, redemption_id, points)
            m.points += points - sum(settled.values())
            m.redeemed_points -= points
            m.returned_points += sum(settled.values())
            # Points given back to a lot whose day is over expire with it.
            await self._expire_due(tx, org_id, m, now)
            # Points given back are a credit too: a CURRENT_POINTS tier may be reached again.
            await self._maybe_upgrade(tx, org_id, await self.program(org_id, m.program_id, tx),
                                      m, now, till_id, SideEffects())
            await self._save(tx, org_id, m, now)
        return points, m

    async def _reversed_by_lot(self, tx: Queryable, org_id: int, redemption_id: int
                               ) -> dict[int, int]:
        rows = await tx.fetch(repo.REVERSALS_BY_LOT, org_id, redemption_id)
        return {r["lot_id"]: int(r["points"]) for r in rows}

    async def adjust_tier(self, org_id: int, customer_id: int, program_id: int | None,
                          tier_name: str, reason: str, till_id: int | None) -> TierChange:
        now = self.clock.now_ms()
        effects = SideEffects()
        async with self.db.transaction() as tx:
            program = await self.program(org_id, program_id, tx)
            to = program.program.serial_of(tier_name)
            if to is None:
                raise ValidationFailed(f"No tier named {tier_name} in program {program.id}",
                                       reason="invalid_tier", field="slabName")
            await self._enrolled_for_write(tx, org_id, customer_id)
            m = await self._locked_member(tx, org_id, customer_id, program.id, now)
            if to == m.tier:
                raise ValidationFailed(f"The customer is already in {tier_name}",
                                       reason="same_tier", field="slabName")
            await self._change_tier(tx, org_id, program, m, to,
                                    "UPGRADE" if to > m.tier else "DOWNGRADE", now,
                                    f"manual slab adjustment reason: {reason}", till_id, effects,
                                    manual=True)
            await self._save(tx, org_id, m, now)
        return effects.tier_changes[0]

    # -- time ---------------------------------------------------------------------------------

    async def run_jobs(self, org_id: int) -> JobReport:
        """Expires the lots due by now and renews or downgrades the tiers that expired; each in
        batches of its own transactions, so running it twice changes nothing the second time."""
        now = self.clock.now_ms()
        lots = points = 0
        while True:
            seen, done, taken = await self._expire_batch(org_id, now)
            lots, points = lots + done, points + taken
            if seen < JOB_BATCH:
                break
        renewed = downgraded = 0
        while True:
            due = await self.db.fetch(repo.DUE_TIERS, org_id, now, JOB_BATCH)
            for row in due:
                renewals, downgrades = await self._renew_or_downgrade(
                    org_id, row["customer_id"], row["program_id"], now)
                renewed, downgraded = renewed + renewals, downgraded + downgrades
            if len(due) < JOB_BATCH:
                break
        return JobReport(lots, points, renewed, downgraded)

    async def _expire_batch(self, org_id: int, now: int) -> tuple[int, int, int]:
        """Expires the due lots of the members that hold the next JOB_BATCH of them: how many
        lots it looked at, how many it expired, and their points."""
        async with self.db.transaction() as tx:
            members = await tx.fetch(repo.DUE_LOTS, org_id, now, JOB_BATCH)
            done = total = 0
            for member in members:
                await Customers.is_active(tx, org_id, member["customer_id"])  # locked first
                m = await self._locked_member(tx, org_id, member["customer_id"],
                                              member["program_id"], now, expire=False)
                lots, expired = await self._expire_due(tx, org_id, m, now)
                if not lots:
                    continue  # another run, or a write to the member, expired them first
                await self._save(tx, org_id, m, now)
                done, total = done + lots, total + expired
        return sum(int(member["lots"]) for member in members), done, total

    async def _renew_or_downgrade(self, org_id: int, customer_id: int, program_id: int,
                                  now: int) -> tuple[int, int]:
        """Renews or downgrades the member's expired tier period after period
        (`_catch_up_tier`): how many renewals and downgrades (none: a write to the member, or
        another run, got here first)."""
        async with self.db.transaction() as tx:
            await Customers.is_active(tx, org_id, customer_id)  # locked first, as by every write
            m = await self._locked_member(tx, org_id, customer_id, program_id, now, expire=False)
            changes = await self._catch_up_tier(tx, org_id, m, now)
            if changes:
                await self._save(tx, org_id, m, now)
        renewed = sum(change.type == "RENEWAL" for change in changes)
        return renewed, len(changes) - renewed

    async def renewal_gaps(self, conn: Queryable, org_id: int, program: Program, m: Member,
                           until: int) -> Any:
        """The retention rule's gaps over the tier period up to `until`, the tracker's value
        being its window's at `until` (docs/loyalty.md: `minTrackerValue`)."""
        if program.tier(m.tier).retention is None or m.tier == 1:
            return None
        period = await self._period(conn, org_id, m.customer_id, m.tier_since, until)
        earned = int(await conn.fetchval(repo.POINTS_EARNED_SINCE, org_id, m.customer_id,
                                         m.program_id, m.tier_since))
        tracked = await self.tracker_value(conn, org_id, program, m.customer_id, until)
        return renewal_gaps(program, m, period, earned, tracked)

    # -- reads --------------------------------------------------------------------------------

    async def upgrade_gap(self, org_id: int, entry: ProgramEntry, m: Member,
                          days: int, standing: Standing | None = None) -> UpgradeGap:
        """`m` as read now (`_member_now`); `standing` (read now) saves the expiry query of a
        CURRENT_POINTS gap for today."""
        p = entry.program
        now = self.clock.now_ms()
        at = end_of_day(now + days * DAY_MS)
        strategy = p.upgrade.strategy
        nxt = m.tier + 1 if m.tier < len(p.tiers) else None
        valid_upto = None
        if strategy == "CURRENT_POINTS":
            # Day N's value keeps the points valid on that day: those of lots that expire
            # before it begins are gone (at N = 0 only those due by now, gone from `m` already).
            if days == 0 and standing is not None:
                expiring, valid_upto = 0, standing.next_expiry.get(entry.id)
            else:
                row = await self.db.fetchrow(repo.LOTS_EXPIRING_BY, org_id, m.customer_id,
                                             entry.id, max(at - DAY_MS, now), now)
                expiring, valid_upto = (int(row[0]), row[1]) if row else (0, None)
            value = m.points - expiring
        elif strategy == "TRACKER_VALUE_BASED" and p.upgrade.tracker is not None:
            window = p.upgrade.tracker.window_days * DAY_MS
            period = await self._period(self.db, org_id, m.customer_id, at - window, now)
            value = period.tracker_value(p.upgrade.tracker.type)
        else:
            value = upgrade_value(p, m, 0)
        return UpgradeGap(strategy, nxt, next_threshold(p, m.tier), value, valid_upto)

    async def renewal(self, org_id: int, entry: ProgramEntry, m: Member,
                      days: int) -> tuple[Member, Any]:
        """The member `m` (as read now) as it will stand at the end of the day `days` ahead with
        no further activity, and its retention rule's gaps then (None: no rule). A tier period
        that ends before that day is renewed or downgraded by the rule (`overdue_tier_changes`),
        so the gaps are those of the period running then; the tracker counts only what is still
        inside its window then. Reads only."""
        at = end_of_day(self.clock.now_ms() + days * DAY_MS)
        then = replace(m)
        if then.tier_expires_at is not None and then.tier_expires_at < at:
            await self.overdue_tier_changes(self.db, org_id, entry, then, at - 1)
        return then, await self.renewal_gaps(self.db, org_id, entry.program, then, at)

    async def standing(self, org_id: int, customer_id: int, *, lots: bool,
                       tier_changes: bool = False) -> Standing:
        programs = await self.programs(org_id)
        now = self.clock.now_ms()
        if not programs:
            return Standing(customer_id, [], {}, [], read_at=now)
        rows, changes = await repo.members_of(self.db, org_id, customer_id, now,
                                              HISTORY_LIMIT if tier_changes else None)
        open_lots = await self.db.fetch(repo.CUSTOMER_OPEN_LOTS, org_id, customer_id, now) \
            if lots else []
        # Only a program that has not seen the customer needs the enrolment (Standing.member).
        enrolled_at = now if len(rows) == len(programs) else int(
            await self.db.fetchval(repo.ENROLLED_AT, org_id, customer_id, now))
        members = {r["program_id"]: _member_now(r) for r in rows}
        # A tier whose period ended shows what the job (or the member's next write) will make of
        # it, read from the same rule without writing; a running period costs nothing more.
        overdue: list[TierChange] = []
        for entry in programs:
            m = members.get(entry.id)
            if m is not None and m.tier_expires_at is not None and m.tier_expires_at <= now:
                overdue += await self.overdue_tier_changes(self.db, org_id, entry, m, now)
        if overdue and changes is not None:
            shown = [_history_row(change) for change in reversed(overdue)]
            changes = sorted([*shown, *changes], reverse=True,  # as repo.TIER_CHANGES
                             key=lambda r: (r["changed_at"], r["program_id"]))[:HISTORY_LIMIT]
        next_bill = None
        if any(e.program.upgrade.strategy == "TRACKER_VALUE_BASED" for e in programs):
            next_bill = rows[0]["next_bill"] if rows else await self.db.fetchval(
                repo.NEXT_BILL, org_id, customer_id, now)
        return Standing(customer_id, programs, members, open_lots,
                        {r["program_id"]: r["next_expiry"] for r in rows}, changes or [],
                        enrolled_at, now, next_bill)

    @staticmethod
    def steady_until(standing: Standing) -> int:
        """Until when (ms, exclusive) everything the reads of `standing` show holds with nothing
        written: a read moves with time only when the UTC day ends (the gaps N days ahead, the
        tracker windows' ends), when an open lot expires, when a tier period ends, and when
        a bill dated later than the read comes into a tracker's window (bills may be dated up
        to a day ahead). A customer a program has not seen and whose enrolment time is unknown
        stands in a base tier that begins now, which never holds."""
        now = standing.read_at
        if standing.enrolled_at == now and any(e.id not in standing.members
                                               for e in standing.programs):
            return now
        until = end_of_day(now) + 1
        for expiry in standing.next_expiry.values():
            if expiry is not None:
                until = min(until, expiry)
        for m in standing.members.values():
            if m.tier_expires_at is not None:  # after now: `standing` renewed the ended ones
                until = min(until, m.tier_expires_at)
        if standing.next_bill is not None:
            until = min(until, int(standing.next_bill))
        return until

    async def expired_history(self, org_id: int, customer_id: int) -> list[Any]:
        return await self.db.fetch(repo.EXPIRED_HISTORY, org_id, customer_id, HISTORY_LIMIT)

    async def returned_history(self, org_id: int, customer_id: int) -> list[Any]:
        return await self.db.fetch(repo.RETURNED_HISTORY, org_id, customer_id, HISTORY_LIMIT)

    async def transaction_points(self, org_id: int, transaction_id: int) -> list[Any]:
        return await self.db.fetch(repo.POINTS_OF_TRANSACTION, org_id, transaction_id)

    async def check_ledger(self, org_id: int, customer_id: int, program_id: int) -> None:
        """Raises AssertionError unless balance = open lots = ledger sum, and the balance rule
        holds. For tests and the benchmark."""
        rows = await self.db.fetch(repo.MEMBERS, org_id, customer_id)
        m = next((Member.of(r) for r in rows if r["program_id"] == program_id), None)
        if m is None:
            return
        ledger = int(await self.db.fetchval(repo.LEDGER_SUM, org_id, customer_id, program_id))
        lots = int(await self.db.fetchval(repo.LOTS_SUM, org_id, customer_id, program_id))
        if not (m.points == ledger == lots and m.points >= 0 and m.balance_rule_holds()):
            raise AssertionError(f"ledger broken for {customer_id}/{program_id}: member "
                                 f"{m.points}, ledger {ledger}, lots {lots}, {m}")


def _not_enrolled() -> ValidationFailed:
    return ValidationFailed("The customer is not enrolled in loyalty (loyaltyType non_loyalty)",
                            reason="not_loyalty_member")


def _member_now(row: Any) -> Member:
    """A member read with its points `due` (`repo.members_of`) as the expiry job would leave it:
    the points of lots whose day is over are expired, not spendable."""
    m = Member.of(row)
    m.expire(int(row["due"]))
    return m


def _history_row(change: TierChange) -> dict[str, Any]:
    """A change of `overdue_tier_changes` as the tier history holds it once recorded
    (`repo.TIER_CHANGES`: the job's, made by no till)."""
    return {"program_id": change.program_id, "type": change.type,
            "from_tier": change.from_tier, "to_tier": change.to_tier,
            "from_expires_at": change.from_expires_at, "to_expires_at": change.to_expires_at,
            "changed_at": change.changed_at, "notes": change.notes, "till_code": None,
            "till_name": None}


def _insufficient() -> ValidationFailed:
    return ValidationFailed("Insufficient points", reason="insufficient_points", field="points")
