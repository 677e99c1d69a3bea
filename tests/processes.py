"""Tests that run `patron` as a process: its environment on a test engine, its commands, and a
server started on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from patron.db.database import Database

PATRON = str(Path(sys.executable).parent / "patron")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patron_env(db: Database, data_dir: Path) -> dict[str, str]:
    """The environment of a `patron` process on the test's engine: the test's PostgreSQL
    database, or a fresh SQLite store in `data_dir`; no access log, no rate limit."""
    env = {**os.environ, "PATRON_ACCESS_LOG": "false", "PATRON_RATE_LIMIT_PER_MINUTE": "0"}
    if db.url.startswith("postgresql"):
        env["PATRON_DATABASE_URL"] = db.url
    else:
        env["PATRON_DATA_DIR"] = str(data_dir)
        env.pop("PATRON_DATABASE_URL", None)
    return env


def patron(env: dict[str, str], *args: str, **kw: Any) -> Any:
    """A `patron` command, run to its end (it must succeed)."""
    return subprocess.run([PATRON, *args], env=env, capture_output=True, text=True, check=True,
                          timeout=120, **kw)


def serve(env: dict[str, str], command: str = "serve",
          seconds: float = 20) -> tuple[subprocess.Popen, str]:
    """`patron serve` (or `patron demo`) on a free port, once it is ready within `seconds`: the
    process and its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([PATRON, command, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(base, proc, seconds)
    except BaseException:
        proc.kill()
        raise
    return proc, base


def wait_ready(base: str, proc: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")
