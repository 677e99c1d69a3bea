"""JSON in and out with orjson: the one place that decides how values become bytes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def dumps_text(value: Any) -> str:
    return orjson.dumps(value, default=_default).decode()


def loads(data: str | bytes | None) -> Any:
    return None if data is None else orjson.loads(data)
