"""SQL for organisations, sites and tills."""

from __future__ import annotations

from typing import Any

from patron.db.database import Queryable, Row
from patron.db.statement import Statement, sql

INSERT_ORG = sql(
    "INSERT INTO orgs (id, name, time_zone, settings, created_at) VALUES ($1, $2, $3, $4, $5)"
)
ORG_TIME_ZONE = sql("SELECT time_zone FROM orgs WHERE id = $1")
GET_ORG = sql("SELECT id, name, time_zone, settings, created_at FROM orgs WHERE id = $1")
SET_ORG_SETTINGS = sql("UPDATE orgs SET settings = $2, time_zone = $3 WHERE id = $1")
FIND_ORG_BY_NAME = sql("SELECT id FROM orgs WHERE name = $1 ORDER BY id LIMIT 1")
LIST_ORGS = sql("SELECT id, name, time_zone, created_at FROM orgs ORDER BY id")

INSERT_SITE = sql(
    "INSERT INTO sites (org_id, id, title, url, subdomain, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
LIST_SITES = sql(
    "SELECT id, title, url, subdomain, created_at FROM sites WHERE org_id = $1 ORDER BY id "
    "LIMIT $2 OFFSET $3"
)
COUNT_SITES = sql("SELECT count(*) FROM sites WHERE org_id = $1")
GET_SITE = sql(
    "SELECT id, title, url, subdomain, created_at FROM sites WHERE org_id = $1 AND id = $2"
)
FIRST_SITE = sql("SELECT min(id) FROM sites WHERE org_id = $1")

INSERT_TILL = sql(
    "INSERT INTO tills (org_id, id, code, name, type, description, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
GET_TILL = sql(
    "SELECT id, code, name, type, description, reference_id, admin_type, is_active, "
    "is_ou_enabled, time_zone_id, currency_id, language_id FROM tills WHERE org_id = $1 AND id = $2"
)
GET_TILL_BY_CODE = sql("SELECT id, code, name, type FROM tills WHERE org_id = $1 AND code = $2")
LIST_TILLS = sql(
    "SELECT id, code, name, type, created_at FROM tills WHERE org_id = $1 ORDER BY code"
)


async def till_by_code(conn: Queryable, org_id: int, code: str) -> Row | None:
    return await conn.fetchrow(GET_TILL_BY_CODE, org_id, code)


async def insert_till(conn: Queryable, org_id: int, till_id: int, code: str, name: str,
                      till_type: str, description: str, now: int) -> None:
    await conn.execute(INSERT_TILL, org_id, till_id, code, name, till_type, description, now)


async def insert_site(conn: Queryable, org_id: int, site_id: int, title: str, url: str,
                      subdomain: str, now: int) -> None:
    await conn.execute(INSERT_SITE, org_id, site_id, title, url, subdomain, now)


def site_dict(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "title": row["title"], "url": row["url"],
            "subdomain": row["subdomain"], "created_at": row["created_at"]}


# Listing sites with a sort and "contains" filters (the marketing face's GET /v1/sites).
SITE_SORT_COLUMNS = ("id", "title", "subdomain")
_SITE_SEARCH_WHERE = (
    " FROM sites WHERE org_id = $1"
    " AND ($2::text IS NULL OR lower(title) LIKE $2 ESCAPE '\\')"
    " AND ($3::text IS NULL OR lower(subdomain) LIKE $3 ESCAPE '\\')"
)
_SITE_SEARCH_WHERE_SQLITE = _SITE_SEARCH_WHERE.replace("::text", "").replace(
    "lower(", "unicode_lower(")


def _site_search_statement(column: str, descending: bool) -> Statement:
    direction = "DESC" if descending else "ASC"
    order = f" ORDER BY {column} {direction}, id {direction} LIMIT $4 OFFSET $5"
    columns = "SELECT id, title, url, subdomain, created_at"
    return sql(f"{columns}{_SITE_SEARCH_WHERE}{order}",
               sqlite=f"{columns}{_SITE_SEARCH_WHERE_SQLITE}{order}")


SEARCH_SITES = {(c, d): _site_search_statement(c, d) for c in SITE_SORT_COLUMNS
                for d in (False, True)}
COUNT_SEARCHED_SITES = sql(f"SELECT count(*){_SITE_SEARCH_WHERE}",
                           sqlite=f"SELECT count(*){_SITE_SEARCH_WHERE_SQLITE}")


