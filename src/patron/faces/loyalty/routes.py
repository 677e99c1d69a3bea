"""The loyalty face: Capillary Intouch v2 customer routes, PII requests and OAuth tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, tzinfo
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Body, Depends, Request, Response

from patron.auth.guard import admit
from patron.auth.service import LOYALTY, Principal, route_scope
from patron.clock import local_time, parse_bound
from patron.commerce.service import TRANSACTION_SOURCES
from patron.config import NO, YES
from patron.customers.documents import KeptParts, code_renderer, parts_kept
from patron.customers.models import READ_SOURCES, Provenance
from patron.errors import NotFound, PatronError, Unauthorized, ValidationFailed
from patron.faces import (
    FaceRouter,
    QueryParameter,
    Svc,
    authentication,
    base_url,
    digits,
    path_id,
    query_parameters,
)
from patron.faces.loyalty import render
from patron.faces.loyalty.bodies import (
    CustomerBody,
    DecisionBody,
    DeletionRequestBody,
    TokenBody,
)
from patron.faces.loyalty.errors import JSON, code_of, item, warning
from patron.faces.loyalty.files import image_items
from patron.jsonio import dumps, loads
from patron.loyalty.service import ProgramEntry, Standing
from patron.services import Services

router = FaceRouter(tags=["loyalty (Capillary)"])

EMBEDS = ("points", "subscriptions", "mlp", "userGroup", "gapDetails", "promotionalPoints",
          "expirySchedules", "expiredPoints", "customerImage", "returnedPoints",
          "associatedImages", "segments",
          # Listed for the look-up's details (API-FACTS 2.4), taken by both routes: the answer
          # without `cardDetails`; `alternateCurrencyDetails` (none: Patron keeps points only).
          "ignoreCardDetails", "alternateCurrencies")
_EMBEDS_LOWER = frozenset(e.lower() for e in EMBEDS)
MAX_REQUEST_BATCH = 10
# The code that renders the customer documents this process keeps and serves.
RENDERER = code_renderer()
NOT_FOUND_BY_IDENTIFIERS = "Customer not found for the given identifiers"


def authenticator(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """The loyalty face's authentication for one scope: an OAuth token
    (`X-CAP-API-OAUTH-TOKEN`) or a till's Basic login."""
    scope = route_scope(LOYALTY, scope)

    async def authenticate(request: Request) -> Principal:
        svc: Services = request.app.state.services
        token = request.headers.get("x-cap-api-oauth-token")
        if token:
            found = await svc.auth.bearer_token(token, LOYALTY)
        else:
            header = request.headers.get("authorization", "")
            if header[:6].lower() != "basic ":
                raise Unauthorized("missing credentials")
            found = await svc.auth.till_basic(header)
        return admit(found, LOYALTY, scope, svc.limiter)

    return authentication(authenticate)


reader = authenticator("customers:read")
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(authenticator("customers:write"))]


def ok(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON)


def bulk_answer(results: list[Any], failures: int) -> Response:
    """Capillary's bulk envelope: 200 when every element succeeded, 201 when some failed, 400
    when all did."""
    status = 200 if failures == 0 else (201 if failures < len(results) else 400)
    return ok({"response": results, "totalCount": len(results), "failureCount": failures},
              status)


# The sources `GET /v2/customers/lookup` takes: Capillary's source list (its Slate docs give
# the same for look-ups as for bills) and ALL. The look-up finds a customer by an identifier,
# which is unique in the organisation whatever the source, so a source no profile is kept in
# (FACEBOOK) is taken too.
LOOKUP_SOURCES = (*TRANSACTION_SOURCES, "ALL")


def _source(value: str | None, sources: tuple[str, ...] = READ_SOURCES) -> str:
    if value is None or value == "":
        raise ValidationFailed("source is required", reason="missing_source")
    if value.upper() not in sources:
        raise ValidationFailed("Invalid source", reason="invalid_source")
    return value.upper()


def _embeds(embed: str | None) -> list[str]:
    """The `embed` values asked for, as given (`points,Subscriptions`)."""
    return [e.strip() for e in (embed or "").split(",") if e.strip()]


