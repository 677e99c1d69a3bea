"""The tills rows name (`createdBy`, `modifiedBy`, `associatedWith`), from memory.

A till is written once, when it is created (`Tenancy.add_till`), and never changed or deleted:
nothing in Patron updates the `tills` table. So a till read once can be kept for the life of the
process and shared by every request, with nothing to invalidate. Customer details used to join
`tills` five times (the customer's three tills, each profile's two); on PostgreSQL those joins
were a third of the statement's cost (docs/performance.md). If tills ever become editable, this
cache must learn to forget them.
"""

from __future__ import annotations

from collections.abc import Iterable

from patron.db.database import Queryable, Row
from patron.tenancy import repository as repo

MAX_TILLS = 100_000  # past this many, start over (tills are few; this only bounds the memory)


class Tills:
    def __init__(self) -> None:
        self._known: dict[tuple[int, int], Row] = {}

    async def named(self, conn: Queryable, org_id: int,
                    till_ids: Iterable[int | None]) -> dict[int, Row]:
        """The rows of the organisation's tills among `till_ids` (Nones ignored), by id; an id
        with no till is left out, as a LEFT JOIN would leave its columns empty."""
        found: dict[int, Row] = {}
        for till_id in till_ids:
            if till_id is None or till_id in found:
                continue
            row = self._known.get((org_id, till_id))
            if row is None:
                row = await conn.fetchrow(repo.GET_TILL, org_id, till_id)
                if row is None:
                    continue
                if len(self._known) >= MAX_TILLS:
                    self._known.clear()
                self._known[(org_id, till_id)] = row
            found[till_id] = row
        return found
