"""Idempotency keys (DESIGN.md: "Writes accept an `Idempotency-Key`").

A write that carries a key claims it before it runs. When it succeeds (2xx), its answer is kept
with the key for KEEP_MS; the same request sent again with the same key gets that answer back
instead of being carried out again. The same key with a different request (method, path, query or
body) is refused, and so is a key whose first request is still running. A request that does not
succeed gives its key back, so the client may try again with it. The face decides which requests
take part (faces.AuthFirstRoute); this module decides what a key means."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from patron.clock import Clock
from patron.db.database import Database, Queryable
from patron.errors import Conflict, ValidationFailed
from patron.idempotency.repository import (
    CLAIM,
    COMPLETE,
    FORGET_ORG_ANSWERS,
    GET,
    PURGE,
    RELEASE,
)
from patron.jsonio import dumps_text, loads

# How long an answer is kept for its key: a day, as Stripe keeps them.
KEEP_MS = 24 * 3600 * 1000
# A request still marked in flight this long after it claimed its key was cut off (its process
# killed); its key may be claimed again.
ABANDONED_MS = 60 * 1000
# Keys are what a client makes up (a UUID, usually): printable ASCII, at most this long.
MOST_KEY_CHARS = 255
IN_FLIGHT = 0


@dataclass(frozen=True)
class Answer:
    """A kept answer, as it is sent again."""
    status: int
    body: bytes
    headers: list[tuple[str, str]]


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests with one key the same request: method, path, query and body."""
    digest = hashlib.sha256()
    for part in (method, path, query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def checked_key(raw: str) -> str:
    """The client's key, or ValidationFailed when it cannot be one."""
    if not raw or len(raw) > MOST_KEY_CHARS or not raw.isascii() or not raw.isprintable():
        raise ValidationFailed(f"Idempotency-Key must be 1 to {MOST_KEY_CHARS} printable ASCII "
                               "characters", reason="invalid_idempotency_key",
                               field="Idempotency-Key")
    return raw


class Idempotency:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def claim(self, org_id: int, key: str, fingerprint: str) -> Answer | None:
        """None: the key is this request's, which runs and then calls `complete` or `release`.
        An Answer: the same request already succeeded with this key; send its answer again."""
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            claimed = await tx.fetchval(CLAIM, org_id, key, fingerprint, now, now - KEEP_MS,
                                        now - ABANDONED_MS)
            row = None if claimed is not None else await tx.fetchrow(GET, org_id, key)
        if row is None:
            return None
        if row["fingerprint"] != fingerprint:
            raise Conflict("this Idempotency-Key was used with a different request",
                           reason="idempotency_key_reused")
        if row["status"] == IN_FLIGHT:
            raise Conflict("the first request with this Idempotency-Key has not finished; "
                           "try again shortly", reason="idempotency_key_in_flight")
        return Answer(row["status"], row["body"].encode(),
                      [(name, value) for name, value in loads(row["headers"])])

    async def complete(self, org_id: int, key: str, fingerprint: str, answer: Answer) -> None:
        """Keep a successful request's answer for its key."""
        await self.db.execute(COMPLETE, org_id, key, fingerprint, answer.status,
                              answer.body.decode(), dumps_text(answer.headers))

    async def release(self, org_id: int, key: str, fingerprint: str) -> None:
        """Give back the key of a request that did not succeed."""
        await self.db.execute(RELEASE, org_id, key, fingerprint)

    async def purge(self, org_id: int) -> None:
        """Drop the keys past keeping (the scheduled jobs; a claim also takes one over)."""
        await self.db.execute(PURGE, org_id, self.clock.now_ms() - KEEP_MS)

    @staticmethod
    async def forget_answers(tx: Queryable, org_id: int) -> None:
        """Drop every kept answer of the organisation: an erasure's part. Answers are kept as
        sent, and one about the erased customer may hold their personal data; which ones do is
        not known without reading every answer's format, so all go. A request sent again after
        an erasure with a key used before it is carried out again."""
        await tx.execute(FORGET_ORG_ANSWERS, org_id)


def answer_of(status: int, body: bytes, headers: Any) -> Answer | None:
    """What is kept of a response, or None when it is not kept: not a success, or not text."""
    if not 200 <= status < 300:
        return None
    try:
        body.decode()
    except UnicodeDecodeError:
        return None
    kept = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers
            if name.lower() != b"content-length"]
    return Answer(status, body, kept)
