"""Reads of one statement that concurrent requests ask for, sent to PostgreSQL together.

On PostgreSQL each statement is a round trip: the worker's share of it (asyncpg's encoding and
decoding, the socket, a turn on the pool) and the server's (the protocol, the executor) cost more
than the few index look-ups of a small read (docs/performance.md). Under load, requests of one
worker that need the same kind of read reach it at about the same time; `BatchedRead` sends the
reads waiting for it as one statement. A read's first argument is its organisation: a statement
carries the reads of one organisation, given it as `$1`, as every statement on an organisation's
data is; it takes each other argument as an array, one element per read, and answers each
read's rows tagged with its place in the batch (`read_no`, from 1, the last column).

A read is sent in a statement that starts after it was asked for, never joined to one already
sent: what it answers is what the store held at some moment after the request came, as if it had
been sent alone. One statement is out at a time: a read asked for while none is out is sent at
once, alone, by its caller; reads asked for while one is out wait, and go together in the
next, sent as soon as it returns. A statement that fails fails every read it carried.
"""

from __future__ import annotations

import asyncio
from typing import Any

from patron.db.database import Database, Row
from patron.db.statement import Statement

_Read = tuple[tuple[Any, ...], "asyncio.Future[list[Row]]"]  # its arguments, and its answer
# Reads in one statement at most (arrays of this many elements), unless a caller says otherwise.
MOST_READS = 64


class BatchedRead:
    def __init__(self, db: Database, stmt: Statement, most_reads: int = MOST_READS) -> None:
        self.db = db
        self.stmt = stmt
        self.most_reads = most_reads
        self._waiting: list[_Read] = []
        self._sending = False
        self._tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    async def fetch(self, *args: Any) -> list[Row]:
        """The rows `stmt` answers for these arguments (with `read_no` as their last column)."""
        if not self._sending:  # none out: this read goes at once, alone
            self._sending = True
            try:
                return await self.db.fetch(self.stmt, args[0], *([arg] for arg in args[1:]))
            finally:
                self._next()
        future: asyncio.Future[list[Row]] = asyncio.get_running_loop().create_future()
        self._waiting.append((args, future))
        return await future

    def _next(self) -> None:
        """A statement came back: the reads that waited for it go in the next."""
        self._sending = False
        if self._waiting:
            self._send()

    def _send(self) -> None:
        self._sending = True
        task = asyncio.get_running_loop().create_task(self._run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        """Sends the first waiting read's organisation's waiting reads (`_send` runs only while
        some read waits, and one statement at a time)."""
        org_id = self._waiting[0][0][0]
        batch: list[_Read] = []
        others: list[_Read] = []  # of other organisations, or past the most a statement carries
        for read in self._waiting:
            ours = read[0][0] == org_id and len(batch) < self.most_reads
            (batch if ours else others).append(read)
        self._waiting = others
        try:
            columns = [list(column) for column in zip(*(args[1:] for args, _ in batch),
                                                      strict=True)]
            rows = await self.db.fetch(self.stmt, org_id, *columns)
            answers: list[list[Row]] = [[] for _ in batch]
            for row in rows:
                answers[row[-1] - 1].append(row)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._next()

    def close(self) -> None:
        """Stops reading: the statement out is cancelled, and with it its reads and those
        waiting for the next."""
        for task in list(self._tasks):
            task.cancel()
