#!/usr/bin/env python3
"""The two commands of the README, needing only Python 3.11+:

    python3 tasks.py demo   # set up .venv, then run Patron with demo data on http://127.0.0.1:8000
    python3 tasks.py test   # set up .venv, lint (ruff), type-check (mypy), run the whole suite

`test` runs every API test on SQLite, and on PostgreSQL too when PATRON_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".patron-installed"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by any python3 on the PATH
        sys.exit("Patron needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("installing Patron and its dependencies into .venv …", flush=True)
        subprocess.check_call([str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade",
                               "pip"])
        subprocess.check_call([str(BIN / "python"), "-m", "pip", "install", "-q", "-e",
                               f"{ROOT}[test]"])
        STAMP.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.call([str(BIN / args[0]), *args[1:]], cwd=ROOT)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    extra = sys.argv[2:]
    if command not in ("demo", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    if command == "demo":
        return run("patron", "demo", *extra)
    status = run("ruff", "check", "src", "tests", "bench", "tasks.py") or run("mypy", "src")
    if status:
        return status
    return run("python", "-m", "pytest", *extra)


if __name__ == "__main__":
    sys.exit(main())
