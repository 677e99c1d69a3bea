"""The records that carry communications and engagement into Patron, one shape for the native API,
`patron import` and `patron export` (docs/engagement.md lists every kind and field).

A record names its `kind`, an optional `id` (the idempotency key: a record whose id is already
stored is not applied again; without one, the id is a digest of the record's content, so a file
imported twice changes nothing), the `customer` it is about, and the fields of its kind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from patron.clock import parse_iso

CHANNELS = ("sms", "email", "whatsapp", "line", "zalo", "viber", "phone", "missed_call", "survey")
INBOUND_CHANNELS = ("missed_call", "survey")
DIRECTIONS = ("OUTBOUND", "INBOUND")
PRIORITIES = ("TRANS", "BULK")
DELIVERY_EVENTS = ("delivered", "opened", "clicked", "bounced", "dropped", "complained",
                   "unsubscribed")
BOUNCE_TYPES = ("hard", "soft")
SUBSCRIPTION_CHANNELS = ("MOBILE", "EMAIL", "WECHAT", "WHATSAPP", "IOS", "ANDROID", "LINE")
SUBSCRIPTION_TYPES = ("OPTIN", "OPTOUT")
NDNC_STATUSES = ("NONE", "NDNC", "DND")
# Instants taken: from 1970 up to the end of 9999-12-30 in UTC, so that the time shown in any
# organisation's zone (offsets are under a day) is still in the year 9999.
LATEST_INSTANT = 253_402_214_399_999  # 9999-12-30T23:59:59.999Z
OPTIN_STATUSES = ("NONE", "OPTIN", "OPTOUT")
EMAIL_ACTIONS = ("subscribed", "unsubscribed", "manually_unsubscribed", "opted_out",
                 "suppressed", "unsuppressed")
# Engagement facts: the states each kind takes, the first being its default.
FACT_STATES: dict[str, tuple[str, ...]] = {
    "tag": ("added", "removed"),
    "form_submission": ("submitted",),
    "event_registration": ("registered", "unregistered"),
    "assessment": ("completed", "passed", "failed"),
    "offer_grant": ("granted", "revoked"),
    "coupon_use": ("used",),
    "newsletter": ("subscribed", "unsubscribed"),
    "email_sequence": ("subscribed", "unsubscribed"),
    "sign_in": ("signed_in",),
    "request": ("seen",),
}
FACTS_WITHOUT_REF = ("sign_in", "request")
MAX_TEXT = 2_000
MAX_BODY = 20_000
MAX_REF = 200


# Other names Capillary's docs give a channel: the customer-details docs list `SMS` where its
# subscription API says `MOBILE`.
SUBSCRIPTION_CHANNEL_ALIASES = {"SMS": "MOBILE"}


def subscription_channel(value: str) -> str:
    """A subscription channel in Capillary's spelling (any case accepted; `SMS` is `MOBILE`)."""
    upper = value.strip().upper()
    upper = SUBSCRIPTION_CHANNEL_ALIASES.get(upper, upper)
    if upper not in SUBSCRIPTION_CHANNELS:
        raise ValueError(f"must be one of {', '.join(SUBSCRIPTION_CHANNELS)}")
    return upper


def instant(value: Any) -> int:
    """Epoch milliseconds, or an ISO 8601 date-time (with an offset or Z; naive is UTC)."""
    if isinstance(value, bool):
        raise ValueError("must be epoch milliseconds or an ISO 8601 date-time")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        ms = int(value.strip())
    elif isinstance(value, str):
        try:
            ms = parse_iso(value.strip())
        except ValueError:
            raise ValueError("must be epoch milliseconds or an ISO 8601 date-time") from None
    else:
        raise ValueError("must be epoch milliseconds or an ISO 8601 date-time")
    if not 0 <= ms <= LATEST_INSTANT:
        raise ValueError("is out of range (1970-01-01T00:00:00Z to 9999-12-30T23:59:59.999Z)")
    return ms


Instant = Annotated[int, Field(json_schema_extra={"format": "epoch-ms or date-time"})]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Ref = Annotated[str, Field(min_length=1, max_length=MAX_REF)]


class CustomerRef(BaseModel):
    """Who a record is about: Patron's customer `id`, or any identifier (`identifierName` one of
    mobile, email, externalId, cardnumber, ...; `id` too) with its `identifierValue`."""

    model_config = ConfigDict(extra="forbid")
    id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    identifierName: str | None = Field(default=None, max_length=40)  # noqa: N815
    identifierValue: str | None = Field(default=None, max_length=320)  # noqa: N815

    @model_validator(mode="after")
    def _one_way(self) -> CustomerRef:
        if self.id is None and not (self.identifierName and self.identifierValue):
            raise ValueError("give id, or identifierName and identifierValue")
        return self


