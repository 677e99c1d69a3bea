"""The loyalty face's user groups: Capillary's userGroup2 routes (create, update, details with
the group's pooled points, delete, join, leave, members), over `patron.groups`
(docs/compat/loyalty.md, "User groups").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patron.customers.models import SOURCES
from patron.errors import NotFound, PatronError, ValidationFailed
from patron.faces import FaceRouter, Svc, TextOrNumber, digits
from patron.faces.loyalty import render
from patron.faces.loyalty.errors import CODES, item
from patron.faces.loyalty.routes import (
    Reader,
    Writer,
    _count,
    _flag,
    _moment,
    bulk_answer,
    ok,
    org_zone,
)
from patron.groups.service import GroupInput, GroupRef
from patron.jsonio import loads

router = FaceRouter(tags=["loyalty (Capillary)"])

MAX_JOIN = 100
MEMBERS_DEFAULT_LIMIT, MEMBERS_MAX_LIMIT = 20, 1000


class GroupBody(BaseModel):
    """Create (`externalId`, `groupName`, `maxGroupSize`, `extendedFields`) and update (the same,
    and `id`) bodies."""

    model_config = ConfigDict(extra="ignore")
    id: TextOrNumber | None = None
    externalId: str | None = Field(None, max_length=1000)
    groupName: str | None = Field(None, max_length=1000)
    maxGroupSize: int | None = None
    extendedFields: dict[str, Any] | None = None

    def to_input(self) -> GroupInput:
        return GroupInput(self.externalId, self.groupName, self.maxGroupSize,
                          self.extendedFields)


class JoinBody(BaseModel):
    """One element of a join request's array."""

    model_config = ConfigDict(extra="ignore")
    userId: TextOrNumber | None = None
    primaryMember: bool = False
    defaultGroup: bool = False
    permissions: list[str] = Field(default_factory=list, max_length=10)


def _missing(name: str) -> ValidationFailed:
    return ValidationFailed(f"Field {name} is mandatory", reason="group_field_missing",
                            field=name)


def _group_id(raw: Any) -> int:
    """A group id as a request gives it; anything that cannot be one names no group."""
    text = str(raw).strip()
    if not digits(text):
        raise NotFound(f"Group id/externalId/primary userId {text} passed is not valid",
                       reason="group_not_found")
    return int(text)


def _query_ref(params: Any) -> GroupRef:
    """`id=` or `externalId=` (the first given wins)."""
    raw_id = (params.get("id") or "").strip()
    if raw_id:
        return GroupRef(id=_group_id(raw_id))
    external = (params.get("externalId") or "").strip()
    if external:
        return GroupRef(external_id=external)
    raise ValidationFailed("Group query param is not passed", reason="group_ref_missing")


def _body_ref(body: GroupBody) -> GroupRef:
    if body.id is not None and str(body.id).strip():
        return GroupRef(id=_group_id(body.id))
    if body.externalId and body.externalId.strip():
        return GroupRef(external_id=body.externalId.strip())
    raise ValidationFailed("Group details not passed", reason="group_details_missing")


def _source(params: Any) -> str:
    source = (params.get("source") or "").strip()
    if not source:
        raise _missing("source")
    if source.upper() not in SOURCES:
        raise ValidationFailed("Invalid source", reason="invalid_source")
    return source.upper()


@router.post("/v2/userGroup2")
async def create_group(svc: Svc, who: Writer, body: GroupBody) -> Response:
    group_id = await svc.groups.create(who.org_id, body.to_input(), who.till_id)
    return ok({"entity": group_id, "warnings": []})


@router.put("/v2/userGroup2")
async def update_group(svc: Svc, who: Writer, body: GroupBody) -> Response:
    ref = _body_ref(body)
    group = await svc.groups.update(who.org_id, ref, body.to_input())
    return ok({"id": group.id, "groupName": group.name, "maxGroupSize": group.max_size,
               "warnings": []})


@router.get("/v2/userGroup2")
async def get_group(request: Request, svc: Svc, who: Reader) -> Response:
    details = await svc.groups.details(who.org_id, _query_ref(request.query_params))
    return ok(render.group_details(details))


@router.delete("/v2/userGroup2")
async def delete_group(request: Request, svc: Svc, who: Writer) -> Response:
    await svc.groups.delete(who.org_id, _query_ref(request.query_params))
    return ok({"warnings": []})


