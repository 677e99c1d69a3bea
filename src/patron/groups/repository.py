"""User groups' SQL: groups, memberships, the customer's groups, and the pooled totals of a
group's active members.

A membership is one row per (group, customer): leaving sets `left_at` and keeps the row; joining
again reuses it. Every write to a group's members first locks the group row (`FOR UPDATE` on
PostgreSQL; SQLite writes one transaction at a time), so the size limit and the one primary member
hold under concurrent joins.
"""

from __future__ import annotations

from patron.customers.repository import SHOWN_PROFILE_JOIN
from patron.db.statement import Statement, sql
from patron.loyalty.repository import points_due

_GROUP_COLUMNS = (
    "id, external_id, name, max_size, status, extended_fields, created_at, created_by, updated_at"
)
_MEMBER_COLUMNS = (
    "group_id, customer_id, primary_member, default_group, permissions, joined_at, left_at"
)

INSERT_GROUP = sql(
    "INSERT INTO user_groups (org_id, id, external_id, name, max_size, status, extended_fields, "
    "created_at, created_by, updated_at) VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8, $7)"
)
GROUP = sql(f"SELECT {_GROUP_COLUMNS} FROM user_groups WHERE org_id = $1 AND id = $2")
GROUP_BY_EXTERNAL_ID = sql(
    f"SELECT {_GROUP_COLUMNS} FROM user_groups WHERE org_id = $1 AND external_id = $2"
)
LOCK_GROUP = sql(
    f"SELECT {_GROUP_COLUMNS} FROM user_groups WHERE org_id = $1 AND id = $2 FOR UPDATE",
    sqlite=f"SELECT {_GROUP_COLUMNS} FROM user_groups WHERE org_id = $1 AND id = $2",
)
UPDATE_GROUP = sql(
    "UPDATE user_groups SET external_id = $3, name = $4, max_size = $5, extended_fields = $6, "
    "updated_at = $7 WHERE org_id = $1 AND id = $2"
)
SET_GROUP_STATUS = sql(
    "UPDATE user_groups SET status = $3, updated_at = $4 WHERE org_id = $1 AND id = $2"
)

MEMBERSHIP = sql(
    f"SELECT {_MEMBER_COLUMNS} FROM user_group_members "
    "WHERE org_id = $1 AND group_id = $2 AND customer_id = $3"
)
# The primary member is set once: a group that ever had one (even one who left) has one.
HAD_PRIMARY = sql(
    "SELECT customer_id FROM user_group_members WHERE org_id = $1 AND group_id = $2 "
    "AND primary_member LIMIT 1"
)
PRIMARY_ELSEWHERE = sql(
    "SELECT group_id FROM user_group_members WHERE org_id = $1 AND customer_id = $2 "
    "AND primary_member AND left_at IS NULL AND group_id <> $3 LIMIT 1"
)
ACTIVE_MEMBER_COUNT = sql(
    "SELECT COUNT(*) FROM user_group_members WHERE org_id = $1 AND group_id = $2 "
    "AND left_at IS NULL"
)
UPSERT_MEMBERSHIP = sql(
    "INSERT INTO user_group_members (org_id, group_id, customer_id, primary_member, "
    "default_group, permissions, joined_at, left_at, added_by) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) "
    "ON CONFLICT (org_id, group_id, customer_id) DO UPDATE SET "
    "primary_member = excluded.primary_member, default_group = excluded.default_group, "
    "permissions = excluded.permissions, joined_at = excluded.joined_at, left_at = NULL, "
    "added_by = excluded.added_by"
)
LEAVE = sql(
    "UPDATE user_group_members SET left_at = $4 "
    "WHERE org_id = $1 AND group_id = $2 AND customer_id = $3 AND left_at IS NULL"
)
EXIT_ALL_MEMBERS = sql(
    "UPDATE user_group_members SET left_at = $3 "
    "WHERE org_id = $1 AND group_id = $2 AND left_at IS NULL"
)
ACTIVE_MEMBERSHIPS_OF = sql(
    f"SELECT {_MEMBER_COLUMNS} FROM user_group_members "
    "WHERE org_id = $1 AND customer_id = $2 AND left_at IS NULL"
)

# Group details: active members before exited ones, the primary first, then by join time.
GROUP_MEMBERS = sql(
    f"SELECT {_MEMBER_COLUMNS} FROM user_group_members WHERE org_id = $1 AND group_id = $2 "
    "ORDER BY CASE WHEN left_at IS NULL THEN 0 ELSE 1 END, primary_member DESC, joined_at, "
    "customer_id LIMIT $3"
)


def _in_groups(column: str, param: str) -> tuple[str, str]:
    """`column` among a list of group ids: an array on PostgreSQL, JSON text on SQLite
    (`value_list`)."""
    return (f"{column} = ANY({param}::bigint[])",
            f"{column} IN (SELECT value FROM json_each({param}))")


