"""`python -m bench inprocess`: what one request costs the app alone, with no server, network or
load generator: the bench app (bench/app.py) called directly as an ASGI app, one request at a
time, over the load run's data (bench/generate.py) and random customers.

Each row is the mean wall and CPU time per request of the static answer, the static answer
behind till authentication, `GET /v2/customers/{id}?source=INSTORE` (the load run's rows) and
the engagement bench's interaction read (`--only interaction`, once its messages are loaded), so
that a change can be weighed in microseconds before it is measured under wrk. Run it under a
profiler for where the time goes, e.g.
`py-spy record -f raw -o read.txt -- .venv/bin/python -m bench inprocess --only read`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from bench.generate import DATA_DIR, Manifest, ensure
from bench.load import BENCH_DIR, till_auth

# --only's choices, and the rows they name.
ROWS = {"static": "static", "auth": "static + till auth", "read": "read",
        "interaction": "interaction"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inprocess", description=__doc__)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20_000, help="requests per row and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per row (the first warms)")
    parser.add_argument("--only", choices=tuple(ROWS),
                        help="one row only (for a profiler)")
    args = parser.parse_args(argv)
    manifest = asyncio.run(ensure(args.engine, args.customers))
    # The settings the load run gives its server (bench/load.py, Server).
    for key in [k for k in os.environ if k.startswith("PATRON_")]:
        del os.environ[key]
    os.environ.update({
        "PATRON_DATABASE_URL": manifest.database_url if args.engine != "sqlite" else "",
        "PATRON_DATA_DIR": str(Path(manifest.database_url.removeprefix("sqlite:///")).parent)
        if args.engine == "sqlite" else str(DATA_DIR),
        "PATRON_ACCESS_LOG": "false",
        "PATRON_RATE_LIMIT_PER_MINUTE": "0",
        "PATRON_LOYALTY_JOBS_SECONDS": "0",
        "PATRON_LOG_LEVEL": "warning",
    })
    body = BENCH_DIR / "results" / "inprocess-static.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_bytes(b"{}")  # the static answer's bytes do not matter without a network
    os.environ["PATRON_BENCH_STATIC_BODY"] = str(body)
    asyncio.run(_measure(manifest, args))


async def _measure(manifest: Manifest, args: argparse.Namespace) -> None:
    from bench.app import create_app  # after the settings above

    app = create_app()
    auth = till_auth(manifest).encode()

    async def call(path: str, query: bytes) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query, "root_path": "", "state": {},
                 "headers": [(b"host", b"bench"), (b"authorization", auth)],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    first, count = manifest.first_id, manifest.customers
    rows: dict[str, Callable[[int], Awaitable[int]]] = {
        "static": lambda _: call("/bench/static", b"source=INSTORE"),
        "auth": lambda _: call("/bench/static-auth", b"source=INSTORE"),
        "read": lambda i: call(f"/v2/customers/{i}", b"source=INSTORE"),
        # The engagement bench's read: the customer with 1,000 messages (bench/engagement.py),
        # when its messages are loaded (else a customer with none).
        "interaction": lambda _: call("/v1.1/customer/interaction",
                                      f"user_id={first}&format=json".encode()),
    }
    if args.only:
        rows = {args.only: rows[args.only]}
    print(f"{args.engine}, {count:,} customers; µs per request (wall / CPU), "
          f"{args.calls:,} calls a round")
    async with app.router.lifespan_context(app):
        for row, fn in rows.items():
            for round_ in range(1, args.rounds + 1):
                ids = [first + random.randrange(count) for _ in range(args.calls)]
                statuses: set[int] = set()
                wall, cpu = time.perf_counter(), time.process_time()
                for customer_id in ids:
                    statuses.add(await fn(customer_id))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(f"  {ROWS[row]:<20} round {round_}: {wall / args.calls * 1e6:7.1f} / "
                      f"{cpu / args.calls * 1e6:7.1f}  statuses {sorted(statuses)}")