def _embed_warnings(names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        if name.lower() not in _EMBEDS_LOWER:
            out.append(warning("invalid_embed", f"Invalid embed value: {name}"))
    return out


_TRUE, _FALSE = YES, (*NO, "")  # an empty flag (`?ndncStatus=`) is false
# What DetailsQuery reads, with the values it takes, for the OpenAPI document of the routes
# that take it. Flags also take 1/0, yes/no and on/off, and `source` any case.
_FLAG: dict[str, Any] = {"type": "boolean"}
_DAYS: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 3660}
_DATE: dict[str, Any] = {"type": "string", "format": "date", "description": "YYYY-MM-DD; "
                         "YYYY-MM-DD HH:MM:SS and ISO 8601 date-times are taken too"}
_UG2_SCHEMAS: dict[str, dict[str, Any]] = {
    "includedAllUserGroup2": _FLAG, "userGroup2Id": {"type": "integer", "minimum": 1},
    "includedUserGroup2LoyaltyDetails": _FLAG,
    "ug2JoinedStartDate": _DATE, "ug2JoinedEndDate": _DATE,
    "ug2Offset": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
    "ug2Limit": {"type": "integer", "minimum": 1, "maximum": 100},
    "ug2SortBy": {"type": "string", "enum": ["JoinedDate"]},
    "ug2SortOrder": {"type": "string", "enum": ["ASC", "DESC"]},
    "ug2PaginationDetails": _FLAG,
}
UG2_PARAMS = tuple(_UG2_SCHEMAS)
DETAILS_PARAMETERS: tuple[QueryParameter, ...] = (
    ("accountId", False, {"type": "string"}),
    ("embed", False, {"type": "array", "items": {"type": "string", "enum": list(EMBEDS)}}),
    *((name, False, _FLAG) for name in (
        "includedOnlyCurrentProfile", "ndncStatus", "optinStatus", "slabHistory",
        "tierUpgradeCriteria", "membershipRetentionCriteria")),
    ("gapToUpgrade", False, _DAYS), ("gapToRenew", False, _DAYS),
    ("includedFraudDetails", False, _FLAG),
    *((name, False, schema) for name, schema in _UG2_SCHEMAS.items()),
)
SOURCE_PARAMETER: QueryParameter = ("source", True, {"type": "string", "enum": list(READ_SOURCES)})


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a few µs a read
class DetailsQuery:
    """The query of the customer-details reads (`source`, `accountId`, `embed` parsed once, the
    flags and the gap days), read straight from the query string: FastAPI's per-parameter
    validation cost more than the database work of this hot path (docs/performance.md)."""

    request: Request
    params: dict[str, str]  # the query string, the last value of each name (as Starlette's)
    account_id: str | None
    embeds: list[str]  # as given, for warnings
    wanted: frozenset[str]  # lower-cased
    only_current_profile: bool
    ndnc_status: bool
    optin_status: bool
    slab_history: bool
    upgrade_criteria: bool
    retention_criteria: bool
    gap_to_upgrade: int | None
    gap_to_renew: int | None
    fraud_details: bool
    groups: GroupsQuery | None  # None: no user-group data asked for

    @classmethod
    def of(cls, request: Request) -> DetailsQuery:
        # A plain dict: most of the parameters are absent, and QueryParams.get pays a KeyError
        # for each of them.
        pairs = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        if _SOURCE_ONLY.issuperset(params):  # the usual read: every flag at its default
            return cls(request, params, None, [], frozenset(), only_current_profile=False,
                       ndnc_status=False, optin_status=False, slab_history=False,
                       upgrade_criteria=False, retention_criteria=False, gap_to_upgrade=None,
                       gap_to_renew=None, fraud_details=False, groups=None)
        # `embed` is an array: comma-separated, or repeated as generated clients send arrays.
        embeds = _embeds(",".join(v for k, v in pairs if k == "embed"))
        return cls(request, params, params.get("accountId"), embeds,
                   frozenset(e.lower() for e in embeds),
                   _flag(params, "includedOnlyCurrentProfile"), _flag(params, "ndncStatus"),
                   _flag(params, "optinStatus"), _flag(params, "slabHistory"),
                   _flag(params, "tierUpgradeCriteria"),
                   _flag(params, "membershipRetentionCriteria"),
                   _days(params, "gapToUpgrade"), _days(params, "gapToRenew"),
                   _flag(params, "includedFraudDetails"), _groups_query(params, embeds))

    @property
    def plain_customer(self) -> bool:
        """Whether the answer is the customer's default details with at most the engine's parts
        added (its embeds, flags and gap days): the default details are what is kept as the
        customer's document, and the document, where there is one, is the rest of the answer."""
        return (self.account_id is None and self.groups is None
                and not (self.only_current_profile or self.ndnc_status or self.optin_status
                         or self.fraud_details) and self.wanted <= _LOYALTY_EMBEDS)

    @property
    def parts_shape(self) -> str:
        """The engine's parts this query asks for, as a string: equal for queries answered with
        the same parts."""
        return (",".join(sorted(self.wanted & _LOYALTY_EMBEDS))
                + f";{self.slab_history:d}{self.upgrade_criteria:d}{self.retention_criteria:d}"
                f";{self.gap_to_upgrade};{self.gap_to_renew}")

    @property
    def needs_loyalty(self) -> bool:
        return (self.slab_history or self.upgrade_criteria or self.retention_criteria
                or bool(_LOYALTY_EMBEDS & self.wanted))


