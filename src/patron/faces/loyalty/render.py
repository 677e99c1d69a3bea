"""Capillary's customer JSON, field by field as seed 000 shows it."""

from __future__ import annotations

import time
from typing import Any

from patron.cards.service import BUILT_IN_LABEL_IDS
from patron.clock import iso_utc
from patron.customers.fraud import FraudStatus
from patron.customers.service import CustomerRecord
from patron.groups.service import CustomerGroup, GroupDetails, Membership, Pool
from patron.jsonio import fragment, loads
from patron.loyalty.programs import program_json
from patron.loyalty.rules import UPGRADE_DESCRIPTIONS, Member, RenewalGap, shown_tier_expiry
from patron.loyalty.service import ProgramEntry, TierChange, UpgradeGap
from patron.segments.service import Segment


def till_short(till: Any) -> dict[str, Any] | None:
    """A till (tenancy/tills.py) as Capillary's attributions show it; None without one."""
    if till is None:
        return None
    return {"id": till["id"], "code": till["code"], "name": till["name"],
            "type": till["type"], "referenceId": -1, "default": False}


def till_full(till: Any) -> dict[str, Any] | None:
    if till is None:
        return None
    return {"id": till["id"], "code": till["code"], "description": till["description"],
            "name": till["name"], "type": till["type"], "referenceId": till["reference_id"],
            "adminType": till["admin_type"], "isActive": bool(till["is_active"]),
            "isOuEnabled": bool(till["is_ou_enabled"]), "timeZoneId": till["time_zone_id"],
            "currencyId": till["currency_id"], "languageId": till["language_id"],
            "default": False}


def money(thousandths: int) -> float:
    return thousandths / 1000


def identifiers_of_all(profiles: list[Any]) -> Any:
    """`identifiersAll`: every profile's identifiers, each once (a mobile registered in two
    sources belongs to both profiles), in profile order. One profile's go in as stored."""
    if len(profiles) == 1:
        return fragment(profiles[0]["identifiers"])
    seen: dict[tuple[str, str], Any] = {}
    for p in profiles:
        for identifier in loads(p["identifiers"]):
            seen.setdefault((identifier["type"], identifier["value"]), identifier)
    return list(seen.values())


