"""The loyalty face's communications reads and writes: Capillary's customer interactions (v1.1
`GET /v1.1/customer/interaction`, seed 001, with JSON or XML; v2 `GET /v2/customers/interaction`)
and the subscription update (`POST /v2/customers/{id}/subscriptions`).

v1.1 answers in its own envelope (`response.status` and the customer's `item_status`), with the
HTTP status equal to `status.code`, as Capillary's v1.1 APIs do. Choices: docs/compat/loyalty.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Request, Response
from pydantic import AfterValidator, BaseModel, Field

from patron.clock import epoch_ms
from patron.engagement.models import MessageShape, subscription_channel
from patron.engagement.service import Interactions
from patron.errors import NotFound, ValidationFailed
from patron.faces import (
    FaceRouter,
    QueryParameter,
    Svc,
    digits,
    query_dict,
    query_parameters,
)
from patron.faces.loyalty.errors import JSON
from patron.faces.loyalty.routes import Reader, Writer, ok, reader
from patron.faces.loyalty.v11 import ALL_FAILED, XML, v11_response, wants_xml
from patron.jsonio import fragment, loads
from patron.services import Services

router = FaceRouter(tags=["loyalty (Capillary)"])

# The interaction types v1.1 always lists, in the order of seed 001's example.
V11_TYPES = ("survey", "whatsapp", "line", "zalo", "phone", "missed_call", "email", "sms")
NETWORKS = ("capillary", "facebook", "twitter", "foursquare")
# `type` values of the v1.1 docs: stored channels (`email`: with TRANS priority), `emailbulk`
# (e-mail with BULK priority), `feedback` (surveys) and the social types Patron records none of
# (they count 0).
TYPE_CHANNEL = {
    **{c: c for c in (*V11_TYPES, "viber")},
    "emailbulk": "email", "feedback": "survey",
    **{s: s for s in ("checkin", "like", "comment", "mention", "retweet", "tweet")},
}
LEGACY_IDENTIFIERS = {"mobile": "mobile", "email": "email", "external_id": "externalId",
                      "user_id": "id", "id": "id", "card_number": "cardnumber",
                      "card_external_id": "cardExternalId"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
NOT_FOUND = "Cannot find customer for provided mobile/external-id/e-mail/id"
# A message as each API shows it (keys in order, and the facts they carry).
V11_MESSAGE = MessageShape((
    ("id", "id"), ("sender", "sender"), ("reciever", "receiver"),  # sic: the API's spelling
    ("subject", "subject"), ("message", "body"), ("status", "status"),
    ("sent_time", "sent_time"), ("delivered_time", "delivered_time"),
    ("campaign_id", "campaign"),
), day_first=False)
V2_MESSAGE = MessageShape((
    ("id", "id"), ("receiver", "receiver"), ("subject", "subject"), ("message", "body"),
    ("campaignId", "campaign"), ("status", "status"), ("sentDate", "sent_time"),
    ("deliveredTime", "delivered_time"), ("userId", "customer_id"),
), day_first=True)


# The v1.1 name of each identifier kind, as its answers echo the customer back.
LEGACY_NAMES = {"mobile": "mobile", "email": "email", "externalId": "external_id",
                "id": "user_id", "cardnumber": "card_number",
                "cardExternalId": "card_external_id"}


def legacy_identifier(params: Any) -> tuple[str, str] | None:
    """v1.1's customer naming (`mobile=`, `email=`, `external_id=`, `user_id=`, ...) as an
    identifier name and value; the first one given wins."""
    for key, kind in LEGACY_IDENTIFIERS.items():
        if params.get(key):
            return kind, str(params[key])
    return None


class _BadInput(Exception):
    pass


def _int(params: Any, name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not digits(raw) or int(raw) > maximum:
        raise _BadInput(f"{name} must be a whole number from 0 to {maximum}")
    return int(raw)


def _date(raw: str | None, name: str, zone: Any, end: bool) -> int | None:
    """`YYYY-MM-DD` (the whole day, from its local midnight to the next day's: 23 or 25 hours
    when the clocks change that day) or `YYYY-MM-DD HH:MM:SS`, in the organisation's time zone;
    as epoch milliseconds, the end exclusive. None: no end (the whole of 9999 asked)."""
    if not raw:
        return None
    try:
        if len(raw.strip()) == 10:
            day = datetime.strptime(raw.strip(), "%Y-%m-%d")
            if end:
                try:
                    day += timedelta(days=1)
                except OverflowError:  # 9999-12-31 has no next day: no stored instant is after
                    return None
            return epoch_ms(day.replace(tzinfo=zone))
        moment = datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
        return epoch_ms(moment) + (1000 if end else 0)
    except ValueError:
        raise _BadInput(f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS") from None


# What _Query reads, with the values it takes, for the OpenAPI document (faces.query_parameters).
_DATE: dict[str, Any] = {"type": "string", "format": "date", "description": "YYYY-MM-DD; "
                         "YYYY-MM-DD HH:MM:SS is taken too, in the organisation's time zone"}
QUERY_PARAMETERS: tuple[QueryParameter, ...] = (
    ("network", False, {"type": "string", "enum": list(NETWORKS)}),
    ("type", False, {"type": "string", "enum": list(TYPE_CHANNEL)}),
    ("limit", False, {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT,
                      "default": DEFAULT_LIMIT}),
    ("offset", False, {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0}),
    ("start_date", False, _DATE), ("end_date", False, _DATE))
LEGACY_PARAMETERS = tuple(LEGACY_IDENTIFIERS)


class _Query:
    """What both interaction APIs are asked: who, which network and type, which page."""

    def __init__(self, params: Any, *, legacy: bool) -> None:
        name, value = params.get("identifierName"), params.get("identifierValue")
        if legacy and not (name and value):
            name, value = legacy_identifier(params) or (name, value)
        if not name or not value:
            raise _BadInput("identifierName and identifierValue are required")
        self.identifier = (name, value)
        self.network = (params.get("network") or "").strip().lower() or None
        if self.network is not None and self.network not in NETWORKS:
            raise _BadInput(f"network must be one of {', '.join(NETWORKS)}")
        raw_type = (params.get("type") or "").strip().lower() or None
        if raw_type is not None and raw_type not in TYPE_CHANNEL:
            raise _BadInput(f"unsupported interaction type {raw_type}")
        self.type = raw_type
        self.channel = TYPE_CHANNEL[raw_type] if raw_type else None
        # `email` is the transactional e-mails, `emailbulk` the bulk ones (API-FACTS 2.7);
        # without a type, the `email` entry lists both.
        self.priority = {"email": "TRANS", "emailbulk": "BULK"}.get(raw_type or "")
        self.limit = _int(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        self.offset = _int(params, "offset", 0, 10_000_000)
        self.start, self.end = params.get("start_date"), params.get("end_date")

    async def customer_read(self, svc: Services, org_id: int, network: str | None,
                            shape: MessageShape, addressed: bool) -> tuple[int, Interactions]:
        """The customer the query names (NotFound if none is active) and the read (`read`); with
        `addressed`, the customer's addresses too (`found.customer`: a row with at least
        customers.repository.ADDRESSES_OF_C's columns). A customer named by id, over the whole
        history, is read in the summaries' statement."""
        customer_id = svc.customers.named_id(*self.identifier)
        if customer_id is not None and not (self.start or self.end):
            return customer_id, await svc.engagement.interactions(
                org_id, customer_id, None, network=network, channel=self.channel,
                priority=self.priority, since_ms=None, until_ms=None, limit=self.limit,
                offset=self.offset, shape=shape, with_customer=True)
        if addressed:
            row = await svc.customers.resolve_listed(org_id, *self.identifier)
            customer_id = int(row["id"])
        else:
            row, customer_id = None, await svc.customers.resolve(org_id, *self.identifier)
        found = await self.read(svc, org_id, customer_id, network, shape)
        found.customer = row
        return customer_id, found

    async def read(self, svc: Services, org_id: int, customer_id: int, network: str | None,
                   shape: MessageShape) -> Interactions:
        view = since = until = None
        if self.start or self.end:  # dates in the organisation's time zone; else the
            view = await svc.engagement.org_view(org_id)  # view is read with the summaries
            since = _date(self.start, "start_date", view[0], end=False)
            until = _date(self.end, "end_date", view[0], end=True)
        return await svc.engagement.interactions(
            org_id, customer_id, view, network=network, channel=self.channel,
            priority=self.priority,
            since_ms=since, until_ms=until, limit=self.limit, offset=self.offset, shape=shape)


