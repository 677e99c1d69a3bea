"""Patron's native API: records in (`POST /patron/v1/records`), a customer's engagement out.

Authenticated with the workspace face's API keys (`X-API-Key` or `Authorization: Bearer`) and
their `engagement:write` / `engagement:read` scopes. Record kinds and fields: docs/engagement.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response

from patron.auth.service import Principal
from patron.clock import iso_utc
from patron.customers.models import Provenance
from patron.engagement.models import RECORD
from patron.engagement.service import FAILED, Outcome
from patron.errors import NotFound, ValidationFailed
from patron.faces import FaceRouter, Svc, digits, request_json, schema_of
from patron.faces.native.errors import JSON, error_object
from patron.faces.workspace.routes import principal
from patron.jsonio import dumps

router = FaceRouter(prefix="/patron/v1", tags=["native"])

Reader = Annotated[Principal, principal("engagement:read")]
Writer = Annotated[Principal, principal("engagement:write")]


def _result(outcome: Outcome) -> dict[str, Any]:
    out: dict[str, Any] = {"index": outcome.index, "kind": outcome.kind, "id": outcome.id,
                           "status": outcome.status}
    if outcome.entity_id is not None:
        out["entityId"] = outcome.entity_id
    if outcome.error is not None:
        out["error"] = error_object(outcome.error)
    return out


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "applied": 0, "duplicate": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts


# What `POST /records` takes and answers, for the OpenAPI document (docs/engagement.md).
_RECORD = schema_of(RECORD)
_ERROR = {"type": "object", "required": ["code", "message"], "properties": {
    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}
_RESULT = {"type": "object", "required": ["index", "kind", "id", "status"], "properties": {
    "index": {"type": "integer"}, "kind": {"type": ["string", "null"]},
    "id": {"type": ["string", "null"]},
    "status": {"enum": ["created", "updated", "applied", "duplicate", "failed"]},
    "entityId": {"type": "integer"}, "error": _ERROR}}
_BATCH_RESULT = {"type": "object", "required": ["results", "summary"], "properties": {
    "results": {"type": "array", "items": _RESULT},
    "summary": {"type": "object", "properties": {
        s: {"type": "integer"} for s in ("created", "updated", "applied", "duplicate",
                                         "failed")}}}}
_FAILED = {"description": "The request, or the single record, failed",
           "content": {JSON: {"schema": {"anyOf": [  # a failed record's result has `error` too
               {"type": "object", "required": ["error"], "properties": {"error": _ERROR}},
               _RESULT]}}}}


@router.post("/records", summary="Record one engagement record, or a batch of up to 1,000",
             openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": {
                 "oneOf": [_RECORD,
                           {"type": "object", "properties": {"records": {
                               "type": "array", "items": _RECORD, "minItems": 1,
                               "maxItems": 1000}}, "required": ["records"]}],
             }}}}},
             responses={
                 200: {"description": "The single record's result (updated, applied or a "
                                      "duplicate), or a batch's results",
                       "content": {JSON: {"schema": {"oneOf": [_RESULT, _BATCH_RESULT]}}}},
                 201: {"description": "The single record was created",
                       "content": {JSON: {"schema": _RESULT}}},
                 400: _FAILED, 404: _FAILED, 409: _FAILED})
async def post_records(request: Request, svc: Svc, who: Writer) -> Response:
    """A record is a JSON object with a `kind`; a batch is `{"records": [...]}`. A single record
    answers its result (201 created, 200 otherwise, or its error status); a batch answers 200
    with one result per record in `results` and the counts in `summary`."""
    body = request_json(await request.body())
    if not isinstance(body, dict):
        raise ValidationFailed("the body is a record or {\"records\": [...]}")
    prov = Provenance(None, svc.clock.now_ms())
    if "records" in body and "kind" not in body:
        records = body["records"]
        if not isinstance(records, list) or not records:
            raise ValidationFailed("records must be a non-empty array", field="records")
        outcomes = await svc.engagement.ingest(who.org_id, records, prov)
        return Response(dumps({"results": [_result(o) for o in outcomes],
                               "summary": summary(outcomes)}), media_type=JSON)
    (outcome,) = await svc.engagement.ingest(who.org_id, [body], prov)
    if outcome.status == FAILED and outcome.error is not None:
        status = outcome.error.status
    else:
        status = 201 if outcome.status == "created" else 200
    return Response(dumps(_result(outcome)), status_code=status, media_type=JSON)


@router.get("/customers/{customer_id}/engagement",
            summary="A customer's subscriptions, e-mail state, health and engagement facts")
async def customer_engagement(customer_id: str, svc: Svc, who: Reader) -> Response:
    if not digits(customer_id):
        raise NotFound("Customer not found", reason="customer_not_found")
    record = await svc.customers.get(who.org_id, int(customer_id))
    found = await svc.engagement.profile(who.org_id, record.id)
    row = found["row"]

    def at(name: str) -> str | None:
        return None if row is None else iso_utc(row[name])

    facts: dict[str, list[dict[str, Any]]] = {}
    for fact in found["facts"]:
        facts.setdefault(fact["kind"], []).append(
            {"ref": fact["ref_id"], "state": fact["state"], "at": iso_utc(fact["occurred_at"])})
    customer = record.row
    return Response(dumps({
        "customerId": record.id,
        "ndncStatus": customer["ndnc_status"],
        "optinStatus": customer["optin_status"],
        "subscriptions": [{"channel": s["channel"], "priority": s["priority"],
                           "type": s["status"], "sourceName": s["source"],
                           "accountId": s["account_id"], "reason": s["reason"],
                           "changedAt": iso_utc(s["changed_at"])}
                          for s in found["subscriptions"]],
        "email": {
            "status": found["email_status"],
            "subscribedAt": at("subscribed_at"),
            "unsubscribedAt": at("unsubscribed_at"),
            "manuallyUnsubscribedAt": at("manually_unsubscribed_at"),
            "optedOutAt": at("opted_out_at"),
            "suppressed": found["suppressed"],
            "suppressedAt": at("suppressed_at"),
            "unsuppressedAt": at("unsuppressed_at"),
            "hardBouncing": customer["bounced_at"] is not None,
            "hardBouncedAt": iso_utc(customer["bounced_at"]),
            "complainedAt": at("complained_at"),
            "lastDeliveredAt": at("last_delivered_at"),
            "lastOpenedAt": at("last_opened_at"),
            "lastClickedAt": at("last_clicked_at"),
            "health": found["health"],
        },
        "signInCount": customer["sign_in_count"],
        "lastRequestAt": iso_utc(customer["last_request_at"]),
        "facts": facts,
    }), media_type=JSON)