def customer(record: CustomerRecord, *, source: str, account_id: str | None,
             only_current_profile: bool, ndnc_status: bool, optin_status: bool,
             cards: list[Any] | None, warnings: list[dict[str, Any]],
             segments: dict[str, str] | None = None,
             fraud: FraudStatus | None = None) -> dict[str, Any]:
    """The customer-details body. `segments` (embed=segments) fills the `segments` map, `{}`
    otherwise; `fraud` (includedFraudDetails) adds `fraudDetails` before it."""
    row = record.row
    tills = record.tills
    profile_rows = record.profiles
    if only_current_profile and source != "ALL":
        profile_rows = [p for p in profile_rows if p["source"] == source and (
            account_id is None or p["account_id"] == account_id)]
    # The JSON columns are written by `jsonio.dumps` in the shape shown here, so they go into the
    # answer as they are stored (fragments) instead of being parsed and written again.
    all_identifiers = identifiers_of_all(record.profiles)
    all_fields: Any = fragment(record.profiles[0]["fields"]) if len(record.profiles) == 1 else {
        k: v for p in record.profiles for k, v in loads(p["fields"]).items()}
    profiles = []
    for p in profile_rows:
        profiles.append({
            "firstName": p["first_name"] or "",
            "lastName": p["last_name"] or "",
            "attribution": {
                "createDate": iso_utc(p["created_at"]),
                "createdBy": till_short(tills.get(p["created_by"])),
                "modifiedBy": till_short(tills.get(p["modified_by"])),
                "modifiedDate": iso_utc(p["modified_at"]),
            },
            "fields": fragment(p["fields"]),
            "allFields": all_fields,
            "identifiers": fragment(p["identifiers"]),
            "commChannels": fragment(p["comm_channels"]),
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
            "createdBy": till_full(tills.get(row["loyalty_created_by"])),
            "modifiedBy": till_short(tills.get(row["loyalty_modified_by"])),
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
    }
    if fraud is not None:
        out["fraudDetails"] = fraud_details(fraud)
    out["segments"] = segments or {}
    associated = tills.get(row["associated_till_id"])
    out["associatedWith"] = associated["code"] if associated is not None else ""
    out["extendedFields"] = fragment(row["extended_fields"])
    if optin_status:
        out["optinStatus"] = row["optin_status"]
    if ndnc_status:
        out["ndncStatus"] = row["ndnc_status"]
    if cards is not None:  # None: embed=ignoreCardDetails
        out["cardDetails"] = [card(c) for c in cards]
    out["warnings"] = warnings
    return out


# -- cards -------------------------------------------------------------------------------------

def card(row: Any) -> dict[str, Any]:
    """A card as `GET /v2/card` and `cardDetails[]` show it (seed 000's field order)."""
    status, card_id = row["status"], row["id"]
    out: dict[str, Any] = {"cardId": card_id}
    if row["issued_at"] is not None:
        out["issuedDate"] = iso_utc(row["issued_at"])
    out.update({
        "createdDate": day(row["created_at"]), "createdDateTimeISO": iso_utc(row["created_at"]),
        "expiryDays": row["expiry_days"], "seriesName": row["series_name"],
        "customerId": row["customer_id"] or 0, "maxActiveCards": row["max_active_cards"]})
    if row["card_external_id"]:
        out["cardExternalId"] = row["card_external_id"]
    extended = loads(row["extended_fields"])
    if extended:
        out["extendedFields"] = extended
    out["customFields"] = loads(row["custom_fields"])
    if row["mapped_till_code"]:
        out["mappedEntity"] = {"type": "TILL", "value": row["mapped_till_code"]}
    out.update({
        "type": row["series_type"], "cardNumber": row["card_number"],
        "seriesId": row["series_id"], "seriesCode": row["series_code"],
        "orgId": row["org_id"], "entityId": row["created_by"] or 0,
        "statusInfo": {
            "reason": row["status_reason"], "createdBy": card_id, "actions": [],
            "autoUpdateTime": day(row["status_changed_at"]),
            "autoUpdateTimeISO": iso_utc(row["status_changed_at"]),
            "createdOn": iso_utc(row["status_changed_at"]), "entityId": card_id,
            "id": row["status_log_id"], "isActive": status == "ACTIVE",
            "labelId": row["label_id"] or BUILT_IN_LABEL_IDS.get(row["label"], 0),
            "label": row["label"], "status": status},
        "id": card_id, "transactionNotAllowed": row["customer_id"] is not None,
        "activeAndDigital": status == "ACTIVE" and row["series_type"] == "DIGITAL"})
    if row["expires_at"] is not None:
        out["expiryDate"] = iso_utc(row["expires_at"])
    return out


def card_series(row: Any, org_id: int) -> dict[str, Any]:
    """A card series as `GET /v2/card/series/{id}` shows it."""
    return {
        "lastUpdatedOn": iso_utc(row["updated_at"]), "trigger": "SERIES_ID",
        "expiryDays": row["expiry_days"], "cardExpiryEnabled": bool(row["card_expiry_enabled"]),
        "lastUpdateBy": row["updated_by"] or 0,
        "maxActiveCardsPerCustomer": row["max_active_cards"],
        "cardGenerationConfiguration": {
            "lastUpdatedBy": row["updated_by"] or 0, "orgId": org_id, "seriesId": row["id"],
            "suffix": row["suffix"], "prefix": row["prefix"], "length": row["number_length"],
            "offset": row["next_number"], "method": row["generation_method"]},
        "cardGenerationEnabled": bool(row["generation_enabled"]), "code": row["code"],
        "createdBy": row["created_by"] or 0, "createdOn": iso_utc(row["created_at"]),
        "name": row["name"], "description": row["description"], "id": row["id"],
        "isActive": bool(row["is_active"]), "orgId": org_id, "type": row["type"]}


def card_status(row: Any, label_ids: dict[str, int]) -> dict[str, Any]:
    """One status change of `GET /v2/card/statusLog`."""
    return {"reason": row["reason"], "createdBy": row["till_id"] or 0, "actions": [],
            "autoUpdateTime": day(row["at"]), "createdOn": iso_utc(row["at"]),
            "entityId": row["card_id"], "id": row["id"], "isActive": False,
            "labelId": label_ids.get(row["label"], 0), "label": row["label"],
            "status": row["status"]}
def fraud_details(fraud: FraudStatus) -> dict[str, Any]:
    """`fraudDetails` (includedFraudDetails=true), in the docs' example shape. `markedBy` is the
    marking till as `attribution.createdBy` shows a till, `{}` when none; a customer never
    marked has `modifiedOn` and `status` null."""
    marked_by = till_short(fraud.marked_by)
    return {"markedBy": marked_by or {},
            "modifiedOn": iso_utc(fraud.modified_at),
            "status": fraud.status}


def subscription_info(rows: list[Any]) -> dict[str, Any]:
    """`subscriptionInfo` of `embed=subscriptions`: the current state of each channel and
    priority, in the subscription API's object shape (docs/compat/loyalty.md)."""
    return {"subscriptions": [{
        "channel": r["channel"], "accountId": r["account_id"], "priority": r["priority"],
        "type": r["status"], "orgUnitId": -1, "sourceName": r["source"],
        "lastUpdatedOn": iso_utc(r["changed_at"]),
    } for r in rows]}


def segment_view(segment: Segment) -> dict[str, Any]:
    """A segment as Patron's segment routes show it (docs/compat/loyalty.md, "Segments")."""
    return {"id": segment.id, "name": segment.name, "description": segment.description,
            "partitions": list(segment.partitions), "memberCounts": dict(segment.members),
            "totalMembers": sum(segment.members.values()),
            "createdOn": iso_utc(segment.created_at), "updatedOn": iso_utc(segment.updated_at)}


# -- loyalty engine ----------------------------------------------------------------------------

def points_value(thousandths: int) -> float:
    return thousandths / 1000


def day(ms: int | None) -> str | None:
    return None if ms is None else time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def program_view(entry: ProgramEntry) -> dict[str, Any]:
    """A program as `GET /v2/loyalty/programs` shows it: the applied definition, with ids."""
    definition = program_json(entry.program)
    definition["tiers"] = [{"serialNumber": n, **t}
                           for n, t in enumerate(definition["tiers"], start=1)]
    return {"programId": entry.id, **{k: v for k, v in definition.items() if k != "id"},
            "default": entry.is_default, "version": entry.version,
            "updatedOn": iso_utc(entry.updated_at)}


def tier_change_effect(change: TierChange) -> dict[str, Any]:
    out = {"entityType": "USER", "type": "slab", "programId": change.program_id,
           "changeType": change.type, "fromSlab": change.from_tier, "toSlab": change.to_tier}
    if change.to_expires_at is not None:
        out["slabExpiryDate"] = iso_utc(change.to_expires_at)
    return out


def points_summary(entry: ProgramEntry, m: Member) -> dict[str, Any]:
    """`pointsSummary` (embed=points) and the shared part of `loyaltyProgramDetails[]`."""
    p = entry.program
    tier = p.tier(m.tier)
    nxt = p.tiers[m.tier] if m.tier < len(p.tiers) else None
    return {
        "adjusted": points_value(m.adjusted_points),
        "cumulativePurchases": money(m.cumulative_purchases),
        "currentSlab": tier.name,
        "expired": points_value(m.expired_points),
        "lifetimePoints": points_value(m.lifetime_points),
        "loyaltyId": m.customer_id,
        "loyaltyPoints": points_value(m.points),
        "nextSlab": nxt.name if nxt else "",
        "nextSlabDescription": nxt.description if nxt else "",
        "nextSlabSerialNumber": m.tier + 1 if nxt else -1,
        "redeemed": points_value(m.redeemed_points),
        "returned": points_value(m.returned_points),
        "slabExpiryDate": iso_utc(shown_tier_expiry(m.tier_expires_at, m.tier_since)),
        "slabSNo": m.tier,
    }


def program_details(entry: ProgramEntry, m: Member) -> dict[str, Any]:
    """One `loyaltyProgramDetails[]` entry (embed=mlp)."""
    return {**points_summary(entry, m), "programId": entry.id,
            "delayedPoints": 0.0, "delayedReturnedPoints": 0.0,
            "totalAvailablePoints": points_value(m.points),
            "totalReturnedPoints": points_value(m.returned_points),
            "linkedPartnerPrograms": [], "programTitle": entry.program.name,
            "programDescription": entry.program.description,
            "programPointsToCurrencyRatio": float(entry.program.points_to_currency_ratio),
            "pointsToCurrencyRatio": float(entry.program.points_to_currency_ratio),
            "promisedPoints": 0.0}


def upgrade_strategies(gap: UpgradeGap) -> list[dict[str, Any]]:
    if gap.threshold is None:
        return []
    return [{"upgrade_based_on": gap.strategy, "upgradeThreshold": points_value(gap.threshold),
             "customerUpgradeEntityValues": {"currentValue": points_value(gap.value),
                                             "gapToUpgrade": points_value(gap.gap),
                                             "valueValidUpto": day(gap.valid_upto)}}]


def gap_to_renew_summary(m: Member, gaps: list[RenewalGap] | None,
                         tracker: Any) -> dict[str, Any]:
    strategies = []
    for g in gaps or []:
        entry: dict[str, Any] = {"renewBasedOn": g.based_on,
                                 "renewThreshold": points_value(g.threshold),
                                 "customerRenewEntityValue": points_value(g.value),
                                 "customerGapToRenewValue": points_value(g.gap)}
        if g.based_on == "TRACKER" and tracker is not None:
            entry["trackerEntityIdentifiers"] = [{
                "trackerName": tracker.name, "trackerType": tracker.type,
                "trackerMode": "MOVING_WINDOW", "trackerCaseName": tracker.case_name,
                "trackerCasePeriodType": "DAYS", "trackerCasePeriodValue": tracker.window_days}]
        strategies.append(entry)
    return {"tierExpiryDate": day(shown_tier_expiry(m.tier_expires_at, m.tier_since)),
            "renewConfirmed": all(g.gap == 0 for g in gaps or []),
            "renewStrategies": strategies}


def tier_upgrade_criteria(gap: UpgradeGap) -> dict[str, Any]:
    return {"purchaseType": gap.strategy, "description": UPGRADE_DESCRIPTIONS[gap.strategy],
            "purchaseValue": points_value(gap.gap)}


def retention_criteria(entry: ProgramEntry, m: Member) -> dict[str, Any] | None:
    rule = entry.program.tier(m.tier).retention
    if rule is None:
        return None
    return {"minPurchases": float(rule.min_purchases), "minVisits": rule.min_visits,
            "isDownGradeStrategy": True}


def slab_history(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        entry: dict[str, Any] = {"from": r["from_tier"], "to": r["to_tier"]}
        if r["from_expires_at"] is not None:
            entry["fromTierExpiryDate"] = iso_utc(r["from_expires_at"])
        if r["to_expires_at"] is not None:
            entry["toTierExpiryDate"] = iso_utc(r["to_expires_at"])
        entry.update({"changedOn": iso_utc(r["changed_at"]), "notes": r["notes"],
                      "store": {"code": r["till_code"] or "", "name": r["till_name"] or ""},
                      "type": r["type"], "programId": r["program_id"]})
        out.append(entry)
    return out


def promotional_points(lots: list[Any]) -> dict[str, Any]:
    return {"customerPromotionType": [{
        "points": points_value(lot["remaining"]),
        "issuedAt": {"code": lot["till_code"] or "", "name": lot["till_name"] or ""},
        "issuedOn": iso_utc(lot["earned_at"]), "expiryDate": iso_utc(lot["expires_at"]),
        "promotionSource": {"promotionSourceId": lot["promotion_source_id"] or -1,
                            "promotionSourceType": lot["promotion_source_type"]},
        "programId": lot["program_id"], "promotionName": lot["promotion_name"],
    } for lot in lots if lot["kind"] == "PROMOTIONAL"],
        "transactionPromotionType": [], "lineitemPromotionType": []}


def expiry_schedules(lots: list[Any]) -> list[dict[str, Any]]:
    """Open points by program, expiry day and kind; points that never expire are not listed."""
    grouped: dict[tuple[int, int, str], int] = {}
    for lot in lots:
        if lot["expires_at"] is None:
            continue
        kind = "PROMOTIONAL" if lot["kind"] == "PROMOTIONAL" else "REGULAR"
        key = (lot["program_id"], lot["expires_at"], kind)
        grouped[key] = grouped.get(key, 0) + lot["remaining"]
    return [{"points": points_value(points), "expiryDate": day(expires),
             "expiryDateISO": iso_utc(expires), "programId": program_id, "pointsType": kind,
             "expiryType": "ROLLING"}
            for (program_id, expires, kind), points in sorted(grouped.items(),
                                                              key=lambda kv: kv[0][1])]


def expired_points(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"points": points_value(r["points"]), "expiredOn": iso_utc(r["at"]),
             "programId": r["program_id"]} for r in rows]


def returned_points(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"points": points_value(r["points"]), "returnedOn": iso_utc(r["at"]),
             "programId": r["program_id"], "transactionId": r["transaction_id"],
             "billNumber": r["bill_number"]} for r in rows]


