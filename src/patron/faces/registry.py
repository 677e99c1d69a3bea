"""Which face a path belongs to, so errors raised anywhere render in that face's envelope."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Response

from patron.errors import PatronError
from patron.faces.loyalty import errors as loyalty_errors
from patron.faces.marketing import errors as marketing_errors
from patron.faces.native import errors as native_errors
from patron.faces.workspace import errors as workspace_errors

Renderer = Callable[[PatronError], Response]


def renderer_for(path: str) -> Renderer:
    if path.startswith("/api/"):
        return workspace_errors.render
    if path.startswith("/patron/"):
        return native_errors.render
    if path.startswith("/v1/") and not path.startswith("/v1.1/"):
        return marketing_errors.render
    if path.startswith("/v3/oauth/"):
        return loyalty_errors.render_token_error
    return loyalty_errors.render


def too_large(path: str) -> tuple[int, list, bytes]:
    from patron.errors import PayloadTooLarge

    response = renderer_for(path)(PayloadTooLarge("request body too large"))
    return response.status_code, response.raw_headers, bytes(response.body)
