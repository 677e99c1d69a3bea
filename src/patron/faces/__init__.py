"""The HTTP faces. Each renders one vendor's API over the same domain services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match, Route

from patron.services import Services


class FaceRouter(APIRouter):
    """An APIRouter that turns a request away at once when its path cannot be one of the
    router's: FastAPI (0.165) asks each included router in turn whether it has the route, and
    each asks its routes one by one (about 1.3 µs a route on the bench machine). A request for
    the workspace face, whose routes come after 74 others, paid that for every one of them, and
    so did any route late in the table: a static answer placed last served half the requests
    per second it did placed first (docs/performance.md). A route's path can only match below
    its literal beginning (up to its first `{`), so a path that starts with none of them is no
    match for this router, as its own routes would have answered. The routes' paths are whole
    paths: give a face router its `prefix` itself, never through `include_router(prefix=...)`,
    which FastAPI adds outside the router's own paths."""

    _starts: tuple[str, ...] = ()
    _starts_of = -1  # len(self.routes) when _starts was made

    def matches(self, scope: Any) -> tuple[Match, Any]:
        if scope["type"] == "http" and not scope.get("root_path"):
            if self._starts_of != len(self.routes):
                self._starts = tuple(
                    route.path.split("{", 1)[0] if isinstance(route, Route) else ""
                    for route in self.routes)
                self._starts_of = len(self.routes)
            if not scope["path"].startswith(self._starts):
                return Match.NONE, {}
        return super().matches(scope)  # type: ignore[no-any-return]

    def plain_get(self, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        """A GET route served by a `PlainRoute`: for the hottest reads."""

        def register(endpoint: Endpoint) -> Endpoint:
            self.add_api_route(path, endpoint, methods=["GET"], route_class_override=PlainRoute,
                               **kwargs)
            return endpoint

        return register


Endpoint = Callable[[Request], Awaitable[Response]]


class PlainRoute(APIRoute):
    """A route whose endpoint takes the request and answers its Response itself, with no
    FastAPI dependencies, parameters or body: FastAPI calls it as Starlette would. Solving
    dependencies and reading parameters took about a third of the CPU of a customer-details
    read (docs/performance.md), more than its database work. The endpoint authenticates and
    reads its query with the same functions the other routes use; its errors reach the app's
    exception handlers as any route's do. OpenAPI still lists the route; it documents its
    parameters through `openapi_extra` (`query_parameters`)."""

    def get_route_handler(self) -> Endpoint:
        return self.endpoint  # type: ignore[return-value]


def query_parameters(*names: str | tuple[str, bool], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """`openapi_extra` for a `PlainRoute`: its path parameters and its query parameters
    (`name`, or `(name, required)`), all strings, as the route reads them."""
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in path]
    for entry in names:
        name, required = (entry, False) if isinstance(entry, str) else entry
        params.append({"name": name, "in": "query", "required": required,
                       "schema": {"type": "string"}})
    return {"parameters": params}


async def services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency on a worker thread, a thread hop
    # on every request (measured: a third of the GET /v2/customers/{id} budget).
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]


def digits(text: str, most: int = 18) -> bool:
    """ASCII digits only, at most `most` of them: `str.isdigit` also takes `²`, which `int`
    refuses, so every numeric path and query value goes through here before `int()`."""
    return text.isascii() and text.isdigit() and len(text) <= most


def base_url(request: Request, svc: Services) -> str:
    """The base of the absolute URLs Patron hands out: PATRON_PUBLIC_URL, else the request's."""
    return svc.settings.public_url or str(request.base_url).rstrip("/")
