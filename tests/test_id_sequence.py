"""An id sequence behind the stored ids (a copy or restore that did not move it) makes a new row
take an id a stored row holds. That is a server fault, answered 500 in the face's envelope with
one log line pointing at docs/operations.md, never the taken-identity conflict; the fix the docs
give, run as written, makes writes work again. A unique index of what is stored (an identifier)
is still a conflict."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from patron.db.database import Database, is_unique_violation, unique_clash
from patron.db.schema import metadata
from patron.db.statement import sql
from patron.errors import IdsBehind
from tests.conftest import add_customer, till_auth, workspace_auth

DOCS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def documented_fix(engine: str) -> str:
    """The SQL block of docs/operations.md ("The id sequence") for `engine`."""
    section = DOCS.read_text().split("### The id sequence", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(blocks) == 2, blocks
    return blocks[0] if engine == "postgresql" else blocks[1]


async def set_next_id(db: Database, next_value: int) -> None:
    """The sequence put back, as a copy or restore that did not move it leaves it."""
    if db.dialect == "postgresql":
        await db.fetchval(sql("SELECT setval('patron_ids', $1, false)"), next_value)
    else:
        await db.execute(sql("UPDATE id_counters SET next_value = $1 WHERE name = 'patron_ids'"),
                         next_value)


async def run_documented_fix(db: Database) -> None:
    fix = documented_fix(db.dialect)
    if db.dialect == "postgresql":
        import asyncpg

        conn = await asyncpg.connect(db.url)
        try:
            await conn.execute(fix)
        finally:
            await conn.close()
    else:
        conn = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(fix)
        finally:
            conn.close()


def test_the_sqlite_fix_names_every_table_that_has_an_id() -> None:
    named = set(re.findall(r"FROM (\w+)", documented_fix("sqlite"))) - {"id_counters"}
    assert named == {t.name for t in metadata.sorted_tables if "id" in t.c}


async def test_unique_clashes_say_which_index() -> None:
    assert unique_clash(sqlite3.IntegrityError(
        "UNIQUE constraint failed: customers.org_id, customers.id")) == (
        "customers", ("org_id", "id"))
    assert unique_clash(sqlite3.IntegrityError(
        "UNIQUE constraint failed: identifiers.org_id, identifiers.type, identifiers.value")) == (
        "identifiers", ("org_id", "type", "value"))
    assert unique_clash(sqlite3.IntegrityError("NOT NULL constraint failed: customers.id")) is None
    import asyncpg

    pk = asyncpg.exceptions.UniqueViolationError("duplicate key")
    pk.detail, pk.table_name = "Key (org_id, id)=(7, 42) already exists.", "customers"
    assert unique_clash(pk) == ("customers", ("org_id", "id"))
    taken = asyncpg.exceptions.UniqueViolationError("duplicate key")
    taken.detail = "Key (org_id, external_id)=(7, x) already exists."
    taken.table_name = "customers"
    assert unique_clash(taken) == ("customers", ("org_id", "external_id"))
    assert is_unique_violation(taken)


async def test_a_new_customer_taking_a_stored_id_is_a_server_fault_not_a_conflict(
        db: Database, client: httpx.AsyncClient, org: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    held = await add_customer(client, till_auth(org), identifiers=[
        {"type": "mobile", "value": "919800000101"}])
    caplog.set_level(logging.INFO)
    try:
        await set_next_id(db, held)
        workspace = await client.post("/api/customers", headers=workspace_auth(org), json={
            "externalId": "behind-1", "email": "behind@example.com"})
        await set_next_id(db, held)
        loyalty = await client.post("/v2/customers", headers=till_auth(org), json={
            "profiles": [{"identifiers": [{"type": "mobile", "value": "919800000102"}]}]})
        await set_next_id(db, held)
        with pytest.raises(IdsBehind):  # the domain sees it too, as this error
            await db.execute(sql("INSERT INTO customers (org_id, id, site_id, external_id, "
                                 "loyalty_type, status, created_at, updated_at) "
                                 "VALUES ($1, $2, 0, NULL, 'loyalty', 'active', 0, 0)"),
                             org.org_id, held)
    finally:
        await run_documented_fix(db)
    assert workspace.status_code == 500, workspace.text
    assert workspace.json() == {"success": False,
                                "error": {"code": "INTERNAL_ERROR", "message": "internal error"}}
    assert loyalty.status_code == 500, loyalty.text
    assert loyalty.json() == {"errors": [{"status": False, "code": 500,
                                          "message": "internal error"}], "warnings": []}
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in lines] == ["patron.db"] * 3, [r.getMessage() for r in lines]
    assert all(r.exc_info is None for r in lines)
    said = lines[0].getMessage()
    assert "a new customers row took an id" in said and "id sequence is behind" in said
    assert "docs/operations.md" in said and "setval" in said
    # Nothing of the refused requests was stored; after the documented fix they go through.
    r = await client.get("/api/customers/ext_behind-1", headers=workspace_auth(org))
    assert r.status_code == 404
    r = await client.post("/api/customers", headers=workspace_auth(org), json={
        "externalId": "behind-1", "email": "behind@example.com"})
    assert r.status_code == 201, r.text
    assert int(r.json()["data"]["id"]) > held


async def test_an_identity_taken_is_still_the_faces_conflict(
        client: httpx.AsyncClient, org: Any, caplog: pytest.LogCaptureFixture) -> None:
    await add_customer(client, till_auth(org), identifiers=[
        {"type": "email", "value": "taken@example.com"},
        {"type": "externalId", "value": "first"}])
    caplog.set_level(logging.INFO)
    r = await client.post("/api/customers", headers=workspace_auth(org), json={
        "externalId": "second", "email": "taken@example.com"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT", r.text
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
