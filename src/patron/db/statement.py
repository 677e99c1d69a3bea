"""SQL statements written once, in PostgreSQL's `$n` style, with the SQLite form derived at import.

Repositories declare their statements as module constants (`sql("...")`), so no SQL text is built
per request; each backend picks its own form.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from functools import cache
from typing import Any

from patron.errors import unstorable_text
from patron.jsonio import dumps_text

_PG_PARAM = re.compile(r"\$(\d+)")


class Statement:
    __slots__ = ("pg", "sqlite")

    def __init__(self, pg: str, sqlite: str) -> None:
        self.pg = pg
        self.sqlite = sqlite

    def __repr__(self) -> str:
        return f"Statement({self.pg!r})"


def sql(text: str, *, pg: str | None = None, sqlite: str | None = None) -> Statement:
    """One statement for both engines; `pg=`/`sqlite=` override the text where dialects differ."""
    pg_text = pg if pg is not None else text
    sqlite_text = sqlite if sqlite is not None else text
    return Statement(pg_text, _PG_PARAM.sub(r"?\1", sqlite_text))


def locking(stmt: Statement, clause: str = "FOR UPDATE") -> Statement:
    """`stmt` locking the rows it reads until the transaction ends, on PostgreSQL (`clause`, with
    whatever must precede it, such as an ORDER BY); on SQLite, whose writes take turns anyway,
    `stmt` as it is."""
    return Statement(f"{stmt.pg} {clause}", stmt.sqlite)


def contains_pattern(value: str | None) -> str | None:
    """A case-insensitive LIKE pattern matching `value` anywhere, its wildcards escaped (the
    statement says `ESCAPE '\\'`). The one rule for every `..._contains` and search filter.
    A value holding U+0000 is bad input, as PostgreSQL finds it: SQLite's LIKE ends its pattern
    there, so a search for U+0000 followed by anything would match every row."""
    if value is None:
        return None
    if "\0" in value:
        raise unstorable_text()
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def value_list(conn: Any, values: Sequence[Any]) -> Any:
    """A list parameter: an array for PostgreSQL (`= ANY($n::text[])`), JSON text for SQLite
    (`IN (SELECT value FROM json_each(?n))`)."""
    return list(values) if conn.dialect == "postgresql" else dumps_text(list(values))


_DIGIT = re.compile(r"\d")


def mask_digits(text: str) -> str:
    """`text` with every decimal digit (any script's, as Python's `\\d`) shown as `*`: the one
    rule for masking OTPs. SQLite statements call it as `mask_digits(x)` (every connection
    registers it); PostgreSQL statements use `mask_digits_pg(x)`, the same rule in SQL."""
    return _DIGIT.sub("*", text)


def unicode_lower(text: str | None) -> str | None:
    """`lower(x)` for SQLite statements, which call it as `unicode_lower(x)` (every connection
    registers it): SQLite's own lower() folds ASCII letters only, where PostgreSQL's (in a UTF-8
    database) and Python's fold every script's, so that É sorted and matched as é on one
    database only."""
    return None if text is None else text.lower()


@cache
def _decimal_digits() -> str:
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isdecimal())


def mask_digits_pg(expr: str) -> str:
    """`mask_digits` as a PostgreSQL expression (whose own `\\d` knows ASCII digits only)."""
    digits = _decimal_digits()
    return f"translate({expr}, '{digits}', '{'*' * len(digits)}')"
