"""The HTTP faces. Each renders one vendor's API over the same domain services."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response, params
from fastapi.routing import APIRoute
from pydantic import StrictInt, StrictStr, TypeAdapter
from starlette.routing import Match, Route

from patron.errors import UnsupportedMediaType, ValidationFailed, number_out_of_range
from patron.idempotency.service import MOST_KEY_CHARS, answer_of, checked_key
from patron.idempotency.service import fingerprint as request_fingerprint
from patron.jsonio import NumberOutOfRange, whole_number
from patron.services import Services

F = TypeVar("F", bound=Callable[..., Any])

# The methods whose requests take an `Idempotency-Key`.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The header as the OpenAPI document declares it on each write that takes it.
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Carries the write out once for this key: the same request sent again with "
                   "it within 24 hours gets the first answer again (Idempotent-Replayed: true) "
                   "and another request with it a 409 (docs/configuration.md).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MOST_KEY_CHARS,
               "pattern": "^[\\x20-\\x7e]+$"}}


def authentication(check: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Any]:
    """Marks a face's authentication dependency (the one that finds the caller's principal and
    checks its scope), so that an `AuthFirstRoute` runs it before reading the body. It runs
    once per request: the principal found is kept in the request's scope."""

    async def authenticate(request: Request) -> Any:
        found: dict[Any, Any] = request.scope.setdefault("patron.principals", {})
        if check not in found:
            found[check] = await check(request)
        return found[check]

    authenticate.authentication = True  # type: ignore[attr-defined]
    return authenticate


