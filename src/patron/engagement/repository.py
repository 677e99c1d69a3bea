"""SQL for messages, delivery events, subscriptions, e-mail subscription state and engagement
facts. Batch writes are `executemany` of one statement per kind; every write is idempotent
(first times take the minimum, latest times the maximum, subscriptions the newest change)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patron.db.database import Queryable, Row
from patron.db.statement import sql, value_list

_MESSAGE_COLUMNS = (
    "org_id, id, record_id, customer_id, direction, channel, network, priority, sender, "
    "receiver, subject, body, campaign_id, broadcast_id, newsletter_id, sequence_id, is_otp, "
    "sent_at, created_at"
)
INSERT_MESSAGE = sql(
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
    "$11, $12, $13, $14, $15, $16, $17, $18, $19)"
)
_MESSAGES_BY_RECORD = sql(
    "SELECT record_id, id, customer_id, channel FROM messages WHERE org_id = $1 "
    "AND record_id = ANY($2::text[])",
    sqlite="SELECT record_id, id, customer_id, channel FROM messages WHERE org_id = $1 "
    "AND record_id IN (SELECT value FROM json_each($2))",
)
_MESSAGES_BY_ID = sql(
    "SELECT record_id, id, customer_id, channel FROM messages WHERE org_id = $1 "
    "AND id = ANY($2::bigint[])",
    sqlite="SELECT record_id, id, customer_id, channel FROM messages WHERE org_id = $1 "
    "AND id IN (SELECT value FROM json_each($2))",
)
INSERT_MESSAGE_EVENT = sql(
    "INSERT INTO message_events (org_id, message_id, kind, occurred_at, bounce_type) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
)


def _first_time(column: str, extra: str = "") -> Any:
    # The earliest time of an event kind: out-of-order and repeated events change nothing more.
    return sql(
        f"UPDATE messages SET {column} = CASE WHEN {column} IS NULL OR {column} > $3 THEN $3 "
        f"ELSE {column} END{extra} WHERE org_id = $1 AND id = $2"
    )


FIRST_EVENT = {
    "delivered": _first_time("delivered_at"),
    "opened": _first_time("opened_at"),
    "clicked": _first_time("clicked_at"),
    "bounced": _first_time("bounced_at", ", bounce_type = CASE WHEN bounced_at IS NULL OR "
                                         "bounced_at > $3 THEN $4 ELSE bounce_type END"),
    "dropped": _first_time("dropped_at"),
    "complained": _first_time("complained_at"),
    "unsubscribed": _first_time("unsubscribed_at"),
}

ENSURE_ENGAGEMENT = sql(
    "INSERT INTO customer_engagement (org_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
)


def _latest(column: str) -> Any:
    return sql(
        f"UPDATE customer_engagement SET {column} = CASE WHEN {column} IS NULL OR {column} < $3 "
        f"THEN $3 ELSE {column} END WHERE org_id = $1 AND customer_id = $2"
    )


# Per e-mail delivery event and e-mail subscription action: the customer's column it moves.
LATEST = {column: _latest(column) for column in (
    "last_delivered_at", "last_opened_at", "last_clicked_at", "complained_at",
    "subscribed_at", "unsubscribed_at", "manually_unsubscribed_at", "opted_out_at",
    "suppressed_at", "unsuppressed_at")}

HARD_BOUNCE = sql(
    "UPDATE customers SET bounced_at = CASE WHEN bounced_at IS NULL OR bounced_at < $3 THEN $3 "
    "ELSE bounced_at END WHERE org_id = $1 AND id = $2"
)

UPSERT_SUBSCRIPTION = sql(
    "INSERT INTO subscriptions AS s (org_id, customer_id, channel, priority, status, source, "
    "account_id, reason, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (org_id, customer_id, channel, priority) DO UPDATE SET status = excluded.status, "
    "source = excluded.source, account_id = excluded.account_id, reason = excluded.reason, "
    "changed_at = excluded.changed_at WHERE s.changed_at <= excluded.changed_at"
)
CUSTOMER_SUBSCRIPTIONS = sql(
    "SELECT channel, priority, status, source, account_id, reason, changed_at FROM subscriptions "
    "WHERE org_id = $1 AND customer_id = $2 ORDER BY channel, priority"
)
SET_NDNC = sql("UPDATE customers SET ndnc_status = $3 WHERE org_id = $1 AND id = $2")
SET_OPTIN = sql("UPDATE customers SET optin_status = $3 WHERE org_id = $1 AND id = $2")

INSERT_FACT = sql(
    "INSERT INTO engagement_facts (org_id, record_id, customer_id, kind, ref_id, state, "
    "occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_EXISTING_FACTS = sql(
    "SELECT record_id FROM engagement_facts WHERE org_id = $1 AND record_id = ANY($2::text[])",
    sqlite="SELECT record_id FROM engagement_facts WHERE org_id = $1 "
    "AND record_id IN (SELECT value FROM json_each($2))",
)
SIGNED_IN = sql(
    "UPDATE customers SET sign_in_count = sign_in_count + 1, last_request_at = CASE "
    "WHEN last_request_at IS NULL OR last_request_at < $3 THEN $3 ELSE last_request_at END "
    "WHERE org_id = $1 AND id = $2"
)
REQUESTED = sql(
    "UPDATE customers SET last_request_at = CASE WHEN last_request_at IS NULL "
    "OR last_request_at < $3 THEN $3 ELSE last_request_at END WHERE org_id = $1 AND id = $2"
)
# The current state of each (kind, ref): the latest fact.
CUSTOMER_FACTS = sql(
    "SELECT kind, ref_id, state, occurred_at FROM engagement_facts WHERE org_id = $1 "
    "AND customer_id = $2 AND kind <> 'sign_in' AND kind <> 'request' "
    "ORDER BY kind, ref_id, occurred_at, record_id"
)
GET_ENGAGEMENT = sql(
    "SELECT * FROM customer_engagement WHERE org_id = $1 AND customer_id = $2"
)

# -- reads of the interaction APIs ------------------------------------------------------------

_RANGE = ("org_id = $1 AND customer_id = $2 AND sent_at >= $3 AND sent_at < $4 "
          "AND ($5::text IS NULL OR network = $5) AND ($6::text IS NULL OR channel = $6) "
          "AND ($7::text IS NULL OR priority = $7)")
INTERACTION_SUMMARY = sql(
    "SELECT network, channel, count(*) AS count, max(sent_at) AS last_at, "
    "max(CASE WHEN opened_at IS NOT NULL OR clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS used "
    f"FROM messages WHERE {_RANGE} GROUP BY network, channel",
    sqlite="SELECT network, channel, count(*) AS count, max(sent_at) AS last_at, "
    "max(CASE WHEN opened_at IS NOT NULL OR clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS used "
    f"FROM messages WHERE {_RANGE.replace('::text', '')} GROUP BY network, channel",
)
_PAGE = (
    "SELECT id, direction, channel, network, priority, sender, receiver, subject, body, "
    "campaign_id, broadcast_id, is_otp, sent_at, delivered_at, opened_at, clicked_at, "
    "bounced_at, dropped_at FROM messages WHERE org_id = $1 AND customer_id = $2 "
    "AND network = $3 AND channel = $4 AND sent_at >= $5 AND sent_at < $6 "
    "AND ($7::text IS NULL OR priority = $7) ORDER BY sent_at DESC, id DESC LIMIT $8 OFFSET $9"
)
INTERACTION_PAGE = sql(_PAGE, sqlite=_PAGE.replace("::text", ""))

# -- PII --------------------------------------------------------------------------------------

SCRUB_MESSAGES = sql(
    "UPDATE messages SET sender = CASE WHEN direction = 'INBOUND' THEN '' ELSE sender END, "
    "receiver = CASE WHEN direction = 'OUTBOUND' THEN '' ELSE receiver END, subject = '', "
    "body = '' WHERE org_id = $1 AND customer_id = $2"
)


async def messages_by_record(conn: Queryable, org_id: int,
                             record_ids: Sequence[str]) -> dict[str, Row]:
    rows = await conn.fetch(_MESSAGES_BY_RECORD, org_id, value_list(conn, record_ids))
    return {r["record_id"]: r for r in rows}


async def messages_by_id(conn: Queryable, org_id: int, ids: Sequence[int]) -> dict[int, Row]:
    rows = await conn.fetch(_MESSAGES_BY_ID, org_id, value_list(conn, ids))
    return {int(r["id"]): r for r in rows}


async def existing_facts(conn: Queryable, org_id: int, record_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(_EXISTING_FACTS, org_id, value_list(conn, record_ids))
    return {r["record_id"] for r in rows}
