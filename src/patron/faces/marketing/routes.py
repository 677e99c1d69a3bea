"""The marketing face: Kajabi Public API v1 (JSON:API) OAuth, me, version, sites and customers.

Choices where the spec is silent or the store differs are listed in docs/compat/marketing.md.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from patron.auth.guard import admit
from patron.auth.service import MARKETING, Principal, route_scope
from patron.errors import DatabaseUnavailable, NotFound, PatronError, Unauthorized, ValidationFailed
from patron.faces import FaceRouter, Svc, authentication, base_url, query_parameters
from patron.faces.marketing import params, render
from patron.faces.marketing.errors import JSONAPI, render_token_error
from patron.jsonio import dumps, loads
from patron.services import Services
from patron.tenancy.site_listing import listed_sites


class JSONAPIResponse(Response):
    """The resource routes' answers (`ok`), declared as such in the OpenAPI document."""

    media_type = JSONAPI


router = FaceRouter(tags=["marketing (Kajabi)"], default_response_class=JSONAPIResponse)

API_TITLE = "Patron marketing API (Kajabi API V1 compatible)"
API_VERSION = "1.1.0"  # the Kajabi OpenAPI version this face follows
CUSTOMER_SORTS = ("name", "email", "created_at", "net_revenue", "last_request_at")
CUSTOMER_INCLUDES = ("contact", "offers", "products")
SITE_SORTS = ("title", "subdomain")
MAX_ID_DIGITS = 18  # ids are 64-bit; longer strings cannot name anything


async def _bearer(request: Request) -> Principal:
    svc: Services = request.app.state.services
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header is missing or invalid")
    return await svc.auth.bearer_token(token, MARKETING)


_READ_SCOPE = route_scope(MARKETING, "customers:read")


@authentication
async def authenticate(request: Request) -> Principal:
    svc: Services = request.app.state.services
    return admit(await _bearer(request), MARKETING, _READ_SCOPE, svc.limiter)


Reader = Annotated[Principal, Depends(authenticate)]


def ok(body: Any, status: int = 200) -> Response:
    return JSONAPIResponse(dumps(body), status_code=status)


def _numeric_id(raw: str, message: str, field: str | None = None) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise NotFound(message, field=field)
    return int(raw)


# -- OAuth ---------------------------------------------------------------------------------


class _OAuthError(PatronError):
    """An RFC 6749 error code, rendered as `{"error": code}`."""


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            body = loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return {str(k): str(v) for k, v in body.items() if v is not None}
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    except (ValueError, UnicodeDecodeError, HTTPException):  # HTTPException: a malformed multipart
        raise _OAuthError("invalid_request") from None


