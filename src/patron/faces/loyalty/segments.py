"""Patron's own loyalty-face routes for what Capillary does only in its UI or by file import:
segments with partitions and their members (Insights+ segment upload), and a customer's fraud
status (MemberCare). Capillary's envelopes, codes and naming; docs/compat/loyalty.md, "Segments"
and "Fraud status".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from patron.customers.fraud import FraudStatus
from patron.errors import ValidationFailed
from patron.faces import FaceRouter, Svc, path_id
from patron.faces.loyalty import render
from patron.faces.loyalty.errors import CODES, item
from patron.faces.loyalty.routes import Reader, Writer, _customer_id, bulk_answer, looked_up, ok
from patron.segments.service import MAX_ASSIGN_BATCH, segment_not_found

router = FaceRouter(tags=["loyalty (Patron)"])


class SegmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    description: str = Field("", max_length=1000)
    partitions: list[str]  # 1 to 100, the domain's rule (92004); the body cap bounds the list


class SegmentChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=1000)
    partitions: list[str] | None = None


def _segment_id(raw: str) -> int:
    return path_id(raw, segment_not_found)


@router.post("/v2/segments")
async def create_segment(svc: Svc, who: Writer, body: SegmentBody) -> Response:
    segment = await svc.segments.create(who.org_id, body.name, body.description, body.partitions)
    return ok({"entity": segment.id, "data": render.segment_view(segment), "warnings": []})


@router.get("/v2/segments")
async def list_segments(svc: Svc, who: Reader) -> Response:
    return ok({"data": [render.segment_view(s) for s in await svc.segments.listed(who.org_id)],
               "warnings": []})


@router.get("/v2/segments/{segment_id}")
async def get_segment(segment_id: str, svc: Svc, who: Reader) -> Response:
    segment = await svc.segments.get(who.org_id, _segment_id(segment_id))
    return ok({"data": render.segment_view(segment), "warnings": []})


@router.put("/v2/segments/{segment_id}")
async def change_segment(segment_id: str, svc: Svc, who: Writer,
                         body: SegmentChangeBody) -> Response:
    segment, removed = await svc.segments.update(
        who.org_id, _segment_id(segment_id), name=body.name, description=body.description,
        partitions=body.partitions)
    return ok({"data": render.segment_view(segment), "membersRemoved": removed,
               "warnings": []})


@router.post("/v2/segments/{segment_id}/members")
async def assign_members(segment_id: str, svc: Svc, who: Writer,
                         body: Annotated[list[Any], Body()]) -> Response:
    """The segment upload's rows as JSON: `[{"mobile": "447009000001", "value": "High"}]`,
    answered in Capillary's bulk envelope, one entry per row in order."""
    if len(body) > MAX_ASSIGN_BATCH:
        raise ValidationFailed(f"Batch limit exceeded: at most {MAX_ASSIGN_BATCH} rows",
                               reason="batch_too_large")
    outcomes = await svc.segments.assign(who.org_id, _segment_id(segment_id), body)
    results: list[dict[str, Any]] = []
    failures = 0
    for outcome in outcomes:
        if outcome.error is None:
            results.append({"entityId": outcome.customer_id,
                            "result": {**outcome.row, "partition": outcome.partition},
                            "errors": [], "warnings": []})
        else:
            failures += 1
            results.append({"result": outcome.row, "errors": [
                item(CODES.get(outcome.error.reason, outcome.error.status),
                     outcome.error.message)], "warnings": []})
    return bulk_answer(results, failures)


@router.delete("/v2/segments/{segment_id}/members/{customer_id}")
async def remove_member(segment_id: str, customer_id: str, svc: Svc, who: Writer) -> Response:
    sid, cid = _segment_id(segment_id), _customer_id(customer_id)
    partition = await svc.segments.remove(who.org_id, sid, cid)
    return ok({"segmentId": sid, "customerId": cid, "partition": partition, "warnings": []})


# -- fraud status ----------------------------------------------------------------------------

class FraudStatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(max_length=40)
    reason: str = Field("", max_length=255)


def _fraud_answer(customer_id: int, fraud: FraudStatus) -> Response:
    return ok({"customerId": customer_id, "fraudDetails": render.fraud_details(fraud),
               "warnings": []})


# Declared before the by-id route so that `lookup` is not taken for a customer id.
@router.put("/v2/customers/lookup/fraudStatus")
async def set_fraud_status_by_lookup(request: Request, svc: Svc, who: Writer,
                                     body: FraudStatusBody) -> Response:
    customer_id, _ = await looked_up(svc, who.org_id, request.query_params)
    return _fraud_answer(customer_id, await svc.fraud.set_status(
        who.org_id, customer_id, body.status, who.till_id))


@router.put("/v2/customers/{customer_id}/fraudStatus")
async def set_fraud_status(customer_id: str, svc: Svc, who: Writer,
                           body: FraudStatusBody) -> Response:
    cid = _customer_id(customer_id)
    return _fraud_answer(cid, await svc.fraud.set_status(who.org_id, cid, body.status,
                                                         who.till_id))
