"""`patron` as an operator runs it: every command that reads the store brings a new one's schema
up to date first, output into a file or pipe keeps each line and table cell whole (so JSON parses
and secrets are not split), and an import that cannot start leaves no report behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from patron.db.database import Database
from patron.demo import DEMO_CREDENTIALS
from patron.errors import ValidationFailed
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.processes import PATRON, patron, patron_env, serve


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """The environment of `patron` on an embedded store that does not exist yet."""
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path / "data"),
           "PATRON_ACCESS_LOG": "false"}
    env.pop("PATRON_DATABASE_URL", None)
    return env


@pytest.mark.parametrize("command", [["keys", "list"], ["tills", "list"]])
def test_keys_and_tills_commands_migrate_a_new_store(tmp_path: Path, command: list[str]) -> None:
    env = fresh_env(tmp_path)
    # The tables exist (no traceback), the organisation does not: an error, not an empty table.
    ran = subprocess.run([PATRON, *command, "--org", "1"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 2 and "error: no such organisation" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr and ran.stdout == ""
    org = str(json.loads(patron(env, "org", "create", "--name", "Shop", "--json").stdout)["org_id"])
    assert "code" in patron(env, "tills", "list", "--org", org).stdout.splitlines()[1]


@pytest.mark.parametrize("command", ["import", "export"])
def test_a_file_of_unknown_format_is_a_usage_error(tmp_path: Path, command: str) -> None:
    path = tmp_path / "customers.txt"
    path.write_text("")
    ran = subprocess.run([PATRON, command, str(path), "--org", "1"], env=fresh_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr, ran.stderr
    assert "unknown format 'txt': use jsonl or csv" in ran.stderr


def test_a_credential_for_an_unknown_organisation_on_a_new_store_is_an_error(
        tmp_path: Path) -> None:
    ran = subprocess.run([PATRON, "keys", "create", "--org", "1", "--kind", "workspace_key"],
                         env=fresh_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2, ran.stderr
    assert "error: no such organisation" in ran.stderr and "Traceback" not in ran.stderr


def test_output_into_a_pipe_is_neither_wrapped_nor_cut(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    name = "An organisation whose name alone is longer than the eighty columns of a terminal"
    creds = json.loads(patron(env, "org", "create", "--name", name, "--json").stdout)
    assert creds["name"] == name
    org = str(creds["org_id"])
    key = json.loads(patron(env, "keys", "create", "--org", org, "--kind", "loyalty_client",
                            "--name", name).stdout)
    listed = patron(env, "keys", "list", "--org", org).stdout.splitlines()
    assert any(name in line and key["login"] in line and
               "customers:read customers:write events:read events:write" in line
               for line in listed), listed
    table = patron(env, "org", "create", "--name", name).stdout
    assert any(name in line for line in table.splitlines()), table
    summary = patron(env, "loyalty", "run", "--org", org).stderr.splitlines()
    assert summary == [f"org {org}: 0 points expired from 0 lot(s); 0 tier(s) renewed, "
                       "0 downgraded; 0 card(s) expired"]


def test_the_demo_credentials_are_one_line_of_json_in_a_log(tmp_path: Path) -> None:
    proc, _ = serve(fresh_env(tmp_path), "demo", seconds=180)
    proc.terminate()
    _, log = proc.communicate(timeout=30)
    line = next(line for line in log.splitlines() if "; credentials: " in line)
    assert json.loads(line.split("; credentials: ", 1)[1]) == DEMO_CREDENTIALS


def test_an_import_into_an_unknown_organisation_leaves_no_report(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    records.write_text('{"kind": "customer", "email": "ola@example.com"}\n')
    ran = subprocess.run([PATRON, "import", str(records), "--org", "1"], env=fresh_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2 and "error: no such organisation" in ran.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "records.jsonl"]


def test_bad_input_to_a_command_is_an_error_never_a_traceback(tmp_path: Path) -> None:
    """Each ends with `error: ...` or a usage error (exit status 2) and applies nothing: an
    unknown organisation for the jobs, a file to write in a directory that does not exist, a
    segment file that is not UTF-8, a till code that could never sign in."""
    env = fresh_env(tmp_path)
    org = str(json.loads(patron(env, "org", "create", "--name", "Shop", "--json").stdout)["org_id"])
    records = tmp_path / "records.jsonl"
    records.write_text('{"kind": "tag"}\n')
    latin1 = tmp_path / "segment.csv"
    latin1.write_bytes(b"email,value\nzo\xe9@example.com,Active\n")
    missing = str(tmp_path / "nowhere" / "out.jsonl")
    for args, said in (
            (["loyalty", "run", "--org", "999"], "error: no such organisation"),
            (["export", missing, "--org", org], "no directory"),
            (["import", str(records), "--org", org, "--report", missing], "no directory"),
            (["segments", "load", str(latin1), "--org", org, "--segment", "S"],
             "is not UTF-8 text"),
            (["tills", "create", "--org", org, "--code", "a:b"], "without ':'"),
            (["tills", "create", "--org", org, "--code", "x" * 101], "without ':'")):
        ran = subprocess.run([PATRON, *args], env=env, capture_output=True, text=True,
                             timeout=60)
        assert ran.returncode == 2 and said in ran.stderr, (args, ran.stderr)
        assert "Traceback" not in ran.stderr, args
    assert not (tmp_path / "nowhere").exists()
    assert "a:b" not in patron(env, "tills", "list", "--org", org).stdout


TILL_CODE_RULE = "a till code is 1 to 100 printable characters without ':' (it is the till's login)"


def test_keys_create_makes_no_till_login_tills_create_does(db: Database, tmp_path: Path) -> None:
    """A till login names a till: `keys create --kind till` made one without a till (and took a
    ':' that Basic authentication cannot carry). It is refused, pointing at `tills create`,
    exit status 2, and nothing is stored; `tills create` holds the code to the till-login rule."""
    env = patron_env(db, tmp_path / "store")
    org = str(json.loads(patron(env, "org", "create", "--name", "Tills", "--json").stdout)[
        "org_id"])
    before = patron(env, "keys", "list", "--org", org).stdout
    for args in (["--login", "a:b"], ["--login", "till.2"], []):
        ran = subprocess.run([PATRON, "keys", "create", "--org", org, "--kind", "till", *args],
                             env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 2, (args, ran.stderr)
        assert "patron tills create" in ran.stderr and "Traceback" not in ran.stderr
    assert patron(env, "keys", "list", "--org", org).stdout == before
    ran = subprocess.run([PATRON, "tills", "create", "--org", org, "--code", "a:b"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2 and TILL_CODE_RULE in " ".join(ran.stderr.split())
    assert patron(env, "keys", "list", "--org", org).stdout == before


async def test_every_till_login_is_held_to_the_till_code_rule(services: Services,
                                                              org: OrgCredentials) -> None:
    org_id = org.org_id
    for login in ("a:b", "x" * 101, "tab\there"):
        with pytest.raises(ValidationFailed) as refused:
            async with services.db.transaction() as tx:
                await services.auth.create_credential(tx, org_id, "till", login=login)
        assert refused.value.message == TILL_CODE_RULE
        with pytest.raises(ValidationFailed) as refused:
            await services.tenancy.add_till(org_id, login)
        assert refused.value.message == TILL_CODE_RULE
    assert not [c for c in await services.auth.list_credentials(org_id)
                if c["kind"] == "till" and c["name"] != "default till"]


def test_keys_create_refuses_a_scope_no_route_asks_for(db: Database, tmp_path: Path) -> None:
    """Each scope named must be one of the credential's face (auth.service.FACE_SCOPES): an
    unknown one (a typo, another face's) is refused with the known ones listed, exit status 2,
    nothing stored."""
    env = patron_env(db, tmp_path / "store")
    org = str(json.loads(patron(env, "org", "create", "--name", "Scopes", "--json").stdout)[
        "org_id"])
    before = patron(env, "keys", "list", "--org", org).stdout
    for kind, scopes, said in (
            ("workspace_key", "links:read links:raed", "unknown scope links:raed for a "
             "workspace_key credential; its scopes are: links:read analytics:read links:create "
             "links:update links:delete engagement:read engagement:write"),
            ("loyalty_client", "customers:read links:read", "unknown scope links:read for a "
             "loyalty_client credential; its scopes are: customers:read customers:write "
             "events:read events:write"),
            ("marketing_client", "customers:write everything", "unknown scopes "
             "customers:write, everything for a marketing_client credential; its scopes are: "
             "customers:read"),
            ("workspace_key", " ", "no scope given for a workspace_key credential")):
        ran = subprocess.run([PATRON, "keys", "create", "--org", org, "--kind", kind,
                              "--scopes", scopes], env=env, capture_output=True, text=True,
                             timeout=60)
        assert ran.returncode == 2 and said in " ".join(ran.stderr.split()), ran.stderr
        assert "Traceback" not in ran.stderr
    assert patron(env, "keys", "list", "--org", org).stdout == before
    made = json.loads(patron(env, "keys", "create", "--org", org, "--kind", "workspace_key",
                             "--scopes", "links:read engagement:read links:read").stdout)
    listed = patron(env, "keys", "list", "--org", org).stdout
    assert f"{made['id']}" in listed and "links:read engagement:read" in listed


def test_a_route_asks_only_for_a_scope_of_its_face() -> None:
    from patron.auth.service import FACE_SCOPES, MARKETING, route_scope

    assert route_scope(MARKETING, "customers:read") == "customers:read"
    with pytest.raises(ValueError, match="not a marketing scope"):
        route_scope(MARKETING, "customers:write")
    assert all(len(set(scopes)) == len(scopes) for scopes in FACE_SCOPES.values())


def test_a_store_locked_past_the_wait_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock past the 10 s a write waits for it: the command
    says the database is unavailable, exit status 2, and stores nothing."""
    import sqlite3

    env = fresh_env(tmp_path)
    org = str(json.loads(patron(env, "org", "create", "--name", "Shop", "--json").stdout)["org_id"])
    before = patron(env, "keys", "list", "--org", org).stdout
    holder = sqlite3.connect(tmp_path / "data" / "patron.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        ran = subprocess.run([PATRON, "keys", "create", "--org", org, "--kind", "workspace_key"],
                             env=env, capture_output=True, text=True, timeout=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ran.returncode == 2, ran.stderr
    said = " ".join(ran.stderr.split())
    assert "error: the database is unavailable; try again: OperationalError: database is " \
           "locked" in said and "Traceback" not in said
    assert patron(env, "keys", "list", "--org", org).stdout == before
