"""Linquid customer bodies (create/upsert and update) and their translation into domain inputs.

Linquid documents no body fields beyond `externalId`, `email` and `clickId`; the rest are
Patron's (docs/compat/workspace.md). Unknown fields are ignored. A field sent as `null` clears it
on an update; a field left out is kept. `metadata` is merged key by key into what is stored
(`"metadata": null` changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from patron.customers import normalize
from patron.customers.models import CustomerInput, Identifier, ProfileInput
from patron.errors import ValidationFailed
from patron.jsonio import dumps

# Where the workspace face keeps a customer's names and identifiers.
SOURCE, ACCOUNT = "INSTORE", ""
MAX_METADATA_BYTES = 16_384


@dataclass
class Write:
    """A body in the domain's words: what to write and which identifier types it replaces."""

    data: CustomerInput
    replace_types: frozenset[str]


class CustomerFields(BaseModel):
    model_config = ConfigDict(extra="ignore")
    externalId: StrictStr | StrictInt | None = None
    email: StrictStr | None = Field(default=None, max_length=320)
    phone: StrictStr | None = Field(default=None, max_length=40)
    firstName: StrictStr | None = Field(default=None, max_length=200)
    lastName: StrictStr | None = Field(default=None, max_length=200)
    name: StrictStr | None = Field(default=None, max_length=400)
    clickId: StrictStr | None = Field(default=None, max_length=200)
    avatarUrl: StrictStr | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] | None = None

    def external_id(self) -> str | None:
        if self.externalId is None:
            return None
        try:
            return normalize.identifier_value("externalId", str(self.externalId))
        except ValidationFailed:
            raise ValidationFailed("externalId must be 1 to 320 characters",
                                   field="externalId") from None

    def to_write(self) -> Write:
        """The fields this body sets; `null` on a present field clears it."""
        sent = self.model_fields_set
        if "externalId" in sent and self.externalId is None:
            raise ValidationFailed("externalId cannot be null", field="externalId")
        identifiers: list[Identifier] = []
        replace: set[str] = set()
        external_id = self.external_id()
        if external_id is not None:
            identifiers.append(Identifier("externalId", external_id))
            replace.add("externalId")
        if "email" in sent:
            replace.add("email")
            if self.email is not None and self.email.strip():
                identifiers.append(Identifier("email", _valid(normalize.email, self.email,
                                                              "email", "an email address")))
        if "phone" in sent:
            replace.add("mobile")
            if self.phone is not None and self.phone.strip():
                identifiers.append(Identifier("mobile", _valid(normalize.mobile, self.phone,
                                                               "phone", "a phone number")))
        first, last = self._names(sent)
        profiles = []
        if replace or first is not None or last is not None:
            profiles.append(ProfileInput(source=SOURCE, account_id=ACCOUNT, first_name=first,
                                         last_name=last, identifiers=identifiers))
        if self.metadata is not None and len(dumps(self.metadata)) > MAX_METADATA_BYTES:
            raise ValidationFailed(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON",
                                   field="metadata")
        return Write(CustomerInput(
            profiles=profiles,
            click_id=_cleared(self.clickId, "clickId" in sent),
            avatar=_url(_cleared(self.avatarUrl, "avatarUrl" in sent), "avatarUrl"),
            metadata=self.metadata,
        ), frozenset(replace))

    def _names(self, sent: set[str]) -> tuple[str | None, str | None]:
        """firstName/lastName as sent; else `name` split at its first space."""
        if "firstName" in sent or "lastName" in sent:
            return (_cleared(self.firstName, "firstName" in sent),
                    _cleared(self.lastName, "lastName" in sent))
        if "name" not in sent:
            return None, None
        first, _, last = (self.name or "").strip().partition(" ")
        return first.strip(), last.strip()


class CreateBody(CustomerFields):
    def to_write(self) -> Write:
        if self.externalId is None:
            raise ValidationFailed("externalId is required", field="externalId")
        return super().to_write()


def _valid(check: Any, value: str, field: str, what: str) -> str:
    try:
        return str(check(value))
    except ValidationFailed:
        raise ValidationFailed(f"{field} is not {what}", field=field) from None


def _cleared(value: str | None, sent: bool) -> str | None:
    """None keeps the stored value; an empty string clears it."""
    if not sent:
        return None
    return "" if value is None else value.strip()


def _url(value: str | None, field: str) -> str | None:
    """An absolute http(s) URL, as clients show it for an image (Kajabi's `avatar` is one);
    None and "" (keep, clear) as they are."""
    if value:
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or \
                any(c.isspace() for c in value):
            raise ValidationFailed(f"{field} must be an http or https URL", field=field)
    return value
