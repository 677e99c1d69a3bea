"""Reliability: acknowledged writes survive kill -9, bad input never yields a 500, logs hold no
secrets or PII, every response carries a request id."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from patron.app import create_app
from patron.config import Settings
from patron.db.database import Database
from patron.db.statement import sql
from patron.errors import ValidationFailed
from patron.services import Services
from tests.conftest import add_customer, marketing_auth, till_auth, workspace_auth
from tests.envelopes import assert_face_envelope
from tests.processes import patron, patron_env, serve


async def test_acknowledged_writes_survive_kill_9(db: Database, tmp_path: Path) -> None:
    env = patron_env(db, tmp_path / "kill9")
    creds = json.loads(patron(env, "org", "create", "--name", "kill9", "--json").stdout)
    proc, base = serve(env)
    acknowledged: list[tuple[str, int]] = []
    stop = threading.Event()
    headers = till_auth(SimpleNamespace(**creds))

    def writer(n: int) -> None:
        with httpx.Client(base_url=base, timeout=5) as c:
            i = 0
            while not stop.is_set():
                mobile = f"9199{n}{i:07d}"
                i += 1
                try:
                    r = c.post("/v2/customers", headers=headers, json={"profiles": [
                        {"firstName": "K", "identifiers": [{"type": "mobile", "value": mobile}]}]})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acknowledged.append((mobile, r.json()["createdId"]))

    try:
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    assert len(acknowledged) > 10, "too few writes to make the test meaningful"
    # Restart on the same store and check every acknowledged write through the API.
    proc, base = serve(env)
    try:
        with httpx.Client(base_url=base, timeout=5) as c:
            for mobile, customer_id in acknowledged:
                r = c.get("/v2/customers/lookup", headers=headers, params={
                    "source": "INSTORE", "identifierName": "mobile", "identifierValue": mobile})
                assert r.status_code == 200, (mobile, r.text)
                assert r.json()["entity"] == customer_id
    finally:
        proc.terminate()
        proc.wait(10)


async def test_bad_input_gets_the_face_envelope_never_a_500(client: httpx.AsyncClient,
                                                            org: Any) -> None:
    loyalty = till_auth(org)
    work = workspace_auth(org)
    json_headers = {"content-type": "application/json"}
    cases: list[tuple[str, str, dict[str, str], Any]] = [
        ("POST", "/v2/customers", loyalty, b"{not json"),
        ("POST", "/v2/customers", loyalty, b'{"profiles": "x"}'),
        ("POST", "/v2/customers", loyalty, b'{"profiles": [{"identifiers": [{"type": 5}]}]}'),
        ("POST", "/v2/customers", loyalty, b'{"profiles": [{"source": "NOPE", '
                                           b'"identifiers": [{"type": "mobile", '
                                           b'"value": "919999999999"}]}]}'),
        ("POST", "/v2/customers", loyalty, b'{"profiles": [{"identifiers": '
                                           b'[{"type": "shoe", "value": "x"}]}]}'),
        ("POST", "/v2/customers", loyalty, b"[1,2,3]"),
        ("POST", "/v2/customers", loyalty, b"x" * 2_000_000),
        ("PUT", "/v2/customers/12", loyalty, b"null"),
        ("GET", "/v2/customers/99999999999999999999999999?source=INSTORE", loyalty, None),
        ("GET", "/v2/customers/-1?source=INSTORE", loyalty, None),
        ("GET", "/v2/customers/1?source=INSTORE&includedOnlyCurrentProfile=perhaps", loyalty,
         None),
        ("GET", "/v2/card/series/4531498750041618099732480", loyalty, None),
        ("PUT", "/v2/card/series/4531498750041618099732480", loyalty, b'{"name": "x"}'),
        ("PUT", "/v2/requests", loyalty, b'{"id": 1}'),
        ("PUT", "/v2/requests", loyalty, json.dumps([{"id": "x", "status": "APPROVED"}] * 11)
         .encode()),
        ("POST", "/v3/oauth/token/generate", {}, b'{"key": 1}'),
        ("GET", "/v1/customers?page[size]=100000000", {}, None),
        ("GET", "/v1/customers/abc", {}, None),
        ("POST", "/api/customers", work, b"{not json"),
        ("POST", "/api/customers", work, b"x" * 2_000_000),
        ("GET", "/api/customers?limit=1000000", work, None),
        ("GET", "/api/customers?page=abc", work, None),
        ("GET", "/api/customers/not-a-number", work, None),
        ("PATCH", "/api/customers/1", work, b'{"metadata": "x"}'),
    ]
    for method, path, headers, body in cases:
        r = await client.request(method, path, headers={**headers, **json_headers}, content=body)
        assert_face_envelope(path, r)
        assert r.headers.get("x-request-id")


async def test_a_json_body_is_read_strictly_in_each_face(client: httpx.AsyncClient,
                                                         org: Any) -> None:
    """A JSON route's body is JSON: sent as a form or as text it is 415, and `NaN`, `Infinity`,
    a number beyond a float and invalid UTF-8 are malformed (400) rather than stored as null.
    Each answer is in its face's envelope; nothing is written."""
    loyalty, work = till_auth(org), workspace_auth(org)
    routes = [("POST", "/v2/customers", loyalty, '{"profiles": [{"identifiers": [{"type": '
               '"mobile", "value": "919876500001"}], "firstName": %s}]}'),
              ("POST", "/api/customers", work, '{"externalId": "strict-1", "metadata": {"x": %s}}')]
    for method, path, headers, template in routes:
        for media_type in ("application/x-www-form-urlencoded", "text/plain", None):
            r = await client.request(method, path, content=(template % '"Ann"').encode(),
                                     headers={**headers, **({"content-type": media_type}
                                                            if media_type else {})})
            assert r.status_code == 415, r.text
            assert_face_envelope(path, r)
            assert "application/json" in r.text
        for value in ("NaN", "-Infinity", "1e400"):
            r = await client.request(method, path, content=(template % value).encode(),
                                     headers={**headers, "content-type": "application/json"})
            assert r.status_code == 400, (value, r.text)
            assert_face_envelope(path, r)
            assert "malformed JSON body" in r.text
        r = await client.request(method, path, content=(template % '"\xff"').encode("latin-1"),
                                 headers={**headers, "content-type": "application/json"})
        assert r.status_code == 400 and "malformed JSON body" in r.text, r.text
        # A whole number beyond 64 bits would be read back from the store as a float.
        for value in (str(2**64), str(-(2**63) - 1), "1" * 30):
            r = await client.request(method, path, content=(template % value).encode(),
                                     headers={**headers, "content-type": "application/json"})
            assert r.status_code == 400 and "a number is out of range" in r.text, r.text
            assert_face_envelope(path, r)
    assert (await client.get("/api/customers/count", headers=work)).json()["data"]["count"] == 0
    # The same bodies sent as JSON are taken, every digit of a 64-bit number kept.
    r = await client.post("/api/customers", content=(routes[1][3] % "1.5").encode(),
                          headers={**work, "content-type": "application/json; charset=utf-8"})
    assert r.status_code == 201 and r.json()["data"]["metadata"] == {"x": 1.5}, r.text
    r = await client.patch("/api/customers/ext_strict-1", headers=work,
                           json={"metadata": {"big": 2**64 - 1, "low": -(2**63)}})
    assert r.json()["data"]["metadata"] == {"x": 1.5, "big": 2**64 - 1, "low": -(2**63)}
    r = await client.get("/api/customers/ext_strict-1", headers=work)
    assert r.json()["data"]["metadata"] == {"x": 1.5, "big": 2**64 - 1, "low": -(2**63)}
    r = await client.post("/v2/customers", json=json.loads(routes[0][3] % '"Ann"'),
                          headers=loyalty)
    assert r.status_code == 200, r.text


