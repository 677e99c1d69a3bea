"""The app the load run serves: Patron's own `create_app`, plus the ceiling routes.

`/bench/static` answers the bytes of a real `GET /v2/customers/{id}` response (captured by the
load run from this same server, written to PATRON_BENCH_STATIC_BODY) with no authentication, no
parameters and no database: the same process, server settings, middleware (the Edge: request
ids, body cap) and error handlers, doing nothing but answering. That is the ceiling.
`/bench/static-auth` is the same answer behind the loyalty face's till authentication
dependency, to show how much of the gap is authentication rather than data access.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

from patron.app import create_app as create_patron_app
from patron.config import Settings
from patron.faces.loyalty.errors import JSON
from patron.faces.loyalty.routes import Reader


def create_app() -> FastAPI:
    app = create_patron_app(Settings.from_env())
    source = Path(os.environ["PATRON_BENCH_STATIC_BODY"])
    body: list[bytes] = []

    def static_body() -> bytes:
        # Read on first use: the load run writes the file after the server has started.
        if not body:
            body.append(source.read_bytes())
        return body[0]

    @app.get("/bench/static", include_in_schema=False)
    async def static() -> Response:
        return Response(static_body(), media_type=JSON)

    @app.get("/bench/static-auth", include_in_schema=False)
    async def static_auth(who: Reader) -> Response:
        return Response(static_body(), media_type=JSON)

    # First in the route table: routes are matched in order, and at the end of it each request
    # would pay for trying every route of the three faces (about 40% of a static answer,
    # measured with py-spy), a cost the measured routes, near the front, mostly do not pay.
    routes = app.router.routes
    routes[:0] = [routes.pop(), routes.pop()][::-1]
    return app
