"""The workspace face: Linquid's customers API (`/api/customers...`), over API keys with scopes.

List, count, get (by id or `ext_<externalId>`), create-or-upsert by external id, update and
soft delete. Shapes and every choice the public docs leave open: docs/compat/workspace.md.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from patron.auth.guard import admit
from patron.auth.service import WORKSPACE, Principal, route_scope
from patron.customers import normalize
from patron.customers.models import Provenance
from patron.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from patron.faces import FaceRouter, Svc, authentication
from patron.faces.workspace import render
from patron.faces.workspace.bodies import CreateBody, CustomerFields
from patron.faces.workspace.errors import JSON
from patron.jsonio import dumps
from patron.services import Services

router = FaceRouter(prefix="/api", tags=["workspace (Linquid)"])

MAX_LIMIT = 100
MAX_PAGE = 10_000_000  # keeps the offset a bigint
MAX_KEY_LENGTH = 256
MISSING_KEY = "Invalid or missing API key"
T = TypeVar("T")


def _api_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            key = header[7:].strip()
    return key or None


def principal(scope: str) -> Any:
    scope = route_scope(WORKSPACE, scope)

    async def authenticate(request: Request) -> Principal:
        svc: Services = request.app.state.services
        key = _api_key(request)
        if key is None:
            raise Unauthorized(MISSING_KEY)
        if len(key) > MAX_KEY_LENGTH:
            raise Unauthorized(MISSING_KEY, reason="invalid_api_key")
        return admit(await svc.auth.api_key(key), WORKSPACE, scope, svc.limiter)

    return Depends(authentication(authenticate))


Reader = Annotated[Principal, principal("links:read")]
Creator = Annotated[Principal, principal("links:create")]
Updater = Annotated[Principal, principal("links:update")]
Deleter = Annotated[Principal, principal("links:delete")]


def ok(data: Any, status: int = 200, **extra: Any) -> Response:
    return Response(dumps({"success": True, "data": data, **extra}), status_code=status,
                    media_type=JSON)


def _not_found() -> NotFound:
    return NotFound("Customer not found", reason="customer_not_found")


class CustomerRef(Convertor[str]):
    """A customer in a path: its numeric id, or `ext_` and its external id, which may hold
    slashes (sent as `%2F`, which the server decodes before routing)."""

    regex = "ext_.+|[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("customer_ref", CustomerRef())


async def _customer_id(svc: Services, org_id: int, raw: str) -> int:
    """A numeric id, or `ext_<externalId>` resolved through the identifier registry."""
    if raw.startswith("ext_"):
        try:
            return await svc.customers.resolve(org_id, "externalId", raw[4:])
        except NotFound:
            raise _not_found() from None
    customer_id = normalize.customer_id(raw)
    if customer_id is None:
        raise _not_found()
    return customer_id


async def _shown(svc: Services, org_id: int, customer_id: int) -> dict[str, Any]:
    return render.customer(await svc.customers.get_listed(org_id, customer_id,
                                                          with_profile=True))


_CONFLICT_FIELDS = {"externalId": "externalId", "email": "email", "mobile": "phone"}


async def _written(write: Awaitable[T]) -> T:
    """A domain write, its conflicts and misses said in this face's words."""
    try:
        return await write
    except Conflict as exc:
        if exc.reason == "identifier_conflict" and exc.field == "externalId":
            raise Conflict("externalId already belongs to another customer",
                           reason="duplicate_external_id", field="externalId") from None
        field = _CONFLICT_FIELDS.get(exc.field or "")
        what = field or "email or phone"
        raise Conflict(f"{what} already belongs to another customer", field=field) from None
    except NotFound:
        raise _not_found() from None


def _sort_order(value: str) -> bool:
    order = value.strip().lower()
    if order not in ("asc", "desc"):
        raise ValidationFailed("sortOrder must be asc or desc", field="sortOrder")
    return order == "desc"


@router.get("/customers")
async def list_customers(
    svc: Svc, who: Reader,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    sortOrder: Annotated[str, Query(  # noqa: N803 - Linquid's parameter name
        json_schema_extra={"enum": ["asc", "desc"]}, description="any case")] = "desc",
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    descending = _sort_order(sortOrder)
    rows, total = await svc.customers.listed(who.org_id, search=search, descending=descending,
                                             limit=limit, offset=(page - 1) * limit,
                                             with_profile=True)
    return ok([render.customer(r) for r in rows], pagination={
        "total": total, "page": page, "limit": limit, "hasMore": page * limit < total,
        "totalPages": math.ceil(total / limit)})


@router.get("/customers/count")
async def count_customers(svc: Svc, who: Reader) -> Response:
    return ok({"count": await svc.customers.count(who.org_id)})


@router.get("/customers/{customer_id:customer_ref}")
async def get_customer(customer_id: str, svc: Svc, who: Reader) -> Response:
    found = await _customer_id(svc, who.org_id, customer_id)
    return ok(await _shown(svc, who.org_id, found))


@router.post("/customers", responses={
    201: {"description": "Created (200: an existing customer with this externalId, updated)"}})
async def create_customer(svc: Svc, who: Creator, body: CreateBody) -> Response:
    write = body.to_write()
    external_id = body.external_id()
    assert external_id is not None  # CreateBody.to_write checked it
    written = await _written(svc.customers.upsert_external(
        who.org_id, external_id, write.data, Provenance(who.till_id, svc.clock.now_ms()),
        replace_types=write.replace_types))
    return ok(await _shown(svc, who.org_id, written.customer_id),
              201 if written.created else 200)


@router.patch("/customers/{customer_id:customer_ref}")
async def update_customer(customer_id: str, svc: Svc, who: Updater,
                          body: CustomerFields | None = None) -> Response:
    found = await _customer_id(svc, who.org_id, customer_id)
    write = (body or CustomerFields()).to_write()  # no body: nothing changes
    data = write.data
    if (data.profiles or data.click_id is not None or data.avatar is not None
            or data.metadata is not None):
        await _written(svc.customers.update(
            who.org_id, found, data, Provenance(who.till_id, svc.clock.now_ms()),
            replace_types=write.replace_types))
    return ok(await _shown(svc, who.org_id, found))


@router.delete("/customers/{customer_id:customer_ref}")
async def delete_customer(customer_id: str, svc: Svc, who: Deleter) -> Response:
    found = await _customer_id(svc, who.org_id, customer_id)
    await _written(svc.privacy.delete_customer(who.org_id, found))
    return ok({"id": found, "deleted": True})