async def test_json_nested_too_deep_is_refused_before_anything_is_stored(
        client: httpx.AsyncClient, org: Any) -> None:
    """Nesting beyond 32 levels is 400 in every route that reads JSON, before any write: deep
    enough to overflow the parser (2,000) was a 500, and a value stored 250 deep was written and
    then could never be answered (orjson writes at most 255 levels)."""
    loyalty, work = till_auth(org), workspace_auth(org)

    def nested(depth: int) -> str:
        return "[" * depth + "]" * depth

    for depth in (33, 250, 2_000, 100_000):
        for path, headers, body in (
                ("/api/customers", work, '{"externalId": "deep", "metadata": {"a": %s}}'),
                ("/v2/customers", loyalty, '{"profiles": [{"identifiers": [{"type": "mobile", '
                 '"value": "919876500002"}], "fields": {"a": %s}}]}'),
                ("/v2/transactions", loyalty, '{"type": "REGULAR", "billNumber": "D-1", '
                 '"billAmount": 10, "extendedFields": {"a": %s}}'),
                ("/patron/v1/records", work, '{"kind": "tag", "x": %s}'),
                ("/v2/events", loyalty, '{"eventName": "x", "a": %s}')):
            r = await client.post(path, content=(body % nested(depth)).encode(),
                                  headers={**headers, "content-type": "application/json"})
            assert r.status_code == 400 and "malformed JSON body" in r.text, (path, depth, r.text)
            assert_face_envelope(path, r)
    assert (await client.get("/api/customers/count", headers=work)).json()["data"]["count"] == 0
    # 32 levels in all are taken, stored and answered.
    r = await client.post("/api/customers", headers=work,
                          json={"externalId": "deep", "metadata": {"a": json.loads(nested(30))}})
    assert r.status_code == 201, r.text
    assert (await client.get("/api/customers?limit=5", headers=work)).status_code == 200