def _basic_client(request: Request) -> tuple[str, str] | None:
    """client_id and client_secret from `Authorization: Basic` (RFC 6749 client_secret_basic)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _OAuthError("invalid_client", status=401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _OAuthError("invalid_client", status=401)
    return unquote(client_id), unquote(secret)


def _token_response(svc: Services, access: str, refresh: str) -> Response:
    body = {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": svc.settings.marketing_token_ttl_seconds}
    return Response(dumps(body), media_type="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post("/v1/oauth/token", response_class=JSONResponse)
async def oauth_token(request: Request, svc: Svc) -> Response:
    access_ttl = svc.settings.marketing_token_ttl_seconds
    refresh_ttl = svc.settings.marketing_refresh_ttl_seconds
    try:
        form = await _form(request)
        grant = form.get("grant_type", "").strip()
        if grant == "client_credentials":
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if not client_id and not secret:
                client_id, secret = _basic_client(request) or (None, None)
            if not client_id or not secret:
                raise _OAuthError("invalid_request")
            try:
                access, refresh = await svc.auth.marketing_tokens(client_id, secret, access_ttl,
                                                                  refresh_ttl)
            except Unauthorized:
                raise _OAuthError("invalid_client", status=401) from None
        elif grant == "refresh_token":
            token = form.get("refresh_token", "").strip()
            if not token:
                raise _OAuthError("invalid_request")
            try:
                access, refresh = await svc.auth.marketing_refresh(token, access_ttl, refresh_ttl)
            except Unauthorized:
                raise _OAuthError("invalid_grant") from None
        elif grant or "username" in form or "password" in form:
            # Kajabi's username/password sign-in (no grant_type) needs user accounts, which
            # this store does not have: API clients use client credentials.
            raise _OAuthError("unsupported_grant_type")
        else:
            raise _OAuthError("invalid_request")
    except PatronError as exc:
        return render_token_error(exc)
    return _token_response(svc, access, refresh)


@router.post("/v1/oauth/revoke", response_class=JSONResponse)
async def oauth_revoke(request: Request, svc: Svc) -> Response:
    try:
        try:
            who = await _bearer(request)
        except Unauthorized:
            raise _OAuthError("invalid_token", status=401) from None
        svc.limiter.hit(who.credential_id)
        token = (await _form(request)).get("token", "").strip()
        if not token:
            raise _OAuthError("invalid_request")
        try:
            await svc.auth.revoke_token(who, token)
        except Unauthorized:
            pass  # RFC 7009: an unknown, spent or foreign token is answered like a revoked one
    except PatronError as exc:
        return render_token_error(exc)
    return Response(status_code=200)


# -- me, version, sites --------------------------------------------------------------------


def _initials(name: str) -> str:
    words = name.split()
    if not words:
        return ""
    picked = words if len(words) == 1 else [words[0], words[-1]]
    return "".join(w[0] for w in picked).upper()


@router.get("/v1/me")
async def me(svc: Svc, who: Reader) -> Response:
    # There are no user accounts: the API client acts for its organisation, so "me" is the
    # credential (its id) named after the organisation; it has no email of its own ("": the
    # spec types email as a string).
    org = await svc.tenancy.org(who.org_id)
    return ok({"data": {"id": str(who.credential_id), "type": "users", "attributes": {
        "initials": _initials(org["name"]), "name": org["name"], "email": "",
        "role_level": "OWNER"}}})


@router.get("/v1/version")
async def version(request: Request, svc: Svc) -> Response:
    # As /readyz: any failure to answer means the service is unavailable (503, Retry-After).
    try:
        healthy = await svc.db.ping()
    except Exception:  # noqa: BLE001
        healthy = False
    if not healthy:
        raise DatabaseUnavailable()
    return ok({"meta": {"title": API_TITLE, "version": API_VERSION},
               "links": {"documentation": f"{base_url(request, svc)}/docs"},
               "jsonapi": {"version": "1.0", "specficiation": "https://jsonapi.org/format/1.0/"}})


@router.get("/v1/sites", openapi_extra=query_parameters(
    *params.paging_parameters(), params.sort_parameter(SITE_SORTS),
    params.fields_parameter("sites", render.SITE_ATTRIBUTES),
    *params.filter_parameters(*params.SITE_FILTERS)))
async def list_sites(request: Request, svc: Svc, who: Reader) -> Response:
    query = request.query_params
    page = params.page(query, svc.settings.max_page_size)
    column, descending = params.sort(query, SITE_SORTS, ("id", False))
    fields = params.fields(query, "sites", render.SITE_ATTRIBUTES)
    found = params.filters(query, params.SITE_FILTERS)
    sites, total = await listed_sites(
        svc.db, who.org_id, title_contains=found.get("title_cont"),
        subdomain_contains=found.get("subdomain_cont"), sort=column, descending=descending,
        limit=page.size, offset=page.offset)
    data = [render.site(s, fields) for s in sites]
    return ok(render.paged(data, base_url(request, svc), request.url.path, request.url.query,
                           page.number, page.size, total))


@router.get("/v1/sites/{site_id}", openapi_extra=query_parameters(
    params.fields_parameter("sites", render.SITE_ATTRIBUTES)))
async def show_site(site_id: str, request: Request, svc: Svc, who: Reader) -> Response:
    fields = params.fields(request.query_params, "sites", render.SITE_ATTRIBUTES)
    found = await svc.tenancy.site(who.org_id, _numeric_id(site_id, "no such site"))
    return ok({"data": render.site(found, fields), "links": _self_links(request, svc)})


def _self_links(request: Request, svc: Services) -> dict[str, str]:
    here = render.url(base_url(request, svc), request.url.path, request.url.query)
    return {"self": here, "current": here}


# -- customers -----------------------------------------------------------------------------


async def _site_scope(svc: Services, org_id: int, raw: str | None) -> int | None:
    """The site a listing is limited to. Kajabi requires filter[site_id] when an account has
    several sites; a site that is not this organisation's is a 404, as a missing one."""
    if raw is None:
        _, count = await svc.tenancy.sites(org_id, 0, 0)
        if count > 1:
            raise ValidationFailed("filter[site_id] is required when the account has several "
                                   "sites", reason="site_required", field="filter[site_id]")
        return None
    site_id = _numeric_id(raw.strip(), "no such site", "filter[site_id]")
    try:
        await svc.tenancy.site(org_id, site_id)
    except NotFound:
        raise NotFound("no such site", field="filter[site_id]") from None
    return site_id


