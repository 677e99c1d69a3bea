"""The loyalty face's behavioural events (seed 004, API-FACTS §2.8): definitions, webhooks,
event ingestion through the webhook URI, and look-ups by request id and by customer."""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from patron.auth.guard import admit
from patron.auth.service import LOYALTY, Principal, route_scope
from patron.clock import iso_utc, parse_iso
from patron.errors import NotFound, PatronError, Unauthorized, ValidationFailed
from patron.events.definitions import Definition
from patron.events.service import LATEST_EVENT, StoredEvent, Webhook
from patron.faces import (
    FaceRouter,
    base_url,
    digits,
    not_replayed,
    query_parameters,
    request_json,
)
from patron.faces.loyalty.errors import JSON, item
from patron.faces.loyalty.routes import Svc, authenticator, org_zone
from patron.jsonio import dumps, loads

router = FaceRouter(tags=["loyalty (Capillary): behavioural events"])

event_reader = authenticator("events:read")
EventReader = Annotated[Principal, Depends(event_reader)]
EventWriter = Annotated[Principal, Depends(authenticator("events:write"))]
_WEBHOOK_SCOPE = route_scope(LOYALTY, "events:write")

# Patron's codes for event errors (Capillary publishes 1808, 1839 and 1849 only; the rest are
# ours, in the same range, listed in docs/compat/loyalty.md).
EVENT_CODES = {
    "invalid_definition": 1801,
    "event_exists": 1802,
    "transformer_not_present": 1808,
    "event_not_found": 1810,
    "missing_field": 1811,
    "invalid_field_type": 1812,
    "undeclared_field": 1813,
    "customer_not_found": 1814,
    "invalid_event_time": 1815,
    "batch_too_large": 1816,
    "invalid_event": 1818,
    "invalid_source": 1819,
    "invalid_till": 1820,
    "auth_mechanism_not_present": 1839,
}
ACCEPTED = {"code": 1100, "message": "Event is pushed to transformation state"}
MAX_PAGE = 100


def _ok(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON)


def _code(exc: PatronError) -> int:
    return EVENT_CODES.get(exc.reason, exc.status)


def _error_with_data(exc: PatronError) -> Response:
    """An error of a route whose answers carry `data`: `{"data": null, "warnings", "errors"}`."""
    return _ok({"data": None, "warnings": [], "errors": [item(_code(exc), exc.message)]},
               exc.status if exc.status != 409 else 400)


def _meta(d: Definition) -> dict[str, Any]:
    return {"clickEventsMeta": {"eventId": d.id, "eventName": d.name,
                                "description": d.description, "actions": d.actions,
                                "fields": d.fields}}


async def _json_object(request: Request) -> dict[str, Any]:
    body = request_json(await request.body())
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object")
    return body


@router.post("/v2/events")
async def create_event(request: Request, svc: Svc, who: EventWriter) -> Response:
    try:
        definition = await svc.events.define(who.org_id, await _json_object(request))
    except PatronError as exc:
        return _error_with_data(exc)
    return _ok({"data": _meta(definition), "warnings": [], "errors": []})


@router.put("/v2/events")
async def update_event(request: Request, svc: Svc, who: EventWriter) -> Response:
    try:
        definition = await svc.events.redefine(who.org_id, await _json_object(request))
    except PatronError as exc:
        return _error_with_data(exc)
    return _ok({"data": _meta(definition), "warnings": [], "errors": []})


@router.get("/v2/events")
async def list_events(svc: Svc, who: EventReader) -> Response:
    definitions = await svc.events.definitions(who.org_id)
    return _ok({"data": [_meta(d) for d in definitions], "warnings": [], "errors": []})


@router.post("/v2/events/webhook")
@not_replayed  # its answer holds the webhook's secret token
async def add_webhook(request: Request, svc: Svc, who: EventWriter) -> Response:
    body = await _json_object(request)
    auth_enabled = body.get("authEnabled", False) is True
    try:
        token, _ = await svc.events.add_webhook(
            who.org_id, transformer=body.get("transformerType"), till_code=body.get("tillCode"),
            default_till_id=who.till_id, auth_enabled=auth_enabled,
            auth_mechanism=body.get("authMechanism"),
            uniqueness_check=body.get("uniquenessCheckEnabled", False) is True)
    except PatronError as exc:
        return _ok({"errors": [item(_code(exc), exc.message)], "warnings": []}, exc.status)
    base = base_url(request, svc)
    return _ok({"webHookUri": f"{base}/webhooks/{token}",
                "transformerType": body.get("transformerType"),
                "tillCode": body.get("tillCode"), "authEnabled": auth_enabled,
                "authMechanism": body.get("authMechanism") if auth_enabled else None,
                "uniquenessCheckEnabled": body.get("uniquenessCheckEnabled", False) is True,
                "warnings": []})


async def _webhook_caller(request: Request, svc: Any, hook: Webhook) -> None:
    """A webhook with auth enabled takes the organisation's own loyalty credentials."""
    if not hook.auth_enabled:
        return
    token = request.headers.get("x-cap-api-oauth-token")
    header = request.headers.get("authorization", "")
    # The mechanism the webhook was set up with is the only one it takes.
    if hook.auth_mechanism == "OAuth" and token:
        found = await svc.auth.bearer_token(token, LOYALTY)
    elif hook.auth_mechanism == "Basic" and header[:6].lower() == "basic ":
        found = await svc.auth.till_basic(header)
    else:
        raise Unauthorized(f"this webhook takes {hook.auth_mechanism} credentials")
    admit(found, LOYALTY, _WEBHOOK_SCOPE, svc.limiter)
    if found.org_id != hook.org_id:
        raise NotFound("webhook not found")