async def test_a_trailing_slash_is_an_unknown_path_not_a_redirect(client: httpx.AsyncClient,
                                                                   org: Any) -> None:
    loyalty, work = till_auth(org), workspace_auth(org)
    for path, headers in (("/api/customers/", work), ("/api/customers/count/", work),
                          ("/v2/customers/lookup/?source=INSTORE", loyalty)):
        r = await client.get(path, headers=headers)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert_face_envelope(path, r)


async def test_a_number_out_of_range_is_bad_input_on_both_engines(db: Database) -> None:
    """Over 64 bits, a number that reaches either driver is a 400 (number_out_of_range), not a
    crash, and its transaction is rolled back."""
    wide = sql("SELECT CAST($1 AS BIGINT)")
    with pytest.raises(ValidationFailed) as caught:
        await db.fetchval(wide, 2**70)
    assert caught.value.reason == "number_out_of_range"
    with pytest.raises(ValidationFailed):
        async with db.transaction() as tx:
            await tx.fetchval(wide, -(2**64))
    assert await db.fetchval(wide, 2**63 - 1) == 2**63 - 1


async def test_credentials_are_checked_before_the_body(client: httpx.AsyncClient,
                                                      org: Any) -> None:
    """A malformed body from a caller without valid credentials is 401, as any request of
    theirs is; with valid credentials, the same body is 400. FastAPI parses a body before it
    solves dependencies (faces.AuthFirstRoute)."""
    malformed = b"{not json"
    json_headers = {"content-type": "application/json"}
    cases = [
        ("POST", "/v2/customers", {}, till_auth(org)),
        ("PUT", "/v2/customers/1", {"Authorization": "Basic bm9ib2R5Omhhc2g="}, till_auth(org)),
        ("POST", "/v2/transactions?identifierName=mobile&identifierValue=1", {},
         till_auth(org)),
        ("POST", "/api/customers", {}, workspace_auth(org)),
        ("PATCH", "/api/customers/1", {"X-API-Key": "lw_test_nobody"}, workspace_auth(org)),
        ("POST", "/patron/v1/records", {}, workspace_auth(org)),
    ]
    for method, path, stranger, member in cases:
        r = await client.request(method, path, headers={**json_headers, **stranger},
                                 content=malformed)
        assert r.status_code == 401, (path, r.text)
        assert_face_envelope(path, r)
        r = await client.request(method, path, headers={**json_headers, **member},
                                 content=malformed)
        assert r.status_code == 400, (path, r.text)


