"""The Linquid customer object, from a customer row with its shown profile.

Linquid publishes no customer object; this one is Patron's (docs/compat/workspace.md). Names and
identifiers come from the profile the workspace face writes (INSTORE, no account) when there is
one, else from the customer's oldest profile, then from the customer row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from patron.clock import iso_utc
from patron.db.database import Row
from patron.jsonio import loads


def _first(identifiers: list[dict[str, Any]], kind: str) -> str | None:
    return next((i["value"] for i in identifiers if i.get("type") == kind), None)


def money(thousandths: int | None) -> float | int:
    """Thousandths of the currency unit as a JSON number (exact for any cent amount)."""
    value = Decimal(thousandths or 0) / 1000
    return int(value) if value == value.to_integral_value() else float(value)


def customer(row: Row) -> dict[str, Any]:
    identifiers = loads(row["profile_identifiers"]) or []
    first = row["profile_first_name"] or None
    last = row["profile_last_name"] or None
    name = " ".join(x for x in (first, last) if x) or row["name"] or None
    return {
        "id": int(row["id"]),
        "externalId": _first(identifiers, "externalId") or row["external_id"],
        "email": _first(identifiers, "email") or row["email"],
        "phone": _first(identifiers, "mobile") or row["mobile"],
        "firstName": first,
        "lastName": last,
        "name": name,
        "avatarUrl": row["avatar"] or None,
        "clickId": row["click_id"] or None,
        "metadata": loads(row["metadata"]) or {},
        "ltv": money(row["net_revenue"]),  # purchases less returns
        "totalRevenue": money(row["lifetime_purchases"]),  # purchases
        "status": row["status"],
        "createdAt": iso_utc(row["created_at"]),
        "updatedAt": iso_utc(row["updated_at"]),
    }
