"""The native API's envelope: `{"error": {"code", "message", "field"}}`, `code` being the
domain's reason (`validation_failed`, `customer_not_found`, ...). Per-record errors in a batch
use the same object."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from patron.errors import PatronError
from patron.jsonio import dumps

JSON = "application/json"


def error_object(exc: PatronError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": exc.reason, "message": exc.message}
    if exc.field:
        out["field"] = exc.field
    return out


def render(exc: PatronError) -> Response:
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return Response(dumps({"error": error_object(exc)}), status_code=exc.status,
                    media_type=JSON, headers=headers)