async def test_v1_1_paths_answer_every_error_in_the_v1_1_envelope(client: httpx.AsyncClient,
                                                                  org: Any) -> None:
    """What refuses a v1.1 request before its route runs (credentials, an unknown path, the
    method, the body's size, a bad Idempotency-Key) answers in v1.1's own envelope, in XML when
    the request asks for XML, as the route's own errors do."""
    till = till_auth(org)
    nobody = {"Authorization": "Basic bm9ib2R5Omhhc2g="}
    cases = [
        ("GET", "/v1.1/customer/interaction?mobile=919812340001", nobody, None, 401),
        ("GET", "/v1.1/points/isredeemable?mobile=1&points=1", {}, None, 401),
        ("GET", "/v1.1/customer/nothing", till, None, 404),
        ("DELETE", "/v1.1/points/redeem", till, None, 405),
        ("POST", "/v1.1/points/redeem", {**till, "content-type": "application/json"},
         b"[" + b"1," * 600_000 + b"1]", 413),
        ("POST", "/v1.1/points/redeem", {**till, "Idempotency-Key": "tab\there"}, b"{}", 400),
    ]
    for method, path, headers, body, status in cases:
        r = await client.request(method, path, headers=headers, content=body)
        assert r.status_code == status, (path, r.text)
        assert_face_envelope(path, r)
        assert r.json()["response"]["status"]["code"] == status
        r = await client.request(method, path + ("&" if "?" in path else "?") + "format=xml",
                                 headers=headers, content=body)
        assert r.status_code == status and r.headers["content-type"] == "application/xml"
        assert f"<code>{status}</code>" in r.text and r.text.startswith("<?xml"), r.text
    r = await client.get("/v1.1/points/isredeemable?mobile=1&points=1", headers=nobody)
    assert r.json()["response"]["status"]["message"].startswith("Authentication failed")


async def test_head_is_answered_as_get_without_the_body(client: httpx.AsyncClient,
                                                       org: Any) -> None:
    """RFC 9110: a server that answers GET answers HEAD, with the GET's status and headers."""
    customer_id = await add_customer(client, till_auth(org), identifiers=[
        {"type": "mobile", "value": "919812340077"}])
    marketing = await marketing_auth(client, org)
    for path, headers in ((f"/v2/customers/{customer_id}?source=INSTORE", till_auth(org)),
                          ("/v2/customers/1?source=INSTORE", till_auth(org)),
                          ("/api/customers?limit=2", workspace_auth(org)),
                          ("/v1/customers", marketing), ("/v1/customers", {}),
                          ("/healthz", {})):
        got = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert head.status_code == got.status_code, (path, head.status_code)
        assert head.content == b"" and head.headers["content-type"] == \
            got.headers["content-type"], path
        assert head.headers["content-length"] == got.headers["content-length"], path
    r = await client.head("/v2/requests", headers=till_auth(org))  # no GET route: the method
    assert r.status_code == 405 and "GET" not in r.headers["allow"]


async def test_text_with_a_nul_is_refused_alike_on_both_databases(client: httpx.AsyncClient,
                                                                   org: Any) -> None:
    """U+0000 is valid JSON that PostgreSQL's text cannot hold: a 400 in the face's envelope on
    both databases (SQLite would store it), nothing written, and a look-up by such text is the
    same 400, not a miss on one database only."""
    cases = [
        ("/v2/customers", till_auth(org), {"profiles": [{"firstName": "A\u0000", "identifiers": [
            {"type": "mobile", "value": "919812340001"}]}]}),
        ("/api/customers", workspace_auth(org), {"externalId": "nul-1", "firstName": "B\u0000"}),
        ("/api/customers", workspace_auth(org), {"externalId": "nul\u00002"}),
    ]
    for path, headers, body in cases:
        r = await client.post(path, headers=headers, json=body)
        assert r.status_code == 400, (path, r.text)
        assert_face_envelope(path, r)
        assert "U+0000" in r.text
    r = await client.get("/api/customers/count", headers=workspace_auth(org))
    assert r.json()["data"]["count"] == 0
    r = await client.get("/v2/customers/lookup?source=INSTORE&identifierName=externalId"
                         "&identifierValue=a%00b", headers=till_auth(org))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 400, r.text


async def test_oversized_body_is_413_in_each_face(client: httpx.AsyncClient, org: Any) -> None:
    big = b"[" + b"1," * 600_000 + b"1]"
    r = await client.post("/v2/customers", headers={**till_auth(org),
                          "content-type": "application/json"}, content=big)
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == 413
    r = await client.post("/api/customers", headers={**workspace_auth(org),
                          "content-type": "application/json"}, content=big)
    assert r.status_code == 413 and r.json()["success"] is False
    # Only the image upload routes take the larger cap, not any path named like them.
    for path in ("/api/customers/ext_x/setImage", "/v2/customers/1/x/setImage"):
        r = await client.post(path, headers={**workspace_auth(org),
                              "content-type": "application/json"}, content=big)
        assert r.status_code == 413, (path, r.status_code)
    r = await client.post("/v2/customers/1/setImage", headers={
        **till_auth(org), "content-type": "application/json"}, content=big)
    assert r.status_code != 413


