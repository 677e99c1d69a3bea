"""Linquid's envelope for the workspace face: `{"success":false,"error":{"code","message"}}`."""

from __future__ import annotations

from fastapi import Response

from patron.errors import PatronError
from patron.jsonio import dumps

JSON = "application/json"

CODES = {
    "invalid_api_key": "INVALID_API_KEY",
    "duplicate_external_id": "DUPLICATE_EXTERNAL_ID",
    "feature_not_available": "FEATURE_NOT_AVAILABLE",
}
BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "VALIDATION_ERROR",  # Linquid names no code of its own for a body that is not JSON
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",  # Linquid's code for its analytics backend being down
}


def render(exc: PatronError) -> Response:
    code = CODES.get(exc.reason) or BY_STATUS.get(exc.status, "INTERNAL_ERROR")
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return Response(dumps({"success": False, "error": {"code": code, "message": exc.message}}),
                    status_code=exc.status, media_type=JSON, headers=headers)
