"""The loyalty engine's SQL: programs, members, points lots and ledger, redemptions, tier changes.

Points are BIGINT thousandths of a point. Every write to a member's points first locks the member
row (`FOR UPDATE` on PostgreSQL; SQLite writes one transaction at a time), so concurrent
redemptions on one customer queue behind each other and can never overspend.
"""

from __future__ import annotations

from typing import Any

from patron.db.database import Queryable, Row
from patron.db.statement import sql
from patron.jsonio import loads

_MEMBER_COLUMNS = (
    "customer_id, program_id, tier, tier_since, tier_expires_at, points, lifetime_points, "
    "promotional_points, redeemed_points, expired_points, returned_points, adjusted_points, "
    "cumulative_purchases, visits, joined_at, updated_at"
)

UPSERT_PROGRAM = sql(
    "INSERT INTO loyalty_programs (org_id, id, name, description, is_default, definition, "
    "version, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) "
    "ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, "
    "description = excluded.description, is_default = excluded.is_default, "
    "definition = excluded.definition, version = loyalty_programs.version + 1, "
    "updated_at = excluded.updated_at"
)
CLEAR_DEFAULT = sql("UPDATE loyalty_programs SET is_default = false WHERE org_id = $1")
PROGRAMS = sql(
    "SELECT id, name, description, is_default, definition, version, updated_at "
    "FROM loyalty_programs WHERE org_id = $1 ORDER BY is_default DESC, id"
)

# A member starts in the base tier when the customer enrolled in loyalty (Capillary dates the
# base tier, and its expiry a century on, from the enrolment), not when the engine first
# touches it; `$4` (now) stands in for a customer without an enrolment time.
_ENROLLED = "(SELECT loyalty_created_at FROM customers WHERE org_id = $1 AND id = $2)"
ENSURE_MEMBER = sql(
    "INSERT INTO loyalty_members (org_id, customer_id, program_id, tier, tier_since, joined_at, "
    f"updated_at) VALUES ($1, $2, $3, 1, COALESCE({_ENROLLED}, $4), COALESCE({_ENROLLED}, $4), "
    "$4) ON CONFLICT DO NOTHING"
)
ENROLLED_AT = sql(f"SELECT COALESCE({_ENROLLED}, $3)")
MEMBER_FOR_UPDATE = sql(
    f"SELECT {_MEMBER_COLUMNS} FROM loyalty_members "
    "WHERE org_id = $1 AND customer_id = $2 AND program_id = $3 FOR UPDATE",
    sqlite=f"SELECT {_MEMBER_COLUMNS} FROM loyalty_members "
    "WHERE org_id = $1 AND customer_id = $2 AND program_id = $3",
)
MEMBERS = sql(
    f"SELECT {_MEMBER_COLUMNS} FROM loyalty_members WHERE org_id = $1 AND customer_id = $2"
)


def points_due(member: str, now: str) -> str:
    """SQL: the points of loyalty member `member`'s (an alias) open lots whose day is over by
    `now` (a parameter), which reads count as expired whether or not the job has run."""
    return ("(SELECT COALESCE(SUM(pl.remaining), 0) FROM points_lots pl "
            f"WHERE pl.org_id = {member}.org_id AND pl.customer_id = {member}.customer_id "
            f"AND pl.program_id = {member}.program_id AND pl.remaining > 0 "
            f"AND pl.expires_at <= {now})")


# The first of a customer's bills dated after $3 (now), which a tracker's window up to now
# does not count yet.
_NEXT_BILL = ("SELECT MIN(billed_at) FROM transactions WHERE org_id = $1 AND customer_id = $2 "
              "AND billed_at > $3")
