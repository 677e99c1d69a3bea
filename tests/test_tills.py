"""Tills are kept in memory once read (patron.tenancy.tills): that is only right while nothing
changes or removes a till. This test fails the day something does, so that the cache learns to
forget."""

from __future__ import annotations

import re
from pathlib import Path

import patron

SOURCE = Path(patron.__file__).parent


def test_nothing_updates_or_deletes_a_till() -> None:
    writes = re.compile(r"UPDATE\s+tills\b|DELETE\s+FROM\s+tills\b|TRUNCATE\s+(TABLE\s+)?tills\b",
                        re.IGNORECASE)
    found = [str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.py")
             if "migrations" not in path.parts and writes.search(path.read_text())]
    assert found == []