# -- v1.1 -------------------------------------------------------------------------------------

def _messages(found: Interactions, key: tuple[str, str], as_xml: bool) -> Any:
    """A page of messages as the database rendered it: spliced into JSON as it is, or parsed
    for XML (which is rarely asked for)."""
    page = found.pages.get(key, "[]")
    return loads(page) if as_xml else fragment(page)


def _v11_networks(found: Interactions, query: _Query, as_xml: bool) -> list[dict[str, Any]]:
    if query.network is not None:
        names = [query.network]
    else:
        names = ["capillary", *sorted({n for n, _ in found.summary} - {"capillary"})]
    out = []
    for name in names:
        channels = [query.channel] if query.channel else [
            *V11_TYPES, *sorted({c for n, c in found.summary if n == name} - set(V11_TYPES))]
        entries = []
        for channel in channels:
            row = found.summary.get((name, channel))
            entry: dict[str, Any] = {
                "last_interaction_time": found.local(row["last_at"], day_first=True)
                if row else "null",
                "used_status": bool(row and row["used"]),
                "count": int(row["count"]) if row else 0,
                "type": query.type or channel,
            }
            if (name, channel) in found.pages:
                entry["messages"] = {"message": _messages(found, (name, channel), as_xml)}
            entries.append(entry)
        out.append({"name": name, "interaction": entries})
    return out


