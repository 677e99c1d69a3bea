"""create_app(): the edge middleware, the error handlers, and the three faces' routers."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from patron.clock import Clock
from patron.config import Settings
from patron.db.database import Database, described, driver_errors, open_database, unavailable
from patron.errors import DatabaseUnavailable, NotFound, PatronError, ValidationFailed
from patron.faces import OPENAPI_SCHEMAS, PlainDispatch, allowed_methods, registry
from patron.faces.edge import Edge
from patron.faces.loyalty.cards import router as cards_router
from patron.faces.loyalty.events import router as events_router
from patron.faces.loyalty.groups import router as groups_router
from patron.faces.loyalty.images import router as images_router
from patron.faces.loyalty.interactions import router as interactions_router
from patron.faces.loyalty.routes import router as loyalty_router
from patron.faces.loyalty.segments import router as segments_router
from patron.faces.loyalty.transactions import router as transactions_router
from patron.faces.marketing.routes import router as marketing_router
from patron.faces.native.routes import router as native_router
from patron.faces.workspace.routes import router as workspace_router
from patron.jsonio import dumps
from patron.services import Services

log = logging.getLogger("patron")


# pydantic names the member of a union that refused a value in its location (`externalId.str`):
# a type, not a field the client sent.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|decimal)$|[\[\]-]")


def _field_path(loc: Any) -> str | None:
    return ".".join(str(x) for x in loc if x not in ("body", "query", "path", "header")
                    and not (isinstance(x, str) and _UNION_MEMBER.search(x))) or None


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first refused field and why; a value that no member of a union took says what each
    member wanted (`externalId: Input should be a valid string, or a valid integer`)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return "malformed JSON body", None
    where = _field_path(first.get("loc", ()))
    reasons = list(dict.fromkeys(e.get("msg", "invalid") for e in errors
                                 if _field_path(e.get("loc", ())) == where))
    reason = reasons[0] + "".join(
        ", or " + r.removeprefix("Input should be ") for r in reasons[1:])
    return f"{where or 'request'}: {reason}", where


async def _loyalty_jobs(svc: Services) -> None:
    """`patron loyalty run` at start-up and then on a schedule, in every server worker: the
    jobs are idempotent and
    lock what they change, so workers running them at once only repeat a no-op."""
    while True:
        try:
            for org in await svc.tenancy.orgs():
                await svc.run_jobs(org["id"])
        except Exception:  # noqa: BLE001 - logged; the next round tries again
            logging.getLogger("patron.loyalty").exception("scheduled loyalty jobs failed")
        await asyncio.sleep(svc.settings.loyalty_jobs_seconds)


# FastAPI's native OpenTelemetry (newer releases) is off unless PATRON_TELEMETRY asks for it.
_NATIVE_TELEMETRY = "telemetry" in inspect.signature(FastAPI.__init__).parameters


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database
        if db is None:
            db = await open_database(settings.effective_database_url,
                                     sqlite_synchronous=settings.sqlite_synchronous,
                                     pg_pool_min=settings.pg_pool_min,
                                     pg_pool_max=settings.pg_pool_max)
        app.state.services = Services.build(settings, db, clock)
        # What is built by now (modules, routes, models, services) lives as long as the process:
        # frozen, the collector's full collections no longer walk it. Each of those took a
        # worker 36-47 ms, every request in flight waiting: GET /v2/customers/{id} had a p90 of
        # 5 ms and a p99 of 28-33 ms; frozen, a full collection takes about 1 ms and the p99 was
        # 9 ms (docs/performance.md).
        gc.collect()
        gc.freeze()
        jobs = asyncio.create_task(_loyalty_jobs(app.state.services)) \
            if settings.loyalty_jobs_seconds > 0 else None
        try:
            yield
        finally:
            if jobs is not None:
                # Awaited, so that a job in a transaction rolls back before the store closes.
                jobs.cancel()
                await asyncio.wait({jobs})
            await app.state.services.close()
            if database is None:
                await db.close()

    telemetry: dict[str, Any] = {} if settings.telemetry or not _NATIVE_TELEMETRY else {
        "telemetry": {"tracing": False, "metrics": False, "logs": False}}
    # No redirect to the path with or without a trailing slash: the faces' paths are exact, and
    # Starlette's redirect is an empty, non-JSON 307 to an absolute http:// URL, wrong behind a
    # TLS proxy. Such a path is an unknown one, answered 404 in its face's envelope.
    app = FastAPI(title="Patron", version="0.1.0", lifespan=lifespan, docs_url="/docs",
                  redoc_url=None, openapi_url="/openapi.json", redirect_slashes=False,
                  **telemetry)
    if database is not None:  # tests and embedded use: no lifespan needed to serve
        app.state.services = Services.build(settings, database, clock)

    @app.exception_handler(PatronError)
    async def on_domain_error(request: Request, exc: PatronError) -> Response:
        return registry.render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, exc: RequestValidationError) -> Response:
        message, where = _validation_message(exc)
        return registry.render(request, ValidationFailed(message, field=where))

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            err: PatronError = NotFound("no such resource")
        else:
            err = PatronError(str(exc.detail), status=exc.status_code)
        response = registry.render(request, err)
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(
                allowed_methods(request.app.router.routes, request.url.path))
        return response

    @app.exception_handler(ClientDisconnect)
    async def on_client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client left before its request's body was read whole: nothing was carried out
        # and nobody is there to answer. Not a server error; the access log says 499, nginx's
        # "client closed request".
        return Response(status_code=499)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        # The database down, unreachable or its file unreadable: 503 with Retry-After in the
        # face's envelope and one line in the log, not a traceback per request. Any other
        # driver error goes on to on_unexpected (a 500).
        if not unavailable(exc):
            raise exc
        route = request.scope.get("route")
        log.warning("database unavailable, answered 503 on %s: %s",
                    getattr(route, "path", None) or "unmatched", described(exc))
        return registry.render(request, DatabaseUnavailable())

    for driver_error in driver_errors():
        app.add_exception_handler(driver_error, on_database_error)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.scope.get("route") and
                      request.scope["route"].path)
        return registry.render(request,
            PatronError("internal error", status=500, reason="internal_error"))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(dumps({"status": "ok"}), media_type="application/json")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        try:
            ok = await request.app.state.services.db.ping()
        except Exception:  # noqa: BLE001 - any failure means not ready
            ok = False
        return Response(dumps({"status": "ready" if ok else "unavailable"}),
                        status_code=200 if ok else 503, media_type="application/json",
                        headers=None if ok else {
                            "Retry-After": str(DatabaseUnavailable.retry_after)})

    # Routes are matched in order, one pattern after another (twice per request in FastAPI
    # 0.165): the busiest come first, customer details, then event ingestion and look-ups, then
    # bills; administration (cards, images, segments, groups) after them.
    # `GET /v2/customers/interaction` must come before `/v2/customers/{id}`.
    app.include_router(interactions_router)
    app.include_router(loyalty_router)
    app.include_router(events_router)
    app.include_router(transactions_router)
    app.include_router(cards_router)
    app.include_router(images_router)
    app.include_router(segments_router)
    app.include_router(groups_router)
    app.include_router(marketing_router)
    app.include_router(workspace_router)
    app.include_router(native_router)
    app.router.middleware_stack = PlainDispatch(app.router)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes,
                       render_too_large=registry.too_large, log_requests=settings.access_log,
                       max_upload_bytes=settings.max_image_upload_bytes)
    app.openapi = lambda: _openapi_document(app)  # type: ignore[method-assign]
    return app


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, completed: bad input answered as Patron answers it (FastAPI declares
    a 422 with its own validation-error body on every operation that takes parameters, and no
    Patron route answers that: each face answers 400 in its own envelope), the schemas the
    routes refer to (`faces.schema_of`), and the credentials each face takes."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", {
                        "description": "Bad input, in the error envelope of the route's face "
                                       "(docs/compat/)"})
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for name, schema in OPENAPI_SCHEMAS.items():
            schemas.setdefault(name, schema)
        document["components"]["securitySchemes"] = registry.SECURITY_SCHEMES
        for path, operations in document.get("paths", {}).items():
            security = registry.security_for(path)
            if security:
                for operation in operations.values():
                    operation["security"] = security
        app.openapi_schema = document
    return app.openapi_schema
