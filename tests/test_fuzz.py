"""Every operation of the OpenAPI document, fuzzed by schemathesis against a running server on
each engine: generated paths, parameters and bodies (valid, invalid and edge values) never get a
server error, and every error answer is in the envelope of its face (tests/fuzz_hooks.py).

The run is seeded, so it is the same run each time; a failure prints schemathesis' report with
a curl that reproduces it. One schemathesis worker: its workers are threads, and with several,
hypothesis' `ast.parse` of its filters hits a CPython 3.11.7 race ("AST constructor recursion
depth mismatch", fixed in later 3.11 releases) now and then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from patron.db.database import Database
from tests.processes import patron, patron_env, serve

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261206
EXAMPLES = 15


MOBILE = "919812345670"


def _fuzz(base: str, header: str, paths: str, customer: int, examples: int = EXAMPLES,
          phases: str = "coverage,fuzzing") -> tuple[int, str]:
    """`st run` over the operations whose path matches `paths`, sending `header`; half of the
    requests that name a customer name `customer` (tests/fuzz_hooks.py)."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks",
           "PATRON_FUZZ_CUSTOMER": str(customer), "PATRON_FUZZ_MOBILE": MOBILE,
           "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "st"), "run", f"{base}/openapi.json",
         "--checks", "face_envelope", "--phases", phases,
         "--max-examples", str(examples), "--seed", str(SEED), "--workers", "1",
         "--generation-database", "none", "--warnings", "off", "--no-color",
         "--include-path-regex", paths, "-H", header],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_fuzzed_requests_get_the_face_envelope_never_a_500(db: Database, tmp_path: Path) -> None:
    env = patron_env(db, tmp_path / "fuzz")
    creds = json.loads(patron(env, "org", "create", "--name", "fuzz", "--json").stdout)
    proc, base = serve(env)
    try:
        md5 = hashlib.md5(creds["till_password"].encode()).hexdigest()
        till = base64.b64encode(f"{creds['till_code']}:{md5}".encode()).decode()
        created = httpx.post(f"{base}/v2/customers", headers={"Authorization": f"Basic {till}"},
                             json={"profiles": [{"firstName": "Fuzz", "identifiers": [
                                 {"type": "mobile", "value": MOBILE},
                                 {"type": "email", "value": "fuzz@example.com"}]}]})
        customer = created.json()["createdId"]
        token = httpx.post(f"{base}/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": creds["marketing_client_id"],
            "client_secret": creds["marketing_client_secret"]}).json()["access_token"]
        runs = [
            (f"Authorization: Basic {till}", r"^/(v1\.1|v2|v3|webhooks)/"),
            (f"Authorization: Bearer {token}", r"^/v1/"),
            (f"X-API-Key: {creds['workspace_key']}", r"^/(api|patron)/"),
        ]
        for header, paths in runs:
            status, report = _fuzz(base, header, paths, customer)
            assert status == 0, f"{paths}:\n{report[-12_000:]}"
            assert "Tested:" in report, report[-2_000:]
        # Without valid credentials: every operation refuses in its face's envelope.
        status, report = _fuzz(base, "Authorization: Bearer not-a-credential", ".", customer,
                               examples=5, phases="fuzzing")
        assert status == 0, f"without credentials:\n{report[-12_000:]}"
    finally:
        proc.terminate()
        proc.wait(10)
