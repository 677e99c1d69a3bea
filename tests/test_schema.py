"""The schema's tenancy rule (DESIGN.md): every table carries `org_id` and every primary key and
index leads with it, so that queries stay within one organisation and PostgreSQL can be
distributed by it (docs/operations.md, Citus). The few exceptions find the organisation from
what a request presents; the operations guide makes them Citus reference tables. And every
statement on an organisation's data is given the organisation as a parameter."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import patron
from patron.db.schema import metadata
from patron.db.statement import Statement

ROOT = Path(__file__).resolve().parent.parent

# Tables looked up without knowing the organisation, and why.
FOUND_WITHOUT_ORG = {
    "orgs": "the organisations themselves",
    "credentials": "a presented key or till login names its organisation",
    "oauth_tokens": "a presented token names its organisation",
    "event_webhooks": "a webhook's URL token names its organisation",
    "id_counters": "ids, and credential changes, are counted across organisations",
    "server_secrets": "secrets of the server, such as the image URL signing key",
}


def _leads_with_org(table: str) -> list[str]:
    """What of the table does not lead with org_id: its columns, primary key or indexes."""
    t = metadata.tables[table]
    wrong = [] if "org_id" in t.columns else ["no org_id column"]
    key = [c.name for c in t.primary_key.columns]
    if key[:1] != ["org_id"]:
        wrong.append(f"primary key {key}")
    wrong += [f"index {ix.name}" for ix in t.indexes
              if [c.name for c in ix.columns][:1] != ["org_id"]]
    return wrong


def test_every_table_and_index_leads_with_org_id() -> None:
    breaking = {name: _leads_with_org(name) for name in metadata.tables}
    assert {name for name, wrong in breaking.items() if wrong} == set(FOUND_WITHOUT_ORG), breaking


def test_the_citus_guide_places_every_table() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = guide.split("CREATE EXTENSION citus;", 1)[1].split("```", 1)[0]
    reference = re.search(r"create_reference_table\(t\)\s+FROM unnest\(ARRAY\[(.*?)\]\)",
                          block, re.S)
    distributed = re.search(r"colocate_with => 'customers'\)\s+FROM unnest\(ARRAY\[(.*?)\]\)",
                            block, re.S)
    assert reference and distributed and "create_distributed_table('customers'" in block
    names = {"reference": set(re.findall(r"'(\w+)'", reference.group(1))),
             "distributed": set(re.findall(r"'(\w+)'", distributed.group(1))) | {"customers"}}
    assert names["reference"] == set(FOUND_WITHOUT_ORG)
    assert names["distributed"] == set(metadata.tables) - set(FOUND_WITHOUT_ORG)


def _statements() -> list[tuple[str, Statement]]:
    """Every statement the repositories declare (module constants, and the variants kept in a
    module-level dict, such as one per sort order), by module and name."""
    found = []
    for info in pkgutil.walk_packages(patron.__path__, "patron."):
        if ".migrations" not in info.name:
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if isinstance(value, Statement):
                    found.append((f"{info.name}.{name}", value))
                elif isinstance(value, dict):
                    found += [(f"{info.name}.{name}[{key!r}]", variant)
                              for key, variant in value.items()
                              if isinstance(variant, Statement)]
    return found


def test_every_like_says_its_escape_character() -> None:
    # contains_pattern escapes wildcards with a backslash. PostgreSQL assumes that escape
    # character and SQLite assumes none, so a LIKE without ESCAPE matched nothing on SQLite for
    # a term holding `_` or `%` (the workspace listing's search did, while its count matched).
    missing = [name for name, statement in _statements()
               for text in (statement.pg, statement.sqlite)
               if re.search(r"\bLIKE\b(?![^)]*ESCAPE)", text, re.I)]
    assert missing == []
    assert len([n for n, s in _statements() if "LIKE" in s.sqlite]) >= 3


# Statements that find the organisation rather than being given it.
FINDS_THE_ORG = {"patron.events.repository.FIND_WEBHOOK": "by the webhook URL's token"}
_BOUND_ORG = re.compile(r"org_id\s*(=|IN)\s*\(?\s*(ANY\s*\()?[$?]\d"
                        r"|INTO\s+\w+(\s+AS\s+\w+)?\s*\(\s*org_id\b", re.I)


def test_every_statement_on_an_organisations_data_is_given_the_organisation() -> None:
    scoped = set(metadata.tables) - set(FOUND_WITHOUT_ORG)
    unbound = []
    for name, statement in _statements():
        for text in (statement.pg, statement.sqlite):
            touches = any(re.search(rf"\b(FROM|JOIN|UPDATE|INTO)\s+{t}\b", text, re.I)
                          for t in scoped)
            if touches and not _BOUND_ORG.search(text):
                unbound.append(name)
    assert sorted(set(unbound)) == sorted(FINDS_THE_ORG)
