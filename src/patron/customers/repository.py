"""SQL for customers, their profiles and the identifier registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patron.db.database import Queryable, Row
from patron.db.statement import Statement, contains_pattern, locking, sql, value_list
from patron.jsonio import loads

# The tills a customer row or a profile names are not joined: they come from memory
# (tenancy/tills.py). `has_cards`: whether the cards need reading at all (most customers hold none).
GET_CUSTOMER = sql(
    "SELECT c.*, EXISTS (SELECT 1 FROM cards k WHERE k.org_id = c.org_id "
    "AND k.customer_id = c.id) AS has_cards FROM customers c WHERE c.org_id = $1 AND c.id = $2"
)
GET_PROFILES = sql(
    "SELECT p.* FROM profiles p WHERE p.org_id = $1 AND p.customer_id = $2 "
    "ORDER BY p.created_at, p.source, p.account_id"
)
# PostgreSQL: the customer and its profiles in one statement (`profiles_json`, a JSON array of
# the GET_PROFILES rows). Each query costs a PostgreSQL backend more than its execution, so the
# hottest read sends one (docs/performance.md). SQLite reads in-process and keeps two.
GET_CUSTOMER_WITH_PROFILES = sql(
    GET_CUSTOMER.pg.replace(
        " FROM customers c",
        ", (SELECT coalesce(json_agg(x ORDER BY x.created_at, x.source, x.account_id), '[]')"
        " FROM (SELECT p.* FROM profiles p WHERE p.org_id = c.org_id AND p.customer_id = c.id)"
        " x) AS profiles_json FROM customers c", 1),
    sqlite="SELECT NULL",  # not used on SQLite
)
# Customer documents (customers/documents.py). A document is kept only while its customer's
# count is the one its read saw: on PostgreSQL the customer row is locked for share while the
# document goes in, so a change either commits first (and the count no longer matches) or waits
# and then deletes the document; a row a change holds is skipped, never waited for.
_DOCUMENT = "sources, body, version, parts_key, parts_from, parts_until, parts"
GET_DOCUMENT = sql(
    f"SELECT {_DOCUMENT} FROM customer_documents WHERE org_id = $1 AND customer_id = $2 "
    "AND renderer = $3"
)
# The documents of several reads of one organisation ($1) at once, on PostgreSQL
# (db.batched.BatchedRead, for CustomerDocuments): the other parameters arrays with one element
# per read, and each row ending with its read's place (`read_no`).
GET_DOCUMENTS = sql(
    f"SELECT {_DOCUMENT}, q.read_no "
    "FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS q(customer_id, renderer, read_no) "
    "JOIN customer_documents AS d ON d.org_id = $1 AND d.customer_id = q.customer_id "
    "AND d.renderer = q.renderer"
)
# A document, with the engine's parts of one query or none ($7-$10 null), kept only if the
# customer is still at the version the read saw.
_KEEP_DOCUMENT = (
    "INSERT INTO customer_documents (org_id, customer_id, version, renderer, sources, body, "
    "parts_key, parts_from, parts_until, parts) "
    "SELECT org_id, id, version, $4, $5, $6, $7, $8, $9, $10 FROM customers WHERE org_id = $1 "
    "AND id = $2 AND version = $3 AND status = 'active'{lock} ON CONFLICT (org_id, customer_id) "
    "DO UPDATE SET version = excluded.version, renderer = excluded.renderer, "
    "sources = excluded.sources, body = excluded.body, parts_key = excluded.parts_key, "
    "parts_from = excluded.parts_from, parts_until = excluded.parts_until, "
    "parts = excluded.parts"
)
KEEP_DOCUMENT = sql(_KEEP_DOCUMENT.format(lock=" FOR SHARE SKIP LOCKED"),
                    sqlite=_KEEP_DOCUMENT.format(lock=""))
# The engine's parts added to the document a read found: only to that document (its version
# and renderer), which any change to the customer since has deleted.
KEEP_PARTS = sql(
    "UPDATE customer_documents SET parts_key = $5, parts_from = $6, parts_until = $7, "
    "parts = $8 WHERE org_id = $1 AND customer_id = $2 AND version = $3 AND renderer = $4"
)
GET_CUSTOMER_STATE = sql(
    "SELECT id, status, external_id, loyalty_type, site_id FROM customers "
    "WHERE org_id = $1 AND id = $2"
)
# The same inside a write's transaction, locking the customer's row on PostgreSQL until it ends
# (SQLite's writes take turns anyway): an erasure locks it first too, so a write about the
# customer either commits before the erasure begins, or waits and then sees them deleted.
LOCK_CUSTOMER_STATE = locking(GET_CUSTOMER_STATE, "FOR NO KEY UPDATE")
GET_PROFILE_ROWS = sql(
    "SELECT source, account_id, first_name, last_name, identifiers, comm_channels, fields, "
    "created_at FROM profiles WHERE org_id = $1 AND customer_id = $2 "
    "ORDER BY created_at, source, account_id"
)
INSERT_CUSTOMER = sql(
    "INSERT INTO customers (org_id, id, status, site_id, external_id, loyalty_type, "
    "associated_till_id, extended_fields, name, email, mobile, search_text, click_id, metadata, "
    "avatar, loyalty_created_at, loyalty_created_by, loyalty_modified_at, loyalty_modified_by, "
    "created_from_source, created_at, updated_at) VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, "
    "$8, $9, $10, $11, $12, $13, $14, $15, $16, $15, $16, $17, $18, $18)"
)
UPDATE_CUSTOMER = sql(
    "UPDATE customers SET external_id = $3, loyalty_type = $4, associated_till_id = $5, "
    "extended_fields = $6, name = $7, email = $8, mobile = $9, search_text = $10, click_id = $11, "
    "metadata = $12, avatar = $13, site_id = $14, loyalty_modified_at = $15, "
    "loyalty_modified_by = $16, updated_at = $15 WHERE org_id = $1 AND id = $2"
)
UPSERT_PROFILE = sql(
    "INSERT INTO profiles (org_id, customer_id, source, account_id, first_name, last_name, "
    "identifiers, comm_channels, fields, created_at, created_by, modified_at, modified_by, "
    "auto_update_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11, $10) "
    "ON CONFLICT (org_id, customer_id, source, account_id) DO UPDATE SET "
    "first_name = excluded.first_name, last_name = excluded.last_name, "
    "identifiers = excluded.identifiers, comm_channels = excluded.comm_channels, "
    "fields = excluded.fields, modified_at = excluded.modified_at, "
    "modified_by = excluded.modified_by, auto_update_at = excluded.auto_update_at"
)
FIND_IDENTIFIER = sql(
    "SELECT customer_id, source, account_id FROM identifiers "
    "WHERE org_id = $1 AND type = $2 AND value = $3"
)
INSERT_IDENTIFIER = sql(
    "INSERT INTO identifiers (org_id, type, value, customer_id, source, account_id) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, type, value) DO NOTHING"
)
DELETE_CUSTOMER_IDENTIFIERS = sql("DELETE FROM identifiers WHERE org_id = $1 AND customer_id = $2")
RELEASE_IDENTIFIER = sql(
    "DELETE FROM identifiers WHERE org_id = $1 AND type = $2 AND value = $3 AND customer_id = $4"
)
FIND_BY_EXTERNAL_ID = sql(
    "SELECT id FROM customers WHERE org_id = $1 AND external_id = $2 AND status = 'active'"
)
SCRUB_CUSTOMER = sql(
    "UPDATE customers SET status = 'deleted', external_id = NULL, extended_fields = '{}', "
    "name = '', email = NULL, mobile = NULL, search_text = '', avatar = NULL, public_bio = NULL, "
    "public_location = NULL, public_website = NULL, socials = NULL, click_id = NULL, "
    "metadata = '{}', image_url = NULL, deleted_at = $3, pii_deleted_at = $3, updated_at = $3 "
    "WHERE org_id = $1 AND id = $2"
)
SCRUB_PROFILES = sql(
    "UPDATE profiles SET first_name = NULL, last_name = NULL, identifiers = '[]', "
    "comm_channels = '[]', fields = '{}', modified_at = $3, auto_update_at = $3 "
    "WHERE org_id = $1 AND customer_id = $2"
)
COUNT_ACTIVE = sql("SELECT count(*) FROM customers WHERE org_id = $1 AND status = 'active'")

_LIST_COLUMNS = (
    "id, site_id, external_id, name, email, mobile, avatar, public_bio, public_location, "
    "public_website, socials, click_id, metadata, net_revenue, lifetime_purchases, sign_in_count, "
    "last_request_at, bounced_at, loyalty_type, status, created_at, updated_at"
)


def _listed_where(alias: str = "") -> str:
    """Which customers a listing holds: the active ones, of one site if $2 is given, whose search
    text matches $3 if it is given (a `contains_pattern`: its backslash escapes need the ESCAPE
    clause, which SQLite, unlike PostgreSQL, does not assume)."""
    return (f" WHERE {alias}org_id = $1 AND {alias}status = 'active'"
            f" AND ($2::bigint IS NULL OR {alias}site_id = $2)"
            f" AND ($3::text IS NULL OR {alias}search_text LIKE $3 ESCAPE '\\')")


_LIST_WHERE = " FROM customers" + _listed_where()
_LIST_WHERE_SQLITE = _LIST_WHERE.replace("::bigint", "").replace("::text", "")

SORT_COLUMNS = ("created_at", "name", "email", "net_revenue", "last_request_at")


def _order_by(column: str, descending: bool, alias: str = "", *, sqlite: bool = False) -> str:
    """A listing's order, the same on both engines: names and e-mail addresses compared without
    case, and missing values where PostgreSQL puts them (last going up, first going down;
    SQLite's default is the other way). `created_at` is never missing, and a NULLS clause would
    keep SQLite from reading it in the order of its index. id breaks ties so that pages never
    overlap or skip.

    A customer without a name is ordered by the name the listing shows for them, the part of
    their e-mail address before the `@` (faces/marketing/render.name); without either, last."""
    direction = "DESC" if descending else "ASC"
    lower = "unicode_lower" if sqlite else "lower"  # db/statement.unicode_lower
    if column == "name":
        local_part = (f"substr({alias}email, 1, instr({alias}email, '@') - 1)" if sqlite
                      else f"split_part({alias}email, '@', 1)")
        key = f"{lower}(COALESCE(NULLIF({alias}name, ''), NULLIF({local_part}, '')))"
    else:
        key = f"{lower}({alias}{column})" if column == "email" else f"{alias}{column}"
    nulls = "" if column == "created_at" else (" NULLS FIRST" if descending else " NULLS LAST")
    return f" ORDER BY {key} {direction}{nulls}, {alias}id {direction} LIMIT $4 OFFSET $5"


def _list_statement(column: str, descending: bool) -> Statement:
    return sql(f"SELECT {_LIST_COLUMNS}{_LIST_WHERE}{_order_by(column, descending)}",
               sqlite=f"SELECT {_LIST_COLUMNS}{_LIST_WHERE_SQLITE}"
                      f"{_order_by(column, descending, sqlite=True)}")


LIST_CUSTOMERS = {(c, d): _list_statement(c, d) for c in SORT_COLUMNS for d in (False, True)}
COUNT_CUSTOMERS = sql(
    f"SELECT count(*){_LIST_WHERE}", sqlite=f"SELECT count(*){_LIST_WHERE_SQLITE}"
)
GET_LISTED = sql(
    f"SELECT {_LIST_COLUMNS} FROM customers WHERE org_id = $1 AND id = $2 AND status = 'active'"
)
GET_LISTED_ANY = sql(f"SELECT {_LIST_COLUMNS} FROM customers WHERE org_id = $1 AND id = $2")
# Of the listed columns, what tells whether a customer row `c` is active and the addresses an
# answer naming the customer shows, for a statement that reads them beside other rows (the
# interaction read's summaries: engagement/repository.py).
ADDRESSES_OF_C = "c.id, c.status, c.mobile, c.email, c.external_id"

# The listed columns plus the names and identifiers of the profile a single-profile API shows:
# INSTORE without an account (where the workspace face writes), else the customer's oldest.
_SHOWN_COLUMNS = (
    ", ".join(f"c.{c.strip()}" for c in _LIST_COLUMNS.split(","))
    + ", sp.first_name AS profile_first_name, sp.last_name AS profile_last_name, "
    "sp.identifiers AS profile_identifiers"
)
# The join of that profile (as `sp`) to a customer row `c`, for other domains' listings too.
SHOWN_PROFILE_JOIN = (
    " LEFT JOIN profiles sp ON sp.org_id = c.org_id AND sp.customer_id = c.id"
    " AND (sp.source, sp.account_id) = (SELECT p.source, p.account_id FROM profiles p"
    " WHERE p.org_id = c.org_id AND p.customer_id = c.id ORDER BY CASE WHEN p.source = 'INSTORE'"
    " AND p.account_id = '' THEN 0 ELSE 1 END, p.created_at, p.source, p.account_id LIMIT 1)"
)
_SHOWN_FROM = " FROM customers c" + SHOWN_PROFILE_JOIN
_SHOWN_WHERE = _listed_where("c.")


def _shown_statement(column: str, descending: bool) -> Statement:
    text = f"SELECT {_SHOWN_COLUMNS}{_SHOWN_FROM}{_SHOWN_WHERE}"
    return sql(text + _order_by(column, descending, "c."),
               sqlite=text.replace("::bigint", "").replace("::text", "")
               + _order_by(column, descending, "c.", sqlite=True))


LIST_SHOWN = {(c, d): _shown_statement(c, d) for c in SORT_COLUMNS for d in (False, True)}
GET_SHOWN = sql(
    f"SELECT {_SHOWN_COLUMNS}{_SHOWN_FROM} WHERE c.org_id = $1 AND c.id = $2 "
    "AND c.status = 'active'"
)


async def customer(conn: Queryable, org_id: int, customer_id: int) -> Row | None:
    return await conn.fetchrow(GET_CUSTOMER, org_id, customer_id)


async def customer_with_profiles(conn: Queryable, org_id: int,
                                 customer_id: int) -> tuple[Row | None, list[Any]]:
    """The customer row and its profile rows (mappings with the GET_PROFILES columns)."""
    if conn.dialect == "postgresql":
        row = await conn.fetchrow(GET_CUSTOMER_WITH_PROFILES, org_id, customer_id)
        return row, ([] if row is None else loads(row["profiles_json"]))
    row = await conn.fetchrow(GET_CUSTOMER, org_id, customer_id)
    return row, ([] if row is None else await conn.fetch(GET_PROFILES, org_id, customer_id))


async def profiles(conn: Queryable, org_id: int, customer_id: int) -> list[Row]:
    return await conn.fetch(GET_PROFILES, org_id, customer_id)


async def find_identifier(conn: Queryable, org_id: int, kind: str, value: str) -> Row | None:
    return await conn.fetchrow(FIND_IDENTIFIER, org_id, kind, value)


async def listed(conn: Queryable, org_id: int, *, site_id: int | None, search: str | None,
                 sort: str, descending: bool, limit: int, offset: int,
                 with_profile: bool = False) -> list[Row]:
    pattern = contains_pattern(search)
    statements = LIST_SHOWN if with_profile else LIST_CUSTOMERS
    return await conn.fetch(statements[(sort, descending)], org_id, site_id, pattern, limit,
                            offset)


async def count_listed(conn: Queryable, org_id: int, *, site_id: int | None,
                       search: str | None) -> int:
    pattern = contains_pattern(search)
    return int(await conn.fetchval(COUNT_CUSTOMERS, org_id, site_id, pattern))


# Batch look-ups (event and engagement ingestion): one round trip for a whole batch.
CUSTOMERS_BY_IDENTIFIER = sql(
    "SELECT value, customer_id FROM identifiers WHERE org_id = $1 AND type = $2 "
    "AND value = ANY($3::text[])",
    sqlite="SELECT value, customer_id FROM identifiers WHERE org_id = $1 AND type = $2 "
    "AND value IN (SELECT value FROM json_each($3))",
)
ACTIVE_CUSTOMERS = sql(
    "SELECT id FROM customers WHERE org_id = $1 AND status = 'active' "
    "AND id = ANY($2::bigint[])",
    sqlite="SELECT id FROM customers WHERE org_id = $1 AND status = 'active' "
    "AND id IN (SELECT value FROM json_each($2))",
)


async def customers_by_identifier(conn: Queryable, org_id: int, kind: str,
                                  values: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(CUSTOMERS_BY_IDENTIFIER, org_id, kind, value_list(conn, values))
    return {r["value"]: int(r["customer_id"]) for r in rows}


# The same inside a batch's write transaction, locking the rows (in id order, so that batches
# naming the same customers take turns without deadlock) as LOCK_CUSTOMER_STATE does.
LOCK_ACTIVE_CUSTOMERS = locking(ACTIVE_CUSTOMERS, "ORDER BY id FOR NO KEY UPDATE")


async def active_customers(conn: Queryable, org_id: int, ids: Sequence[int], *,
                           lock: bool = False) -> set[int]:
    rows = await conn.fetch(LOCK_ACTIVE_CUSTOMERS if lock else ACTIVE_CUSTOMERS, org_id,
                            value_list(conn, ids))
    return {int(r["id"]) for r in rows}

# -- images (embed=customerImage, embed=associatedImages) ---------------------------------------

_IMAGE_COLUMNS = (
    "id, customer_id, namespace, handle, position, card_id, content_type, size, version, "
    "created_at, created_by"
)
IMAGES = sql(
    f"SELECT {_IMAGE_COLUMNS} FROM customer_images WHERE org_id = $1 AND customer_id = $2 "
    "AND namespace = $3 ORDER BY position"
)
IMAGE_AT = sql(
    "SELECT id, version FROM customer_images WHERE org_id = $1 AND customer_id = $2 "
    "AND namespace = $3 AND position = $4"
)
INSERT_IMAGE = sql(
    "INSERT INTO customer_images (org_id, id, customer_id, namespace, handle, position, card_id, "
    "content_type, size, content, version, created_at, created_by) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)
DELETE_IMAGE = sql("DELETE FROM customer_images WHERE org_id = $1 AND id = $2")
DELETE_IMAGES = sql(
    "DELETE FROM customer_images WHERE org_id = $1 AND customer_id = $2 AND namespace = $3"
)
DELETE_ALL_IMAGES = sql("DELETE FROM customer_images WHERE org_id = $1 AND customer_id = $2")
IMAGE_CONTENT = sql(
    "SELECT namespace, customer_id, content_type, content FROM customer_images "
    "WHERE org_id = $1 AND handle = $2"
)
SERVER_SECRET = sql("SELECT value FROM server_secrets WHERE name = $1")
ADD_SERVER_SECRET = sql(
    "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO NOTHING"
)


# Fraud status (customers/fraud.py).
SET_FRAUD_STATUS = sql(
    "UPDATE customers SET fraud_status = $3, fraud_marked_by = $4, fraud_modified_at = $5 "
    "WHERE org_id = $1 AND id = $2"
)
GET_FRAUD_STATUS = sql(
    "SELECT fraud_status, fraud_modified_at, fraud_marked_by FROM customers "
    "WHERE org_id = $1 AND id = $2"
)
GET_FRAUD_STATE = sql("SELECT fraud_status FROM customers WHERE org_id = $1 AND id = $2")
CLEAR_FRAUD_STATUS = sql(
    "UPDATE customers SET fraud_status = NULL, fraud_marked_by = NULL, fraud_modified_at = NULL "
    "WHERE org_id = $1 AND id = $2"
)