async def test_logs_hold_no_secrets_or_pii(client: httpx.AsyncClient, org: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = till_auth(org)
    email = "secret.person@example.com"
    customer_id = await add_customer(client, headers, firstName="Secretive",
                                     identifiers=[{"type": "email", "value": email},
                                                  {"type": "mobile", "value": "919812345678"}])
    await client.get(f"/v2/customers/lookup?source=INSTORE&identifierName=email"
                     f"&identifierValue={email}", headers=headers)
    await client.get(f"/v2/customers/{customer_id}?source=INSTORE", headers=headers)
    await client.post("/v3/oauth/token/generate",
                      json={"key": org.loyalty_key, "secret": org.loyalty_secret})
    await client.get("/api/customers?search=Secretive", headers=workspace_auth(org))
    await client.get("/v2/customers/1?source=INSTORE",
                     headers={"Authorization": "Basic bm9ib2R5Omhhc2g="})
    # What Patron itself logged (the test's own HTTP client logs its URLs; that is not ours).
    text = "\n".join(r.getMessage() for r in caplog.records
                     if not r.name.startswith(("httpx", "httpcore")))
    assert "request" in text  # the access log did run
    for needle in (email, "919812345678", "Secretive", org.till_password, org.loyalty_secret,
                   org.workspace_key, headers["Authorization"].split()[1],
                   "bm9ib2R5Omhhc2g="):
        assert needle not in text


def test_every_worker_writes_the_access_log(db: Database, tmp_path: Path) -> None:
    """`patron serve --workers 2` logs each request: uvicorn configures logging afresh in every
    worker process it starts, so Patron's loggers are in the configuration it is given."""
    env = {**patron_env(db, tmp_path / "store"), "PATRON_WORKERS": "2",
           "PATRON_ACCESS_LOG": "true"}
    proc, base = serve(env)
    try:
        for _ in range(20):
            with httpx.Client(base_url=base, timeout=5) as fresh:  # a new connection each
                assert fresh.get("/healthz").status_code == 200
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["route"] == "/healthz" and line["method"] == "GET"]
    assert len(ours) >= 20, stderr  # /readyz is asked too, while the server starts


async def test_stopping_waits_for_the_scheduled_jobs_before_closing_the_store(
        db: Database, org: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A server stopped while its loyalty jobs are in a transaction (they start with it) rolls
    them back before it closes the store, instead of logging their failure on a closed one."""
    running = asyncio.Event()

    async def run_jobs(self: Services, org_id: int) -> Any:
        async with self.db.transaction():
            running.set()
            await asyncio.sleep(60)

    monkeypatch.setattr(Services, "run_jobs", run_jobs)
    caplog.set_level(logging.INFO)
    app = create_app(Settings(database_url=db.url))
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(running.wait(), 10)
    await asyncio.sleep(0.2)  # a job still running after the shutdown would fail by now
    assert not [r for r in caplog.records if r.name == "patron.loyalty"]


async def test_a_started_server_leaves_what_it_built_out_of_full_collections(
        db: Database) -> None:
    """What a worker builds at start is frozen for the garbage collector: a full collection
    walking it stopped every request in flight for about 40 ms (docs/performance.md)."""
    gc.unfreeze()
    app = create_app(Settings(database_url=db.url, loyalty_jobs_seconds=0))
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


async def test_an_unexpected_error_is_a_500_in_the_envelope_and_logged(
        app: Any, caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v2/broken", broken)
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://patron.test") as c:
        r = await c.get("/v2/broken", headers={"X-Request-Id": "broken-1"})
    assert r.status_code == 500 and r.json()["errors"][0]["message"] == "internal error"
    assert "a bug" not in r.text
    lines = [json.loads(rec.getMessage()) for rec in caplog.records
             if rec.name == "patron.access"]
    assert {"request_id": "broken-1", "status": 500} in [
        {k: line[k] for k in ("request_id", "status")} for line in lines]


async def test_a_client_that_leaves_mid_body_is_no_server_error(
        app: Any, org: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A client that disconnects while it sends its body (a timeout, a dropped connection) is
    logged as a 499 request, without an error or a traceback: it is no fault of the server."""
    caplog.set_level(logging.INFO)
    messages = [{"type": "http.request", "body": b'{"profiles": [', "more_body": True}]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in till_auth(org).items()]
    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
               "method": "POST", "scheme": "http", "path": "/v2/customers",
               "raw_path": b"/v2/customers", "query_string": b"", "root_path": "",
               "headers": [(b"host", b"patron.test"), (b"content-type", b"application/json"),
                           (b"content-length", b"100"), *headers],
               "client": ("127.0.0.1", 1), "server": ("patron.test", 80)}, receive, send)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "patron.access"]
    assert [(line["route"], line["status"]) for line in lines] == [("/v2/customers", 499)]


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    echoed = r.headers["x-request-id"]
    assert echoed != "bad id with spaces" and len(echoed) == 32
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


