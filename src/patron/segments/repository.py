"""SQL for segments, their ordered partitions, and which partition each customer is in."""

from __future__ import annotations

from patron.db.statement import sql

_SEGMENT_COLUMNS = "id, name, description, partitions, created_at, updated_at"

INSERT_SEGMENT = sql(
    "INSERT INTO segments (org_id, id, name, description, partitions, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (org_id, name) DO NOTHING"
)
GET_SEGMENT = sql(f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE org_id = $1 AND id = $2")
# Assignments and definition changes of one segment take turns (SQLite's writer is one already).
LOCK_SEGMENT = sql(
    f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE org_id = $1 AND id = $2 FOR UPDATE",
    sqlite=f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE org_id = $1 AND id = $2",
)
FIND_SEGMENT_BY_NAME = sql(
    f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE org_id = $1 AND name = $2"
)
LIST_SEGMENTS = sql(f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE org_id = $1 ORDER BY id")
UPDATE_SEGMENT = sql(
    "UPDATE segments SET name = $3, description = $4, partitions = $5, updated_at = $6 "
    "WHERE org_id = $1 AND id = $2"
)

MEMBER_COUNTS = sql(
    "SELECT segment_id, partition, count(*) AS members FROM segment_members "
    "WHERE org_id = $1 GROUP BY segment_id, partition"
)
SEGMENT_MEMBER_COUNTS = sql(
    "SELECT segment_id, partition, count(*) AS members FROM segment_members "
    "WHERE org_id = $1 AND segment_id = $2 GROUP BY segment_id, partition"
)
# A customer erased (or gone) since its identifier was resolved is not assigned.
ASSIGN_MEMBER = sql(
    "INSERT INTO segment_members (org_id, customer_id, segment_id, partition, assigned_at) "
    "SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS TEXT), "
    "CAST($5 AS BIGINT) WHERE EXISTS (SELECT 1 FROM customers WHERE org_id = $1 AND id = $2 "
    "AND status = 'active') "
    "ON CONFLICT (org_id, customer_id, segment_id) DO UPDATE SET partition = excluded.partition, "
    "assigned_at = excluded.assigned_at"
)
MEMBER_PARTITION = sql(
    "SELECT partition FROM segment_members WHERE org_id = $1 AND segment_id = $2 "
    "AND customer_id = $3"
)
REMOVE_MEMBER = sql(
    "DELETE FROM segment_members WHERE org_id = $1 AND segment_id = $2 AND customer_id = $3"
)
RENAME_PARTITION = sql(
    "UPDATE segment_members SET partition = $4 WHERE org_id = $1 AND segment_id = $2 "
    "AND partition = $3"
)
COUNT_PARTITION = sql(
    "SELECT count(*) FROM segment_members WHERE org_id = $1 AND segment_id = $2 "
    "AND partition = $3"
)
EMPTY_PARTITION = sql(
    "DELETE FROM segment_members WHERE org_id = $1 AND segment_id = $2 AND partition = $3"
)

# Customer details with embed=segments: segment name -> partition (primary key prefix).
CUSTOMER_SEGMENTS = sql(
    "SELECT s.name, m.partition FROM segment_members m JOIN segments s "
    "ON s.org_id = m.org_id AND s.id = m.segment_id "
    "WHERE m.org_id = $1 AND m.customer_id = $2 ORDER BY s.name"
)
DELETE_CUSTOMER_MEMBERSHIPS = sql(
    "DELETE FROM segment_members WHERE org_id = $1 AND customer_id = $2"
)
