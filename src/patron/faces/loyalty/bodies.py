"""Capillary request bodies as pydantic models, and their translation into domain inputs."""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from patron.clock import parse_iso
from patron.customers.models import Channel, CustomerInput, Identifier, ProfileInput
from patron.errors import ValidationFailed
from patron.faces import TextOrNumber


class IdentifierBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    value: TextOrNumber


def _channel_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A channel's `meta` as seed 000 shows it: `residence` and `office` are booleans, false
    unless said (`"true"`/`"false"` taken as Capillary's Java server takes them); other keys
    (`lastViewedDate`) as sent."""
    out = dict(meta)
    for key in ("residence", "office"):
        value = out.get(key, False)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"meta.{key} must be true or false")
        out[key] = value
    return out


class CommChannelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(max_length=64)
    value: str = Field(max_length=320)
    primary: bool = True
    verified: bool = False
    meta: Annotated[dict[str, Any], AfterValidator(_channel_meta)] = Field(
        default_factory=lambda: {"residence": False, "office": False})
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    firstName: str | None = Field(default=None, max_length=200)
    lastName: str | None = Field(default=None, max_length=200)
    identifiers: list[IdentifierBody] = Field(default_factory=list, max_length=20)
    commChannels: list[CommChannelBody] | None = Field(default=None, max_length=20)
    source: str = "INSTORE"
    accountId: str = Field(default="", max_length=100)
    fields: dict[str, Any] = Field(default_factory=dict)


class AttributionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    createDate: str | None = Field(default=None, max_length=64)


class LoyaltyInfoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loyaltyType: str | None = None
    attributionV2: AttributionBody | None = None


class CustomerBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    profiles: list[ProfileBody] = Field(default_factory=list, max_length=10)
    extendedFields: dict[str, Any] | None = None
    associatedWith: str | None = Field(default=None, max_length=200)
    loyaltyInfo: LoyaltyInfoBody | None = None

    @property
    def create_date(self) -> str | None:
        return (self.loyaltyInfo and self.loyaltyInfo.attributionV2
                and self.loyaltyInfo.attributionV2.createDate) or None

    def enrolled_at_ms(self, now_ms: int, zone: tzinfo) -> int | None:
        """`loyaltyInfo.attributionV2.createDate`, the customer's enrolment as a client states it
        (a migration's own dates): a full date-time (without an offset, in `zone`: the
        organisation's), not after `now_ms` nor before 1970; a bare date is refused, as
        Capillary refuses it."""
        text = self.create_date
        if not text:
            return None
        try:
            if "T" not in text.upper():
                raise ValueError
            at_ms = parse_iso(text, zone)
        except ValueError:
            raise ValidationFailed(
                "The 'createDate' field in 'attributionV2' must be in full datetime format (for "
                "example, '2025-09-23T12:31:51Z')", reason="invalid_create_date",
                field="loyaltyInfo.attributionV2.createDate") from None
        if at_ms > now_ms:
            raise ValidationFailed("createDate in attributionV2 cannot be in the future",
                                   reason="invalid_create_date",
                                   field="loyaltyInfo.attributionV2.createDate")
        if at_ms < 0:  # as bills before 1970 are refused (644): no member joined before
            raise ValidationFailed("createDate in attributionV2 cannot be before "
                                   "1970-01-01T00:00:00Z", reason="invalid_create_date",
                                   field="loyaltyInfo.attributionV2.createDate")
        return at_ms

    def to_input(self) -> CustomerInput:
        return CustomerInput(
            profiles=[ProfileInput(
                source=p.source.strip().upper(),  # any case, as the reads take it
                account_id=p.accountId, first_name=p.firstName,
                last_name=p.lastName,
                identifiers=[Identifier(i.type, str(i.value), dict(i.model_extra or {}))
                             for i in p.identifiers],
                channels=None if p.commChannels is None else [
                    Channel(c.type, c.value, c.primary, c.verified, c.meta, c.attributes)
                    for c in p.commChannels],
                fields=p.fields) for p in self.profiles],
            extended_fields=self.extendedFields,
            associated_with=self.associatedWith,
            loyalty_type=self.loyaltyInfo.loyaltyType if self.loyaltyInfo else None,
        )


def _number_as_text(value: Any) -> Any:
    return str(value) if type(value) is int else value


class IdentificationBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str = "INSTORE"
    identifierType: str = Field(max_length=64)
    # Text, as the docs show it; a whole number (a customer id) is taken as its digits.
    identifierValue: Annotated[str, BeforeValidator(_number_as_text)] = Field(min_length=1,
                                                                              max_length=320)


class DeletionRequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    baseType: str
    comments: str = ""
    customerIdentificationInfo: IdentificationBody


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "CUSTOMER"
    baseType: str = "DELETE"
    id: TextOrNumber
    status: str
    comments: str = ""


class TokenBody(BaseModel):
    key: str = Field(max_length=200)
    secret: str = Field(max_length=200)