def _v11_failure(message: str, code: int, identifier: tuple[str, str] | None,
                 as_xml: bool) -> Response:
    name, value = identifier or ("", "")
    name = LEGACY_IDENTIFIERS.get(name.lower(), name)
    customer = {"id": value if name == "id" else "",
                "mobile": value if name == "mobile" else "",
                "email": value if name == "email" else "",
                "external_id": value if name == "externalId" else "",
                "item_status": {"success": "false", "code": code, "message": message}}
    return v11_response({"response": {
        "status": {"success": "false", "code": 500, "message": ALL_FAILED},
        "customer": customer}}, 500, as_xml)


@router.plain_get("/v1.1/customer/interaction", openapi_extra=query_parameters(
    "identifierName", "identifierValue", *LEGACY_PARAMETERS, *QUERY_PARAMETERS,
    ("format", False, {"type": "string", "enum": ["json", "xml"], "default": "json"})))
async def interaction_v11(request: Request) -> Response:
    who = await reader(request)
    svc: Services = request.app.state.services
    as_xml = wants_xml(request)
    fmt = (query_dict(request).get("format") or "json").strip().lower()
    identifier = None
    try:
        if fmt not in ("json", "xml"):
            raise _BadInput("format must be json or xml")
        query = _Query(query_dict(request), legacy=True)
        identifier = query.identifier
        customer_id, found = await query.customer_read(svc, who.org_id, query.network,
                                                       V11_MESSAGE, addressed=True)
        row = found.customer
        assert row is not None
    except (_BadInput, ValidationFailed) as exc:  # ValidationFailed: an unknown identifier
        detail = exc.message if isinstance(exc, ValidationFailed) else str(exc)
        return _v11_failure(f"Invalid or unsupported inputs passed. {detail}", 500, identifier,
                            as_xml)
    except NotFound:
        return _v11_failure(NOT_FOUND, 1012, identifier, as_xml)
    # Besides the pages and summaries, the answer shows the customer's addresses and the query.
    answer_key = ("v1.1", as_xml, query.type, query.network, row["mobile"], row["email"],
                  row["external_id"])
    kept = found.answer(answer_key)
    if kept is not None:
        return Response(kept, media_type=XML if as_xml else JSON)
    response = v11_response({"response": {
        "status": {"success": "true", "code": 200, "message": "Success"},
        "customer": {
            "id": str(customer_id),
            "mobile": row["mobile"] or "",
            "email": row["email"] or "",
            "external_id": row["external_id"] or "",
            "interactions": {"network": _v11_networks(found, query, as_xml)},
            "item_status": {"success": "true", "code": 1000,
                            "message": "Customer successfully retrieved"},
        }}}, 200, as_xml)
    found.keep_answer(answer_key, bytes(response.body))
    return response


