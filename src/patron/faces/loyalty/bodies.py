"""Capillary request bodies as pydantic models, and their translation into domain inputs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patron.customers.models import Channel, CustomerInput, Identifier, ProfileInput


class IdentifierBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    value: str | int


class CommChannelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(max_length=64)
    value: str = Field(max_length=320)
    primary: bool = True
    verified: bool = False
    meta: dict[str, Any] = Field(default_factory=lambda: {"residence": False, "office": False})
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


class LoyaltyInfoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loyaltyType: str | None = None


class CustomerBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    profiles: list[ProfileBody] = Field(default_factory=list, max_length=10)
    extendedFields: dict[str, Any] | None = None
    associatedWith: str | None = Field(default=None, max_length=200)
    loyaltyInfo: LoyaltyInfoBody | None = None

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


class IdentificationBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str = "INSTORE"
    identifierType: str = Field(max_length=64)
    identifierValue: str = Field(max_length=320)


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
    id: str | int
    status: str
    comments: str = ""


class TokenBody(BaseModel):
    key: str = Field(max_length=200)
    secret: str = Field(max_length=200)
