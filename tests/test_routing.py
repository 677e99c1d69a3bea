"""Face routers answer "not mine" without trying their routes one by one (patron.faces)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Response

from patron.faces import FaceRouter


def _app() -> tuple[FastAPI, list[str]]:
    tried: list[str] = []
    app = FastAPI()
    for prefix in ("/api", "/v2"):
        router = FaceRouter(prefix=prefix)

        @router.get("/customers/{customer_id}")
        async def customer(customer_id: str, prefix: str = prefix) -> Response:
            return Response(f"{prefix} {customer_id}")

        @router.post("/customers")
        async def add() -> Response:
            return Response("added", status_code=201)

        for route in router.routes:
            original = route.matches

            def counted(scope, original=original, path=route.path):  # noqa: ANN001, ANN202
                tried.append(path)
                return original(scope)

            route.matches = counted  # type: ignore[method-assign]
        app.include_router(router)
    return app, tried


async def test_a_path_outside_a_router_is_not_tried_against_its_routes() -> None:
    app, tried = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        assert (await client.get("/v2/customers/7")).text == "/v2 7"
        assert not any(path.startswith("/api") for path in tried)
        tried.clear()
        assert (await client.get("/elsewhere")).status_code == 404
        assert tried == []
        # Inside a router's paths its routes answer as before: the method, a miss, a redirect.
        assert (await client.get("/api/customers/8")).text == "/api 8"
        assert (await client.post("/api/customers")).status_code == 201
        assert (await client.get("/api/customers")).status_code == 405
        assert (await client.get("/api/customers/8/more")).status_code == 404
        assert (await client.post("/api/customers/", follow_redirects=False)).status_code == 307


async def test_routes_added_after_first_use_are_found() -> None:
    app, _ = _app()
    router = FaceRouter()

    @router.get("/first")
    async def first() -> Response:
        return Response("first")

    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        assert (await client.get("/first")).text == "first"

        @router.get("/second")
        async def second() -> Response:
            return Response("second")

        assert (await client.get("/second")).text == "second"
