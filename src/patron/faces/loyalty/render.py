"""Capillary's customer JSON, field by field as seed 000 shows it."""

from __future__ import annotations

from typing import Any

from patron.clock import iso_utc
from patron.customers.service import CustomerRecord
from patron.jsonio import loads


def till_short(row: Any, p: str) -> dict[str, Any] | None:
    if row[f"{p}_id"] is None:
        return None
    return {"id": row[f"{p}_id"], "code": row[f"{p}_code"], "name": row[f"{p}_name"],
            "type": row[f"{p}_type"], "referenceId": -1, "default": False}


def till_full(row: Any, p: str) -> dict[str, Any] | None:
    if row[f"{p}_id"] is None:
        return None
    return {"id": row[f"{p}_id"], "code": row[f"{p}_code"],
            "description": row[f"{p}_description"], "name": row[f"{p}_name"],
            "type": row[f"{p}_type"], "referenceId": row[f"{p}_reference_id"],
            "adminType": row[f"{p}_admin_type"], "isActive": bool(row[f"{p}_is_active"]),
            "isOuEnabled": bool(row[f"{p}_is_ou_enabled"]),
            "timeZoneId": row[f"{p}_time_zone_id"], "currencyId": row[f"{p}_currency_id"],
            "languageId": row[f"{p}_language_id"], "default": False}


def money(thousandths: int) -> float:
    return thousandths / 1000


def customer(record: CustomerRecord, *, source: str, account_id: str | None,
             only_current_profile: bool, ndnc_status: bool, optin_status: bool,
             warnings: list[dict[str, Any]]) -> dict[str, Any]:
    row = record.row
    profile_rows = record.profiles
    if only_current_profile and source != "ALL":
        profile_rows = [p for p in profile_rows if p["source"] == source and (
            account_id is None or p["account_id"] == account_id)]
    all_identifiers = [i for p in record.profiles for i in loads(p["identifiers"])]
    all_fields: dict[str, Any] = {}
    for p in record.profiles:
        all_fields.update(loads(p["fields"]))
    profiles = []
    for p in profile_rows:
        fields = loads(p["fields"])
        profiles.append({
            "firstName": p["first_name"] or "",
            "lastName": p["last_name"] or "",
            "attribution": {
                "createDate": iso_utc(p["created_at"]),
                "createdBy": till_short(p, "cb"),
                "modifiedBy": till_short(p, "mb"),
                "modifiedDate": iso_utc(p["modified_at"]),
            },
            "fields": fields,
            "allFields": all_fields,
            "identifiers": loads(p["identifiers"]),
            "commChannels": loads(p["comm_channels"]),
            "source": p["source"],
            "userId": row["id"],
            "accountId": p["account_id"],
            "conflictingProfileList": [],
            "autoUpdateTime": iso_utc(p["auto_update_at"]),
            "identifiersAll": all_identifiers,
        })
    loyalty_info: dict[str, Any] = {
        "loyaltyType": row["loyalty_type"],
        "attributionV2": {
            "createDate": iso_utc(row["loyalty_created_at"]),
            "createdBy": till_full(row, "lc"),
            "modifiedBy": till_short(row, "lm"),
            "modifiedDate": iso_utc(row["loyalty_modified_at"]),
            "createdFromSource": row["created_from_source"],
        },
        "lifetimePurchases": money(row["lifetime_purchases"]),
    }
    if row["loyalty_score"] is not None:
        loyalty_info["score"] = row["loyalty_score"]
    out: dict[str, Any] = {
        "id": row["id"],
        "profiles": profiles,
        "loyaltyInfo": loyalty_info,
        "segments": {},
        "associatedWith": row["associated_code"] or "",
        "extendedFields": loads(row["extended_fields"]),
    }
    if optin_status:
        out["optinStatus"] = row["optin_status"]
    if ndnc_status:
        out["ndncStatus"] = row["ndnc_status"]
    out["cardDetails"] = []
    out["warnings"] = warnings
    return out


def subscription_info(rows: list[Any]) -> dict[str, Any]:
    """`subscriptionInfo` of `embed=subscriptions`: the current state of each channel and
    priority, in the subscription API's object shape (docs/compat/loyalty.md)."""
    return {"subscriptions": [{
        "channel": r["channel"], "accountId": r["account_id"], "priority": r["priority"],
        "type": r["status"], "orgUnitId": -1, "sourceName": r["source"],
        "lastUpdatedOn": iso_utc(r["changed_at"]),
    } for r in rows]}