class AuthFirstRoute(APIRoute):
    """A route that authenticates its caller before it reads the request body, and reads a
    JSON body strictly.

    FastAPI reads and parses a JSON body before it solves dependencies, so a malformed body from
    a caller without valid credentials was answered 400 instead of 401, and a caller without the
    route's scope learned what the body should hold. A route that takes a body runs its
    `authentication` dependencies first; their failures answer as they would have.

    Then a JSON body (`json_body`) is parsed here rather than by FastAPI, which would take one
    sent as a form (curl's `-d` default) for raw bytes and answer that the request "should be a
    valid dictionary", and would read `NaN`, `Infinity` and `1e400`, which are not JSON, as
    values that are then stored as null.

    And an authenticated write (POST, PUT, PATCH, DELETE) that carries an `Idempotency-Key` is
    carried out once for its key (`idempotent`), unless its endpoint is `not_replayed`; its
    OpenAPI operation declares the header."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self._writes():
            self.openapi_extra = {**(self.openapi_extra or {})}
            self.openapi_extra["parameters"] = [*self.openapi_extra.get("parameters", ()),
                                                IDEMPOTENCY_KEY_PARAMETER]

    def _checks(self) -> list[Any]:
        return [d.call for d in self.dependant.dependencies
                if getattr(d.call, "authentication", False)]

    def _writes(self) -> bool:
        """An authenticated write whose answer may be kept for an `Idempotency-Key`."""
        return bool(self._checks() and (self.methods or set()) & WRITE_METHODS
                    and getattr(self.endpoint, "replayed", True))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = self._checks()
        takes_json = self.body_field is not None and not isinstance(self.body_field.field_info,
                                                                    params.Form)
        writes = self._writes()
        if not writes and (self.body_field is None or not (checks or takes_json)):
            return handler

        async def authenticated_first(request: Request) -> Response:
            for check in checks:
                await check(request)  # type: ignore[misc]
            if takes_json:
                await json_body(request)
            key = request.headers.get("idempotency-key") if writes else None
            if key is not None:
                return await idempotent(request, handler, key)
            return await handler(request)

        return authenticated_first


def not_replayed(endpoint: F) -> F:
    """Marks a write whose answer holds a secret, which must not be kept in the clear to be sent
    again: it ignores `Idempotency-Key`. Put it below the route decorator."""
    endpoint.replayed = False  # type: ignore[attr-defined]
    return endpoint


async def idempotent(request: Request, handler: Endpoint, raw_key: str) -> Response:
    """The answer of an authenticated write sent with an `Idempotency-Key`: carried out when the
    key is new, its first answer sent again (`Idempotent-Replayed: true`) when the same request
    already succeeded with it. Keys belong to the credential that sent them; the request they
    guard is its method, path, query and body."""
    svc: Services = request.app.state.services
    principal = next(iter(request.scope["patron.principals"].values()))
    key = f"{principal.credential_id}:{checked_key(raw_key)}"
    fingerprint = request_fingerprint(request.method, request.url.path, request.url.query,
                                      await request.body())
    kept = await svc.idempotency.claim(principal.org_id, key, fingerprint)
    if kept is not None:
        response = Response(kept.body, status_code=kept.status)
        response.raw_headers.extend((name.encode("latin-1"), value.encode("latin-1"))
                                    for name, value in kept.headers)
        response.raw_headers.append((b"idempotent-replayed", b"true"))
        return response
    try:
        with svc.idempotency.guarding(principal.org_id, key, fingerprint):
            response = await handler(request)
    except BaseException:
        await svc.idempotency.finish(principal.org_id, key, fingerprint, None)
        raise
    body = getattr(response, "body", None)
    await svc.idempotency.finish(principal.org_id, key, fingerprint, None if body is None else
                                 answer_of(response.status_code, bytes(body),
                                           response.raw_headers))
    return response


async def json_body(request: Request) -> None:
    """Parse a route's JSON body strictly (`request_json`), where FastAPI will find it
    (Starlette's `Request.json` keeps what it parsed as `_json`). No body is left to FastAPI,
    which answers that the body is required. A body sent without a JSON media type is 415
    (FastAPI too reads a body as JSON only when it says so)."""
    body = await request.body()
    if not body:
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            "the request body must be JSON sent as Content-Type: application/json"
            + (f", not {media_type[:100]}" if media_type else ""))
    request._json = request_json(body)


# Deeper than any body of the three APIs (a Capillary customer nests about 6 levels), and far
# below the 255 levels orjson writes: a value stored deeper could never be answered again.
MAX_JSON_DEPTH = 32


def request_json(body: bytes, *, reason: str | None = None) -> Any:
    """A request body as strict JSON, for every route that reads one: text that is not JSON
    (invalid UTF-8, `NaN`, `Infinity`, a number too large for a float) is 400 "malformed JSON
    body", and so is nesting deeper than MAX_JSON_DEPTH. A whole number beyond 64 bits is 400 "a
    number is out of range": the store keeps JSON that orjson reads, and orjson would read it
    back as a float, its digits lost."""
    try:
        value = json.loads(body, parse_constant=_not_json, parse_float=_finite,
                           parse_int=whole_number)
    except NumberOutOfRange:
        raise number_out_of_range() from None
    except (ValueError, RecursionError):
        raise ValidationFailed("malformed JSON body", reason=reason) from None
    if _nests_deeper(value, MAX_JSON_DEPTH):
        raise ValidationFailed(f"malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels",
                               reason=reason)
    return value


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep; visits containers only."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        container, depth = stack.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


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

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", AuthFirstRoute)
        super().__init__(**kwargs)

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


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


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


class PlainDispatch:
    """The app's router, with a shortcut to its `PlainRoute`s: one regular expression, made of
    every route's path pattern in the router's order, finds the route a GET request selects in
    one pass, and when that route is plain its endpoint is called at once. FastAPI (0.165)
    otherwise walks the included routers and their routes one by one, matching the chosen
    router's routes twice and setting and restoring scope keys for every candidate: some 17%
    of a customer-details read (docs/performance.md). Only GET-capable routes are in the
    pattern, so its first alternative that matches is the route Starlette's first full match
    would select; any other outcome (no match, a route that is not plain, a `root_path`) goes
    to the router as before. The endpoint runs inside the same middleware and exception
    handlers as every route. The pattern is rebuilt when the route table changes (a route
    added, or the app's table reordered)."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.routed = router.middleware_stack  # what Router.__call__ would have called
        self._top: list[Any] | None = None  # the route table the pattern was made from
        self._lists: list[list[Any]] = []  # the included routers' route lists, and their lengths
        self._lengths: list[int] = []
        self._pattern: re.Pattern[str] | None = None
        self._targets: list[tuple[Any, tuple[tuple[str, str, Any], ...]] | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            if self._top != self.router.routes or self._lengths != list(map(len, self._lists)):
                self._index()
            hit = self._pattern.match(scope["path"]) if self._pattern else None
            if hit is not None and hit.lastindex and (target := self._targets[hit.lastindex]):
                route, params = target
                scope["router"] = self.router
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {name: convert.convert(hit.group(group))
                                        for name, group, convert in params}
                response = await route.endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.routed(scope, receive, send)

    def _index(self) -> None:
        alternatives: list[str] = []
        targets: list[tuple[Any, tuple[tuple[str, str, Any], ...]] | None] = [None]
        for route, matcher in _flat_routes(self.router.routes):
            regex = getattr(matcher, "path_regex", None)
            if regex is None:  # a kind of route this index cannot read: stop here
                break
            methods = getattr(matcher, "methods", None)
            if methods and "GET" not in methods:
                continue
            n = len(targets)
            names = list(regex.groupindex)
            body = regex.pattern
            for name in names:
                body = body.replace(f"(?P<{name}>", f"(?P<p{n}_{name}>", 1)
            alternatives.append(f"(?P<r{n}>{body})")
            convertors = getattr(matcher, "param_convertors", {})
            plain = isinstance(route, PlainRoute) and all(name in convertors for name in names)
            targets.append((route, tuple((name, f"p{n}_{name}", convertors[name])
                                         for name in names)) if plain else None)
        pattern = re.compile("|".join(alternatives)) if alternatives else None
        # lastindex must name the alternative: renumber targets by each outer group's index
        self._targets = [None] * ((pattern.groups if pattern else 0) + 1)
        if pattern is not None:
            for n, target in enumerate(targets[1:], start=1):
                self._targets[pattern.groupindex[f"r{n}"]] = target
        self._pattern = pattern
        self._top = list(self.router.routes)
        self._lists = list(_included_route_lists(self.router.routes))
        self._lengths = list(map(len, self._lists))


def _flat_routes(routes: Any) -> Any:
    """(route, matcher) for every route in matching order: FastAPI 0.165 keeps an included
    router as one entry whose effective contexts do the matching; older versions copy the
    routes themselves."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            yield route, route
            continue
        for context in contexts():
            yield context.original_route, context


def allowed_methods(routes: Any, path: str) -> list[str]:
    """Every method some route takes at `path` (a 405's `Allow`: Starlette names only the
    methods of the first route whose path matched)."""
    methods: set[str] = set()
    for _route, matcher in _flat_routes(routes):
        regex = getattr(matcher, "path_regex", None)
        if regex is not None and regex.match(path):
            methods.update(getattr(matcher, "methods", None) or ())
    return sorted(methods)


def _included_route_lists(routes: Any) -> Any:
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            yield inner
            yield from _included_route_lists(inner)


# A query parameter as the OpenAPI document gives it: (name, required, JSON schema).
QueryParameter = tuple[str, bool, dict[str, Any]]


def query_parameters(*names: str | tuple[str, bool] | QueryParameter,
                     path: tuple[str, ...] = ()) -> dict[str, Any]:
    """`openapi_extra` for a `PlainRoute`: its path parameters and its query parameters as the
    route reads them: `name` (a string), `(name, required)`, or `(name, required, schema)`. An
    array schema is written comma-separated (`style: form`, `explode: false`)."""
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in path]
    for entry in names:
        if isinstance(entry, str):
            entry = (entry, False)
        name, required, schema = (*entry, {"type": "string"}) if len(entry) == 2 else entry
        param = {"name": name, "in": "query", "required": required, "schema": schema}
        if schema.get("type") == "array":
            param.update(style="form", explode=False)
        params.append(param)
    return {"parameters": params}


async def services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency on a worker thread, a thread hop
    # on every request (measured: a third of the GET /v2/customers/{id} budget).
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]

# Schemas the routes' `openapi_extra` refer to as `#/components/schemas/<name>` (`schema_of`),
# which the app adds to its OpenAPI document.
OPENAPI_SCHEMAS: dict[str, Any] = {}


def schema_of(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """A pydantic type's JSON schema for `openapi_extra`, its definitions kept for the
    document's components."""
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    OPENAPI_SCHEMAS.update(schema.pop("$defs", {}))
    return schema


# A value the vendors' docs give as text that clients also send as a JSON number (an identifier,
# an id): a string or a whole number, never a boolean (pydantic's lax `str | int` reads `true`
# as 1, and an identifier `"1"` would join whoever holds it) nor a fraction.
TextOrNumber = StrictStr | StrictInt


def query_dict(request: Request) -> dict[str, str]:
    """The query string as a plain dict: the last value of each name, as Starlette's
    `request.query_params.get` gives it, parsed once per request. For the hot reads: Starlette's
    multi-dict cost an interaction read 8% of its time to build, and its `get` pays a KeyError
    for every absent name (7% more; docs/performance.md)."""
    params: dict[str, str] | None = request.scope.get("patron.query")
    if params is None:
        params = request.scope["patron.query"] = dict(parse_qsl(
            request.scope["query_string"].decode("latin-1"), keep_blank_values=True))
    return params


def digits(text: str, most: int = 18) -> bool:
    """ASCII digits only, at most `most` of them: `str.isdigit` also takes `²`, which `int`
    refuses, so every numeric path and query value goes through here before `int()`."""
    return text.isascii() and text.isdigit() and len(text) <= most


def path_id(raw: str, missing: Callable[[], Exception]) -> int:
    """An id from a path. Anything that cannot be one (not `digits`, so also over 64 bits)
    names nothing and raises `missing()`, the error of an id that is not there."""
    if not digits(raw):
        raise missing()
    return int(raw)


def base_url(request: Request, svc: Services) -> str:
    """The base of the absolute URLs Patron hands out: PATRON_PUBLIC_URL, else the request's."""
    return svc.settings.public_url or str(request.base_url).rstrip("/")
