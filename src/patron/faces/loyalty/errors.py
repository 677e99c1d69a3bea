"""Capillary's error envelope and codes for the loyalty face.

`{"errors":[{"status":false,"code":N,"message":"..."}],"warnings":[]}`. Capillary ties no HTTP
status to most codes; Patron answers 400 for bad input, 401/403 for auth, 404 for a customer that
is not found (8015), 413/429 for limits (docs/compat/loyalty.md).
"""

from __future__ import annotations

from fastapi import Response

from patron.errors import PatronError
from patron.jsonio import dumps

JSON = "application/json"

CODES = {
    "customer_not_found": 8015,
    "customer_pii_deleted": 8015,
    "customer_not_in_source": 8065,
    "invalid_source": 8003,
    "missing_source": 8016,
    "no_identifiers": 8005,
    "invalid_identifier_type": 8013,
    "invalid_primary_identifier": 8014,
    "customer_exists_same_source": 8006,
    "identifier_conflict": 8007,
    "invalid_image": 8084,
    "conflicting_customers": 8053,
    "loyalty_downgrade_not_allowed": 8018,
    "missing_identifier": 11013,
    "missing_bill_customer": 606,
    "request_not_found": 9050,
    "invalid_request_status": 9052,
    "invalid_request_type": 9006,
    "invalid_request_base_type": 9008,
    "batch_too_large": 1060,
    "interaction_customer_not_found": 1012,
    "invalid_interaction_input": 500,
    # transactions (Capillary's 6xx)
    "invalid_bill_number": 602,
    "duplicate_bill": 604,
    "invalid_transaction_type": 605,
    "invalid_transaction_amount": 601,
    "missing_customer": 8084,
    "bill_not_found": 625,
    "invalid_return_amount": 630,
    "negative_amount": 631,
    "mixed_return_types": 632,
    "amount_after_line_item_return": 635,
    "negative_discount": 666,
    "negative_gross_amount": 665,
    "negative_item_amount": 661,
    "negative_item_value": 662,
    "negative_item_rate": 663,
    "negative_item_discount": 664,
    "negative_qty": 627,
    "bill_date_future": 643,
    "bill_date_past": 644,
    "bill_already_returned": 633,
    "return_item_not_found": 688,
    "return_qty_exceeded": 626,
    "return_item_amount_exceeded": 678,
    "invalid_billing_date": 621,
    "invalid_return_type": 1634,
    "missing_return_items": 1635,
    "transaction_not_found": 500,
    "program_not_found": 1101,
    # points (8xx, 9xx)
    "invalid_points": 801,
    "invalid_points_customer": 802,
    "insufficient_points": 803,
    "not_loyalty_member": 802,
    "points_customer_not_found": 816,
    "invalid_reversal": 901,
    "redemption_not_found": 902,
    "redemption_customer_mismatch": 904,
    "redemption_reversed": 3802,
    # tiers: 91011/91012 are Capillary's lowest/highest-slab warnings; the others Patron's own
    "same_tier": 91010,
    "invalid_tier": 91015,
    # fraud status: 618 is Capillary's; the status check is Patron's own
    "customer_marked_fraud": 618,
    "invalid_fraud_status": 92010,
    # segments: Capillary has no segment API; these codes are Patron's own
    "segment_not_found": 92001,
    "segment_exists": 92002,
    "unknown_partition": 92003,
    "invalid_segment": 92004,
    "not_segment_member": 92005,
    "invalid_segment_row": 92006,
    # user groups (userGroup2: 16xx); 403 is Capillary's "Field {x} is mandatory", sent as HTTP 400
    "group_field_missing": 403,
    "group_invalid": 1619,
    "not_group_member": 1620,
    "group_not_found": 1632,
    "group_external_id_exists": 1633,
    "group_external_id_missing": 1634,
    "group_ref_missing": 1635,
    "already_group_member": 1636,
    "primary_member_exists": 1637,
    "group_full": 1638,
    "group_size_below_members": 1638,
    "group_size_over_limit": 1639,
    "group_size_not_positive": 1640,
    "invalid_permission": 1641,
    "primary_in_other_group": 1642,
    "nothing_to_update": 1643,
    "group_details_missing": 1644,
    "group_details_invalid": 1645,
}

WARNINGS = {
    "joined_other_source": (8050, "Same Customer found in other sources,Combining"),
    "card_label_unchanged": (3039, "No update in status label"),
    "invalid_email": (8055, "Invalid email id"),
    "invalid_mobile": (8056, "Invalid mobile"),
    "invalid_email_channel": (8057, "Invalid email id in comm channel"),
    "invalid_mobile_channel": (8058, "Invalid mobile in comm channel"),
    "invalid_channel": (8010, "communication channel is invalid"),
    "invalid_identifier_value": (8099, "Invalid identifier value, identifier dropped"),
}

AUTH_FAILED = "Authentication failed. Please check username and password."


def code_of(exc: PatronError) -> int:
    """The Capillary code of an error: card rules carry theirs in the reason (`card_3009`)."""
    reason = exc.reason or ""
    if reason.startswith("card_"):
        return int(reason[5:])
    return CODES.get(reason, exc.status)


def item(code: int, message: str) -> dict:
    return {"status": False, "code": code, "message": message}


def warning(reason: str, detail: str | None = None) -> dict:
    code, message = WARNINGS.get(reason, (8099, detail or reason))
    return item(code, detail or message)


def render_token_error(exc: PatronError) -> Response:
    """The OAuth token route's own envelope (`/v3/oauth/...`): its answers carry `data` and
    `errors`, so its errors do too, `{"data": null, "errors": [...]}`."""
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return Response(dumps({"data": None, "errors": [item(code_of(exc), exc.message)]}),
                    status_code=exc.status, media_type=JSON, headers=headers)


def render(exc: PatronError) -> Response:
    status = exc.status
    if status == 409:
        status = 400
    message = AUTH_FAILED if status == 401 else exc.message
    code = code_of(exc)
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return Response(dumps({"errors": [item(code, message)], "warnings": []}), status_code=status,
                    media_type=JSON, headers=headers)
