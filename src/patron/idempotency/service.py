"""Idempotency keys (DESIGN.md: "Writes accept an `Idempotency-Key`").

A write that carries a key claims it before it runs. Each write transaction the request makes
marks the key as written in that same transaction (`guarding`), so the store never holds the
write without the mark. When the request succeeds (2xx), or fails after it wrote, its answer is
kept with the key for KEEP_MS; the same request sent again with the same key gets that answer
back instead of being carried out again. The same key with a different request (method, path,
query or body) is refused, and so is a key whose first request is still running, and one whose
request wrote but whose answer was never kept (its process died after the commit): that request
is not carried out twice. A request that fails before writing gives its key back, so the client
may try again with it. The face decides which requests take part (faces.AuthFirstRoute); this
module decides what a key means."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from patron.clock import Clock
from patron.db.database import Database, Queryable, commit_mark
from patron.errors import Conflict, ValidationFailed
from patron.idempotency.repository import (
    CLAIM,
    COMPLETE,
    FORGET_ORG_ANSWERS,
    GET,
    MARK_UNANSWERED,
    MARK_WRITTEN,
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
# A key's status while it has no kept answer (otherwise: the answer's HTTP status).
IN_FLIGHT, WRITTEN, UNANSWERED = 0, 1, 2


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
        """None: the key is this request's, which runs `guarding` it and then calls `finish`.
        An Answer: the same request already ran with this key and its answer was kept; send it
        again. Conflict: another request with the key, or the same one still running or whose
        answer was not kept."""
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
        status = row["status"]
        if status == IN_FLIGHT or (status == WRITTEN and row["created_at"] >= now - ABANDONED_MS):
            raise Conflict("the first request with this Idempotency-Key has not finished; "
                           "try again shortly", reason="idempotency_key_in_flight")
        if status in (WRITTEN, UNANSWERED):
            raise Conflict("the request with this Idempotency-Key was carried out, but its answer "
                           "was not kept, so it is not carried out again; to carry it out again, "
                           "send it with a new key", reason="idempotency_key_answer_lost")
        return Answer(status, row["body"].encode(),
                      [(name, value) for name, value in loads(row["headers"])])

    @staticmethod
    @contextmanager
    def guarding(org_id: int, key: str, fingerprint: str) -> Iterator[None]:
        """Around the request that claimed the key: each of its write transactions marks the key
        as written before it commits."""
        with commit_mark(MARK_WRITTEN, org_id, key, fingerprint):
            yield

    async def finish(self, org_id: int, key: str, fingerprint: str,
                     answer: Answer | None) -> None:
        """After the request that claimed the key (`answer` None: it raised, or its answer cannot
        be kept): keep its answer if it succeeded or wrote; else give the key back, or, if it
        wrote, mark that its answer is not kept."""
        async with self.db.transaction() as tx:
            if answer is not None:
                await tx.execute(COMPLETE, org_id, key, fingerprint, answer.status,
                                 answer.body.decode(), dumps_text(answer.headers),
                                 200 <= answer.status < 300)
            await tx.execute(RELEASE, org_id, key, fingerprint)
            await tx.execute(MARK_UNANSWERED, org_id, key, fingerprint)

    async def purge(self, org_id: int) -> None:
        """Drop the keys past keeping (the scheduled jobs; a claim also takes one over)."""
        await self.db.execute(PURGE, org_id, self.clock.now_ms() - KEEP_MS)

    @staticmethod
    async def forget_answers(tx: Queryable, org_id: int) -> None:
        """Drop every kept answer of the organisation: an erasure's part. Answers are kept as
        sent, and one about the erased customer may hold their personal data; which ones do is
        not known without reading every answer's format, so all go. What stays is that each of
        those requests was carried out (UNANSWERED), so that one sent again with its key is
        refused rather than carried out twice; keys of requests still running are untouched."""
        await tx.execute(FORGET_ORG_ANSWERS, org_id)


def answer_of(status: int, body: bytes, headers: Any) -> Answer | None:
    """What can be kept of a response, or None when it cannot: not text."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return None
    kept = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers
            if name.lower() != b"content-length"]
    return Answer(status, body, kept)
