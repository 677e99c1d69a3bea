"""Pages of the interaction reads kept in the server's memory between the writes that change them.

Rendering a page of a customer's messages is most of an interaction read (docs/performance.md):
the database reads and renders each message. The summaries the read starts with
(`message_summaries`) carry a revision that every write to the messages they count moves, in the
write's transaction: a message stored, a delivery event on one, the PII scrub of a customer's
messages (engagement/repository.py). A page is kept here with the summaries it was read under,
and sent again only while a later read finds the same summaries; any difference, and the page
is read again. The summaries are read first and the page after, so a page is never older than
the summaries it is kept under. A face may keep its answers rendered from the pages with them
(`keep_answer`), under its own key of whatever else an answer shows (the customer's addresses,
the format): they go with the pages.

Each server process keeps its own pages, at most `max_bytes` of them, and none for longer than
`keep_seconds`: a timer drops the expired ones, so that a page whose customer was deleted since
(the revision moved: it can no longer be sent) leaves memory within that time even if nothing
reads it again. The process that carries out a PII deletion forgets that customer's pages at
once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

# How long a page is kept at the longest, in seconds (the bound on how long a deleted customer's
# page text can stay in a process's memory).
KEEP_SECONDS = 60.0
# Answers a face may keep with one set of pages (one per shape of answer it renders from them).
MOST_ANSWERS = 8


class Kept:
    """One read's pages, the summaries (the token) they were read under, and the answers a face
    rendered from them (each under the face's key of whatever else the answer shows): all of it
    goes when the pages go."""

    __slots__ = ("key", "at", "token", "pages", "answers", "size")

    def __init__(self, key: tuple[Any, ...], token: Hashable,
                 pages: dict[tuple[str, str], str]) -> None:
        self.key, self.token, self.pages = key, token, pages
        self.at = time.monotonic()
        self.answers: dict[Hashable, bytes] = {}
        self.size = sum(len(page) for page in pages.values()) + 200


class KeptPages:
    """Per (organisation, customer, query): the pages of the last read and the summaries (the
    token) they were read under. A key's first two parts are the organisation and customer."""

    def __init__(self, max_bytes: int, keep_seconds: float = KEEP_SECONDS) -> None:
        self.max_bytes = max_bytes
        self.keep_seconds = keep_seconds
        self._kept: OrderedDict[tuple[Any, ...], Kept] = OrderedDict()  # oldest first
        self._bytes = 0
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def on(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: tuple[Any, ...], token: Hashable) -> Kept | None:
        """What is kept for `key` if its pages were read under these summaries, and are not past
        keeping."""
        kept = self._kept.get(key)
        if kept is None or kept.token != token or kept.at + self.keep_seconds < time.monotonic():
            return None
        return kept

    def keep(self, key: tuple[Any, ...], token: Hashable,
             pages: dict[tuple[str, str], str]) -> Kept | None:
        """Keep the pages read under these summaries, in place of any kept for the key; the
        oldest go when the memory is full. A set larger than a quarter of it is not kept."""
        kept = Kept(key, token, pages)
        if kept.size * 4 > self.max_bytes:
            return None
        self._drop(key)
        self._kept[key] = kept
        self._bytes += kept.size
        self._fit()
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self.keep_seconds, self._expire)
        return kept

    def keep_answer(self, kept: Kept, key: Hashable, answer: bytes) -> None:
        """Keep a face's answer rendered from these pages, while they are kept."""
        if self._kept.get(kept.key) is not kept or len(kept.answers) >= MOST_ANSWERS \
                or (kept.size + len(answer)) * 4 > self.max_bytes:
            return
        kept.answers[key] = answer
        kept.size += len(answer)
        self._bytes += len(answer)
        self._fit()

    def forget(self, org_id: int, customer_id: int) -> None:
        """Drop every page of the customer (their messages were scrubbed)."""
        for key in [k for k in self._kept if k[0] == org_id and k[1] == customer_id]:
            self._drop(key)

    def _fit(self) -> None:
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._kept)))

    def _drop(self, key: tuple[Any, ...]) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._bytes -= kept.size

    def _expire(self) -> None:
        """Drop the pages past keeping (the oldest are first), and come back while any is left."""
        self._sweep = None
        deadline = time.monotonic() - self.keep_seconds
        while self._kept:
            key, kept = next(iter(self._kept.items()))
            if kept.at > deadline:
                break
            self._drop(key)
        if self._kept:
            oldest = next(iter(self._kept.values())).at
            wait = max(oldest + self.keep_seconds - time.monotonic(), 0.0) + 0.01
            self._sweep = asyncio.get_running_loop().call_later(wait, self._expire)

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._kept.clear()
        self._bytes = 0
