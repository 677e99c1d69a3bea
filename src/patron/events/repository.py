"""SQL for event definitions, webhooks and events. Batch look-ups take a list of values
(`value_list`), so a batch costs a few round trips whatever its size."""

from __future__ import annotations

from collections.abc import Sequence

from patron.db.database import Queryable, Row
from patron.db.statement import sql, value_list

INSERT_DEFINITION = sql(
    "INSERT INTO event_definitions (org_id, id, name, description, actions, fields, created_at, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
)
UPDATE_DEFINITION = sql(
    "UPDATE event_definitions SET description = $3, actions = $4, fields = $5, updated_at = $6 "
    "WHERE org_id = $1 AND name = $2 RETURNING id"
)
GET_DEFINITION = sql(
    "SELECT id, name, description, actions, fields FROM event_definitions "
    "WHERE org_id = $1 AND name = $2"
)
LIST_DEFINITIONS = sql(
    "SELECT id, name, description, actions, fields FROM event_definitions WHERE org_id = $1 "
    "ORDER BY name"
)

INSERT_WEBHOOK = sql(
    "INSERT INTO event_webhooks (org_id, id, token_hash, transformer_type, till_id, "
    "auth_enabled, auth_mechanism, uniqueness_check, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
# The webhook with its organisation's time zone, read with it on every request (no extra round
# trip), so that a change of zone applies to the next event.
FIND_WEBHOOK = sql(
    "SELECT w.org_id, w.id, w.till_id, w.auth_enabled, w.auth_mechanism, w.uniqueness_check, "
    "t.code AS till_code, o.time_zone FROM event_webhooks w JOIN orgs o ON o.id = w.org_id "
    "LEFT JOIN tills t ON t.org_id = w.org_id AND t.id = w.till_id WHERE w.token_hash = $1"
)

_ORIGINALS = sql(
    "SELECT dedup_key FROM events WHERE org_id = $1 AND event_name = $2 AND NOT is_duplicate "
    "AND dedup_key = ANY($3::text[])",
    sqlite="SELECT dedup_key FROM events WHERE org_id = $1 AND event_name = $2 "
    "AND NOT is_duplicate AND dedup_key IN (SELECT value FROM json_each($3))",
)
_EXISTING_REQUESTS = sql(
    "SELECT request_id FROM events WHERE org_id = $1 AND request_id = ANY($2::text[])",
    sqlite="SELECT request_id FROM events WHERE org_id = $1 "
    "AND request_id IN (SELECT value FROM json_each($2))",
)
_EVENT_COLUMNS = ("org_id, request_id, customer_id, event_name, occurred_at, input_offset, "
                  "received_at, lineage_start, till_id, source, attributes, psi_fields, "
                  "external_event_id, dedup_key, is_duplicate")
INSERT_EVENT = sql(
    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
    "$11, $12, $13, $14, $15) ON CONFLICT (org_id, event_name, dedup_key) "
    "WHERE NOT is_duplicate AND dedup_key IS NOT NULL DO NOTHING"
)
_SELECT_EVENT = (
    "SELECT e.request_id, e.customer_id, e.event_name, e.occurred_at, e.input_offset, "
    "e.received_at, e.lineage_start, e.till_id, e.source, e.attributes, e.psi_fields, "
    "e.external_event_id, e.is_duplicate FROM events e "
)  # the till's code comes from memory (tenancy/tills.py)
GET_EVENT = sql(_SELECT_EVENT + "WHERE e.org_id = $1 AND e.request_id = $2")
CUSTOMER_EVENTS = sql(
    _SELECT_EVENT + "WHERE e.org_id = $1 AND e.customer_id = $2 AND e.occurred_at >= $3 "
    "AND e.occurred_at < $4 AND ($5::text IS NULL OR e.event_name = $5) "
    "AND (NOT e.is_duplicate OR $6) ORDER BY e.occurred_at DESC, e.request_id LIMIT $7 OFFSET $8",
    sqlite=_SELECT_EVENT + "WHERE e.org_id = $1 AND e.customer_id = $2 AND e.occurred_at >= $3 "
    "AND e.occurred_at < $4 AND ($5 IS NULL OR e.event_name = $5) "
    "AND (NOT e.is_duplicate OR $6) ORDER BY e.occurred_at DESC, e.request_id LIMIT $7 OFFSET $8",
)
COUNT_CUSTOMER_EVENTS = sql(
    "SELECT count(*) FROM events e WHERE e.org_id = $1 AND e.customer_id = $2 "
    "AND e.occurred_at >= $3 AND e.occurred_at < $4 AND ($5::text IS NULL OR e.event_name = $5) "
    "AND (NOT e.is_duplicate OR $6)",
    sqlite="SELECT count(*) FROM events e WHERE e.org_id = $1 AND e.customer_id = $2 "
    "AND e.occurred_at >= $3 AND e.occurred_at < $4 AND ($5 IS NULL OR e.event_name = $5) "
    "AND (NOT e.is_duplicate OR $6)",
)
CUSTOMER_EVENT_ATTRIBUTES = sql(
    "SELECT request_id, event_name, attributes, psi_fields FROM events WHERE org_id = $1 "
    "AND customer_id = $2"
)
SCRUB_EVENT = sql(
    "UPDATE events SET attributes = $3 WHERE org_id = $1 AND request_id = $2"
)
# An erased customer's events keep no de-duplication key: keys are made of the definition's
# unique-key values (a mobile, an e-mail address), and a released identifier must not make a
# new customer's event a duplicate.
RELEASE_DEDUP_KEYS = sql(
    "UPDATE events SET dedup_key = NULL WHERE org_id = $1 AND customer_id = $2 "
    "AND dedup_key IS NOT NULL"
)


async def originals(conn: Queryable, org_id: int, event_name: str,
                    keys: Sequence[str]) -> set[str]:
    rows = await conn.fetch(_ORIGINALS, org_id, event_name, value_list(conn, keys))
    return {r["dedup_key"] for r in rows}


async def existing_requests(conn: Queryable, org_id: int, request_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(_EXISTING_REQUESTS, org_id, value_list(conn, request_ids))
    return {r["request_id"] for r in rows}


async def event(conn: Queryable, org_id: int, request_id: str) -> Row | None:
    return await conn.fetchrow(GET_EVENT, org_id, request_id)
