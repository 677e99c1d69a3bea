"""What every face checks once a principal is known: its face, its scope, its rate."""

from __future__ import annotations

import math
import time

from patron.auth.service import Principal
from patron.errors import Forbidden, RateLimited, Unauthorized


class RateLimiter:
    """A fixed one-minute window per credential, in-process (one per server worker; see
    docs/operations.md for sharing it through Redis when scaling out)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window = 0
        self._counts: dict[int, int] = {}

    def hit(self, credential_id: int) -> None:
        if self.per_minute <= 0:
            return
        now = time.time()
        window = int(now // 60)
        if window != self._window:
            self._window = window
            self._counts = {}
        count = self._counts.get(credential_id, 0) + 1
        self._counts[credential_id] = count
        if count > self.per_minute:
            raise RateLimited("rate limit exceeded", retry_after=max(1, math.ceil(
                (window + 1) * 60 - now)))


def admit(principal: Principal, face: str, scope: str, limiter: RateLimiter) -> Principal:
    if principal.face != face:
        raise Unauthorized("credential not valid for this API")
    if scope not in principal.scopes:
        raise Forbidden(f"missing scope {scope}")
    limiter.hit(principal.credential_id)
    return principal