_SOURCE_ONLY = frozenset({"source"})
_LOYALTY_EMBEDS = frozenset(e.lower() for e in EMBEDS) - {
    "segments", "subscriptions", "customerimage", "associatedimages", "usergroup",
    "ignorecarddetails", "alternatecurrencies"}


@dataclass(frozen=True)
class GroupsQuery:
    """The user-group part of customer details (docs/compat/loyalty.md, "User groups in customer
    details"): which of the customer's groups, which page, and whether with loyalty details."""

    group_id: int | None  # userGroup2Id
    all_groups: bool  # includedAllUserGroup2
    with_loyalty: bool  # includedUserGroup2LoyaltyDetails
    joined_from: int | None
    joined_to: int | None
    descending: bool
    limit: int
    offset: int
    pagination: bool  # ug2PaginationDetails


UG2_DEFAULT_LIMIT, UG2_MAX_LIMIT = 10, 100
_UG2_PARAMS = frozenset(UG2_PARAMS)


def _groups_query(params: Any, embeds: list[str]) -> GroupsQuery | None:
    """Parsed only when a user-group parameter is present: the usual read pays one set test.
    Given values are checked even when they ask for nothing."""
    asked = any(e.lower() == "usergroup" for e in embeds)
    if not asked and _UG2_PARAMS.isdisjoint(params.keys()):
        return None
    raw_id = (params.get("userGroup2Id") or "").strip()
    if raw_id and not digits(raw_id, 18):
        raise ValidationFailed("userGroup2Id must be a group id", field="userGroup2Id")
    sort_by = (params.get("ug2SortBy") or "JoinedDate").strip()
    if sort_by.lower() != "joineddate":
        raise ValidationFailed("ug2SortBy must be JoinedDate", field="ug2SortBy")
    order = (params.get("ug2SortOrder") or "DESC").strip().upper()
    if order not in ("ASC", "DESC"):
        raise ValidationFailed("ug2SortOrder must be ASC or DESC", field="ug2SortOrder")
    query = GroupsQuery(
        int(raw_id) if raw_id else None, _flag(params, "includedAllUserGroup2"),
        _flag(params, "includedUserGroup2LoyaltyDetails"),
        _moment(params, "ug2JoinedStartDate", end=False),
        _moment(params, "ug2JoinedEndDate", end=True), order == "DESC",
        _count(params, "ug2Limit", UG2_DEFAULT_LIMIT, 1, UG2_MAX_LIMIT),
        _count(params, "ug2Offset", 0, 0, 10_000_000), _flag(params, "ug2PaginationDetails"))
    if asked or query.group_id is not None or query.all_groups or query.with_loyalty:
        return query
    return None


async def org_zone(svc: Services, org_id: int, *values: str | None) -> tzinfo:
    """The zone the loyalty face reads `values` in: the organisation's when one of them is a
    date-time without an offset (`clock.local_time`), else UTC, without reading it."""
    if any(local_time(v) for v in values):
        return await svc.tenancy.time_zone(org_id)
    return UTC


def _moment(params: Any, name: str, *, end: bool, zone: tzinfo = UTC) -> int | None:
    """One end of a date range (`clock.parse_bound`); an end date includes its whole day."""
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_bound(raw, end=end, zone=zone)
    except ValueError:
        raise ValidationFailed(f"{name} must be YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or an ISO 8601 "
                               "date-time", field=name) from None


