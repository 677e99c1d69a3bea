"""The README's tour, run as written: every shell block of "A tour", against `patron demo` on
SQLite (the README's first command), must run to its end with every request answered 2xx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PNG
from tests.processes import serve

ROOT = Path(__file__).resolve().parent.parent
TOUR_BASE = "http://127.0.0.1:8000"

# Each request's status and URL, in order, to a log; its body to stdout, as curl alone would.
CURL_LOGGED = r"""
curl() {
  local out url=""
  for arg in "$@"; do case "$arg" in http*://*) url="$arg";; esac; done
  out=$(command curl -w '\n%{http_code}' "$@")
  printf '%s %s\n' "${out##*$'\n'}" "$url" >> "$TOUR_LOG"
  printf '%s' "${out%$'\n'*}"
}
"""


def tour() -> str:
    """The shell blocks between "## A tour" and the next section of its level."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A tour", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


def test_the_readme_tour_runs_against_the_demo(tmp_path: Path) -> None:
    script = tour()
    assert TOUR_BASE in script and script.count("curl -s") >= 40
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path / "data"),
           "PATRON_ACCESS_LOG": "false", "PATRON_RATE_LIMIT_PER_MINUTE": "0",
           "TOUR_LOG": str(tmp_path / "requests.log")}
    env.pop("PATRON_DATABASE_URL", None)
    # The tour's relative paths: the virtual environment, and a photo of the reader's own.
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "photo.png").write_bytes(PNG)
    proc, base = serve(env, "demo", seconds=180)
    try:
        ran = subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + CURL_LOGGED + script.replace(TOUR_BASE, base)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        proc.terminate()
        proc.wait(10)
    assert ran.returncode == 0, ran.stderr[-4000:]
    requests = (tmp_path / "requests.log").read_text().splitlines()
    assert len(requests) == script.count("curl -s"), requests
    failed = [r for r in requests if not r.startswith("2")]
    assert not failed, failed
    assert (tmp_path / "everything.jsonl").stat().st_size > 0  # the export at the tour's end