async def _contacts(svc: Services, org_id: int, rows: list[Any],
                    fields: frozenset[str] | None) -> list[dict[str, Any]]:
    subscribed = await svc.engagement.email_subscribed(org_id, [int(r["id"]) for r in rows])
    return [render.contact(r, fields, int(r["id"]) in subscribed) for r in rows]


@router.get("/v1/customers", openapi_extra=query_parameters(
    *params.paging_parameters(), params.sort_parameter(CUSTOMER_SORTS),
    params.fields_parameter("customers", render.CUSTOMER_FIELDS),
    params.fields_parameter("contacts", render.CONTACT_ATTRIBUTES),
    params.include_parameter(CUSTOMER_INCLUDES),
    *params.filter_parameters(*params.CUSTOMER_FILTERS)))
async def list_customers(request: Request, svc: Svc, who: Reader) -> Response:
    query = request.query_params
    page = params.page(query, svc.settings.max_page_size)
    column, descending = params.sort(query, CUSTOMER_SORTS, ("created_at", True))
    fields = params.fields(query, "customers", render.CUSTOMER_FIELDS)
    contact_fields = params.fields(query, "contacts", render.CONTACT_ATTRIBUTES)
    include = params.includes(query, CUSTOMER_INCLUDES)
    found = params.filters(query, params.CUSTOMER_FILTERS, params.CUSTOMER_FILTERS_LATER)
    site_id = await _site_scope(svc, who.org_id, found.get("site_id"))
    rows, total = await svc.customers.listed(
        who.org_id, site_id=site_id, search=found.get("search"), sort=column,
        descending=descending, limit=page.size, offset=page.offset)
    base = base_url(request, svc)
    data = [render.customer(r, base, fields, show=False) for r in rows]
    included = None
    if include:  # offers and products: none are held yet, so only contacts are included
        included = await _contacts(svc, who.org_id, rows, contact_fields) \
            if "contact" in include else []
    return ok(render.paged(data, base, request.url.path, request.url.query, page.number,
                           page.size, total, included))


@router.get("/v1/customers/{customer_id}", openapi_extra=query_parameters(
    params.fields_parameter("customers", render.CUSTOMER_FIELDS),
    params.fields_parameter("contacts", render.CONTACT_ATTRIBUTES),
    params.include_parameter(CUSTOMER_INCLUDES),
    *params.filter_parameters("site_id", *params.CUSTOMER_SHOW_FILTERS,
                              *params.CUSTOMER_SHOW_PAGING_FILTERS)))
async def show_customer(customer_id: str, request: Request, svc: Svc, who: Reader) -> Response:
    query = request.query_params
    fields = params.fields(query, "customers", render.CUSTOMER_FIELDS)
    contact_fields = params.fields(query, "contacts", render.CONTACT_ATTRIBUTES)
    include = params.includes(query, CUSTOMER_INCLUDES)
    served = (*params.CUSTOMER_SHOW_FILTERS, "site_id")
    if include:
        found = params.filters(query, served, paging=params.CUSTOMER_SHOW_PAGING_FILTERS)
    else:  # the spec: the show filters are ignored when include is not present
        found = params.filters(query, (*served, *params.CUSTOMER_SHOW_PAGING_FILTERS))
    row = await svc.customers.get_listed(
        who.org_id, _numeric_id(customer_id, "Customer not found"))
    if found.get("site_id") is not None:  # a client that always names its site
        site_id = await _site_scope(svc, who.org_id, found["site_id"])
        if row["site_id"] != site_id:
            raise NotFound("Customer not found")
    body: dict[str, Any] = {"data": render.customer(row, base_url(request, svc), fields,
                                                    show=True)}
    if include:
        body["included"] = await _contacts(svc, who.org_id, [row], contact_fields) \
            if "contact" in include else []
    body["links"] = _self_links(request, svc)
    return ok(body)
