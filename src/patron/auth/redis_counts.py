"""Counts shared by every server worker and host through Redis (PATRON_REDIS_URL): the rate
limit's windows (auth/guard.py). Redis keeps only counts keyed by window and credential id,
never a credential or anything about a customer."""

from __future__ import annotations

from typing import Any


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

    async def close(self) -> None:
        await self._client.aclose()
