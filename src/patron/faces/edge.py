"""The ASGI layer in front of every face: request ids, the body-size cap, structured access logs.

Pure ASGI (no BaseHTTPMiddleware) to keep the hot path cheap. Access logs carry the route
template, never the raw path or query string (which can hold emails or phone numbers), and never
headers (which hold credentials).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from patron.errors import PayloadTooLarge
from patron.jsonio import dumps_text

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
access_log = logging.getLogger("patron.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class RequestIds:
    """New request ids: 32 hex digits, a random half drawn per process and a counter, so they
    are unique across a server's workers (forked ones too) without a system call per request
    (uuid4 was 4% of a customer read)."""

    def __init__(self) -> None:
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def __call__(self) -> bytes:
        return f"{self._prefix}{next(self._counter):016x}".encode()


new_request_id = RequestIds()


class Edge:
    def __init__(self, app: ASGIApp, max_body_bytes: int,
                 render_too_large: Callable[[Any], tuple[int, list, bytes]],
                 log_requests: bool = True, max_upload_bytes: int = 0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Image uploads (`.../setImage`) may be larger than other bodies.
        self.max_upload_bytes = max(max_upload_bytes, max_body_bytes)
        self.render_too_large = render_too_large
        self.log_requests = log_requests

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # HEAD is answered as the GET of the same URL would be, without its body (RFC 9110
        # 9.3.2: a server that answers GET answers HEAD), on every route that takes GET.
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        request_id = b""
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _CLIENT_REQUEST_ID.match(value.decode("latin-1")):
                request_id = value
            elif name == b"content-length":
                length = value
        if not request_id:
            request_id = new_request_id()
        status_seen = [500]

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # The image upload routes (/v2/customers/{id}/setImage, /v2/customers/lookup/setImage)
        # take the larger cap; no other path does, whatever it ends with.
        path = scope["path"]
        limit = self.max_upload_bytes if (
            path.startswith("/v2/customers/") and path.endswith("/setImage")
            and path.count("/") == 4) else self.max_body_bytes
        try:
            if length is not None and (not length.isdigit() or int(length) > limit):
                status, headers, body = self.render_too_large(scope)
                await send_with_id({"type": "http.response.start", "status": status,
                                    "headers": headers})
                await send({"type": "http.response.body", "body": body})
            else:
                received = [0]

                async def capped_receive() -> dict:
                    message = await receive()
                    if message["type"] == "http.request":
                        received[0] += len(message.get("body", b""))
                        if received[0] > limit:
                            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
                    return message

                await self.app(scope, capped_receive, send_with_id)
        finally:
            # Also when an unexpected error passes through here on its way to the server's
            # error handler, which answers 500 (the status this line then reports).
            if self.log_requests:
                route = scope.get("route")
                access_log.info(dumps_text({
                    "event": "request",
                    "request_id": request_id.decode("latin-1"),
                    "method": "HEAD" if head else scope["method"],
                    "route": getattr(route, "path", None) or "unmatched",
                    "status": status_seen[0],
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                }))


def header_list(content_type: str, extra: dict[str, str] | None = None) -> list[Any]:
    headers = [(b"content-type", content_type.encode())]
    for k, v in (extra or {}).items():
        headers.append((k.lower().encode(), v.encode()))
    return headers
