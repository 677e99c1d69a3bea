"""The app the load run serves: Patron's own `create_app`, plus the ceiling routes.

`/bench/static` answers the bytes of a real `GET /v2/customers/{id}` response (captured by the
load run from this same server, written to PATRON_BENCH_STATIC_BODY) with no authentication, no
parameters and no database: the same process, server settings, middleware (the Edge: request
ids, body cap) and error handlers, and the same kind of route (a `PlainRoute`, as the measured
reads are), doing nothing but answering. That is the ceiling. `/bench/static-auth` is the same
answer behind the loyalty face's till authentication, to show how much of the gap is
authentication rather than data access.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

from patron.app import create_app as create_patron_app
from patron.config import Settings
from patron.faces import PlainRoute
from patron.faces.loyalty.errors import JSON
from patron.faces.loyalty.routes import reader


def create_app() -> FastAPI:
    app = create_patron_app(Settings.from_env())
    source = Path(os.environ["PATRON_BENCH_STATIC_BODY"])
    body: list[bytes] = []

    def static_body() -> bytes:
        # Read on first use: the load run writes the file after the server has started.
        if not body:
            body.append(source.read_bytes())
        return body[0]

    # Plain routes (patron.faces.PlainRoute), as the hot reads are: a ceiling served through
    # FastAPI's dependency machinery would carry a cost the measured route no longer pays.
    async def static(request: Request) -> Response:
        return Response(static_body(), media_type=JSON)

    async def static_auth(request: Request) -> Response:
        await reader(request)
        return Response(static_body(), media_type=JSON)

    for path, endpoint in (("/bench/static", static), ("/bench/static-auth", static_auth)):
        app.router.add_api_route(path, endpoint, methods=["GET"], route_class_override=PlainRoute,
                                 include_in_schema=False)

    # The same answer from an ordinary FastAPI route (the ceiling until 2026-12-03).
    @app.get("/bench/static-route", include_in_schema=False)
    async def static_route() -> Response:
        return Response(static_body(), media_type=JSON)

    # First in the route table: routes are matched in order, and at the end of it each request
    # would pay for trying every route of the three faces (about 40% of a static answer,
    # measured with py-spy), a cost the measured routes, near the front, mostly do not pay.
    routes = app.router.routes
    routes[:0] = [routes.pop(), routes.pop(), routes.pop()][::-1]
    return app
