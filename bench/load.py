"""The load run: GET /v2/customers/{id} over random ids, beside a static ceiling, in one run.

For each engine: make sure the data exists (bench/generate.py), start the server (uvicorn with
bench.app:create_app, the settings `patron serve` uses, N workers), capture the bytes of a
median-sized real customer response for the static ceiling, then for each endpoint run wrk
(warm-up, then the measured run) while sampling the server's resident memory. Prints a table,
and writes it with the raw figures to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.generate import PG_ADMIN_URL, Manifest, ensure

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
WRK_SCRIPT = BENCH_DIR / "wrk.lua"
CUSTOMER_PATH = "/v2/customers/{id}?source=INSTORE"
# Targets from the benchmark issue.
MIN_RATIO = {"sqlite": 0.5, "postgresql": 0.35}
MAX_P99_MS = 25.0
MAX_RSS_MB = 250.0
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Endpoint:
    name: str  # what the table calls it
    path: str
    auth: bool
    # The wrk script and its arguments; by default wrk.lua's random customer ids.
    script: Path = WRK_SCRIPT
    script_args: tuple[str, ...] | None = None
    per_request: int = 1  # items (events) each request carries, for items/s


STATIC_ROUTE = "static, FastAPI route"
ENDPOINTS = (
    Endpoint("static (ceiling)", "/bench/static?source=INSTORE", auth=False),
    # The same answer from an ordinary FastAPI route: the ceiling until 2026-12-03, before the
    # hot reads became plain routes (docs/performance.md).
    Endpoint(STATIC_ROUTE, "/bench/static-route?source=INSTORE", auth=False),
    Endpoint("static + till auth", "/bench/static-auth?source=INSTORE", auth=True),
    Endpoint("GET /v2/customers/{id}", CUSTOMER_PATH, auth=True),
)


@dataclass
class Measured:
    engine: str
    endpoint: str
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bytes_per_response: float
    errors: int
    rss_max_mb: float
    rss_workers_mb: list[float]
    server_cpu_pct: float
    worker_cpu_pct: list[float]
    database_cpu_pct: float
    wrk_cpu_pct: float
    ratio: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


# -- processes ---------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def process_tree(pid: int) -> list[int]:
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


class MemorySampler(threading.Thread):
    """Samples the summed VmRSS of the server's process tree every 100 ms."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.max_total = 0
        self.max_by_pid: dict[int, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = 0
            for pid in process_tree(self.root_pid):
                rss = rss_bytes(pid)
                total += rss
                self.max_by_pid[pid] = max(self.max_by_pid.get(pid, 0), rss)
            self.max_total = max(self.max_total, total)
            self._stop_event.wait(0.1)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving bench.app:create_app with the settings `patron serve` uses."""

    def __init__(self, manifest: Manifest, workers: int, static_body: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
        env.update({
            "PATRON_DATABASE_URL": manifest.database_url if manifest.engine != "sqlite" else "",
            "PATRON_DATA_DIR": str(Path(manifest.database_url.removeprefix("sqlite:///")).parent)
            if manifest.engine == "sqlite" else str(BENCH_DIR / "data"),
            "PATRON_WORKERS": str(workers),
            "PATRON_ACCESS_LOG": "false",
            "PATRON_RATE_LIMIT_PER_MINUTE": "0",
            # The loyalty bench does the jobs' pending work before serving (bench/loyalty.py).
            "PATRON_LOYALTY_JOBS_SECONDS": "0",
            "PATRON_LOG_LEVEL": "warning",
            "PATRON_BENCH_STATIC_BODY": str(static_body),
            # The code of this checkout, whichever one the environment has installed.
            "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))),
        })
        # BENCH_PATRON_X=v sets the server's PATRON_X=v: a setting to compare, e.g. the pool size.
        env.update({k.removeprefix("BENCH_"): v for k, v in os.environ.items()
                    if k.startswith("BENCH_PATRON_")})
        self.command = [
            sys.executable, "-m", "uvicorn", "bench.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning", "--proxy-headers",
        ]
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(workers)

    def _wait_ready(self, workers: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as r:  # noqa: S310
                    if r.status == 200 and len(process_tree(self.process.pid)) > workers:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after 60 s; see {self.log}")

    def get(self, path: str, auth: str | None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.base}{path}")  # noqa: S310
        if auth:
            request.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the session this run started
                self.process.wait()
        self._log_file.close()


# -- wrk ---------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("[load] wrk not found: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed")
    return found


def run_wrk(wrk: str, base: str, endpoint: Endpoint, manifest: Manifest, auth: str,
            seconds: int, connections: int, threads: int) -> dict[str, Any]:
    args = endpoint.script_args or (str(manifest.first_id), str(manifest.customers),
                                    endpoint.path, auth if endpoint.auth else "")
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--timeout", "5s", "-s", str(endpoint.script), base, "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no summary from wrk:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(match.group(1)))


def measure(engine: str, server: Server, wrk: str, endpoint: Endpoint, manifest: Manifest,
            auth: str, args: argparse.Namespace) -> Measured:
    print(f"[load] {engine}: {endpoint.name}: warm-up {args.warmup} s", flush=True)
    run_wrk(wrk, server.base, endpoint, manifest, auth, args.warmup, args.connections,
            args.threads)
    print(f"[load] {engine}: {endpoint.name}: {args.duration} s at {args.connections} "
          "connections", flush=True)
    tree = process_tree(server.process.pid)
    pg_before = {pid: cpu_seconds([pid]) for pid in postgres_pids()} \
        if engine == "postgresql" else {}
    server_cpu = cpu_seconds(tree)
    worker_cpu = {pid: cpu_seconds([pid]) for pid in tree if pid != server.process.pid}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler = MemorySampler(server.process.pid)
    sampler.start()
    started = time.perf_counter()
    try:
        raw = run_wrk(wrk, server.base, endpoint, manifest, auth, args.duration,
                      args.connections, args.threads)
    finally:
        sampler.stop()
    elapsed = time.perf_counter() - started
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(tree) - server_cpu
    per_worker = sorted((100 * (cpu_seconds([pid]) - before) / elapsed
                         for pid, before in worker_cpu.items()), reverse=True)
    # Per process, so that a backend that exits during the run (a write run's pool recycling
    # its connections) does not take its whole life's CPU out of the sum: the sum of all the
    # backends before and after went negative. A backend started during the run counts whole;
    # one that exited takes its share of the run with it (an undercount, said in the docs).
    # (max: a backend that exits between the listing and the reading reads as 0.)
    pg_cpu = sum(max(0.0, cpu_seconds([pid]) - pg_before.get(pid, 0.0))
                 for pid in (postgres_pids() if engine == "postgresql" else []))
    wrk_cpu = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime
                                                           + wrk_before.ru_stime)
    raw["per_request"] = endpoint.per_request
    requests = raw["requests"]
    errors = sum(v for k, v in raw.items() if k.startswith("errors_"))
    workers = sorted((rss for pid, rss in sampler.max_by_pid.items()
                      if pid != server.process.pid), reverse=True)
    return Measured(
        engine=engine, endpoint=endpoint.name,
        requests_per_s=requests / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000, bytes_per_response=raw["bytes"] / max(requests, 1),
        errors=errors, rss_max_mb=sampler.max_total / 2**20,
        rss_workers_mb=[round(w / 2**20, 1) for w in workers],
        server_cpu_pct=100 * server_cpu / elapsed,
        worker_cpu_pct=[round(w, 1) for w in per_worker], database_cpu_pct=100 * pg_cpu / elapsed,
        wrk_cpu_pct=100 * wrk_cpu / elapsed, raw=raw)


def count_rows(manifest: Manifest, query: str, *args: Any) -> int:
    """One count (a query with $1, $2 ... placeholders) on the engine's data, read-only."""
    if manifest.engine == "sqlite":
        path = manifest.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return int(conn.execute(re.sub(r"\$(\d+)", r"?\1", query), args).fetchone()[0])

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(manifest.database_url)
        try:
            return int(await conn.fetchval(query, *args))
        finally:
            await conn.close()

    return asyncio.run(count())


# -- warm caches -------------------------------------------------------------------------------


def prewarm(manifest: Manifest, tables: Sequence[str] | None = None,
            indexes: Sequence[str] = ()) -> None:
    """Reads the data set once into memory (the OS page cache; on PostgreSQL, shared_buffers
    too), so the run measures a server whose working set fits in memory (as it does in
    production after minutes of traffic), not the first reads of cold pages that a 20 s run
    over random ids would otherwise be full of.

    With `tables` (each with its primary key) and `indexes`, only those, right before the run
    that reads them: the machine of docs/performance.md pages out page-cache pages nobody
    touched for about a minute (DAMON `pageout`, set up by the host), so a data set that takes
    longer than that to read (bench/loyalty.py's 12-17 GB) cannot be warmed whole."""
    started = time.perf_counter()
    if manifest.engine == "sqlite":
        path = Path(manifest.database_url.removeprefix("sqlite:///"))
        # Every run starts from the database file alone: a write-heavy run before it (events
        # posted by the thousand) can leave a WAL of gigabytes behind, which the next run's
        # every page read would have to look through.
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if tables is None:
            with path.open("rb") as f:
                while f.read(1 << 24):
                    pass
        else:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                keys = [r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE "
                    f"'sqlite_autoindex_%' AND tbl_name IN ({', '.join('?' * len(tables))})",
                    tables)]
                for name in (*tables, *keys, *indexes):
                    # dbstat walks every page of one b-tree, which reads it into the cache.
                    conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ? "
                                 "AND aggregate = TRUE", (name,)).fetchone()
    else:
        async def warm() -> None:
            import asyncpg

            conn = await asyncpg.connect(manifest.database_url)
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                # Into shared_buffers ('buffer'; the host never pages them out), largest
                # relations first: when the set is larger than the buffers, the small, hot
                # tables and indexes read last are the ones that stay. Every page passes
                # through the OS page cache on the way.
                await conn.execute(
                    "SELECT pg_prewarm(c.oid, 'buffer') FROM (SELECT c.oid FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') "
                    "AND ($1::text[] IS NULL OR c.relname = ANY($1::text[]) "
                    "OR c.oid IN (SELECT i.indexrelid FROM pg_index i "
                    "JOIN pg_class t ON t.oid = i.indrelid WHERE i.indisprimary "
                    "AND t.relname = ANY($2::text[]))) "
                    "ORDER BY pg_relation_size(c.oid) DESC) AS c",
                    None if tables is None else [*tables, *indexes],
                    None if tables is None else list(tables))
            finally:
                await conn.close()

        asyncio.run(warm())
    what = "data" if tables is None else ", ".join((*tables, *indexes))
    print(f"[load] {manifest.engine}: {what} read into the page cache in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


# -- one engine --------------------------------------------------------------------------------


def till_auth(manifest: Manifest) -> str:
    md5 = hashlib.md5(manifest.till_password.encode(), usedforsecurity=False).hexdigest()
    return "Basic " + base64.b64encode(f"{manifest.till_code}:{md5}".encode()).decode()


def capture_static_body(server: Server, manifest: Manifest, auth: str, target: Path, *,
                        path: str = CUSTOMER_PATH, first_id: int | None = None,
                        count: int | None = None) -> int:
    """The median-sized body of 101 real customer responses (`path` for random customers in
    [first_id, first_id + count), by default all of them) becomes the static response."""
    rng = random.Random(20260101)
    first = manifest.first_id if first_id is None else first_id
    count = manifest.customers if count is None else count
    bodies = []
    for _ in range(101):
        customer_id = first + rng.randrange(count)
        status, body = server.get(path.replace("{id}", str(customer_id)), auth)
        if status != 200:
            raise RuntimeError(f"GET customer {customer_id}: {status} {body[:300]!r}")
        bodies.append(body)
    bodies.sort(key=len)
    target.write_bytes(bodies[len(bodies) // 2])
    status, body = server.get("/bench/static", None)
    if status != 200 or body != bodies[len(bodies) // 2]:
        raise RuntimeError("the static route does not answer the captured body")
    return len(body)


# What GET /v2/customers/{id} reads (its kept document; without one, the customer, its cards
# and its profiles), warmed right before the run: the bench database also holds the other
# benches' data (bench/loyalty.py's 17 GB), more than the page cache or shared_buffers keep.
READ_SET = (("customer_documents", "customers", "profiles", "tills", "cards", "credentials"),
            ("cards_customer", "credentials_lookup"))
DOCUMENTS_KEPT = ("SELECT count(*) FROM customer_documents WHERE org_id = $1 "
                  "AND renderer = $2")


def keep_documents(server: Server, manifest: Manifest, auth: str, connections: int, *,
                   path: str = CUSTOMER_PATH, counted: str = DOCUMENTS_KEPT) -> int:
    """Reads every customer once through the server (at `path`), which keeps each answer as the
    customer's document (docs/operations.md, "Customer documents"), so that the run measures the
    read of a customer read before and unchanged since, as most reads are. Documents of the code
    being measured outlive the run; a change to the code needs them read again (a few minutes
    for 1M customers). Returns how many documents the run starts with (`counted`, given the
    organisation, the renderer and, if it takes a third, the time now in ms)."""
    from patron.customers.documents import code_renderer

    renderer = code_renderer()

    def count() -> int:
        args = (manifest.org_id, renderer, int(time.time() * 1000))
        return count_rows(manifest, counted, *args[:3 if "$3" in counted else 2])

    kept = count()
    documents = os.environ.get("BENCH_PATRON_CUSTOMER_DOCUMENTS", "true").lower()
    if kept >= manifest.customers or documents in ("0", "false", "no", "off"):
        return kept
    print(f"[load] {manifest.engine}: {kept:,} of {manifest.customers:,} customers have a "
          "document of this code: reading every customer once", flush=True)
    started = time.perf_counter()
    asyncio.run(_read_every_customer(server.port, manifest, auth, connections, path))
    for _ in range(50):  # the workers store what they were offered within a fraction of a second
        time.sleep(0.5)
        before, kept = kept, count()
        if kept == before:
            break
    print(f"[load] {manifest.engine}: {kept:,} documents kept in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return kept


async def _read_every_customer(port: int, manifest: Manifest, auth: str,
                               connections: int, customer_path: str) -> None:
    ids = iter(range(manifest.first_id, manifest.first_id + manifest.customers))
    done = 0

    async def reader() -> None:
        nonlocal done
        stream, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for customer_id in ids:  # one iterator shared by every connection
                path = customer_path.replace("{id}", str(customer_id))
                writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n"
                             f"Authorization: {auth}\r\n\r\n".encode())
                head = await stream.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: (\d+)", head)
                if not head.startswith(b"HTTP/1.1 200") or length is None:
                    raise RuntimeError(f"GET customer {customer_id}: {head[:200]!r}")
                await stream.readexactly(int(length.group(1)))
                done += 1
                if done % 200_000 == 0:
                    print(f"[load] {manifest.engine}: {done:,} customers read", flush=True)
        finally:
            writer.close()

    # Opened one at a time, so that each server worker accepts some: at once, one worker can take
    # them all.
    readers = []
    for _ in range(connections):
        readers.append(asyncio.create_task(reader()))
        await asyncio.sleep(0.05)
    await asyncio.gather(*readers)


def run_engine(engine: str, manifest: Manifest, wrk: str, args: argparse.Namespace,
               stamp: str) -> tuple[list[Measured], int, int]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    static_body = RESULTS_DIR / f"{stamp}-{engine}-static.json"
    static_body.write_bytes(b"{}")
    auth = till_auth(manifest)
    prewarm(manifest, *READ_SET)
    server = Server(manifest, args.workers, static_body, RESULTS_DIR / f"{stamp}-{engine}.log")
    try:
        size = capture_static_body(server, manifest, auth, static_body)
        print(f"[load] {engine}: server pid {server.process.pid} on {server.base}; "
              f"static body {size} bytes", flush=True)
        documents = keep_documents(server, manifest, auth, args.connections)
        print(f"[load] {engine}: {documents:,} of {manifest.customers:,} customers have a "
              "document", flush=True)
        results = []
        for endpoint in ENDPOINTS:
            # Again before each row: the host pages out what is not touched for a minute or so
            # (prewarm), and the customer reads came 75 s after the first warming.
            prewarm(manifest, *READ_SET)
            results.append(measure(engine, server, wrk, endpoint, manifest, auth, args))
    finally:
        server.stop()
    ceiling = results[0].requests_per_s
    for r in results:
        r.ratio = r.requests_per_s / ceiling
    return results, size, documents


# -- report ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()
    pg_version, pg_buffers = "", ""
    try:  # the version and the setting that decides how much of the data stays in memory
        pg_version, pg_buffers = (subprocess.run(
            ["psql", PG_ADMIN_URL, "-Atc", "SHOW server_version; SHOW shared_buffers"],
            capture_output=True, text=True, timeout=10).stdout.splitlines() + ["", ""])[:2]
    except (OSError, subprocess.SubprocessError):
        pass
    import fastapi
    import uvicorn

    return {"nproc": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1), "cpu": cpu,
            "kernel": platform.release(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "postgresql": pg_version,
            "pg_shared_buffers": pg_buffers,
            "uvicorn": uvicorn.__version__, "fastapi": fastapi.__version__,
            "wrk": wrk_version[0] if wrk_version else ""}


def machine_line(facts: dict[str, Any]) -> str:
    return (f"machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory_gb']} GB; "
            f"Python {facts['python']}, SQLite {facts['sqlite']}, "
            f"PostgreSQL {facts['postgresql']} (shared_buffers "
            f"{facts['pg_shared_buffers']}), uvicorn {facts['uvicorn']}, "
            f"FastAPI {facts['fastapi']}, {facts['wrk']}")


def verdicts(results: list[Measured]) -> list[str]:
    out = []
    route = {r.engine: r.requests_per_s for r in results if r.endpoint == STATIC_ROUTE}
    for r in results:
        if not r.endpoint.startswith("GET"):
            continue
        want = MIN_RATIO[r.engine]
        earlier = (f" ({r.requests_per_s / route[r.engine]:.2f} of the static FastAPI route)"
                   if route.get(r.engine) else "")
        out.append(f"{r.engine}: ratio {r.ratio:.2f} (target >= {want}) "
                   f"{'met' if (r.ratio or 0) >= want else 'MISSED'}{earlier}; "
                   f"p99 {r.p99_ms:.1f} ms (target <= {MAX_P99_MS:.0f}) "
                   f"{'met' if r.p99_ms <= MAX_P99_MS else 'MISSED'}; "
                   f"RSS {r.rss_max_mb:.0f} MB (target <= {MAX_RSS_MB:.0f}) "
                   f"{'met' if r.rss_max_mb <= MAX_RSS_MB else 'MISSED'}")
    return out


def table(results: list[Measured]) -> str:
    lines = [
        "| engine | endpoint | req/s | of ceiling | p50 ms | p99 ms | max ms | bytes/resp "
        "| max RSS MB (workers) | CPU % server (workers) / db / wrk | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for r in results:
        workers = " + ".join(f"{w:.0f}" for w in r.rss_workers_mb[:4])
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(
            f"| {r.engine} | {r.endpoint} | {r.requests_per_s:,.0f} | {ratio} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.0f} | {r.bytes_per_response:,.0f} "
            f"| {r.rss_max_mb:.0f} ({workers}) "
            f"| {r.server_cpu_pct:.0f} ({' + '.join(f'{w:.0f}' for w in r.worker_cpu_pct[:2])})"
            f" / {r.database_cpu_pct:.0f} / {r.wrk_cpu_pct:.0f} "
            f"| {r.errors} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench run", description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    command = os.environ.get("BENCH_COMMAND") or "python -m bench run " + " ".join(
        argv if argv is not None else sys.argv[1:])

    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: list[Measured] = []
    static_sizes: dict[str, int] = {}
    documents: dict[str, int] = {}
    for engine in engines:
        manifest = asyncio.run(ensure(engine, args.customers))
        measured, static_sizes[engine], documents[engine] = run_engine(engine, manifest, wrk,
                                                                       args, stamp)
        results.extend(measured)

    facts = machine()
    report = "\n".join([
        f"# Patron load run {stamp}",
        "",
        f"command: `{command}`",
        "",
        machine_line(facts),
        "",
        f"{args.customers:,} customers; {args.workers} server workers; wrk {args.threads} threads, "
        f"{args.connections} connections, {args.warmup} s warm-up + {args.duration} s per row; "
        "static body = median of 101 real responses "
        f"({', '.join(f'{e} {s} bytes' for e, s in static_sizes.items())}); customers with a "
        f"kept document at the start: {', '.join(f'{e} {n:,}' for e, n in documents.items())}",
        "",
        table(results),
        "",
        *[f"- {v}" for v in verdicts(results)],
        "",
    ])
    write_report(f"{stamp}", "latest", report, {
        "command": command, "machine": facts, "args": vars(args),
        "static_body_bytes": static_sizes, "documents": documents,
        "results": [asdict(r) for r in results]})


def write_report(name: str, latest: str, report: str, payload: dict[str, Any]) -> None:
    """Prints the report and keeps it, with the raw figures, in bench/results/."""
    print()
    print(report)
    (RESULTS_DIR / f"{name}.md").write_text(report)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    shutil.copyfile(RESULTS_DIR / f"{name}.md", RESULTS_DIR / f"{latest}.md")
    print(f"written: bench/results/{name}.md, bench/results/{name}.json")


if __name__ == "__main__":
    main()
