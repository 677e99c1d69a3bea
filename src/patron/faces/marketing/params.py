"""Kajabi's JSON:API query parameters: page[...], sort, fields[type], include and filter[...].

Every parameter is checked before a query runs; a bad one answers 400 naming it in
`source.parameter`. A filter the spec lists but the store cannot evaluate yet is refused with
400, never ignored: ignoring it would hand a client more customers than it asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from patron.errors import ValidationFailed
from patron.faces import QueryParameter

DEFAULT_PAGE_SIZE = 20  # the spec states 20 (max 100) for contact notes and nothing elsewhere
MAX_PAGE_NUMBER = 2**31 - 1

# Filters of GET /v1/customers that the store evaluates.
CUSTOMER_FILTERS = ("site_id", "search")
# The other filters of GET /v1/customers in the spec (v1.1.0), in its order: they need
# contacts, tags, offers, products, forms, events, assessments, broadcasts or engagement data.
CUSTOMER_FILTERS_LATER = (
    "created_in_last", "not_created_in_last", "is_hidden", "joined_in_last", "active_in_last",
    "inactive_in_last", "name_contains", "email_contains", "phone_number_contains",
    "address_line_1_contains", "address_line_2_contains", "address_city_contains",
    "address_state_contains", "address_country_contains", "address_zip_contains", "has_tag_id",
    "has_all_tag_id", "has_no_tag_id", "subscribed", "has_offer_id", "has_no_offer_id",
    "has_product_id", "has_active_product_id", "has_no_product_id",
    "previously_owned_product_id", "used_coupon_code", "submitted_form_id",
    "no_submitted_form_id", "registered_event_id", "not_registered_event_id",
    "completed_assessment_id", "passed_assessment_id", "failed_assessment_id",
    "net_revenue_equal_to", "net_revenue_greater_than", "net_revenue_less_than",
    "subscribed_in_last", "unsubscribed_in_last", "never_subscribed", "sent_email_broadcast_id",
    "no_sent_email_broadcast_id", "no_sent_email_broadcast_ids",
    "no_delivered_email_broadcast_id", "opened_email_broadcast_id",
    "no_opened_email_broadcast_id", "clicked_email_broadcast_id", "no_clicked_email_broadcast_id",
    "bounced_email_broadcast_id", "no_bounced_email_broadcast_id", "dropped_email_broadcast_id",
    "no_dropped_email_broadcast_id", "opened_email_in_last", "not_opened_email_in_last",
    "delivered_email_in_last", "not_delivered_email_in_last", "clicked_email_in_last",
    "not_clicked_email_in_last", "is_hard_bouncing", "bounced_in_last", "complained_in_last",
    "manually_unsubscribed_in_last", "opted_out_in_last", "healthy_contacts_with_open_data",
    "passive_contacts_with_open_data", "unengaged_contacts_with_open_data",
    "inactive_contacts_with_open_data", "subscribed_newsletter_id", "unsubscribed_newsletter_id",
    "mobile_phone_number_contains", "subscribed_email_sequence_id",
    "not_subscribed_email_sequence_id",
)
# GET /v1/customers/{id}: filters on the included offers and products ("ignored when include
# parameter is missing"). With no offers or products in the store they narrow nothing.
CUSTOMER_SHOW_FILTERS = ("products_search", "offers_search")
CUSTOMER_SHOW_PAGING_FILTERS = ("products_page", "products_per", "offers_page", "offers_per")
SITE_FILTERS = ("title_cont", "subdomain_cont")


# -- the OpenAPI document's description of these parameters (faces.query_parameters entries) --


def paging_parameters() -> tuple[QueryParameter, ...]:
    return (("page[number]", False, {"type": "integer", "minimum": 1,
                                     "maximum": MAX_PAGE_NUMBER}),
            ("page[size]", False, {"type": "integer", "minimum": 1, "description":
                                   "at most PATRON_MAX_PAGE_SIZE (100 by default); "
                                   f"{DEFAULT_PAGE_SIZE} when absent"}))


def sort_parameter(allowed: Iterable[str]) -> QueryParameter:
    names = tuple(allowed)
    return ("sort", False, {"type": "string", "enum": [*names, *(f"-{n}" for n in names)],
                            "description": "one field; '-' for descending order"})


def fields_parameter(resource_type: str, allowed: Iterable[str]) -> QueryParameter:
    return (f"fields[{resource_type}]", False,
            {"type": "array", "items": {"type": "string", "enum": list(allowed)}})


def include_parameter(allowed: Iterable[str]) -> QueryParameter:
    return ("include", False, {"type": "array", "items": {"type": "string",
                                                          "enum": list(allowed)}})


def filter_parameters(*names: str) -> tuple[QueryParameter, ...]:
    return tuple((f"filter[{name}]", False, {"type": "string"}) for name in names)


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def _whole_number(raw: str, name: str, maximum: int) -> int:
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10 or not (
            1 <= int(value) <= maximum):
        raise ValidationFailed(f"{name} must be a whole number from 1 to {maximum}",
                               reason="invalid_parameter", field=name)
    return int(value)


def page(params: QueryParams, max_size: int) -> Page:
    for key in params:
        if key.startswith("page[") and key not in ("page[number]", "page[size]"):
            raise ValidationFailed(f"unknown paging parameter {key}; use page[number] and "
                                   "page[size]", reason="invalid_parameter", field=key)
    raw_number, raw_size = params.get("page[number]"), params.get("page[size]")
    number = 1 if raw_number is None else _whole_number(raw_number, "page[number]",
                                                        MAX_PAGE_NUMBER)
    size = min(DEFAULT_PAGE_SIZE, max_size) if raw_size is None else _whole_number(
        raw_size, "page[size]", max_size)
    return Page(number, size)


def sort(params: QueryParams, allowed: Iterable[str], default: tuple[str, bool]
         ) -> tuple[str, bool]:
    """The one sort field asked for, as (name, descending)."""
    raw = (params.get("sort") or "").strip()
    if not raw:
        return default
    allowed = tuple(allowed)
    if "," in raw:
        raise ValidationFailed("sort takes one field", reason="invalid_sort", field="sort")
    descending = raw.startswith("-")
    name = raw[1:] if descending else raw
    if name not in allowed:
        raise ValidationFailed(f"cannot sort by {name!r}; use one of {', '.join(allowed)}, "
                               "with '-' for descending order", reason="invalid_sort",
                               field="sort")
    return name, descending


def fields(params: QueryParams, resource_type: str,
           allowed: Iterable[str]) -> frozenset[str] | None:
    """A sparse fieldset for one resource type, or None when none was asked for."""
    key = f"fields[{resource_type}]"
    raw = params.get(key)
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known = set(allowed)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationFailed(f"unknown {resource_type} field(s): {', '.join(unknown)}",
                               reason="invalid_fields", field=key)
    return frozenset(names)


def includes(params: QueryParams, allowed: Iterable[str]) -> frozenset[str]:
    names = [n.strip() for raw in params.getlist("include") for n in raw.split(",")
             if n.strip()]
    known = tuple(allowed)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationFailed(f"cannot include {', '.join(unknown)}; use {', '.join(known)}",
                               reason="invalid_include", field="include")
    return frozenset(names)


def filters(params: QueryParams, served: Iterable[str], later: Iterable[str] = (),
            paging: Iterable[str] = ()) -> dict[str, str]:
    """The filter[...] values the store evaluates; 400 for any other filter."""
    served, later, paging = set(served), set(later), set(paging)
    out: dict[str, str] = {}
    for key, value in params.multi_items():
        if not key.startswith("filter["):
            continue
        name = key[7:-1] if key.endswith("]") else None
        if name in served or name in paging:
            out[name] = value if name in served else str(
                _whole_number(value, key, MAX_PAGE_NUMBER))
        elif name in later:
            raise ValidationFailed(f"{key} is not supported yet", reason="filter_not_supported",
                                   field=key)
        else:
            raise ValidationFailed(f"unknown filter {key}", reason="unknown_filter", field=key)
    return out