NEXT_BILL = sql(_NEXT_BILL)
# A customer's members as of $3 (now), in one statement: each with the points of its open lots
# due by then (`due`: the expiry job's, not yet done), the next expiry after it (a
# CURRENT_POINTS upgrade gap for today), and the customer's next bill after it (NEXT_BILL).
MEMBERS_WITH_EXPIRING = sql(
    f"SELECT {_MEMBER_COLUMNS}, {points_due('m', '$3')} AS due, "
    "(SELECT MIN(l.expires_at) FROM points_lots l WHERE l.org_id = m.org_id "
    "AND l.customer_id = m.customer_id AND l.program_id = m.program_id AND l.remaining > 0 "
    "AND l.expires_at > $3) AS next_expiry, ("
    + _NEXT_BILL.replace("$1", "m.org_id").replace("$2", "m.customer_id")
    + ") AS next_bill FROM loyalty_members m WHERE m.org_id = $1 AND m.customer_id = $2"
)
SAVE_MEMBER = sql(
    "UPDATE loyalty_members SET tier = $4, tier_since = $5, tier_expires_at = $6, points = $7, "
    "lifetime_points = $8, promotional_points = $9, redeemed_points = $10, "
    "expired_points = $11, returned_points = $12, adjusted_points = $13, "
    "cumulative_purchases = $14, visits = $15, updated_at = $16 "
    "WHERE org_id = $1 AND customer_id = $2 AND program_id = $3"
)
DUE_TIERS = sql(
    "SELECT customer_id, program_id FROM loyalty_members "
    "WHERE org_id = $1 AND tier_expires_at <= $2 ORDER BY tier_expires_at LIMIT $3"
)

INSERT_LOT = sql(
    "INSERT INTO points_lots (org_id, id, customer_id, program_id, kind, points, remaining, "
    "earned_at, expires_at, transaction_id, promotion_name, promotion_source_type, "
    "promotion_source_id, till_id) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, "
    "$12, $13)"
)
# Debits take from the lot that expires first; lots that never expire go last.
OPEN_LOTS = sql(
    "SELECT id, remaining, expires_at, transaction_id FROM points_lots "
    "WHERE org_id = $1 AND customer_id = $2 AND program_id = $3 AND remaining > 0 "
    "ORDER BY expires_at ASC NULLS LAST, id"
)
SET_LOT_REMAINING = sql("UPDATE points_lots SET remaining = $3 WHERE org_id = $1 AND id = $2")
CREDIT_LOT = sql(
    "UPDATE points_lots SET remaining = remaining + $3 WHERE org_id = $1 AND id = $2"
)
DUE_LOTS = sql(
    "SELECT customer_id, program_id, COUNT(*) AS lots FROM (SELECT customer_id, program_id "
    "FROM points_lots WHERE org_id = $1 AND remaining > 0 AND expires_at <= $2 "
    "ORDER BY customer_id, program_id, id LIMIT $3) AS due GROUP BY customer_id, program_id"
)
# A member's lots due to expire, read after the member is locked: nothing takes from them
# between this read and the update.
DUE_LOTS_OF_MEMBER = sql(
    "SELECT id, remaining FROM points_lots WHERE org_id = $1 AND customer_id = $2 "
    "AND program_id = $3 AND remaining > 0 AND expires_at <= $4 ORDER BY id"
)
EXPIRE_LOT = sql(
    "UPDATE points_lots SET expired = expired + remaining, remaining = 0 "
    "WHERE org_id = $1 AND id = $2"
)
# What of a member's open points expires after $5 (now) and by $4, and when the next lot after
# $4 expires: two range reads on points_lots_member, bounded by those lots rather than by the
# history.
LOTS_EXPIRING_BY = sql(
    "SELECT (SELECT COALESCE(SUM(remaining), 0) FROM points_lots WHERE org_id = $1 "
    "AND customer_id = $2 AND program_id = $3 AND remaining > 0 AND expires_at > $5 "
    "AND expires_at <= $4), "
    "(SELECT MIN(expires_at) FROM points_lots WHERE org_id = $1 AND customer_id = $2 "
    "AND program_id = $3 AND remaining > 0 AND expires_at > $4)"
)
# A customer's open lots as of $3 (now): not those whose day is over.
CUSTOMER_OPEN_LOTS = sql(
    "SELECT l.program_id, l.kind, l.points, l.remaining, l.earned_at, l.expires_at, "
    "l.promotion_name, l.promotion_source_type, l.promotion_source_id, t.code AS till_code, "
    "t.name AS till_name FROM points_lots l "
    "LEFT JOIN tills t ON t.org_id = l.org_id AND t.id = l.till_id "
    "WHERE l.org_id = $1 AND l.customer_id = $2 AND l.remaining > 0 "
    "AND (l.expires_at IS NULL OR l.expires_at > $3) "
    "ORDER BY l.program_id, l.expires_at ASC NULLS LAST, l.id"
)

