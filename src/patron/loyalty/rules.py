"""The loyalty engine's rules, as plain functions of a program and a member's standing.

Points and money are integers in thousandths. Nothing here touches the database: the service
reads the state, asks these rules what follows, and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from patron.clock import EPOCH, epoch_ms
from patron.loyalty.programs import Program, Tier

DAY_MS = 86_400_000
_ROUNDING = {"FLOOR": ROUND_FLOOR, "ROUND": ROUND_HALF_UP, "CEIL": ROUND_CEILING}

UPGRADE_DESCRIPTIONS = {
    "CURRENT_POINTS": "purchase required for slab upgradation based on current points",
    "CUMULATIVE_POINTS": "purchase required for slab upgradation based on cumulative points",
    "CUMULATIVE_PURCHASES": "purchase required for slab upgradation based on cumulative purchases",
    "TRACKER_VALUE_BASED": "purchase required for slab upgradation based on tracker value",
}


@dataclass
class Member:
    """A customer's standing in one program (one `loyalty_members` row)."""

    customer_id: int
    program_id: int
    tier: int
    tier_since: int
    tier_expires_at: int | None
    points: int
    lifetime_points: int
    promotional_points: int
    redeemed_points: int
    expired_points: int
    returned_points: int
    adjusted_points: int
    cumulative_purchases: int
    visits: int
    joined_at: int
    updated_at: int

    @classmethod
    def of(cls, row: object) -> Member:
        return cls(*(row[i] for i in range(16)))  # type: ignore[index]

    @classmethod
    def new(cls, customer_id: int, program_id: int, now_ms: int) -> Member:
        return cls(customer_id, program_id, 1, now_ms, None, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                   now_ms, now_ms)

    def expire(self, points: int) -> None:
        """`points` of the member's lots expired: they leave the balance for `expiredPoints`."""
        self.points -= points
        self.expired_points += points

    def balance_rule_holds(self) -> bool:
        """points = lifetime (earned + promotional) - redeemed - expired - returned + adjusted."""
        return self.points == (self.lifetime_points - self.redeemed_points - self.expired_points
                               - self.returned_points + self.adjusted_points)


def thousandths(value: Decimal | float | int) -> int:
    return int((Decimal(str(value)) * 1000).to_integral_value(ROUND_HALF_UP))


def exact_points(tier: Tier, amount: int) -> Decimal:
    """Points a purchase of `amount` (thousandths of the currency) is worth in `tier` before
    rounding: the tier's points per currency unit (Capillary's `rawAwardedPoints`)."""
    return Decimal(amount) / 1000 * tier.points_per_currency


def earned_points(program: Program, tier: Tier, amount: int) -> int:
    """Points a purchase of `amount` earns in `tier`: `exact_points` rounded to whole points by
    the program's rounding, in thousandths."""
    exact = exact_points(tier, amount)
    return int(exact.to_integral_value(_ROUNDING[program.rounding])) * 1000


def points_owed_back(earned: int, expired: int, taken_back: int, returned: int,
                     amount: int) -> int:
    """What the returns of a bill still take back of the points it earned in one program: the
    returned share (`returned` of `amount`) of the points that did not expire, all of them once
    the whole bill is returned, less what its returns took already. Points that expired are
    gone already; points that were spent are taken from the balance."""
    kept = max(earned - expired, 0)
    share = kept if returned >= amount else kept * returned // max(amount, 1)
    return max(share - taken_back, 0)


def end_of_day(ms: int) -> int:
    """The last millisecond of the UTC day `ms` falls in: expiries happen at the end of a day."""
    return ms - ms % DAY_MS + DAY_MS - 1


def points_expiry(program: Program, earned_at: int) -> int | None:
    if program.points_expiry is None:
        return None
    return end_of_day(earned_at + program.points_expiry.days * DAY_MS)


def tier_expiry(program: Program, serial: int, since: int) -> int | None:
    """The end of the day the tier's `validityDays` after `since` falls in (a renewal counts
    from the old expiry); None: the tier never expires."""
    days = program.tier(serial).validity_days
    return None if days is None or serial == 1 else end_of_day(since + days * DAY_MS)


def shown_tier_expiry(serial_expiry: int | None, since: int) -> int:
    """A tier that never expires shows, as Capillary shows it, the end of the day a hundred
    years after it began."""
    if serial_expiry is not None:
        return serial_expiry
    moment = EPOCH + timedelta(milliseconds=since)
    try:
        later = moment.replace(year=moment.year + 100)
    except ValueError:  # 29 February
        later = moment.replace(year=moment.year + 100, day=28)
    return end_of_day(epoch_ms(later))


def tier_reached(program: Program, value: int) -> int:
    """The highest tier whose threshold `value` (thousandths) meets."""
    reached = 1
    for serial, tier in enumerate(program.tiers, start=1):
        if tier.threshold is not None and value >= thousandths(tier.threshold):
            reached = serial
    return reached


def next_threshold(program: Program, serial: int) -> int | None:
    if serial >= len(program.tiers):
        return None
    threshold = program.tiers[serial].threshold
    return thousandths(threshold) if threshold is not None else None


def upgrade_value(program: Program, member: Member, tracker_value: int) -> int:
    """The member's value under the program's upgrade strategy (thousandths; visits count 1000
    each so that every value shares one scale)."""
    strategy = program.upgrade.strategy
    if strategy == "CURRENT_POINTS":
        return member.points
    if strategy == "CUMULATIVE_POINTS":
        return member.lifetime_points
    if strategy == "CUMULATIVE_PURCHASES":
        return member.cumulative_purchases
    return tracker_value


def upgrade_note(program: Program, serial: int) -> str:
    tier = program.tier(serial)
    return (f"Upgrading to Slab : Slab[{serial}]: Name [{tier.name}] "
            f"Description [{tier.description}] , Criteria: Primary")


@dataclass(frozen=True)
class PeriodTotals:
    """What a member did within a window: purchases (thousandths), visits, line items."""

    purchases: int
    visits: int
    line_items: int

    def tracker_value(self, tracker_type: str) -> int:
        if tracker_type == "VISITS":
            return self.visits * 1000
        if tracker_type == "LINEITEM_COUNT":
            return self.line_items * 1000
        return self.purchases


@dataclass(frozen=True)
class RenewalGap:
    based_on: str  # PURCHASE | VISITS | POINTS | TRACKER
    threshold: int
    value: int

    @property
    def gap(self) -> int:
        return max(self.threshold - self.value, 0)


def renewal_gaps(program: Program, member: Member, period: PeriodTotals,
                 points_in_period: int, tracked: int) -> list[RenewalGap] | None:
    """What the current tier's retention rule asks, beside what the member reached in the tier
    period (and `tracked`, the tracker's value, a moving window, at the same moment); None when
    the tier has no retention rule (it renews unconditionally)."""
    tier = program.tier(member.tier)
    rule = tier.retention
    if rule is None or member.tier == 1:
        return None
    gaps = [RenewalGap("PURCHASE", thousandths(rule.min_purchases), period.purchases),
            RenewalGap("VISITS", rule.min_visits * 1000, period.visits * 1000),
            RenewalGap("POINTS", thousandths(rule.min_points), points_in_period)]
    if program.upgrade.tracker is not None:
        gaps.append(RenewalGap("TRACKER", thousandths(rule.min_tracker_value), tracked))
    return gaps


def renews(gaps: list[RenewalGap] | None) -> bool:
    return gaps is None or all(g.gap == 0 for g in gaps)