def _for_groups(text: str) -> Statement:
    pg, lite = _in_groups("m.group_id", "$2")
    return sql(text.format(groups=pg), sqlite=text.format(groups=lite))


# Counts and lifetime purchases of the groups' members, and their points per program (with the
# points of lots whose day is over by $3, now: `due`): the pooled figures of
# docs/compat/loyalty.md ("User groups"), one query each for a list of groups.
GROUP_TOTALS = _for_groups(
    "SELECT m.group_id, SUM(CASE WHEN m.left_at IS NULL THEN 1 ELSE 0 END) AS active, "
    "SUM(CASE WHEN m.left_at IS NULL THEN 0 ELSE 1 END) AS exited, "
    "COALESCE(SUM(CASE WHEN m.left_at IS NULL THEN c.lifetime_purchases ELSE 0 END), 0) "
    "AS purchases FROM user_group_members m "
    "JOIN customers c ON c.org_id = m.org_id AND c.id = m.customer_id "
    "WHERE m.org_id = $1 AND {groups} GROUP BY m.group_id"
)
GROUP_POINTS = _for_groups(
    "SELECT m.group_id, l.program_id, SUM(l.points) AS points, "
    "SUM(l.lifetime_points) AS lifetime_points, SUM(l.redeemed_points) AS redeemed_points, "
    "SUM(l.expired_points) AS expired_points, SUM(l.returned_points) AS returned_points, "
    f"SUM(l.adjusted_points) AS adjusted_points, SUM({points_due('l', '$3')}) AS due "
    "FROM user_group_members m "
    "JOIN loyalty_members l ON l.org_id = m.org_id AND l.customer_id = m.customer_id "
    "WHERE m.org_id = $1 AND {groups} AND m.left_at IS NULL GROUP BY m.group_id, l.program_id"
)

# A customer's current groups (customer details), by the (org_id, customer_id, joined_at) index.
_CUSTOMER_GROUPS = (
    "SELECT g.id, g.external_id, g.name, g.max_size, g.status, g.extended_fields, g.created_at, "
    "g.created_by, g.updated_at, m.group_id, m.customer_id, m.primary_member, m.default_group, "
    "m.permissions, m.joined_at, m.left_at FROM user_group_members m "
    "JOIN user_groups g ON g.org_id = m.org_id AND g.id = m.group_id "
    "WHERE m.org_id = $1 AND m.customer_id = $2 AND m.left_at IS NULL "
    "AND m.joined_at >= $3 AND m.joined_at <= $4"
)
CUSTOMER_GROUPS = {
    descending: sql(f"{_CUSTOMER_GROUPS} ORDER BY m.joined_at {d}, m.group_id {d} "
                    "LIMIT $5 OFFSET $6")
    for descending, d in ((False, "ASC"), (True, "DESC"))
}
# The customer's default group, else the one joined last.
CUSTOMER_DEFAULT_GROUP = sql(
    f"{_CUSTOMER_GROUPS} ORDER BY m.default_group DESC, m.joined_at DESC, m.group_id DESC LIMIT 1"
)
CUSTOMER_GROUP = sql(f"{_CUSTOMER_GROUPS} AND m.group_id = $5")
COUNT_CUSTOMER_GROUPS = sql(
    "SELECT COUNT(*) FROM user_group_members m WHERE m.org_id = $1 AND m.customer_id = $2 "
    "AND m.left_at IS NULL AND m.joined_at >= $3 AND m.joined_at <= $4"
)

# The members route: current members with the names and identifiers of the profile a
# single-profile API shows, and their points in the default program ($3) as of $8 (now).
_MEMBER_PAGE = (
    "SELECT m.customer_id, m.primary_member, m.permissions, m.joined_at, c.email, c.mobile, "
    f"sp.first_name, sp.last_name, sp.identifiers, COALESCE(l.points - {points_due('l', '$8')}, "
    "0) AS points "
    "FROM user_group_members m JOIN customers c ON c.org_id = m.org_id AND c.id = m.customer_id"
    + SHOWN_PROFILE_JOIN
    + " LEFT JOIN loyalty_members l ON l.org_id = m.org_id AND l.customer_id = m.customer_id "
    "AND l.program_id = $3 "
    "WHERE m.org_id = $1 AND m.group_id = $2 AND m.left_at IS NULL "
    "AND m.joined_at >= $4 AND m.joined_at <= $5"
)
MEMBER_PAGE = {
    descending: sql(f"{_MEMBER_PAGE} ORDER BY m.primary_member {d}, m.joined_at, m.customer_id "
                    "LIMIT $6 OFFSET $7")
    for descending, d in ((False, "ASC"), (True, "DESC"))
}
COUNT_MEMBERS = sql(
    "SELECT COUNT(*) FROM user_group_members m WHERE m.org_id = $1 AND m.group_id = $2 "
    "AND m.left_at IS NULL AND m.joined_at >= $3 AND m.joined_at <= $4"
)