# -- user groups -------------------------------------------------------------------------------

def group_points_summaries(group_id: int, pool: Pool) -> list[dict[str, Any]]:
    """`pointsSummaries[]`: per program, the points the group's active members hold, summed.
    A group has no tier of its own, so the tier fields of Capillary's example are absent."""
    return [{
        "redeemed": points_value(p.redeemed_points), "expired": points_value(p.expired_points),
        "returned": points_value(p.returned_points), "adjusted": points_value(p.adjusted_points),
        "lifetimePoints": points_value(p.lifetime_points),
        "loyaltyPoints": points_value(p.points), "userGroup2Id": group_id,
        "programId": p.program.id, "delayedPoints": 0.0, "delayedReturnedPoints": 0.0,
        "delayedExpiredPoints": 0.0, "totalAvailablePoints": points_value(p.points),
        "totalReturnedPoints": points_value(p.returned_points), "linkedPartnerPrograms": [],
        "programTitle": p.program.program.name,
        "programDescription": p.program.program.description,
        "programPointsToCurrencyRatio": float(p.program.program.points_to_currency_ratio),
    } for p in pool.points]


def group_pool(group_id: int, pool: Pool) -> dict[str, Any]:
    return {"lifeTimePurchases": money(pool.lifetime_purchases),
            "totalActiveMembers": pool.active_members,
            "totalExitedMembers": pool.exited_members,
            "pointsSummaries": group_points_summaries(group_id, pool)}


