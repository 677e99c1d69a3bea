"""How identifier and channel values are made canonical before they are stored or looked up."""

from __future__ import annotations

import re

from patron.customers.models import IDENTIFIER_TYPES
from patron.errors import ValidationFailed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE_NOISE = re.compile(r"[\s\-().]")
_TYPE_BY_LOWER = {t.lower(): t for t in IDENTIFIER_TYPES}
_TYPE_BY_LOWER["external_id"] = "externalId"
_TYPE_BY_LOWER["card_number"] = "cardnumber"
_TYPE_BY_LOWER["card_external_id"] = "cardExternalId"
MAX_VALUE_LENGTH = 320


_PHONE_TERM = re.compile(r"\+[0-9][0-9 ().-]*")


def identifier_type(name: str) -> str:
    """The canonical spelling of an identifier type (`external_id` -> `externalId`)."""
    canonical = _TYPE_BY_LOWER.get(name.strip().lower())
    if canonical is None:
        raise ValidationFailed(
            f"unknown identifier type {name!r}",
            reason="invalid_identifier_type",
            field="identifiers.type",
        )
    return canonical


def email(value: str) -> str:
    v = value.strip().lower()
    if not _EMAIL.match(v) or len(v) > MAX_VALUE_LENGTH:
        raise ValidationFailed(f"invalid email {value!r}", reason="invalid_email", field="email")
    return v


def mobile(value: str) -> str:
    """Digits only, with the country code as given: `+91 99860-00581` -> `919986000581`."""
    v = _MOBILE_NOISE.sub("", value.strip())
    v = v.removeprefix("+")
    if not v.isdigit() or not 7 <= len(v) <= 15:
        raise ValidationFailed(f"invalid mobile number {value!r}", reason="invalid_mobile",
                               field="mobile")
    return v


def names_id(identifier_name: str) -> bool:
    """Whether an identifier name means the customer id itself (`id`, `userId`, `user_id`)."""
    return identifier_name.strip().lower() in ("id", "userid", "user_id")


def customer_id(value: object) -> int | None:
    """A customer id given as text (`identifierName=id`): ASCII digits, at most 18 of them so
    that it fits a 64-bit integer; None when it cannot name a customer."""
    text = str(value).strip()
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def search_term(term: str) -> str:
    """What a customer search looks for. A term written as an international phone number
    (`+1 234-512`) is looked for as its digits, the way mobiles are stored; any other term as
    it is."""
    stripped = term.strip()
    if stripped.startswith("+") and _PHONE_TERM.fullmatch(stripped):
        return "".join(ch for ch in stripped if ch.isdigit())
    return stripped


def identifier_value(kind: str, value: object) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationFailed(f"{kind} must be a string", reason="invalid_identifier_value",
                               field=kind)
    text = str(value)
    if kind in ("mobile", "mobilePush"):
        return mobile(text) if kind == "mobile" else text.strip()
    if kind == "email":
        return email(text)
    text = text.strip()
    if not text or len(text) > MAX_VALUE_LENGTH:
        raise ValidationFailed(f"invalid {kind} value", reason="invalid_identifier_value",
                               field=kind)
    return text
