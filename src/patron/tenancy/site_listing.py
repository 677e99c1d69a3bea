"""Listing an organisation's sites with a sort order and case-insensitive "contains" filters.

Kept beside `Tenancy.sites` (which pages in id order) for the clients that sort or search sites,
such as Kajabi's `GET /v1/sites?sort=-title&filter[title_cont]=...`.
"""

from __future__ import annotations

from typing import Any

from patron.db.database import Queryable
from patron.db.statement import contains_pattern
from patron.errors import ValidationFailed
from patron.tenancy import repository as repo


async def listed_sites(conn: Queryable, org_id: int, *, title_contains: str | None = None,
                       subdomain_contains: str | None = None, sort: str = "id",
                       descending: bool = False, limit: int = 20,
                       offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of the organisation's sites and how many match in all."""
    if sort not in repo.SITE_SORT_COLUMNS:
        raise ValidationFailed(f"cannot sort sites by {sort!r}", reason="invalid_sort",
                               field="sort")
    title = contains_pattern(title_contains)
    subdomain = contains_pattern(subdomain_contains)
    rows = await conn.fetch(repo.SEARCH_SITES[(sort, descending)], org_id, title, subdomain,
                            limit, offset)
    total = await conn.fetchval(repo.COUNT_SEARCHED_SITES, org_id, title, subdomain)
    return [repo.site_dict(r) for r in rows], int(total)
