"""Face routers answer "not mine" without trying their routes one by one (patron.faces)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request, Response

from patron.faces import FaceRouter, PlainDispatch


def _count_tries(router: FaceRouter, tried: list[str]) -> None:
    """Records in `tried` the path of each of the router's routes a request is matched against."""
    for route in router.routes:
        original = route.matches

        def counted(scope, original=original, path=route.path):  # noqa: ANN001, ANN202
            tried.append(path)
            return original(scope)

        route.matches = counted  # type: ignore[method-assign]


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

        _count_tries(router, tried)
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


def _plain_app() -> tuple[FastAPI, FaceRouter, list[str]]:
    """A router whose plain route sits behind a GET route it could shadow and a PUT route with
    the same path, as `/v2/customers/{customer_id}` sits behind `/v2/customers/interaction`."""
    app = FastAPI()
    router = FaceRouter()
    tried: list[str] = []

    @app.exception_handler(KeyError)
    async def on_key_error(request: Request, exc: KeyError) -> Response:
        return Response(f"handled {exc.args[0]}", status_code=418)

    @router.get("/v2/customers/interaction")
    async def interaction() -> Response:
        return Response("interaction")

    @router.put("/v2/customers/special")
    async def special() -> Response:
        return Response("put special")

    @router.plain_get("/v2/customers/{customer_id}")
    async def customer(request: Request) -> Response:
        if request.path_params["customer_id"] == "broken":
            raise KeyError("broken")
        return Response(f"customer {request.path_params['customer_id']} "
                        f"{request.query_params.get('source')}")

    @router.plain_get("/v2/counts/{n:int}")
    async def count(request: Request) -> Response:
        return Response(repr(request.path_params["n"]))

    app.include_router(router)
    app.router.middleware_stack = PlainDispatch(app.router)
    _count_tries(router, tried)
    return app, router, tried


async def test_a_plain_route_is_dispatched_without_trying_routes_one_by_one() -> None:
    app, router, tried = _plain_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        answer = await client.get("/v2/customers/42?source=INSTORE")
        assert answer.text == "customer 42 INSTORE"
        assert tried == []
        assert (await client.get("/v2/counts/7")).text == "7"  # converted as the route says
        # The routes before a plain one still win where they match, as Starlette orders them.
        assert (await client.get("/v2/customers/interaction")).text == "interaction"
        # A route for another method only does not shadow it, as in Starlette.
        assert (await client.get("/v2/customers/special")).text == "customer special None"
        assert (await client.put("/v2/customers/special")).text == "put special"
        # Errors reach the app's exception handlers; misses and other methods route as before.
        assert (await client.get("/v2/customers/broken")).status_code == 418
        assert (await client.get("/v2/counts/x")).status_code == 404
        assert (await client.get("/v2/customers/1/more")).status_code == 404
        assert (await client.post("/v2/customers/1")).status_code == 405

        # A route placed in front later takes its paths from then on.
        inner = FaceRouter()

        @inner.get("/v2/customers/43")
        async def forty_three() -> Response:
            return Response("forty-three")

        app.include_router(inner)
        app.router.routes.insert(0, app.router.routes.pop())
        assert (await client.get("/v2/customers/43")).text == "forty-three"
        assert (await client.get("/v2/customers/44")).text == "customer 44 None"
