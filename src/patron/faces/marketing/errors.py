"""Kajabi's JSON:API error envelope for the marketing face.

`{"errors":[{"status":"404","source":{"pointer":...}|null,"title":...,"detail":...}]}` with
media type `application/vnd.api+json`; the token endpoint alone answers `{"error": ...}`.
"""

from __future__ import annotations

from fastapi import Response

from patron.errors import PatronError
from patron.jsonio import dumps

JSONAPI = "application/vnd.api+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def render(exc: PatronError) -> Response:
    source = None
    if exc.field:
        source = {"parameter": exc.field} if exc.field.startswith(("page", "filter", "sort",
                                                                    "fields", "include")) \
            else {"pointer": "/data/attributes/" + exc.field.replace(".", "/")}
    body = {"errors": [{"status": str(exc.status), "source": source,
                        "title": TITLES.get(exc.status, "Error"), "detail": exc.message}]}
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    if exc.status == 401:  # RFC 6750 §3: a resource refused for its token names the scheme
        headers = {"WWW-Authenticate": "Bearer"}
    return Response(dumps(body), status_code=exc.status, media_type=JSONAPI, headers=headers)


# RFC 6749 §5.2 and RFC 6750 §3: a 401 from the OAuth routes names the scheme to retry with.
_CHALLENGES = {"invalid_client": 'Basic realm="oauth"',
               "invalid_token": 'Bearer error="invalid_token"'}


def render_token_error(exc: PatronError) -> Response:
    """The OAuth routes' own envelope (`/v1/oauth/...`), `{"error": "..."}`, for whatever refused
    the request: the routes' RFC 6749 codes, and what refuses it before them (its size, the
    method, the rate)."""
    headers = {}
    challenge = _CHALLENGES.get(exc.message) if exc.status == 401 else None
    if challenge:
        headers["WWW-Authenticate"] = challenge
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return Response(dumps({"error": exc.message}), status_code=exc.status,
                    media_type="application/json", headers=headers or None)