@router.post("/v2/userGroup2/join")
async def join_group(request: Request, svc: Svc, who: Writer,
                     body: Annotated[list[Any], Body()]) -> Response:
    """Each element joins on its own; the answer has one result per element, in order."""
    if len(body) > MAX_JOIN:
        raise ValidationFailed(f"Exceeded maximum limit size of {MAX_JOIN}",
                               reason="batch_too_large")
    group = await svc.groups.find(who.org_id, _query_ref(request.query_params))
    results, failures = [], 0
    for raw in body:
        try:
            if not isinstance(raw, dict):
                raise ValidationFailed("Group details passed are not valid",
                                       reason="group_details_invalid")
            try:
                entry = JoinBody.model_validate(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                raise ValidationFailed(f"{where}: {first['msg']}", field=where) from None
            if entry.userId is None or str(entry.userId).strip() == "":
                raise _missing("userId")
            user_id = str(entry.userId).strip()
            if not digits(user_id):
                raise NotFound("Customer not found for the given identifiers",
                               reason="customer_not_found")
            joined = await svc.groups.join(
                who.org_id, group.id, int(user_id), primary=entry.primaryMember,
                default_group=entry.defaultGroup, permissions=entry.permissions,
                till_id=who.till_id)
        except PatronError as exc:
            failures += 1
            results.append({"result": raw, "errors": [
                item(CODES.get(exc.reason, exc.status), exc.message)], "warnings": []})
            continue
        echo = {"userId": joined.customer_id, "groupId": joined.group_id,
                "permissions": joined.permissions, "defaultGroup": joined.default_group,
                "active": joined.active, "primaryMember": joined.primary_member}
        results.append({"entityId": echo, "result": dict(echo), "warnings": []})
    return bulk_answer(results, failures)


@router.delete("/v2/userGroup2/{group_id}/leave")
async def leave_group(group_id: str, request: Request, svc: Svc, who: Writer) -> Response:
    params = request.query_params
    _source(params)
    name, value = params.get("identifierName"), params.get("identifierValue")
    if not name:
        raise _missing("identifierName")
    if not value:
        raise _missing("identifierValue")
    group = await svc.groups.find(who.org_id, GroupRef(id=_group_id(group_id)))
    customer_id = await svc.customers.resolve(who.org_id, name, value)
    await svc.groups.leave(who.org_id, group.id, customer_id)
    return ok({"warnings": [], "errors": [], "success": True})


@router.get("/v2/userGroup2/members")
async def group_members(request: Request, svc: Svc, who: Reader) -> Response:
    """The group's current members (`identifierName=id|externalId`, `identifierValue`)."""
    params = request.query_params
    _source(params)
    name = (params.get("identifierName") or "").strip().lower()
    value = (params.get("identifierValue") or "").strip()
    if not name or not value:
        raise ValidationFailed("Group query param is not passed", reason="group_ref_missing")
    if name == "id":
        ref = GroupRef(id=_group_id(value))
    elif name == "externalid":
        ref = GroupRef(external_id=value)
    else:
        raise ValidationFailed("identifierName must be id or externalId",
                               reason="group_ref_missing", field="identifierName")
    sort_by = (params.get("sortBy") or "IS_PRIMARY").strip().upper()
    if sort_by != "IS_PRIMARY":
        raise ValidationFailed("sortBy must be IS_PRIMARY", field="sortBy")
    order = (params.get("sortOrder") or "DESC").strip().upper()
    if order not in ("ASC", "DESC"):
        raise ValidationFailed("sortOrder must be ASC or DESC", field="sortOrder")
    limit = _count(params, "limit", MEMBERS_DEFAULT_LIMIT, 1, MEMBERS_MAX_LIMIT)
    offset = _count(params, "offset", 0, 0, 10_000_000)
    zone = await org_zone(svc, who.org_id, params.get("fromDate"), params.get("toDate"))
    joined_from = _moment(params, "fromDate", end=False, zone=zone)
    joined_to = _moment(params, "toDate", end=True, zone=zone)
    with_cards = _flag(params, "includeCardDetails")
    _flag(params, "includeStatusDetails")  # accepted; Patron has no member status details
    _flag(params, "paginationDetails")  # accepted; `pagination` is always given
    group = await svc.groups.find(who.org_id, ref)
    rows, total = await svc.groups.members(
        who.org_id, group, primary_first=order == "DESC", joined_from=joined_from,
        joined_to=joined_to, limit=limit, offset=offset)
    data = []
    for r in rows:
        primary = bool(r["primary_member"])
        member = {
            "fleetUserId": r["customer_id"], "firstName": r["first_name"] or "",
            "lastName": r["last_name"] or "", "joinedOn": render.day(r["joined_at"]),
            "permissions": ",".join(loads(r["permissions"])),
            "pointsContributed": render.points_value(int(r["points"])),
            "email": r["email"], "mobile": r["mobile"],
            "role": "PRIMARY" if primary else "SECONDARY",
            "identifiers": [{"type": i["type"], "value": i["value"]}
                            for i in loads(r["identifiers"] or "[]")],
            "inActive": True, "primaryMember": primary}
        if with_cards:
            member["cards"] = [render.card(c) for c in
                               await svc.cards.of_customer(who.org_id, r["customer_id"])]
        data.append(member)
    return ok({"pagination": {"limit": limit, "offset": offset, "sortBy": "IS_PRIMARY",
                              "sortOrder": order, "total": total},
               "data": data, "warnings": [], "errors": []})
