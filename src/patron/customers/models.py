"""Customer types shared by the service and the faces: what a write carries, what a read returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Sources a profile can be written in; `ALL` is accepted on reads only.
SOURCES = ("INSTORE", "MARTJACK", "WECHAT", "LINE")
READ_SOURCES = (*SOURCES, "ALL")

# Capillary's identifier types (v2 add customer), by their canonical spelling.
IDENTIFIER_TYPES = (
    "mobile", "email", "externalId", "wechat", "martjackId", "fbId", "tmall_uname", "cuid",
    "ali_uname", "jd_uname", "vip_uname", "mobilePush", "line", "unionId", "cardnumber",
    "cardExternalId", "fcmToken",
)
CHANNEL_TYPES = ("mobile", "email", "wechat", "ios", "android", "line", "mobilePush")
LOYALTY_TYPES = ("loyalty", "non_loyalty")
STATUS_ACTIVE, STATUS_DELETED, STATUS_MERGED = "active", "deleted", "merged"


@dataclass
class Identifier:
    type: str
    value: str
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. seriesId, statusLabel of a card

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, **self.extra}


@dataclass
class Channel:
    type: str
    value: str
    primary: bool = True
    verified: bool = False
    meta: dict[str, Any] = field(default_factory=lambda: {"residence": False, "office": False})
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, "primary": self.primary,
                "verified": self.verified, "meta": self.meta, "attributes": self.attributes}


@dataclass
class ProfileInput:
    source: str = "INSTORE"
    account_id: str = ""
    first_name: str | None = None
    last_name: str | None = None
    identifiers: list[Identifier] = field(default_factory=list)
    channels: list[Channel] | None = None  # None: derived from mobile/email identifiers
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class CustomerInput:
    """A registration or update, in the domain's words; faces translate their bodies into it."""

    profiles: list[ProfileInput] = field(default_factory=list)
    extended_fields: dict[str, Any] | None = None
    associated_with: str | None = None  # till code
    loyalty_type: str | None = None
    site_id: int | None = None
    click_id: str | None = None
    metadata: dict[str, Any] | None = None
    avatar: str | None = None


@dataclass
class Provenance:
    """Who and when, for a write; imports may state past instants and other tills."""

    till_id: int | None
    at_ms: int
    loyalty_till_id: int | None = None
    loyalty_at_ms: int | None = None
    source_name: str | None = None


@dataclass
class Written:
    customer_id: int
    created: bool
    warnings: list[str] = field(default_factory=list)  # reasons, e.g. "joined_other_source"
