"""What every face checks once a principal is known: its face, its scope, its rate."""

from __future__ import annotations

import asyncio
import math
import time

from patron.auth.redis_counts import SharedCounts, Unreachable
from patron.auth.service import Principal
from patron.errors import Forbidden, RateLimited, Unauthorized

# With a shared count (PATRON_REDIS_URL), how often each worker adds its requests of a
# credential to the count and learns how many the other workers took: the limit may be passed
# by what the others take in that time.
SYNC_SECONDS = 0.1
# How long a window's shared count outlives its minute (seconds).
SHARED_TTL_SECONDS = 120


class RateLimiter:
    """A fixed one-minute window per credential. Counted in-process (per server worker), and,
    with a `shared` count, across every worker and host: each worker counts its own requests
    at once and learns the others' every SYNC_SECONDS, without waiting for the shared count on
    the request's path."""

    def __init__(self, per_minute: int, shared: SharedCounts | None = None) -> None:
        self.per_minute = per_minute
        self.shared = shared
        self._window = 0
        self._counts: dict[int, int] = {}  # this worker's requests in the window
        self._sent: dict[int, int] = {}  # of those, how many the shared count holds
        self._others: dict[int, int] = {}  # the other workers' requests, as last learnt
        self._synced_at: dict[int, float] = {}
        self._syncing: set[asyncio.Task[None]] = set()
        self._unreachable = Unreachable("requests")

    def hit(self, credential_id: int) -> None:
        if self.per_minute <= 0:
            return
        now = time.time()
        window = int(now // 60)
        if window != self._window:
            self._window = window
            self._counts, self._sent, self._others, self._synced_at = {}, {}, {}, {}
        count = self._counts.get(credential_id, 0) + 1
        self._counts[credential_id] = count
        if self.shared is not None and now - self._synced_at.get(credential_id, 0.0) >= \
                SYNC_SECONDS:
            self._synced_at[credential_id] = now  # one sync at a time per credential
            task = asyncio.get_running_loop().create_task(self._sync(credential_id, window))
            self._syncing.add(task)
            task.add_done_callback(self._syncing.discard)
        if count + self._others.get(credential_id, 0) > self.per_minute:
            raise RateLimited("rate limit exceeded", retry_after=max(1, math.ceil(
                (window + 1) * 60 - now)))

    async def _sync(self, credential_id: int, window: int) -> None:
        assert self.shared is not None  # noqa: S101 - only scheduled with a shared count
        delta = self._counts.get(credential_id, 0) - self._sent.get(credential_id, 0)
        try:
            total = await self.shared.add(f"patron:rate:{window}:{credential_id}", delta,
                                          SHARED_TTL_SECONDS)
        except Exception:  # noqa: BLE001 - the shared store down: count in-process meanwhile
            self._unreachable()
            return
        if window == self._window:
            sent = self._sent.get(credential_id, 0) + delta
            self._sent[credential_id] = sent
            self._others[credential_id] = max(0, total - sent)

    async def settled(self) -> None:
        """Waits for the syncs under way (tests, shutdown)."""
        while self._syncing:
            await asyncio.gather(*self._syncing, return_exceptions=True)


def admit(principal: Principal, face: str, scope: str, limiter: RateLimiter) -> Principal:
    if principal.face != face:
        raise Unauthorized("credential not valid for this API")
    if scope not in principal.scopes:
        raise Forbidden(f"missing scope {scope}")
    limiter.hit(principal.credential_id)
    return principal
