"""Which face a path belongs to: the envelope its errors render in, the credentials it takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response

from patron.errors import PatronError, PayloadTooLarge
from patron.faces.loyalty import errors as loyalty_errors
from patron.faces.loyalty import v11
from patron.faces.marketing import errors as marketing_errors
from patron.faces.native import errors as native_errors
from patron.faces.workspace import errors as workspace_errors

Renderer = Callable[[PatronError], Response]


def renderer_for(path: str) -> Renderer:
    if path.startswith("/api/"):
        return workspace_errors.render
    if path.startswith("/patron/"):
        return native_errors.render
    if path.startswith("/v1/oauth/"):
        return marketing_errors.render_token_error
    if path.startswith("/v1/"):
        return marketing_errors.render
    if path.startswith("/v3/oauth/"):
        return loyalty_errors.render_token_error
    return loyalty_errors.render


def render(request: Request, exc: PatronError) -> Response:
    """`exc` in the envelope of the face serving `request`; on a `/v1.1/` path, v1.1's, in XML
    when the request asks for XML."""
    path = request.url.path
    if path.startswith("/v1.1/"):
        return v11.render(exc, v11.wants_xml(request))
    return renderer_for(path)(exc)


# How each face's callers authenticate (docs/compat/*.md), for generated clients.
SECURITY_SCHEMES: dict[str, Any] = {
    "capillaryBasic": {"type": "http", "scheme": "basic", "description":
                       "Capillary till login: the till code and the MD5 hex of its password"},
    "capillaryOAuthToken": {"type": "apiKey", "in": "header", "name": "X-CAP-API-OAUTH-TOKEN",
                            "description": "A token from POST /v3/oauth/token/generate"},
    "kajabiBearer": {"type": "http", "scheme": "bearer",
                     "description": "An access token from POST /v1/oauth/token"},
    "linquidBearer": {"type": "http", "scheme": "bearer", "description": "A workspace API key"},
    "linquidApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                      "description": "A workspace API key"},
}
# The routes that take no credentials: their body or path holds the secret.
_OPEN_PATHS = ("/v3/oauth/token/generate", "/v1/oauth/token", "/webhooks/")


def security_for(path: str) -> list[dict[str, list[str]]]:
    """The credentials a path takes, by its face (either one of a list), for the OpenAPI
    document."""
    if path.startswith(_OPEN_PATHS):
        return []
    if path.startswith(("/api/", "/patron/")):
        return [{"linquidBearer": []}, {"linquidApiKey": []}]
    if path.startswith("/v1/"):
        return [{"kajabiBearer": []}]
    if path.startswith(("/v2/", "/v1.1/")):
        return [{"capillaryBasic": []}, {"capillaryOAuthToken": []}]
    return []


def too_large(scope: Any) -> tuple[int, list, bytes]:
    response = render(Request(scope), PayloadTooLarge("request body too large"))
    return response.status_code, response.raw_headers, bytes(response.body)
