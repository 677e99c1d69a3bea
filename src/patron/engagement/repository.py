"""SQL for messages, delivery events, subscriptions, e-mail subscription state and engagement
facts. Batch writes are `executemany` of one statement per kind; every write is idempotent
(first times take the minimum, latest times the maximum, subscriptions the newest change)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from patron.customers import repository as customers_repo
from patron.db.database import Queryable, Row
from patron.db.statement import Statement, mask_digits_pg, sql, value_list
from patron.engagement.models import MessageShape
from patron.jsonio import dumps_text

_MESSAGE_COLUMNS = (
    "org_id, id, record_id, customer_id, direction, channel, network, priority, sender, "
    "receiver, subject, body, campaign_id, broadcast_id, newsletter_id, sequence_id, is_otp, "
    "sent_at, created_at"
)
# The first time of each delivery event, and the first bounce's type: what a message's events
# set on it (FIRST_EVENT), given with a new message when its events come in the same batch.
EVENT_COLUMNS = ("delivered_at", "opened_at", "clicked_at", "bounced_at", "bounce_type",
                 "dropped_at", "complained_at", "unsubscribed_at")
INSERT_MESSAGE = sql(
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}, {', '.join(EVENT_COLUMNS)}) VALUES "
    f"({', '.join(f'${n}' for n in range(1, 20 + len(EVENT_COLUMNS)))})"
)
_MESSAGE_KEY = "record_id, id, customer_id, network, channel, priority"
_MESSAGES_BY_RECORD = sql(
    f"SELECT {_MESSAGE_KEY} FROM messages WHERE org_id = $1 AND record_id = ANY($2::text[])",
    sqlite=f"SELECT {_MESSAGE_KEY} FROM messages WHERE org_id = $1 "
    "AND record_id IN (SELECT value FROM json_each($2))",
)
_MESSAGES_BY_ID = sql(
    f"SELECT {_MESSAGE_KEY} FROM messages WHERE org_id = $1 AND id = ANY($2::bigint[])",
    sqlite=f"SELECT {_MESSAGE_KEY} FROM messages WHERE org_id = $1 "
    "AND id IN (SELECT value FROM json_each($2))",
)
# An event again is nothing new; but of a soft and a hard bounce at one instant, the hard one is
# kept, whichever came first (it marks the customer hard-bouncing, and an export must say so).
INSERT_MESSAGE_EVENT = sql(
    "INSERT INTO message_events (org_id, message_id, kind, occurred_at, bounce_type) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, message_id, kind, occurred_at) "
    "DO UPDATE SET bounce_type = excluded.bounce_type WHERE excluded.bounce_type = 'hard'"
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
    # The first bounce's type; of two at that instant, hard.
    "bounced": _first_time("bounced_at", ", bounce_type = CASE WHEN bounced_at IS NULL OR "
                                         "bounced_at > $3 OR bounced_at = $3 AND $4 = 'hard' "
                                         "THEN $4 ELSE bounce_type END"),
    "dropped": _first_time("dropped_at"),
    "complained": _first_time("complained_at"),
    "unsubscribed": _first_time("unsubscribed_at"),
}



def _sql_min_max(text: str) -> Any:
    """A statement using greatest()/least(), which SQLite spells max()/min() with two values."""
    return sql(text, sqlite=text.replace("greatest(", "max(").replace("least(", "min("))


# The message summaries (schema.message_summaries), kept by every write of a message or of a
# delivery event, each of which moves the revision. $1..$5: org, customer, network, channel,
# priority.
_SUMMARY_KEY = ("org_id = $1 AND customer_id = $2 AND network = $3 AND channel = $4 "
                "AND priority = $5")
# $6 messages more, sent at the latest at $7, $8 1 when one was opened or clicked, their times
# (sent or delivered) from $9 to $10.
ADD_TO_SUMMARY = _sql_min_max(
    "INSERT INTO message_summaries AS s (org_id, customer_id, network, channel, priority, count, "
    "last_at, used, first_time, last_time, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, 1) ON CONFLICT (org_id, customer_id, network, channel, priority) DO UPDATE SET "
    "count = s.count + excluded.count, last_at = greatest(s.last_at, excluded.last_at), "
    "used = greatest(s.used, excluded.used), "
    "first_time = least(s.first_time, excluded.first_time), "
    "last_time = greatest(s.last_time, excluded.last_time), revision = s.revision + 1"
)
# Delivery events on its messages: delivered at the earliest at $6 and at the latest at $7 (NULL:
# none delivered), $8 1 when one was opened or clicked.
SUMMARY_EVENTS = _sql_min_max(
    "UPDATE message_summaries SET first_time = least(first_time, coalesce($6, first_time)), "
    "last_time = greatest(last_time, coalesce($7, last_time)), used = greatest(used, $8), "
    f"revision = revision + 1 WHERE {_SUMMARY_KEY}"
)
# The summaries of an organisation's stored messages, computed from them: what the kept ones
# equal (last_time: bound from above), and how rows loaded in bulk get theirs.
SUMMARISE_MESSAGES = _sql_min_max(
    "INSERT INTO message_summaries (org_id, customer_id, network, channel, priority, count, "
    "last_at, used, first_time, last_time) SELECT org_id, customer_id, network, channel, "
    "priority, count(*), max(sent_at), max(CASE WHEN opened_at IS NOT NULL OR clicked_at "
    "IS NOT NULL THEN 1 ELSE 0 END), min(least(sent_at, coalesce(delivered_at, sent_at))), "
    "max(greatest(sent_at, coalesce(delivered_at, sent_at))) FROM messages WHERE org_id = $1 "
    "GROUP BY org_id, customer_id, network, channel, priority"
)

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
_SUMMARY = ("SELECT network, channel, count(*) AS count, max(sent_at) AS last_at, "
            "max(CASE WHEN opened_at IS NOT NULL OR clicked_at IS NOT NULL THEN 1 ELSE 0 END) "
            "AS used, {first} AS first_time, {last} AS last_time "
            "FROM messages WHERE {range} GROUP BY network, channel")
# Per (network, channel): the count, last time sent, whether any was opened or clicked, and the
# earliest and latest time (sent or delivered) that a page of its messages can show. Over the
# whole history from the kept summaries (with their revisions: engagement/pages.py); over a range
# of time, from the messages.
KEPT_SUMMARY = sql(
    "SELECT network, channel, CAST(sum(count) AS BIGINT) AS count, max(last_at) AS last_at, "
    "max(used) AS used, min(first_time) AS first_time, max(last_time) AS last_time, "
    "CAST(sum(revision) AS BIGINT) AS revision FROM message_summaries "
    "WHERE org_id = $1 AND customer_id = $2 AND ($3::text IS NULL OR network = $3) "
    "AND ($4::text IS NULL OR channel = $4) AND ($5::text IS NULL OR priority = $5) "
    "GROUP BY network, channel",
    sqlite="SELECT network, channel, CAST(sum(count) AS BIGINT) AS count, max(last_at) AS "
    "last_at, max(used) AS used, min(first_time) AS first_time, max(last_time) AS last_time, "
    "CAST(sum(revision) AS BIGINT) AS revision FROM message_summaries "
    "WHERE org_id = $1 AND customer_id = $2 AND ($3 IS NULL OR network = $3) "
    "AND ($4 IS NULL OR channel = $4) AND ($5 IS NULL OR priority = $5) GROUP BY network, channel",
)
# The same with the organisation's time zone and settings (the read's view, rows of no summary
# when there is none): one statement where a read of the whole history took two.
KEPT_SUMMARY_IN_ORG = sql(
    "SELECT o.time_zone AS org_time_zone, o.settings AS org_settings, s.* FROM orgs AS o "
    f"LEFT JOIN ({KEPT_SUMMARY.pg}) AS s ON true WHERE o.id = $1",
    sqlite="SELECT o.time_zone AS org_time_zone, o.settings AS org_settings, s.* FROM orgs AS o "
    f"LEFT JOIN ({KEPT_SUMMARY.sqlite}) AS s ON 1 WHERE o.id = $1",
)
# The same with the customer's status and addresses (customers.repository.ADDRESSES_OF_C, NULL
# if there is no such customer) after the summaries' columns: a read that names the customer by
# id takes one statement where it took two. No summary is read without a customer. (SQLite's;
# PostgreSQL reads with the batched form below.)
_WITH_CUSTOMER = (
    "SELECT o.time_zone AS org_time_zone, o.settings AS org_settings, s.*, "
    f"{customers_repo.ADDRESSES_OF_C} FROM orgs AS o LEFT JOIN customers AS c "
    "ON c.org_id = o.id AND c.id = $2 LEFT JOIN ({summary}) AS s ON c.id IS NOT NULL "
    "WHERE o.id = $1"
)
KEPT_SUMMARY_WITH_CUSTOMER = sql(_WITH_CUSTOMER.format(summary=KEPT_SUMMARY.pg),
                                 sqlite=_WITH_CUSTOMER.format(summary=KEPT_SUMMARY.sqlite))
# The same for several reads of one organisation at once, on PostgreSQL (db.batched.BatchedRead):
# the organisation is $1, each other parameter an array holding one element per read, and each
# row ends with its read's place (`read_no`).
_READ_PARAMETERS = {2: "q.customer_id", 3: "q.network", 4: "q.channel", 5: "q.priority"}
KEPT_SUMMARIES_WITH_CUSTOMERS = sql(
    "SELECT o.time_zone AS org_time_zone, o.settings AS org_settings, s.*, "
    f"{customers_repo.ADDRESSES_OF_C}, q.read_no FROM orgs AS o "
    "CROSS JOIN unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY "
    "AS q(customer_id, network, channel, priority, read_no) "
    "LEFT JOIN customers AS c ON c.org_id = $1 AND c.id = q.customer_id "
    "LEFT JOIN LATERAL ("
    + re.sub(r"\$([2-5])(::text)?", lambda m: _READ_PARAMETERS[int(m[1])], KEPT_SUMMARY.pg)
    + ") AS s ON c.id IS NOT NULL WHERE o.id = $1")
INTERACTION_SUMMARY = sql(
    _SUMMARY.format(first="min(least(sent_at, delivered_at))",
                    last="max(greatest(sent_at, delivered_at))", range=_RANGE),
    sqlite=_SUMMARY.format(first="min(min(sent_at, ifnull(delivered_at, sent_at)))",
                           last="max(max(sent_at, ifnull(delivered_at, sent_at)))",
                           range=_RANGE.replace("::text", "")),
)

# Pages of messages rendered to JSON by the database, so that no row becomes a Python object:
# per (network, channel) of $3 (a JSON array of pairs), the messages sent in [$4, $5) (of
# priority $6 if given), newest first, $7 of them after skipping $8, as a JSON array in a face's
# MessageShape. $9: whether OTPs are masked. Local times add to UTC the offset $10 (seconds) when
# one offset covers every time shown, else the offset of the first of the spans $10 (a JSON
# array of [first quarter hour, offset in seconds], newest first) that a time falls in.
_PAGE_COLUMNS = ("id, customer_id, direction, sender, receiver, subject, body, campaign_id, "
                 "broadcast_id, is_otp, sent_at, delivered_at, opened_at, clicked_at, "
                 "bounced_at, dropped_at")
_PAGE_ROWS = (
    f"SELECT {_PAGE_COLUMNS} FROM messages WHERE org_id = $1 AND customer_id = $2 "
    "AND network = {network} AND channel = {channel} AND sent_at >= $4 AND sent_at < $5 "
    "AND ($6::text IS NULL OR priority = $6) ORDER BY sent_at DESC, id DESC LIMIT $7 OFFSET $8"
)
_STATUS = (  # the furthest a message got, whatever order its delivery events arrived in
    "CASE WHEN direction = 'INBOUND' THEN 'RECEIVED' WHEN clicked_at IS NOT NULL THEN 'CLICKED' "
    "WHEN opened_at IS NOT NULL THEN 'OPENED' WHEN delivered_at IS NOT NULL THEN 'DELIVERED' "
    "WHEN bounced_at IS NOT NULL THEN 'BOUNCED' WHEN dropped_at IS NOT NULL THEN 'DROPPED' "
    "ELSE 'SENT' END"
)
_OFFSET = {  # (dialect, spans): the offset of time {t}
    ("sqlite", False): "$10",
    ("sqlite", True): "(SELECT s.value ->> 1 FROM json_each($10) AS s "
                      "WHERE s.value ->> 0 <= {t} / 900000 LIMIT 1)",
    ("postgresql", False): "$10::int",
    ("postgresql", True): "(SELECT (s ->> 1)::int FROM json_array_elements($10::json) AS s "
                          "WHERE (s ->> 0)::bigint <= {t} / 900000 LIMIT 1)",
}
# The latest local time shown, 9999-12-31 23:59:59: SQLite's date functions end there (a later
# one is NULL) and PostgreSQL's would show a fifth digit. Only an instant stored before instants
# were bounded (models.LATEST_INSTANT) reaches it, in a zone east of UTC.
LAST_LOCAL_SECOND = 253_402_300_799
# An epoch second {s} as local time (the offset already added), per (dialect, day first). SQLite's
# datetime() is its strftime('%Y-%m-%d %H:%M:%S'), at a fraction of the cost.
_LOCAL = {
    ("sqlite", False): "datetime({s}, 'unixepoch')",
    ("sqlite", True): "strftime('%d-%m-%Y %H:%M:%S', {s}, 'unixepoch')",
    ("postgresql", False): "to_char(to_timestamp({s}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
    ("postgresql", True): "to_char(to_timestamp({s}) AT TIME ZONE 'UTC', 'DD-MM-YYYY HH24:MI:SS')",
}

# The quarter hours (sent, delivered) of the messages the same pages show, as JSON arrays.
INTERACTION_PAGE_QUARTERS = sql(
    "SELECT (SELECT json_agg(json_build_array(sent_at / 900000, delivered_at / 900000)) FROM ("
    + _PAGE_ROWS.format(network="g ->> 0", channel="g ->> 1")
    + ") AS m)::text AS quarters FROM json_array_elements($3::json) AS g",
    sqlite="SELECT (SELECT json_group_array(json_array(sent_at / 900000, delivered_at / 900000)) "
    "FROM (" + _PAGE_ROWS.format(network="g.value ->> 0", channel="g.value ->> 1").replace(
        "::text", "") + ")) AS quarters FROM json_each($3) AS g",
)


def _fact(dialect: str, fact: str, shape: MessageShape, spans: bool) -> tuple[str, str]:
    """A MESSAGE_FACTS entry as an expression over a page's columns, with its JSON type: "text"
    (escaped when rendered), "word" (text that never needs escaping) or "number"."""
    if fact in ("subject", "body"):
        masked = f"mask_digits({fact})" if dialect == "sqlite" else mask_digits_pg(fact)
        mask = "$9" if dialect == "sqlite" else "$9::boolean"
        return f"CASE WHEN {mask} AND is_otp THEN {masked} ELSE {fact} END", "text"
    if fact == "status":
        return _STATUS, "word"
    if fact == "campaign":
        return "coalesce(nullif(campaign_id, ''), nullif(broadcast_id, ''), '')", "text"
    if fact in ("sent_time", "delivered_time"):  # digits, '-', ':' and a space
        column = fact.replace("_time", "_at")
        offset = _OFFSET[dialect, spans].format(t=column)
        # No later than the last second of 9999 (LAST_LOCAL_SECOND), as Interactions.local.
        second = ("min" if dialect == "sqlite" else "least") + \
            f"({column} / 1000 + {offset}, {LAST_LOCAL_SECOND})"
        local = _LOCAL[dialect, shape.day_first].format(s=second)
        if fact == "sent_time":  # never NULL
            return local, "word"
        # Never delivered is "" (PostgreSQL's least() skips a NULL, so it is not left to it).
        return f"CASE WHEN {column} IS NULL THEN '' ELSE {local} END", "word"
    return fact, "number" if fact in ("id", "customer_id") else "text"  # columns as they are


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@lru_cache(maxsize=32)
def interaction_pages(shape: MessageShape, spans: bool) -> Statement:
    """The statement answering (network, channel, page) per pair of $3, the page a JSON array
    of messages in `shape`, its local times offset by one offset or by spans (parameters
    above); built once per shape and form of offset."""
    sqlite_object = "json_object(" + ", ".join(
        f"{_sql_text(key)}, {_fact('sqlite', fact, shape, spans)[0]}"
        for key, fact in shape.fields) + ")"
    # PostgreSQL's json_build_object spaces its output, and its bytes must equal orjson's: the
    # object is one concat() of the keys and values, only text values escaped (to_json).
    pieces = []
    for i, (key, fact) in enumerate(shape.fields):
        expr, kind = _fact("postgresql", fact, shape, spans)
        quote = '"' if kind == "word" else ""
        pieces.append(_sql_text(("{" if i == 0 else ",") + dumps_text(key) + ":" + quote))
        pieces.append(f"to_json({expr})" if kind == "text" else expr)
        if quote:
            pieces.append(_sql_text(quote))
    pg_object = "concat(" + ", ".join(pieces) + ", '}')"
    return sql(
        "SELECT g ->> 0 AS network, g ->> 1 AS channel, (SELECT '[' || coalesce(string_agg("
        f"{pg_object}, ',' ORDER BY m.sent_at DESC, m.id DESC), '') || ']' FROM ("
        + _PAGE_ROWS.format(network="g ->> 0", channel="g ->> 1")
        + ") AS m) AS page FROM json_array_elements($3::json) AS g",
        sqlite=f"SELECT g.value ->> 0 AS network, g.value ->> 1 AS channel, "
        f"(SELECT json_group_array({sqlite_object}) FROM ("
        + _PAGE_ROWS.format(network="g.value ->> 0", channel="g.value ->> 1").replace(
            "::text", "")
        + ")) AS page FROM json_each($3) AS g",
    )


# -- PII --------------------------------------------------------------------------------------

SCRUB_SUBSCRIPTION_REASONS = sql(  # free text, which may name the person
    "UPDATE subscriptions SET reason = '' WHERE org_id = $1 AND customer_id = $2"
)
SCRUBBED_SUMMARIES = sql(  # their messages' text is gone: no kept page of them holds
    "UPDATE message_summaries SET revision = revision + 1 WHERE org_id = $1 AND customer_id = $2"
)
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


_ENGAGEMENT_OF = sql(
    "SELECT * FROM customer_engagement WHERE org_id = $1 AND customer_id = ANY($2::bigint[])",
    sqlite="SELECT * FROM customer_engagement WHERE org_id = $1 "
    "AND customer_id IN (SELECT value FROM json_each($2))",
)


async def engagement_of(conn: Queryable, org_id: int,
                        customer_ids: Sequence[int]) -> dict[int, Row]:
    """The customer_engagement rows of these customers (those that have one)."""
    rows = await conn.fetch(_ENGAGEMENT_OF, org_id, value_list(conn, customer_ids))
    return {int(r["customer_id"]): r for r in rows}


async def existing_facts(conn: Queryable, org_id: int, record_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(_EXISTING_FACTS, org_id, value_list(conn, record_ids))
    return {r["record_id"] for r in rows}