def holds_nul(value: Any) -> bool:
    """Whether any text in a JSON value, keys included, holds U+0000. orjson writes that
    character as the escape `\\u0000`, so where its output lacks the escape the value lacks the
    character: one pass in C instead of a walk in Python (3-4 µs of a record's 17). Where
    the escape is there, it may be a backslash written before `u0000`, so the walk decides; as it
    does for what orjson does not write (integers over 64 bits, lone surrogates)."""
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return False
    except orjson.JSONEncodeError:
        pass
    return _walk_holds_nul(value)


def _walk_holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_walk_holds_nul(k) or _walk_holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_walk_holds_nul(v) for v in value)
    return False


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str | None = Field(default=None, min_length=1, max_length=MAX_REF)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL's text cannot hold U+0000: refused here, on either database, so that the
        # record fails alone and before anything of its batch is written.
        if holds_nul(value):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return value


class _CustomerRecord(_Record):
    customer: CustomerRef


class _Timed(_CustomerRecord):
    at: Instant

    @field_validator("at", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> int:
        return instant(value)


class CustomerRecord(_Record):
    """A customer, created or updated (matched by any of its identifiers) in one source."""

    kind: Literal["customer"]
    source: Literal["INSTORE", "MARTJACK", "WECHAT", "LINE"] = "INSTORE"
    accountId: str = Field(default="", max_length=MAX_REF)  # noqa: N815
    firstName: str | None = Field(default=None, max_length=200)  # noqa: N815
    lastName: str | None = Field(default=None, max_length=200)  # noqa: N815
    mobile: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    externalId: str | None = Field(default=None, max_length=MAX_REF)  # noqa: N815
    extendedFields: dict[str, str | int | float | bool | None] = Field(  # noqa: N815
        default_factory=dict)
    loyaltyType: Literal["loyalty", "non_loyalty"] | None = None  # noqa: N815 - None: as is

    @model_validator(mode="after")
    def _identified(self) -> CustomerRecord:
        if not (self.mobile or self.email or self.externalId):
            raise ValueError("a customer needs a mobile, email or externalId")
        return self


class MessageRecord(_CustomerRecord):
    """A message sent to (OUTBOUND) or received from (INBOUND) a customer."""

    kind: Literal["message"]
    channel: Literal["sms", "email", "whatsapp", "line", "zalo", "viber", "phone",
                     "missed_call", "survey"]
    direction: Literal["OUTBOUND", "INBOUND"] | None = None
    network: str = Field(default="capillary", min_length=1, max_length=40,
                         pattern=r"^[a-z][a-z0-9_]*$")
    priority: Literal["TRANS", "BULK"] | None = None
    sender: Text = ""
    receiver: Text = ""
    subject: Text = ""
    body: str = Field(default="", max_length=MAX_BODY)
    campaignId: str | None = Field(default=None, max_length=MAX_REF)  # noqa: N815
    broadcastId: str | None = Field(default=None, max_length=MAX_REF)  # noqa: N815
    newsletterId: str | None = Field(default=None, max_length=MAX_REF)  # noqa: N815
    sequenceId: str | None = Field(default=None, max_length=MAX_REF)  # noqa: N815
    otp: bool = False
    sentAt: Instant  # noqa: N815

    @field_validator("sentAt", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> int:
        return instant(value)

    @model_validator(mode="after")
    def _defaults(self) -> MessageRecord:
        inbound_only = self.channel in INBOUND_CHANNELS
        if self.direction is None:
            self.direction = "INBOUND" if inbound_only else "OUTBOUND"
        elif inbound_only and self.direction != "INBOUND":
            raise ValueError(f"{self.channel} messages are INBOUND")
        if self.priority is None:
            bulk = self.campaignId or self.broadcastId or self.newsletterId or self.sequenceId
            self.priority = "BULK" if bulk else "TRANS"
        return self


class DeliveryRecord(_Record):
    """What happened to a message: `message` is the `id` of the message record (or `messageId`
    Patron's numeric id)."""

    kind: Literal["delivery"]
    message: str | None = Field(default=None, min_length=1, max_length=MAX_REF)
    messageId: int | None = Field(default=None, ge=1, le=2**63 - 1)  # noqa: N815
    event: Literal["delivered", "opened", "clicked", "bounced", "dropped", "complained",
                   "unsubscribed"]
    bounceType: Literal["hard", "soft"] | None = None  # noqa: N815
    at: Instant

    @field_validator("at", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> int:
        return instant(value)

    @model_validator(mode="after")
    def _target(self) -> DeliveryRecord:
        if (self.message is None) == (self.messageId is None):
            raise ValueError("give exactly one of message (the message record's id) and "
                             "messageId")
        if self.event == "bounced" and self.bounceType is None:
            self.bounceType = "soft"
        elif self.event != "bounced" and self.bounceType is not None:
            raise ValueError("bounceType is only for bounced events")
        return self


class SubscriptionRecord(_Timed):
    """Capillary's subscription state of one channel and priority."""

    kind: Literal["subscription"]
    channel: Annotated[str, AfterValidator(subscription_channel)]
    priority: Literal["TRANS", "BULK"]
    type: Literal["OPTIN", "OPTOUT"]
    source: str = Field(default="INSTORE", max_length=40)
    accountId: str = Field(default="", max_length=MAX_REF)  # noqa: N815
    reason: str = Field(default="", max_length=500)


class ConsentRecord(_CustomerRecord):
    """The customer's NDNC (do not disturb) and opt-in status."""

    kind: Literal["consent"]
    ndncStatus: Literal["NONE", "NDNC", "DND"] | None = None  # noqa: N815
    optinStatus: Literal["NONE", "OPTIN", "OPTOUT"] | None = None  # noqa: N815

    @model_validator(mode="after")
    def _something(self) -> ConsentRecord:
        if self.ndncStatus is None and self.optinStatus is None:
            raise ValueError("give ndncStatus or optinStatus")
        return self


class EmailSubscriptionRecord(_Timed):
    """A change of the customer's e-mail subscription (Kajabi's subscribed / unsubscribed /
    manually unsubscribed / opted out) or suppression."""

    kind: Literal["email_subscription"]
    action: Literal["subscribed", "unsubscribed", "manually_unsubscribed", "opted_out",
                    "suppressed", "unsuppressed"]


class FactRecord(_Timed):
    """A tag, form submission, event registration, assessment result, offer grant, coupon use,
    newsletter or e-mail sequence (un)subscription, sign-in or request. `ref` is the id of the
    tag, form, event, assessment, offer, newsletter or sequence, or the coupon code."""

    kind: Literal["tag", "form_submission", "event_registration", "assessment", "offer_grant",
                  "coupon_use", "newsletter", "email_sequence", "sign_in", "request"]
    ref: str = Field(default="", max_length=MAX_REF)
    state: str | None = None

    @model_validator(mode="after")
    def _state(self) -> FactRecord:
        states = FACT_STATES[self.kind]
        if self.state is None:
            self.state = states[0]
        elif self.state not in states:
            raise ValueError(f"state of a {self.kind} is one of {', '.join(states)}")
        if self.kind in FACTS_WITHOUT_REF:
            if self.ref:
                raise ValueError(f"a {self.kind} takes no ref")
        elif not self.ref:
            raise ValueError(f"a {self.kind} needs ref")
        return self


Record = Annotated[
    CustomerRecord | MessageRecord | DeliveryRecord | SubscriptionRecord | ConsentRecord
    | EmailSubscriptionRecord | FactRecord,
    Field(discriminator="kind"),
]
RECORD = TypeAdapter(Record)
KINDS = ("customer", "message", "delivery", "subscription", "consent", "email_subscription",
         *FACT_STATES)


def record_id(raw: dict[str, Any]) -> str:
    """The record's own id, or a digest of its content (so that the same record is the same)."""
    given = raw.get("id")
    if isinstance(given, str) and given.strip():
        return given.strip()
    canonical = orjson.dumps({k: v for k, v in raw.items() if k != "id"},
                             option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:40]


# What the interaction reads can show of a message, in the domain's words: its id, addresses,
# subject and body (as the organisation lets them be shown: OTPs masked when it says so), the
# furthest it got (status), the campaign or broadcast it belongs to, its customer, and the times
# it was sent and delivered in the organisation's time zone ("" when it was not delivered).
MESSAGE_FACTS = ("id", "sender", "receiver", "subject", "body", "status", "campaign",
                 "customer_id", "sent_time", "delivered_time")


@dataclass(frozen=True)
class MessageShape:
    """How a face shows a message: its keys in order, each naming one of MESSAGE_FACTS, and
    whether its times read `DD-MM-YYYY HH:MM:SS` (day first) or `YYYY-MM-DD HH:MM:SS`. The
    repository renders messages to JSON in this shape."""

    fields: tuple[tuple[str, str], ...]
    day_first: bool

    def __post_init__(self) -> None:
        unknown = [fact for _, fact in self.fields if fact not in MESSAGE_FACTS]
        if unknown:
            raise ValueError(f"unknown message facts {unknown}")
