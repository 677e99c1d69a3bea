"""Customer documents: each customer's details as a face rendered them by default, kept as the
bytes it sent, so that the next read of that customer sends them again without reading and
rendering the customer (docs/operations.md, "Customer documents").

Kept from reads, never written on a write path: a read that rendered the customer offers its
answer (`keep`), and the offers are stored in batches after the answer has gone. What keeps a
document true is the database, not the code that writes: the triggers of migration 0011 count
every change to a customer and to everything its details show (`customers.version`), and delete
its document in the transaction of the change. An offer is stored only if the customer's count
is still the one its read saw, so an answer rendered before a change is never kept after it. A
document rendered by other code (another version of Patron) is never served: `renderer` names
the code.

A document may also hold the loyalty engine's parts of one details query (`KeptParts`), which
move with time as well as with writes: kept with the span of time over which they hold with
nothing written, which the engine states (`Loyalty.steady_until`), and served only within it.
Every write to the loyalty tables counts on the customer too (migration 0013), so a write drops
them with the document.

On PostgreSQL a look-up is a round trip, whose cost to the worker and to the server is mostly the
statement's own, not the row's: the reads that arrive while a look-up is under way are read
together, in one statement (`kept`, db/batched.py). Should that statement fail, each of its
reads looks its customer up alone, and gets its own error (or its document, if the failure was
passing).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any, NamedTuple

from patron.customers import repository as repo
from patron.db.batched import BatchedRead
from patron.db.database import Database, Row

log = logging.getLogger("patron.customers.documents")

# Offers wait this long to be stored together, and no more than this many wait: past it an
# offer is dropped (the customer is rendered again next time).
KEEP_AFTER_SECONDS = 0.2
MOST_WAITING = 2_000
# The most reads one look-up of documents carries. Measured on the bench machine (2 cores,
# PostgreSQL beside the server): a statement per read cost the worker 83 us and PostgreSQL
# 160 us; reads taken together, 15-20 us and 40-60 us each (docs/performance.md).
MOST_IN_ONE = 200


class KeptParts(NamedTuple):
    """Parts of an answer kept beside the customer's document (the loyalty engine's): the query
    they answer (`key`), and the span of time, in ms, over which they hold with nothing written:
    from `since` until before `until`."""

    key: str
    since: int
    until: int
    body: bytes


_NO_PARTS = (None, None, None, None)


def parts_kept(document: Row, key: str, now: int) -> bytes | None:
    """The parts kept beside `document` (a row of `CustomerDocuments.kept`) if they answer the
    query `key` and hold at `now`."""
    if document["parts_key"] == key and document["parts_from"] <= now < document["parts_until"]:
        return document["parts"]  # type: ignore[no-any-return]
    return None


def code_renderer() -> str:
    """The code this process runs, as a short hash of Patron's source files: any change to any of
    them (an upgrade, a patch) names a new renderer, whose reads ignore the documents of the
    old one."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class CustomerDocuments:
    def __init__(self, db: Database, enabled: bool = True) -> None:
        self.db = db
        self.enabled = enabled
        self.keep_after_seconds = KEEP_AFTER_SECONDS
        self._waiting: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._waiting_parts: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._storing: asyncio.Task[None] | None = None
        # SQLite reads in the process, without a round trip: each read looks up its own.
        self._reads = BatchedRead(db, repo.GET_DOCUMENTS, most_reads=MOST_IN_ONE) \
            if db.dialect == "postgresql" else None

    async def kept(self, org_id: int, customer_id: int, renderer: str) -> Row | None:
        """The customer's document by `renderer` (`sources`, `body`), or None."""
        if not self.enabled:
            return None
        if self._reads is not None:
            try:
                rows = await self._reads.fetch(org_id, customer_id, renderer)
            except Exception:  # noqa: BLE001, S110 - each read looks up alone, getting its error
                pass
            else:
                return rows[0] if rows else None
        return await self.db.fetchrow(repo.GET_DOCUMENT, org_id, customer_id, renderer)

    def keep(self, org_id: int, customer_id: int, version: int, renderer: str,
             sources: str, body: bytes, parts: KeptParts | None = None) -> None:
        """Offers the answer a read rendered from the customer at `version`, with the engine's
        `parts` it read: stored soon, unless the customer has changed since (or is no longer
        active)."""
        if not self.enabled or len(self._waiting) >= MOST_WAITING:
            return
        self._waiting[(org_id, customer_id)] = (org_id, customer_id, version, renderer, sources,
                                                body, *(parts or _NO_PARTS))
        self._store_later()

    def keep_parts(self, org_id: int, customer_id: int, version: int, renderer: str,
                   parts: KeptParts) -> None:
        """Offers the engine's `parts` read beside the customer's document at `version`: added
        to that document soon, unless it has gone since (the customer changed)."""
        if not self.enabled or len(self._waiting_parts) >= MOST_WAITING:
            return
        self._waiting_parts[(org_id, customer_id)] = (org_id, customer_id, version, renderer,
                                                      *parts)
        self._store_later()

    def _store_later(self) -> None:
        if self._storing is None:
            self._storing = asyncio.get_running_loop().create_task(self._store_soon())

    async def _store_soon(self) -> None:
        try:
            await asyncio.sleep(self.keep_after_seconds)
            await self.store_waiting()
        finally:
            self._storing = None
            if self._waiting or self._waiting_parts:
                self._storing = asyncio.get_running_loop().create_task(self._store_soon())

    async def store_waiting(self) -> None:
        """Stores the offers waiting now, in one transaction. A failure loses only documents,
        which the next reads render again: it is logged, never raised."""
        rows, parts = list(self._waiting.values()), list(self._waiting_parts.values())
        self._waiting.clear()
        self._waiting_parts.clear()
        if not rows and not parts:
            return
        try:
            async with self.db.transaction() as tx:
                if rows:
                    await tx.executemany(repo.KEEP_DOCUMENT, rows)
                if parts:
                    await tx.executemany(repo.KEEP_PARTS, parts)
        except Exception as exc:  # noqa: BLE001 - a document is only ever a copy
            log.warning("customer documents not kept (%d, %d with parts): %s", len(rows),
                        len(parts), type(exc).__name__)

    async def close(self) -> None:
        """Stops storing (the waiting offers are dropped) and reading."""
        self._waiting.clear()
        self._waiting_parts.clear()
        if self._reads is not None:
            self._reads.close()
        task = self._storing
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