def fleet_group_user(m: Membership) -> dict[str, Any]:
    return {"userId": m.customer_id, "groupId": m.group_id, "defaultGroup": m.default_group,
            "primaryMember": m.primary_member, "active": m.active}


def group_details(d: GroupDetails) -> dict[str, Any]:
    """`GET /v2/userGroup2`, in the order of Capillary's example."""
    g = d.group
    pool = group_pool(g.id, d.pool)
    return {"id": g.id, "externalId": g.external_id, "groupStatus": g.status,
            "fleetGroupUsers": [fleet_group_user(m) for m in d.members],
            "createdBy": g.created_by, "createdOn": iso_utc(g.created_at),
            "groupName": g.name, "maxGroupSize": g.max_size,
            "lifeTimePurchases": pool.pop("lifeTimePurchases"), **pool,
            "extendedFields": g.extended_fields, "warnings": []}


def customer_group(cg: CustomerGroup) -> dict[str, Any]:
    """One group of a customer (`userGroup2Details[]` of customer details): the membership as
    `fleetGroupUsers[]` shows it with the group's own fields, its permissions and join date, and
    with `includedUserGroup2LoyaltyDetails` the group's pooled figures."""
    g, m = cg.group, cg.membership
    out = {"userId": m.customer_id, "groupId": g.id, "externalId": g.external_id,
           "groupName": g.name, "groupStatus": g.status, "maxGroupSize": g.max_size,
           "defaultGroup": m.default_group, "primaryMember": m.primary_member,
           "active": m.active, "permissions": m.permissions,
           "joinedDate": iso_utc(m.joined_at)}
    if cg.pool is not None:
        out.update(group_pool(g.id, cg.pool))
    return out