async def test_postgresql_sessions_plan_statements_once(db: Database) -> None:
    """Patron's statements are prepared once per connection and keyed by organisation and
    customer; its PostgreSQL sessions ask for generic plans so that none is re-planned on every
    request (docs/performance.md § Loyalty engine)."""
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL session setting")
    setting = sql("SELECT current_setting('plan_cache_mode')", sqlite="SELECT ''")
    # Two connections held at once: the setting is the pool's, not one connection's.
    async with db.transaction() as first, db.transaction() as second:
        assert await first.fetchval(setting) == "force_generic_plan"
        assert await second.fetchval(setting) == "force_generic_plan"
        pid = sql("SELECT pg_backend_pid()", sqlite="SELECT 0")
        assert await first.fetchval(pid) != await second.fetchval(pid)


async def test_postgresql_connections_go_to_the_longest_waiter(db: Database) -> None:
    """Requests get the pool's connections in the order they asked for one. Under load a new
    request often starts between a connection's release and the resumption of the request
    that waited longest; asyncpg's queue then gave the connection to the newcomer and sent the
    waiter to the back (p99 68 ms -> 24 ms on GET /v2/customers/{id}, docs/performance.md).
    Here the newcomer starts exactly then: as the connection is handed back."""
    if db.dialect != "postgresql":
        pytest.skip("the PostgreSQL pool's order")
    import asyncpg

    from patron.db.database import SESSION_SETTINGS, PostgresDatabase

    served: list[str] = []
    one = sql("SELECT 1")
    newcomers: list[asyncio.Task[None]] = []

    async def request(name: str) -> None:
        await database.fetchval(one)
        served.append(name)

    class HandedBack(list):  # a request arrives as a connection is handed back
        def append(self, conn: Any) -> None:
            super().append(conn)
            if not newcomers:
                newcomers.append(asyncio.create_task(request("newcomer")))

    pool = await asyncpg.create_pool(db.url, min_size=1, max_size=1,  # type: ignore[attr-defined]
                                     server_settings=SESSION_SETTINGS)
    database = PostgresDatabase(db.url, pool)  # type: ignore[attr-defined]
    database._idle = HandedBack()
    try:
        first = asyncio.create_task(request("first"))
        await asyncio.sleep(0)  # first has the connection
        waiters = [asyncio.create_task(request(f"waiter {n}")) for n in range(3)]
        await asyncio.wait_for(asyncio.gather(first, *waiters), 10)
        await asyncio.wait_for(asyncio.gather(*newcomers), 10)
    finally:
        await asyncio.wait_for(database.close(), 10)
    assert served == ["first", "waiter 0", "waiter 1", "waiter 2", "newcomer"]


