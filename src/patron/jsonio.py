"""JSON in and out with orjson: the one place that decides how values become bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError as exc:
        # orjson refuses integers beyond 64 bits, which a client can send and a bulk answer
        # echoes back; the standard library writes them.
        if "64-bit" not in str(exc):
            raise
        return json.dumps(value, default=_default, ensure_ascii=False,
                          separators=(",", ":")).encode()


class NumberOutOfRange(ValueError):
    """A whole number beyond 64 bits: orjson reads one back as a float, its digits lost."""


def whole_number(text: str) -> int:
    """A JSON whole number as `json.loads(parse_int=...)` reads it, refused beyond what orjson
    reads back as an integer, so that nothing stored changes when it is read."""
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise NumberOutOfRange("a number is out of range")
    return value


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


def loads(data: str | bytes | None) -> Any:
    return None if data is None else orjson.loads(data)


def fragment(text: str | bytes) -> orjson.Fragment:
    """JSON already rendered (by the database, say), spliced into `dumps` output as it is."""
    return orjson.Fragment(text)