# -- v2 ---------------------------------------------------------------------------------------

@router.get("/v2/customers/interaction", openapi_extra=query_parameters(
    ("identifierName", True), ("identifierValue", True), *QUERY_PARAMETERS))
async def interaction_v2(request: Request, svc: Svc, who: Reader) -> Response:
    try:
        query = _Query(query_dict(request), legacy=False)
    except _BadInput as exc:
        raise ValidationFailed(str(exc), reason="invalid_interaction_input") from None
    network = query.network or "capillary"
    try:
        _, found = await query.customer_read(svc, who.org_id, network, V2_MESSAGE, addressed=False)
    except NotFound:
        raise NotFound(NOT_FOUND, reason="interaction_customer_not_found") from None
    except _BadInput as exc:
        raise ValidationFailed(str(exc), reason="invalid_interaction_input") from None
    channels = [query.channel] if query.channel else sorted(c for _, c in found.summary)
    interactions = []
    for channel in channels:
        row = found.summary.get((network, channel))
        interactions.append({
            "count": int(row["count"]) if row else 0,
            "name": query.type or channel,
            "messageList": _messages(found, (network, channel), as_xml=False),
        })
    return ok({"name": network, "interaction": interactions, "warnings": []})


# -- subscriptions ----------------------------------------------------------------------------

class SubscriptionChange(BaseModel):
    channel: Annotated[str, AfterValidator(subscription_channel)]
    accountId: str = Field(default="", max_length=200)  # noqa: N815
    priority: Literal["TRANS", "BULK"]
    type: Literal["OPTIN", "OPTOUT"]
    orgUnitId: int = -1  # noqa: N815
    sourceName: str = Field(default="INSTORE", max_length=40)  # noqa: N815


class Scope(BaseModel):
    scope: str = "USER"
    subScope: str = "NONE"  # noqa: N815


class SubscriptionBody(BaseModel):
    communicationId: int = -1  # noqa: N815
    campaignId: int = -1  # noqa: N815
    reason: str = Field(default="", max_length=500)
    scope: Scope = Field(default_factory=Scope)
    subscriptions: Annotated[list[SubscriptionChange], Field(min_length=1, max_length=50)]


@router.post("/v2/customers/{customer_id}/subscriptions")
async def update_subscriptions(customer_id: str, svc: Svc, who: Writer,
                               body: SubscriptionBody) -> Response:
    changes = [{**change.model_dump(), "source": change.sourceName.upper()}
               for change in body.subscriptions]
    if not digits(customer_id):
        raise NotFound(NOT_FOUND, reason="interaction_customer_not_found")
    try:
        await svc.engagement.update_subscriptions(who.org_id, int(customer_id), changes,
                                                  body.reason)
    except NotFound:
        raise NotFound(NOT_FOUND, reason="interaction_customer_not_found") from None
    return ok({**body.model_dump(), "warnings": []})