async def test_the_openapi_document_answers_bad_input_as_the_faces_do(
        client: httpx.AsyncClient, org: Any) -> None:
    """No operation declares FastAPI's 422 validation error, which no route answers: bad input
    is 400 in the face's envelope, and the document says so."""
    document = (await client.get("/openapi.json")).json()
    codes = {(path, method): set(op.get("responses", {}))
             for path, ops in document["paths"].items() for method, op in ops.items()}
    assert not [where for where, answered in codes.items() if "422" in answered]
    assert "400" in codes["/v2/customers", "post"] and "400" in codes["/api/customers", "get"]
    assert "HTTPValidationError" not in str(document)
    r = await client.get("/api/customers?limit=abc", headers=workspace_auth(org))
    assert r.status_code == 400
    # Each operation names the credentials its face takes; the token routes and webhooks none.
    schemes = document["components"]["securitySchemes"]
    taken = {path: [name for option in op.get("security", ()) for name in option]
             for path, ops in document["paths"].items() for op in ops.values()}
    assert taken["/v2/customers/{customer_id}"] == ["capillaryBasic", "capillaryOAuthToken"]
    assert taken["/v1.1/customer/interaction"] == ["capillaryBasic", "capillaryOAuthToken"]
    assert taken["/v1/customers"] == ["kajabiBearer"]
    assert taken["/api/customers"] == taken["/patron/v1/records"] == ["linquidBearer",
                                                                     "linquidApiKey"]
    assert taken["/v1/oauth/token"] == taken["/v3/oauth/token/generate"] == []
    assert schemes["capillaryOAuthToken"]["name"] == "X-CAP-API-OAUTH-TOKEN"
    assert schemes["linquidApiKey"]["name"] == "X-API-Key"
    # What the answers are: Kajabi's resources in JSON:API's media type, its token in JSON; the
    # workspace's create answers 201 too.
    media = {path: list(op["responses"]["200"].get("content", {}))
             for path, ops in document["paths"].items() for op in ops.values()
             if "200" in op["responses"]}
    assert media["/v1/customers"] == media["/v1/me"] == ["application/vnd.api+json"]
    assert media["/v1/oauth/token"] == ["application/json"]
    assert "201" in codes["/api/customers", "post"]


async def test_concurrent_writes_of_one_identity_answer_in_the_envelope(
        client: httpx.AsyncClient, org: Any) -> None:
    """Requests at once that all create the same person, move the same external id, or store
    the same record id: one wins, the others get the face's own answer for a taken identity or
    a duplicate, never a server error (on PostgreSQL they truly run at once)."""
    loyalty, work = till_auth(org), workspace_auth(org)
    for round_ in range(3):
        ext = f"race-{round_}"
        answers = await asyncio.gather(*(
            [client.post("/api/customers", headers=work, json={"externalId": ext})
             for _ in range(8)]
            + [client.post("/v2/customers", headers=loyalty, json={"profiles": [{
                "source": "INSTORE", "identifiers": [{"type": "externalId", "value": ext}]}]})
               for _ in range(4)]), return_exceptions=True)
        assert [a for a in answers if isinstance(a, BaseException)] == []
        assert all(r.status_code in (200, 201) for r in answers[:8]), [r.text for r in answers]
        assert all(r.status_code in (200, 400) for r in answers[8:]), [r.text for r in answers]
        made = {r.json()["data"]["id"] for r in answers[:8]}
        assert len(made) == 1
    # Several customers take one external id at once: one has it, the others are told so.
    ids = [await add_customer(client, loyalty, identifiers=[
        {"type": "mobile", "value": f"91990000{i:04d}"}]) for i in range(6)]
    answers = await asyncio.gather(*(
        client.patch(f"/api/customers/{i}", headers=work, json={"externalId": "wanted"})
        for i in ids), return_exceptions=True)
    assert [a for a in answers if isinstance(a, BaseException)] == []
    assert sorted(r.status_code for r in answers) == [200] + [409] * 5, [r.text for r in answers]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {
        "DUPLICATE_EXTERNAL_ID"}
    # The same message ids in batches at once: each stored once, the rest duplicates.
    records = [{"kind": "message", "id": f"m-{n}", "channel": "sms", "body": "hi",
                "customer": {"id": ids[0]}, "sentAt": "2026-01-02T09:00:00Z"} for n in range(30)]
    answers = await asyncio.gather(*(
        client.post("/patron/v1/records", headers=work, json={"records": records[k::2] +
                                                               records[:10]})
        for k in range(4)), return_exceptions=True)
    assert [a for a in answers if isinstance(a, BaseException)] == []
    statuses = {o["status"] for r in answers for o in r.json()["results"]}
    assert statuses <= {"created", "duplicate"}, [r.text for r in answers]
