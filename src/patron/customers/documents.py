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
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from patron.customers import repository as repo
from patron.db.database import Database, Row

log = logging.getLogger("patron.customers.documents")

# Offers wait this long to be stored together, and no more than this many wait: past it an
# offer is dropped (the customer is rendered again next time).
KEEP_AFTER_SECONDS = 0.2
MOST_WAITING = 2_000


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
        self._waiting: dict[tuple[int, int], tuple[int, int, int, str, str, bytes]] = {}
        self._storing: asyncio.Task[None] | None = None

    async def kept(self, org_id: int, customer_id: int, renderer: str) -> Row | None:
        """The customer's document by `renderer` (`sources`, `body`), or None."""
        if not self.enabled:
            return None
        return await self.db.fetchrow(repo.GET_DOCUMENT, org_id, customer_id, renderer)

    def keep(self, org_id: int, customer_id: int, version: int, renderer: str,
             sources: str, body: bytes) -> None:
        """Offers the answer a read rendered from the customer at `version`: stored soon,
        unless the customer has changed since (or is no longer active)."""
        if not self.enabled or len(self._waiting) >= MOST_WAITING:
            return
        self._waiting[(org_id, customer_id)] = (org_id, customer_id, version, renderer, sources,
                                                body)
        if self._storing is None:
            self._storing = asyncio.get_running_loop().create_task(self._store_soon())

    async def _store_soon(self) -> None:
        try:
            await asyncio.sleep(self.keep_after_seconds)
            await self.store_waiting()
        finally:
            self._storing = None
            if self._waiting:
                self._storing = asyncio.get_running_loop().create_task(self._store_soon())

    async def store_waiting(self) -> None:
        """Stores the offers waiting now, in one transaction. A failure loses only documents,
        which the next reads render again: it is logged, never raised."""
        rows = list(self._waiting.values())
        self._waiting.clear()
        if not rows:
            return
        try:
            async with self.db.transaction() as tx:
                await tx.executemany(repo.KEEP_DOCUMENT, rows)
        except Exception as exc:  # noqa: BLE001 - a document is only ever a copy
            log.warning("customer documents not kept (%d): %s", len(rows), type(exc).__name__)

    async def close(self) -> None:
        """Stops storing (the waiting offers are dropped)."""
        self._waiting.clear()
        task = self._storing
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