def _count(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not digits(raw.strip(), 18) or not low <= int(raw) <= high:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}",
                               field=name)
    return int(raw)




def _days(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    if not digits(raw.strip()) or int(raw) > 3660:
        raise ValidationFailed(f"{name} must be a whole number of days from 0 to 3660",
                               field=name)
    return int(raw)


def _flag(params: Any, name: str) -> bool:
    value = params.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationFailed(f"{name} must be true or false", field=name)


def _not_in_source() -> NotFound:
    return NotFound("No customer found in the given source with the given identifier",
                    reason="customer_not_in_source")


async def _details(svc: Services, org_id: int, customer_id: int, source: str,
                   query: DetailsQuery) -> Response:
    if query.plain_customer:
        kept = await svc.documents.kept(org_id, customer_id, RENDERER)
        if kept is not None:
            if source != "ALL" and source not in kept["sources"].split():
                raise _not_in_source()
            if not query.needs_loyalty:
                return Response(kept["body"], media_type=JSON)
            # The engine's parts move with time: served from beside the document only within
            # the span they hold, else read now and offered to it.
            engine = parts_kept(kept, await _parts_key(svc, org_id, query),
                                svc.clock.now_ms())
            if engine is None:
                engine, keep = await _engine_parts(svc, org_id, customer_id, query)
                if keep is not None:
                    svc.documents.keep_parts(org_id, customer_id, kept["version"], RENDERER,
                                             keep)
            return Response(_document_with(kept["body"], engine), media_type=JSON)
    record = await svc.customers.get(org_id, customer_id)
    account_id = query.account_id
    if source != "ALL" and not any(
            p["source"] == source and (account_id is None or p["account_id"] == account_id)
            for p in record.profiles):
        raise _not_in_source()
    # The segment map and the marking till cost a query each, and only when asked for.
    segments = (await svc.segments.of_customer(org_id, record.id)
                if "segments" in query.wanted else None)
    fraud = await svc.fraud.status_of(org_id, record.row) if query.fraud_details else None
    body = render.customer(record, source=source, account_id=account_id,
                           only_current_profile=query.only_current_profile,
                           ndnc_status=query.ndnc_status, optin_status=query.optin_status,
                           cards=None if "ignorecarddetails" in query.wanted else
                           await svc.cards.of_customer(org_id, record.id)
                           if record.row["has_cards"] else [],
                           warnings=_embed_warnings(query.embeds), segments=segments,
                           fraud=fraud)
    if query.plain_customer:  # the body is the default details: kept as the document
        document = dumps(body)
        engine, keep = await _engine_parts(svc, org_id, record.id, query) \
            if query.needs_loyalty else (b"", None)
        svc.documents.keep(org_id, record.id, record.row["version"], RENDERER,
                           " ".join(p["source"] for p in record.profiles), document, keep)
        return Response(_document_with(document, engine), media_type=JSON)
    if "alternatecurrencies" in query.wanted:
        body["alternateCurrencyDetails"] = []
    if "subscriptions" in query.wanted:
        body["subscriptionInfo"] = render.subscription_info(
            await svc.engagement.subscriptions(org_id, record.id))
    for namespace in ("customerImage", "associatedImages"):
        if namespace.lower() in query.wanted:
            body[namespace] = await image_items(
                svc, base_url(query.request, svc), org_id,
                await svc.images.images(org_id, record.id, namespace))
    parts: dict[str, Any] = {}
    if query.needs_loyalty:
        parts.update((await _loyalty_parts(svc, org_id, record.id, query))[0])
    if query.groups is not None:
        parts.update(await _group_parts(svc, org_id, record.id, query.groups, query.params))
    return Response(dumps(_with_parts(body, parts)), media_type=JSON)


_NO_WARNINGS = b',"warnings":[]}'


def _document_with(document: bytes, engine: bytes) -> bytes:
    """A kept document (the default details, whose warnings are none) with the engine's parts
    (`engine`: their members, as `_engine_parts` writes them) added as `_with_parts` adds them:
    spliced in before the warnings, without reading the document."""
    if not engine:
        return document
    if document.endswith(_NO_WARNINGS):
        return b"".join((document[:-len(_NO_WARNINGS)], b",", engine, _NO_WARNINGS))
    return dumps(_with_parts(loads(document), loads(b"{" + engine + b"}")))


async def _parts_key(svc: Services, org_id: int, query: DetailsQuery,
                     programs: list[ProgramEntry] | None = None) -> str:
    """What the engine's parts of `query` are read from, besides the customer: the query's
    shape and the programs' versions (`KeptParts.key`)."""
    if programs is None:
        programs = await svc.loyalty.programs(org_id)
    return query.parts_shape + "/" + ",".join(f"{e.id}.{e.version}" for e in programs)


async def _engine_parts(svc: Services, org_id: int, customer_id: int,
                        query: DetailsQuery) -> tuple[bytes, KeptParts | None]:
    """The engine's parts of `query` read now, as the members of a JSON object, and what of
    them may be kept beside the customer's document (None: they do not hold past now)."""
    parts, standing = await _loyalty_parts(svc, org_id, customer_id, query)
    engine = dumps(parts)[1:-1]
    until = svc.loyalty.steady_until(standing)
    # Kept only if no instant at which they change has passed while they were read.
    if until <= svc.clock.now_ms():
        return engine, None
    return engine, KeptParts(await _parts_key(svc, org_id, query, standing.programs),
                             standing.read_at, until, engine)


def _with_parts(body: dict[str, Any], parts: dict[str, Any]) -> dict[str, Any]:
    """The details `body` with the engine's and the groups' `parts`, before the warnings, which
    come last."""
    if parts:
        warnings = body.pop("warnings")
        body.update(parts)
        body["warnings"] = warnings
    return body


async def _group_parts(svc: Services, org_id: int, customer_id: int,
                       q: GroupsQuery, params: dict[str, str]) -> dict[str, Any]:
    start, end = params.get("ug2JoinedStartDate"), params.get("ug2JoinedEndDate")
    zone = await org_zone(svc, org_id, start, end)
    if zone is not UTC:  # checked as UTC when parsed: read again as the organisation's times
        q = replace(q, joined_from=_moment(params, "ug2JoinedStartDate", end=False, zone=zone),
                    joined_to=_moment(params, "ug2JoinedEndDate", end=True, zone=zone))
    found = await svc.groups.of_customer(
        org_id, customer_id, group_id=q.group_id, all_groups=q.all_groups,
        joined_from=q.joined_from, joined_to=q.joined_to, descending=q.descending,
        limit=q.limit, offset=q.offset, with_total=q.pagination, with_pool=q.with_loyalty)
    out: dict[str, Any] = {"userGroup2Details": [render.customer_group(g) for g in found.groups]}
    if q.pagination:
        out["ug2Pagination"] = {"limit": q.limit, "offset": q.offset, "sortBy": "JoinedDate",
                                "sortOrder": "DESC" if q.descending else "ASC",
                                "total": found.total}
    return out


async def _loyalty_parts(svc: Services, org_id: int, customer_id: int,
                         query: DetailsQuery) -> tuple[dict[str, Any], Standing]:
    """The engine's parts of customer details, and the standing they were read from; a customer
    the programs have not seen yet stands in each program's base tier with nothing earned."""
    loyalty = svc.loyalty
    wanted = query.wanted
    standing = await loyalty.standing(
        org_id, customer_id, lots=bool(wanted & {"promotionalpoints", "expiryschedules"}),
        tier_changes=query.slab_history)
    out: dict[str, Any] = {}
    if not standing.programs:
        return out, standing
    members = {p.id: standing.member(p.id) for p in standing.programs}
    default = standing.programs[0]
    if "points" in wanted:
        out["pointsSummary"] = render.points_summary(default, members[default.id])
    if "mlp" in wanted:
        details = []
        for entry in standing.programs:
            m = members[entry.id]
            program_item = render.program_details(entry, m)
            if query.gap_to_upgrade is not None:
                gap = await loyalty.upgrade_gap(org_id, entry, m, query.gap_to_upgrade, standing)
                program_item["upgradeStrategies"] = render.upgrade_strategies(gap)
            if query.gap_to_renew is not None and m.tier > 1:
                # The tier held on that day, which has a renewal gap unless it is the base tier.
                then, gaps = await loyalty.renewal(org_id, entry, m, query.gap_to_renew)
                if then.tier > 1:
                    program_item["gapToRenewSummary"] = render.gap_to_renew_summary(
                        then, gaps, entry.program.upgrade.tracker)
            details.append(program_item)
        out["loyaltyProgramDetails"] = details
    if "gapdetails" in wanted:
        gaps = []
        for entry in standing.programs:
            gap = await loyalty.upgrade_gap(org_id, entry, members[entry.id], 0, standing)
            next_name = entry.program.tier(gap.next_tier).name if gap.next_tier else ""
            gaps.append({"programId": entry.id, **render.tier_upgrade_criteria(gap),
                         "nextSlab": next_name})
        out["gapDetails"] = gaps
    if "promotionalpoints" in wanted:
        out["promotionalPoints"] = render.promotional_points(standing.open_lots)
    if "expiryschedules" in wanted:
        out["expirySchedules"] = render.expiry_schedules(standing.open_lots)
    if "expiredpoints" in wanted:
        out["expiredPoints"] = render.expired_points(
            await loyalty.expired_history(org_id, customer_id))
    if "returnedpoints" in wanted:
        out["returnedPoints"] = render.returned_points(
            await loyalty.returned_history(org_id, customer_id))
    if query.slab_history:
        out["slabHistory"] = render.slab_history(standing.tier_changes)
    m = members[default.id]
    if query.upgrade_criteria:
        out["tierUpgradeCriteria"] = render.tier_upgrade_criteria(
            await loyalty.upgrade_gap(org_id, default, m, 0, standing))
    if query.retention_criteria:
        criteria = render.retention_criteria(default, m)
        if criteria is not None:
            out["membershipRetentionCriteria"] = criteria
    return out, standing


@router.post("/v3/oauth/token/generate")
async def oauth_token(svc: Svc, body: TokenBody) -> Response:
    try:
        token = await svc.auth.loyalty_token(body.key, body.secret,
                                              svc.settings.loyalty_token_ttl_seconds)
    except Unauthorized:
        raise Unauthorized("Invalid key or secret") from None
    return ok({"data": {"accessToken": token,
                        "ttlSeconds": svc.settings.loyalty_token_ttl_seconds}, "errors": None})


@router.post("/v2/customers")
async def add_customer(svc: Svc, who: Writer, body: CustomerBody) -> Response:
    now_ms = svc.clock.now_ms()
    written = await svc.customers.register(
        who.org_id, body.to_input(),
        Provenance(who.till_id, now_ms, loyalty_at_ms=body.enrolled_at_ms(
            now_ms, await org_zone(svc, who.org_id, body.create_date))))
    return ok({"createdId": written.customer_id,
               "warnings": [warning(w) for w in written.warnings], "sideEffects": []})


@router.get("/v2/customers/lookup")
async def lookup_customer(
    svc: Svc, who: Reader,
    source: str | None = None,
    accountId: str | None = None,  # noqa: N803 - Capillary's parameter name
    identifierName: str | None = None,  # noqa: N803
    identifierValue: str | None = None,  # noqa: N803
) -> Response:
    customer_id, _ = await looked_up(svc, who.org_id, {
        "source": source, "accountId": accountId, "identifierName": identifierName,
        "identifierValue": identifierValue}, LOOKUP_SOURCES)
    return ok({"entity": customer_id, "warnings": []})


async def looked_up(svc: Services, org_id: int, params: Any,
                    sources: tuple[str, ...] = READ_SOURCES) -> tuple[int, str]:
    """The customer and source of the look-up routes' `source` (one of `sources`),
    `identifierName` and `identifierValue` (all required)."""
    name, value = params.get("identifierName"), params.get("identifierValue")
    if not name or not value or not params.get("source"):
        raise ValidationFailed("identifierName, identifierValue, source can not be empty",
                               reason="missing_identifier")
    source = _source(params.get("source"), sources)
    if source not in ("INSTORE", "ALL") and not params.get("accountId"):
        raise NotFound(NOT_FOUND_BY_IDENTIFIERS, reason="customer_not_found")
    if "," not in name:
        return await svc.customers.resolve(org_id, name, value), source
    # Dual eligibility: identifierName=email,mobile&identifierValue=a,b, in the same order; the
    # customer is the one all of them name.
    names, values = name.split(","), value.split(",")
    if len(names) != len(values):
        raise ValidationFailed("identifierName and identifierValue must list as many entries",
                               reason="invalid_identifier_type")
    found = set(await svc.customers.resolve_many(
        org_id, [(n.strip(), v.strip()) for n, v in zip(names, values, strict=True)]))
    if None in found or len(found) != 1:
        raise NotFound(NOT_FOUND_BY_IDENTIFIERS, reason="customer_not_found")
    customer_id = found.pop()
    assert customer_id is not None
    return customer_id, source


@router.get("/v2/customers/lookup/customerDetails", openapi_extra=query_parameters(
    SOURCE_PARAMETER, ("identifierName", True), ("identifierValue", True), *DETAILS_PARAMETERS))
async def lookup_customer_details(request: Request, svc: Svc, who: Reader) -> Response:
    query = DetailsQuery.of(request)
    customer_id, source = await looked_up(svc, who.org_id, query.params)
    return await _details(svc, who.org_id, customer_id, source, query)


# Declared before the by-id route so that `lookup` is not taken for a customer id.
@router.put("/v2/customers/lookup")
async def update_customer_by_lookup(
    svc: Svc, who: Writer, body: CustomerBody,
    source: str | None = None,
    accountId: str | None = None,  # noqa: N803 - Capillary's parameter name
    identifierName: str | None = None,  # noqa: N803
    identifierValue: str | None = None,  # noqa: N803
) -> Response:
    """Update Customer Details by identifier: the customer `GET /v2/customers/lookup` finds,
    updated as `PUT /v2/customers/{id}` updates it."""
    customer_id, _ = await looked_up(svc, who.org_id, {
        "source": source, "accountId": accountId, "identifierName": identifierName,
        "identifierValue": identifierValue}, LOOKUP_SOURCES)
    return await _updated(svc, who, customer_id, body)


@router.plain_get("/v2/customers/{customer_id}", openapi_extra=query_parameters(
    SOURCE_PARAMETER, *DETAILS_PARAMETERS, path=("customer_id",)))
async def get_customer(request: Request) -> Response:
    who = await reader(request)
    query = DetailsQuery.of(request)
    source = _source(query.params.get("source"))
    return await _details(request.app.state.services, who.org_id,
                          _customer_id(request.path_params["customer_id"]), source, query)


@router.put("/v2/customers/{customer_id}")
async def update_customer(customer_id: str, svc: Svc, who: Writer,
                          body: CustomerBody) -> Response:
    return await _updated(svc, who, _customer_id(customer_id), body)


async def _updated(svc: Services, who: Principal, customer_id: int,
                   body: CustomerBody) -> Response:
    """Update Customer Details, whichever way the customer was named."""
    written = await svc.customers.update(who.org_id, customer_id, body.to_input(),
                                         Provenance(who.till_id, svc.clock.now_ms()))
    return ok({"createdId": written.customer_id,
               "warnings": [warning(w) for w in written.warnings], "sideEffects": []})


@router.post("/v2/requests")
async def raise_request(svc: Svc, who: Writer, body: DeletionRequestBody) -> Response:
    info = body.customerIdentificationInfo
    _source(info.source)
    request_id = await svc.privacy.raise_deletion(
        who.org_id, body.type, body.baseType, info.model_dump(), body.comments)
    return ok({"createdId": request_id, "warnings": []})


@router.put("/v2/requests")
async def decide_requests(svc: Svc, who: Writer,
                          body: Annotated[list[DecisionBody], Body()]) -> Response:
    if len(body) > MAX_REQUEST_BATCH:
        raise ValidationFailed(f"Exceeded maximum limit size of {MAX_REQUEST_BATCH}",
                               reason="batch_too_large")
    results = []
    failures = 0
    for entry in body:
        if entry.type != "CUSTOMER" or entry.baseType != "DELETE":
            decision_error: PatronError | None = ValidationFailed(
                "Request Type is invalid", reason="invalid_request_type")
            entity = str(entry.id)
        else:
            decision = await svc.privacy.decide(who.org_id, str(entry.id), entry.status,
                                                entry.comments)
            decision_error, entity = decision.error, decision.request_id
        if decision_error is None:
            results.append({"entityId": entity, "result": True, "warnings": []})
        else:
            failures += 1
            results.append({"entityId": entity, "errors": [
                item(code_of(decision_error),
                     decision_error.message)], "warnings": []})
    return bulk_answer(results, failures)


def _customer_missing() -> NotFound:
    return NotFound("Customer not found for the given identifiers", reason="customer_not_found")


def _customer_id(raw: str) -> int:
    return path_id(raw, _customer_missing)