@router.post("/webhooks/{token}")
async def post_event(token: str, request: Request, svc: Svc) -> Response:
    hook = await svc.events.webhook(token)
    await _webhook_caller(request, svc, hook)
    try:
        body = request_json(await request.body(), reason="invalid_event")
        batch = isinstance(body, list)
        if batch and not body:
            raise ValidationFailed("an empty batch", reason="invalid_event")
        lineage_start = request.headers.get("x-cap-lineage-start", "")
        results = await svc.events.ingest(
            hook, body if batch else [body], lineage_id=request.headers.get("x-cap-lineage-id"),
            lineage_start=int(lineage_start) if digits(lineage_start) else None)
    except ValidationFailed as exc:  # the whole request: answered with the event codes
        return _ok({"errors": [item(_code(exc), exc.message)], "warnings": []}, exc.status)
    answers = []
    for r in results:
        if r.error is None:
            answers.append({"status": ACCEPTED, "requestId": r.request_id})
        else:
            answers.append({"status": {"code": _code(r.error), "message": r.error.message},
                            "requestId": None})
    failed = sum(1 for r in results if r.error is not None)
    status = 200 if failed == 0 else (201 if failed < len(results) and batch else 400)
    return _ok(answers if batch else answers[0], status)


def _render_event(org_id: int, event: StoredEvent) -> dict[str, Any]:
    row = event.row
    request_id = row["request_id"]
    stored = loads(row["attributes"])
    attributes = {
        **{k: v for k, v in stored.items() if k != "accountId"},
        "accountId": stored.get("accountId"),
        "autoUpdateTimeStamp": row["received_at"],
        "customerId": str(row["customer_id"]),
        "displayName": None,
        "eventDateTime": str(row["occurred_at"]),
        "eventDateTimeInputOffset": row["input_offset"],
        "eventName": row["event_name"],
        "isDuplicate": bool(row["is_duplicate"]),
        "orgId": org_id,
        "ouTillCode": event.till_code,
        "requestId": request_id,
        "source": row["source"],
        "source_till_id": row["till_id"],
        "source_user_id": row["customer_id"],
        "uniqueId": request_id,
        "x-cap-lineage-id": request_id,
        "x-cap-lineage-start": str(row["lineage_start"]),
    }
    if row["external_event_id"] is not None:
        attributes["external_event_id"] = row["external_event_id"]
    return {
        "orgId": org_id,
        "userId": row["customer_id"],
        "date": iso_utc(row["received_at"]),
        "eventName": row["event_name"],
        "eventId": request_id,
        "source": row["source"],
        "tillCode": None if row["till_id"] is None else str(row["till_id"]),
        "additonalAttributes": dict(sorted(attributes.items())),
        "psiAttributes": loads(row["psi_fields"]),
        "uniqueId": request_id,
    }


@router.plain_get("/v2/events/event_data", openapi_extra=query_parameters(("id", True)))
async def event_data(request: Request) -> Response:
    who = await event_reader(request)
    id = request.query_params.get("id")  # noqa: A001 - Capillary's parameter name
    if not id:  # answered with `data`, as the route's answers carry it (seed 004)
        return _error_with_data(ValidationFailed("id is required", field="id"))
    event = await request.app.state.services.events.get(who.org_id, id)
    data = [] if event is None else [_render_event(who.org_id, event)]
    return _ok({"data": data, "warnings": [], "errors": []})


def _instant(value: str | None, default: int, name: str, zone: tzinfo) -> int:
    if value is None or value == "":
        return default
    if digits(value):
        return int(value)
    try:
        return parse_iso(value, zone)
    except ValueError:
        raise ValidationFailed(f"{name} must be epoch milliseconds or ISO 8601",
                               field=name) from None


@router.get("/v2/events/event_data/{user_id}")
async def customer_events(
    user_id: str, svc: Svc, who: EventReader,
    eventName: str | None = None,  # noqa: N803 - Capillary's parameter names
    startDate: str | None = None,  # noqa: N803
    endDate: str | None = None,  # noqa: N803
    includeDuplicates: bool = False,  # noqa: N803
    limit: int = 10,
    offset: int = 0,
) -> Response:
    if not digits(user_id):
        raise NotFound("Customer not found for the given identifiers",
                       reason="customer_not_found")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationFailed(f"limit must be 1..{MAX_PAGE} and offset >= 0", field="limit")
    customer_id = await svc.customers.resolve(who.org_id, "id", user_id)
    zone = await org_zone(svc, who.org_id, startDate, endDate)
    events, total = await svc.events.for_customer(
        who.org_id, customer_id, start=_instant(startDate, 0, "startDate", zone),
        end=_instant(endDate, LATEST_EVENT + 1, "endDate", zone), event_name=eventName,
        include_duplicates=includeDuplicates, limit=limit, offset=offset)
    return _ok({"data": [_render_event(who.org_id, e) for e in events],
                "pagination": {"limit": limit, "offset": offset, "total": total},
                "warnings": [], "errors": []})