INSERT_LEDGER = sql(
    "INSERT INTO points_ledger (org_id, id, customer_id, program_id, kind, points, lot_id, "
    "transaction_id, redemption_id, at, till_id, notes) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
# Only `loyalty` customers are members of the programs (Capillary's loyaltyType).
LOYALTY_TYPE = sql("SELECT loyalty_type FROM customers WHERE org_id = $1 AND id = $2")
EARNED_BY_TRANSACTION = sql(
    "SELECT e.program_id, e.lot_id, e.points, l.expired FROM points_ledger e "
    "JOIN points_lots l ON l.org_id = e.org_id AND l.id = e.lot_id "
    "WHERE e.org_id = $1 AND e.transaction_id = $2 AND e.kind = 'EARN'"
)
# The returned bill whose points a lot holds, and its latest return (a reversal that gives
# points back to the lot settles what the returns could not take, under that return).
RETURNED_BILL_OF_LOT = sql(
    "SELECT b.id, b.amount, b.returned_amount, (SELECT MAX(r.id) FROM transactions r "
    "WHERE r.org_id = b.org_id AND r.original_id = b.id AND r.type = 'RETURN') AS last_return_id "
    "FROM points_lots l JOIN transactions b ON b.org_id = l.org_id AND b.id = l.transaction_id "
    "WHERE l.org_id = $1 AND l.id = $2 AND b.returned_amount > 0"
)
RETURNED_FOR_BILL = sql(
    "SELECT l.program_id, COALESCE(SUM(-l.points), 0) AS points FROM points_ledger l "
    "JOIN transactions t ON t.org_id = l.org_id AND t.id = l.transaction_id "
    "WHERE t.org_id = $1 AND t.original_id = $2 AND l.kind = 'RETURN' GROUP BY l.program_id"
)
# A transaction's points per program and kind: its own, and for a bill those its returns took
# back (kind RETURN).
POINTS_OF_TRANSACTION = sql(
    "SELECT program_id, kind, COALESCE(SUM(points), 0) AS points FROM points_ledger "
    "WHERE org_id = $1 AND (transaction_id = $2 OR kind = 'RETURN' AND transaction_id IN "
    "(SELECT id FROM transactions WHERE org_id = $1 AND original_id = $2)) "
    "GROUP BY program_id, kind"
)
LEDGER_SUM = sql(
    "SELECT COALESCE(SUM(points), 0) FROM points_ledger "
    "WHERE org_id = $1 AND customer_id = $2 AND program_id = $3"
)
LOTS_SUM = sql(
    "SELECT COALESCE(SUM(remaining), 0) FROM points_lots "
    "WHERE org_id = $1 AND customer_id = $2 AND program_id = $3 AND remaining > 0"
)
EXPIRED_HISTORY = sql(
    "SELECT program_id, at, SUM(-points) AS points FROM points_ledger "
    "WHERE org_id = $1 AND customer_id = $2 AND kind = 'EXPIRE' "
    "GROUP BY program_id, at ORDER BY at DESC LIMIT $3"
)
RETURNED_HISTORY = sql(
    "SELECT l.program_id, l.at, SUM(-l.points) AS points, t.id AS transaction_id, "
    "t.bill_number FROM points_ledger l "
    "JOIN transactions t ON t.org_id = l.org_id AND t.id = l.transaction_id "
    "WHERE l.org_id = $1 AND l.customer_id = $2 AND l.kind = 'RETURN' "
    "GROUP BY l.program_id, l.at, t.id, t.bill_number ORDER BY l.at DESC LIMIT $3"
)
REDEMPTION_DEBITS = sql(
    "SELECT lot_id, -points AS points FROM points_ledger "
    "WHERE org_id = $1 AND redemption_id = $2 AND kind = 'REDEEM' ORDER BY id DESC"
)

INSERT_REDEMPTION = sql(
    "INSERT INTO redemptions (org_id, id, customer_id, program_id, points, bill_number, notes, "
    "redeemed_at, till_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
REDEMPTION = sql(
    "SELECT id, customer_id, program_id, points, reversed_points, bill_number, redeemed_at "
    "FROM redemptions WHERE org_id = $1 AND id = $2"
)
ADD_REVERSED = sql(
    "UPDATE redemptions SET reversed_points = reversed_points + $3 "
    "WHERE org_id = $1 AND id = $2"
)

INSERT_TIER_CHANGE = sql(
    "INSERT INTO tier_changes (org_id, id, customer_id, program_id, type, from_tier, to_tier, "
    "from_expires_at, to_expires_at, changed_at, notes, till_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
# Newest first; changes at one instant in several programs (a bill's upgrades, the periods a
# write or the job renews) by program, so that the order does not depend on which came first.
TIER_CHANGES = sql(
    "SELECT c.program_id, c.type, c.from_tier, c.to_tier, c.from_expires_at, c.to_expires_at, "
    "c.changed_at, c.notes, t.code AS till_code, t.name AS till_name FROM tier_changes c "
    "LEFT JOIN tills t ON t.org_id = c.org_id AND t.id = c.till_id "
    "WHERE c.org_id = $1 AND c.customer_id = $2 "
    "ORDER BY c.changed_at DESC, c.program_id DESC, c.id DESC LIMIT $3"
)
# PostgreSQL: the members (as MEMBERS_WITH_EXPIRING) with the customer's tier changes as a JSON
# array of TIER_CHANGES rows on each, in one round trip (each costs a backend wake-up).
MEMBERS_AND_TIER_CHANGES = sql(
    MEMBERS_WITH_EXPIRING.pg.replace(
        " FROM loyalty_members m WHERE",
        ", (SELECT coalesce(json_agg(x ORDER BY x.changed_at DESC, x.program_id DESC, "
        "x.id DESC), '[]') FROM ("
        + TIER_CHANGES.pg.replace("SELECT c.program_id", "SELECT c.id, c.program_id")
        .replace("$3", "$4") + ") x) AS tier_changes FROM loyalty_members m WHERE", 1),
    sqlite="SELECT NULL",  # not used on SQLite
)


async def members_of(conn: Queryable, org_id: int, customer_id: int, now: int,
                     changes_limit: int | None) -> tuple[list[Row], list[Any] | None]:
    """A customer's members as of `now` (MEMBERS_WITH_EXPIRING) and, when
    `changes_limit` is given, their newest tier changes: one statement on PostgreSQL, two
    in-process reads on SQLite."""
    if changes_limit is None:
        return await conn.fetch(MEMBERS_WITH_EXPIRING, org_id, customer_id, now), None
    if conn.dialect == "postgresql":
        rows = await conn.fetch(MEMBERS_AND_TIER_CHANGES, org_id, customer_id, now,
                                changes_limit)
        return rows, (loads(rows[0]["tier_changes"]) if rows else [])
    return (await conn.fetch(MEMBERS_WITH_EXPIRING, org_id, customer_id, now),
            await conn.fetch(TIER_CHANGES, org_id, customer_id, changes_limit))

POINTS_EARNED_SINCE = sql(
    "SELECT COALESCE(SUM(points), 0) FROM points_ledger WHERE org_id = $1 AND customer_id = $2 "
    "AND program_id = $3 AND kind IN ('EARN', 'PROMOTION') AND at >= $4"
)
# Purchases net of returns, visits and line items billed within a window: trackers and
# retention rules. Bounded by the window, not by the customer's whole history.
PERIOD_TOTALS = sql(
    "SELECT COALESCE(SUM(CASE WHEN type = 'REGULAR' THEN amount ELSE -amount END), 0), "
    "COUNT(CASE WHEN type = 'REGULAR' THEN 1 END), "
    "COALESCE(SUM(CASE WHEN type = 'REGULAR' THEN line_count ELSE 0 END), 0) "
    "FROM transactions WHERE org_id = $1 AND customer_id = $2 AND billed_at >= $3 "
    "AND billed_at <= $4"
)
REVERSALS_BY_LOT = sql(
    "SELECT lot_id, SUM(points) AS points FROM points_ledger "
    "WHERE org_id = $1 AND redemption_id = $2 AND kind = 'REDEEM_REVERSAL' GROUP BY lot_id"
)

# PII erasure: the notes of the customer's redemptions, points movements and tier changes,
# which hold what a client wrote (reasons, adjustment notes). Points and tiers stay.
SCRUB_REDEMPTION_NOTES = sql(
    "UPDATE redemptions SET notes = '' WHERE org_id = $1 AND customer_id = $2"
)
SCRUB_LEDGER_NOTES = sql(
    "UPDATE points_ledger SET notes = '' WHERE org_id = $1 AND customer_id = $2"
)
SCRUB_TIER_CHANGE_NOTES = sql(
    "UPDATE tier_changes SET notes = '' WHERE org_id = $1 AND customer_id = $2"
)
