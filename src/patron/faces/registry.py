"""Which face a path belongs to, so errors raised anywhere render in that face's envelope."""

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


def too_large(scope: Any) -> tuple[int, list, bytes]:
    response = render(Request(scope), PayloadTooLarge("request body too large"))
    return response.status_code, response.raw_headers, bytes(response.body)
