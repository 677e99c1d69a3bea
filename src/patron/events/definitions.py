"""Event definitions: what fields an event has, their types and attributes, parsed into rules.

A definition is stored exactly as declared (Capillary's `fields[].attributes{name:{valueType,
value}}`) and parsed into `FieldRule`s that ingestion checks each event against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from patron.errors import ValidationFailed

FIELD_TYPES = ("tillCode", "couponCode", "customer", "productSku", "productBrand",
               "productCategory", "string", "double")
ATTRIBUTES = ("addCustomerIfNotExists", "isRequired", "isUniqueKeyField", "isPsiData",
              "identifierType")
IDENTIFIER_TYPES = ("userId", "mobile", "email", "externalId", "wechat", "martjackId", "cuid",
                    "fbid", "unionId", "fcmToken", "line", "cardnumber", "cardExternalId")
ACTIONS = ("EMFConsumer", "EIConsumer")
# Keys of an event body that are about the event, not fields of its definition.
RESERVED = ("eventName", "event_name", "eventDateTime", "external_event_id", "source",
            "accountId")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$")
MAX_FIELDS = 100


@dataclass(frozen=True)
class FieldRule:
    name: str
    type: str
    required: bool
    unique_key: bool
    psi: bool
    identifier_type: str
    add_customer: bool


@dataclass(frozen=True)
class Definition:
    id: int
    name: str
    description: str
    actions: list[str]
    fields: list[dict[str, Any]]
    rules: dict[str, FieldRule]

    # Asked once per ingested event, so computed once per definition.
    @cached_property
    def customer_rule(self) -> FieldRule:
        return next(r for r in self.rules.values() if r.type == "customer")

    @cached_property
    def unique_keys(self) -> list[str]:
        return [r.name for r in self.rules.values() if r.unique_key]

    @cached_property
    def psi_fields(self) -> list[str]:
        return [r.name for r in self.rules.values() if r.psi]


def _flag(attrs: dict[str, Any], name: str, where: str) -> bool:
    raw = attrs.get(name)
    if raw is None:
        return False
    value = raw.get("value") if isinstance(raw, dict) else raw
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationFailed(f"{where}.{name} must be true or false", reason="invalid_definition",
                           field=f"{where}.{name}")


def parse_rules(fields: Any) -> dict[str, FieldRule]:
    """Validates a definition's fields; a bad definition is rejected whole."""
    if not isinstance(fields, list) or not fields:
        raise ValidationFailed("fields must be a non-empty list", reason="invalid_definition",
                               field="fields")
    if len(fields) > MAX_FIELDS:
        raise ValidationFailed(f"at most {MAX_FIELDS} fields", reason="invalid_definition",
                               field="fields")
    rules: dict[str, FieldRule] = {}
    for i, f in enumerate(fields):
        where = f"fields[{i}]"
        if not isinstance(f, dict):
            raise ValidationFailed(f"{where} must be an object", reason="invalid_definition")
        name, kind, attrs = f.get("name"), f.get("type"), f.get("attributes") or {}
        if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED:
            raise ValidationFailed(f"{where}.name is not a valid field name",
                                   reason="invalid_definition", field=f"{where}.name")
        if name in rules:
            raise ValidationFailed(f"field {name} is declared twice", reason="invalid_definition")
        if kind not in FIELD_TYPES:
            raise ValidationFailed(f"{where}.type must be one of {', '.join(FIELD_TYPES)}",
                                   reason="invalid_definition", field=f"{where}.type")
        if not isinstance(attrs, dict) or any(a not in ATTRIBUTES for a in attrs):
            raise ValidationFailed(f"{where}.attributes may only name {', '.join(ATTRIBUTES)}",
                                   reason="invalid_definition", field=f"{where}.attributes")
        id_raw = attrs.get("identifierType")
        identifier_type = (id_raw.get("value") if isinstance(id_raw, dict) else id_raw) or (
            "mobile" if kind == "customer" else "")
        if kind == "customer" and identifier_type not in IDENTIFIER_TYPES:
            raise ValidationFailed(f"{where}.identifierType must be one of "
                                   f"{', '.join(IDENTIFIER_TYPES)}", reason="invalid_definition")
        rules[name] = FieldRule(
            name=name, type=kind,
            required=_flag(attrs, "isRequired", where) or kind == "customer",
            unique_key=_flag(attrs, "isUniqueKeyField", where),
            psi=_flag(attrs, "isPsiData", where), identifier_type=identifier_type,
            add_customer=_flag(attrs, "addCustomerIfNotExists", where))
    customers = [r for r in rules.values() if r.type == "customer"]
    if len(customers) != 1:
        raise ValidationFailed("an event needs exactly one field of type customer",
                               reason="invalid_definition", field="fields")
    return rules


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationFailed("eventName must be 1-100 letters, digits, _ or -",
                               reason="invalid_definition", field="eventName")
    return name


def validate_actions(actions: Any) -> list[str]:
    if actions is None:
        return []
    if not isinstance(actions, list) or any(a not in ACTIONS for a in actions):
        raise ValidationFailed(f"actions may only hold {', '.join(ACTIONS)}",
                               reason="invalid_definition", field="actions")
    return list(actions)
