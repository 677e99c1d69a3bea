"""Counts shared by every server worker and host through Redis (PATRON_REDIS_URL): the rate
limit's windows (auth/guard.py) and the failed sign-ins per login (auth/service.py). Redis keeps
only counts, keyed by window and credential id or by a digest of a login, never a secret or
anything about a customer."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Protocol


class SharedCounts(Protocol):
    """Counts that every worker and host adds to."""

    async def add(self, key: str, delta: int, ttl_seconds: int) -> int:
        """Adds `delta` to the count `key` (kept `ttl_seconds` from now), returning the total."""
        ...

    async def add_one_from_first(self, key: str, ttl_seconds: int) -> int:
        """Adds one to the count `key`, which lives `ttl_seconds` from its first addition;
        returns the total."""
        ...

    async def held(self, key: str) -> tuple[int, int]:
        """The count `key` and the seconds it has left (0, 0 when there is none)."""
        ...

    async def close(self) -> None: ...


class Unreachable:
    """What a user of the shared counts calls when they cannot be reached, and it counts in its
    own worker meanwhile: says so, with the error, at most once a minute."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._said_at = -math.inf

    def __call__(self) -> None:
        if time.monotonic() - self._said_at > 60:
            self._said_at = time.monotonic()
            logging.getLogger("patron.ratelimit").warning(
                "the shared count of %s cannot be reached; counting per worker until it can",
                self.what, exc_info=True)


class RedisCounts:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis  # only when configured

        self._client: Any = redis.Redis.from_url(url, socket_timeout=1.0,
                                                 socket_connect_timeout=1.0)

    async def add(self, key: str, delta: int, ttl_seconds: int) -> int:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.incrby(key, delta)
            pipe.expire(key, ttl_seconds)
            total, _ = await pipe.execute()
        return int(total)

    async def add_one_from_first(self, key: str, ttl_seconds: int) -> int:
        # SET NX makes the count with its expiry only when there is none; INCR keeps the expiry.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=ttl_seconds, nx=True)
            pipe.incr(key)
            _, total = await pipe.execute()
        return int(total)

    async def held(self, key: str) -> tuple[int, int]:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        return (int(count), max(int(ttl), 1)) if count is not None else (0, 0)

    async def close(self) -> None:
        await self._client.aclose()
