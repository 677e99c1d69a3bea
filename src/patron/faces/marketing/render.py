"""JSON:API documents in Kajabi's shapes: customers, their contacts, sites, and paging links.

URLs are absolute, built on `PATRON_PUBLIC_URL` (or the request's own base URL), and keep every
query parameter of the request in its order with only page[number]/page[size] changed, brackets
and commas left unencoded as in Kajabi's examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote

from patron.clock import iso_utc
from patron.db.database import Row
from patron.jsonio import loads

CUSTOMER_ATTRIBUTES = (
    "name", "email", "avatar", "external_user_id", "public_bio", "public_location",
    "public_website", "socials", "net_revenue", "sign_in_count", "last_request_at", "bounced_at",
    "created_at", "updated_at",
)
CUSTOMER_RELATIONSHIPS = ("contact", "site", "offers", "products")
CUSTOMER_FIELDS = CUSTOMER_ATTRIBUTES + CUSTOMER_RELATIONSHIPS
# The contact attributes this store can answer; custom_1..3 exist only for sites that define
# custom fields, and no site here does.
CONTACT_ATTRIBUTES = (
    "name", "email", "phone_number", "business_number", "subscribed", "address_line_1",
    "address_line_2", "address_city", "address_state", "address_country", "external_user_id",
    "address_zip", "created_at", "updated_at",
)
SITE_ATTRIBUTES = ("title", "subdomain", "created_at", "updated_at")

_URL_SAFE = "[],:"


def net_revenue(thousandths: int | None) -> str | None:
    """Thousandths of the currency unit as Kajabi's decimal string: 0 -> "0.0", 12500 -> "12.5"."""
    if thousandths is None:
        return None
    text = format(Decimal(int(thousandths)).scaleb(-3).normalize(), "f")
    return text if "." in text else text + ".0"


def _pick(values: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    return values if fields is None else {k: v for k, v in values.items() if k in fields}


def email(row: Row) -> str:
    """Kajabi's `email` is a string, always: "" for a customer who has none in this store (one
    made through another face with only a mobile or an external id)."""
    return row["email"] or ""


def name(row: Row) -> str:
    """Kajabi's `name` is a string, made from the e-mail address when left blank: its part
    before the `@` (listings sorted by name order by the same rule: customers.repository)."""
    return row["name"] or (row["email"] or "").split("@", 1)[0]


def customer(row: Row, base: str, fields: frozenset[str] | None, *, show: bool) -> dict[str, Any]:
    cid = str(row["id"])
    socials = row["socials"]
    attributes = _pick({
        "name": name(row),
        "email": email(row),
        "avatar": row["avatar"],
        "external_user_id": row["external_id"],
        "public_bio": row["public_bio"],
        "public_location": row["public_location"],
        "public_website": row["public_website"],
        "socials": None if socials is None else loads(socials),
        "net_revenue": net_revenue(row["net_revenue"]),
        "sign_in_count": row["sign_in_count"],
        "last_request_at": iso_utc(row["last_request_at"]),
        "bounced_at": iso_utc(row["bounced_at"]),
        "created_at": iso_utc(row["created_at"]),
        "updated_at": iso_utc(row["updated_at"]),
    }, fields)
    offers: dict[str, Any] = {"links": {"self": f"{base}/v1/customers/{cid}/relationships/offers"}}
    if show:
        offers = {"data": [], **offers}
    site_id = row["site_id"]
    relationships = _pick({
        # A customer's contact is the customer itself in this store: the ids are the same.
        "contact": {"data": {"id": cid, "type": "contacts"}},
        "site": {"data": None if site_id is None else {"id": str(site_id), "type": "sites"}},
        "offers": offers,
        "products": {"data": []},
    }, fields)
    return {"id": cid, "type": "customers", "attributes": attributes,
            "relationships": relationships, "links": {"contact": f"{base}/v1/contacts/{cid}"}}


def contact(row: Row, fields: frozenset[str] | None, subscribed: bool) -> dict[str, Any]:
    """The contact side of a customer, for `include=contact`; `subscribed`: to e-mail."""
    return {"id": str(row["id"]), "type": "contacts", "attributes": _pick({
        "name": name(row),
        "email": email(row),
        "phone_number": row["mobile"],
        "business_number": None,
        "subscribed": subscribed,
        "address_line_1": None,
        "address_line_2": None,
        "address_city": None,
        "address_state": None,
        "address_country": None,
        "external_user_id": row["external_id"],
        "address_zip": None,
        "created_at": iso_utc(row["created_at"]),
        "updated_at": iso_utc(row["updated_at"]),
    }, fields)}


def site(values: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    created = iso_utc(values["created_at"])
    return {"id": str(values["id"]), "type": "sites", "attributes": _pick({
        "title": values["title"],
        "subdomain": values["subdomain"] or "",  # a string, as the spec types it
        "created_at": created,
        "updated_at": created,  # sites are never changed after creation in this store
    }, fields)}


def url(base: str, path: str, query: str) -> str:
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def _pair(key: str, value: str) -> str:
    return f"{quote(key, safe=_URL_SAFE)}={quote(value, safe=_URL_SAFE)}"


def page_links(base: str, path: str, query: str, number: int, size: int,
               last: int) -> dict[str, str | None]:
    """self, current, first, prev, next and last, each keeping the request's other parameters."""
    pairs = parse_qsl(query, keep_blank_values=True)

    def at(n: int) -> str:
        out: list[str] = []
        seen: set[str] = set()
        for key, value in pairs:
            if key in ("page[number]", "page[size]"):
                if key in seen:
                    continue
                seen.add(key)
                value = str(n if key == "page[number]" else size)
            out.append(_pair(key, value))
        if "page[number]" not in seen:
            out.append(f"page[number]={n}")
        if "page[size]" not in seen:
            out.append(f"page[size]={size}")
        return f"{base}{path}?{'&'.join(out)}"

    here = at(number)
    return {"self": here, "current": here, "first": at(1),
            "prev": at(min(number - 1, last)) if number > 1 else None,
            "next": at(number + 1) if number < last else None,
            "last": at(last)}


def paged(data: list[dict[str, Any]], base: str, path: str, query: str, number: int, size: int,
          total: int, included: Iterable[dict[str, Any]] | None = None) -> dict[str, Any]:
    last = max(1, -(-total // size))
    body: dict[str, Any] = {"data": data}
    if included is not None:
        body["included"] = list(included)
    body["links"] = page_links(base, path, query, number, size, last)
    body["meta"] = {"total_pages": last, "total_count": total, "current_page": number}
    return body
