"""The Database: one async API over stdlib sqlite3 and asyncpg, as DESIGN.md's measurements require.

Reads run on the raw drivers with statements prepared once. On SQLite, reads use a connection on
the event loop thread (point queries cost microseconds) and writes go to one writer connection on
its own thread, so a commit's fsync never blocks the loop. On PostgreSQL an asyncpg pool serves
both. A `transaction()` yields a connection with the same methods; repositories accept either.
A task may ask every write transaction it makes to run one statement more before it commits
(`commit_mark`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from patron.db.statement import Statement, mask_digits, unicode_lower
from patron.errors import IdsBehind, number_out_of_range, unstorable_text

Row = Any  # sqlite3.Row or asyncpg.Record: both index by column name

# The statement (and its arguments) that every write transaction of the current task runs last,
# before it commits: what a request writes and the mark that it wrote are then committed
# together, or neither is (patron.idempotency marks its key this way).
_COMMIT_MARK: ContextVar[tuple[Statement, tuple[Any, ...]] | None] = ContextVar(
    "commit_mark", default=None)


@contextmanager
def commit_mark(stmt: Statement, *args: Any) -> Iterator[None]:
    """Within this block, every write transaction of this task (and of tasks it starts) runs
    `stmt` with `args` before it commits."""
    token = _COMMIT_MARK.set((stmt, args))
    try:
        yield
    finally:
        _COMMIT_MARK.reset(token)


# Work of the task's to do while its write transactions commit (`while_committing`).
_WHILE_COMMITTING: ContextVar[Callable[[], None] | None] = ContextVar(
    "while_committing", default=None)


@contextmanager
def while_committing(work: Callable[[], None]) -> Iterator[None]:
    """Within this block, `work` (synchronous) runs on this thread as each write transaction of
    this task commits, once per committed transaction. On SQLite the commit is written on the
    writer thread meanwhile, without Python's lock, so the two run at once; on PostgreSQL it
    runs once the commit is answered. Either way, an exception from `work` is raised once the
    transaction has committed."""
    token = _WHILE_COMMITTING.set(work)
    try:
        yield
    finally:
        _WHILE_COMMITTING.reset(token)


async def _run_commit_mark(tx: Queryable) -> None:
    mark = _COMMIT_MARK.get()
    if mark is not None:
        await tx.execute(mark[0], *mark[1])


class Queryable(Protocol):
    dialect: str

    async def fetchrow(self, stmt: Statement, *args: Any) -> Row | None: ...
    async def fetch(self, stmt: Statement, *args: Any) -> list[Row]: ...
    async def fetchval(self, stmt: Statement, *args: Any) -> Any: ...
    async def execute(self, stmt: Statement, *args: Any) -> None: ...
    async def executemany(self, stmt: Statement, rows: Sequence[Sequence[Any]]) -> None: ...


class Database(Queryable, Protocol):
    url: str

    def transaction(self) -> Any: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
    def wipe_old_copies(self) -> None: ...


log = logging.getLogger("patron.db")

# Which columns a unique index that refused a write covers: SQLite names them in its message
# ("UNIQUE constraint failed: customers.org_id, customers.id"; an index on expressions by name),
# PostgreSQL in the error's detail ("Key (org_id, id)=(7, 42) already exists.").
_SQLITE_UNIQUE = re.compile(r"^UNIQUE constraint failed: (.+)$")
_PG_KEY = re.compile(r"^Key \(([^)]*)\)=")
# The key of every table whose rows take their ids from the id sequence (db.ids).
_ID_KEYS = (("org_id", "id"), ("id",))


def unique_clash(exc: BaseException) -> tuple[str, tuple[str, ...]] | None:
    """The table and the columns of the unique index a write failed on (the columns empty when
    the driver does not say them), or None when `exc` is no unique violation."""
    if isinstance(exc, sqlite3.IntegrityError):
        found = _SQLITE_UNIQUE.match(str(exc))
        if found is None:
            return None
        names = [n.strip() for n in found.group(1).split(",")]
        if not all("." in n and " " not in n for n in names):  # "index 'name'"
            return "", ()
        return names[0].split(".", 1)[0], tuple(n.split(".", 1)[1] for n in names)
    if getattr(exc, "sqlstate", None) != "23505":  # asyncpg's UniqueViolationError
        return None
    key = _PG_KEY.match(getattr(exc, "detail", None) or "")
    columns = tuple(c.strip() for c in key.group(1).split(",")) if key else ()
    return getattr(exc, "table_name", None) or "", columns


def is_unique_violation(exc: BaseException) -> bool:
    """Whether a write failed on a unique index of what it stores (an identifier, an external
    id, a record id): a race the caller answers as a conflict (the transaction it happened in
    is rolled back by then). An id that a stored row holds is no such race: it is raised as
    IdsBehind before any caller sees it (_ids_behind)."""
    return unique_clash(exc) is not None


def _ids_behind(exc: BaseException) -> IdsBehind | None:
    """IdsBehind, logged once for the operator, when `exc` is a new row's id clashing with a
    stored row's: the id sequence is behind the stored ids."""
    clash = unique_clash(exc)
    if clash is None or clash[1] not in _ID_KEYS:
        return None
    log.error("a new %s row took an id that a stored row holds: the id sequence is behind "
              "the stored ids (a copy or restore that did not move it); set it past them as "
              "docs/operations.md says (\"The id sequence\", setval)", clash[0] or "table")
    return IdsBehind()


class PostgresUnreachable(ConnectionError):
    """No new connection to PostgreSQL could be made: nothing listening, refused, host unknown,
    timed out. (asyncpg raises the socket's OSError itself, which could not be told apart from
    any other OSError.)"""


# SQLite's primary result codes (the low byte of an extended code) for a file that cannot be
# opened or read, or a write lock not had within the wait (WRITE_LOCK_SECONDS, busy_timeout).
_SQLITE_UNAVAILABLE = {5: "SQLITE_BUSY", 10: "SQLITE_IOERR", 14: "SQLITE_CANTOPEN"}
# PostgreSQL's SQLSTATEs for a server that is not there for this session: connection exceptions
# (class 08, but not 08P01, a protocol violation: a bug), the server shutting down, crashed or
# starting (57P01-57P03, also a backend ended by pg_terminate_backend), an idle session ended
# (57P05), and no connection slot left (53300).
_PG_UNAVAILABLE = frozenset({"08000", "08001", "08003", "08004", "08006", "08007",
                             "57P01", "57P02", "57P03", "57P05", "53300"})


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or read just now, rather than that a
    statement was wrong: each face answers it 503 with `Retry-After` (DatabaseUnavailable).
    Every other database error stays what it was (a constraint, a bad statement: a 4xx or 500)."""
    if isinstance(exc, PostgresUnreachable):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_UNAVAILABLE
    if getattr(exc, "sqlstate", None) in _PG_UNAVAILABLE:
        return True
    # asyncpg's InterfaceError for a connection it already knew to be closed ("cannot perform
    # operation: connection is closed"); its other InterfaceErrors are misuse.
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


# A URL in a driver's message may carry a password.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def described(exc: BaseException) -> str:
    """A driver's error for a log line or an operator: its class and message, any URL in it
    replaced by `<url>`."""
    return f"{type(exc).__name__}: {_URL.sub('<url>', str(exc))[:300]}"


class _OneLinePoolWarnings(logging.Filter):
    """asyncpg's pool logs each failed attempt to restore its connection floor while PostgreSQL
    is down (at most once a minute, backing off) with a traceback; the database being away is
    no bug in Patron, so the warning is kept as one line (`described`) like the 503s'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {described(record.exc_info[1])}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OneLinePoolWarnings())


def driver_errors() -> tuple[type[Exception], ...]:
    """The exception classes `unavailable` may say yes to (for the app's error handlers)."""
    return (PostgresUnreachable, sqlite3.OperationalError, asyncpg.PostgresError,
            asyncpg.InterfaceError)


async def _pg_call(conn: Any, method: str, *args: Any) -> Any:
    """An asyncpg call. A statement that failed on text PostgreSQL cannot store (U+0000, SQLSTATE
    22021) had bad input that got past a face's validation: a 400 in the face's envelope, its
    transaction rolled back, instead of a crash (SQLite refuses the same text before it runs
    the statement: _storable). So is a number out of range (number_out_of_range)."""
    try:
        return await getattr(conn, method)(*args)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == "22021":
            raise unstorable_text() from None
        if isinstance(exc.__cause__, OverflowError):
            raise number_out_of_range() from None
        behind = _ids_behind(exc)
        if behind is not None:
            raise behind from exc
        raise


CHECKPOINT_SECONDS = 0.5
WAL_RESTART_FRAMES = 16_384  # 64 MiB of 4 KiB pages
# The WAL is started over once no more than this is left to copy (about a batch of the import's).
WAL_TAIL_FRAMES = 2_048
WRITE_LOCK_SECONDS = 10.0


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///PATH` URL."""
    return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))


def _sqlite_connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection; the OS caches the rest
    conn.execute("PRAGMA temp_store=MEMORY")
    # What a write removes or replaces is overwritten with zeros in the file, whatever the
    # SQLite build's default: an erasure must not leave a person's data in free space.
    conn.execute("PRAGMA secure_delete=ON")
    conn.create_function("mask_digits", 1, mask_digits, deterministic=True)
    conn.create_function("unicode_lower", 1, unicode_lower, deterministic=True)
    return conn


def _storable(args: Sequence[Any]) -> None:
    """Refuse text holding U+0000, as PostgreSQL does (_pg_call), so that both databases store
    and answer the same: SQLite would keep the character, or match nothing by it."""
    for arg in args:
        if arg.__class__ is str and "\x00" in arg:
            raise unstorable_text()


class _SQLiteConn:
    """A connection's calls, run either inline (reads) or on the writer thread (transactions)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor | None) -> None:
        self._conn = conn
        self._executor = executor

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            if self._executor is None:
                return fn(*args)
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except OverflowError:  # "Python int too large to convert to SQLite INTEGER"
            raise number_out_of_range() from None
        except sqlite3.IntegrityError as exc:
            behind = _ids_behind(exc)
            if behind is not None:
                raise behind from exc
            raise

    async def fetchrow(self, stmt: Statement, *args: Any) -> Row | None:
        _storable(args)
        return await self._run(lambda: self._conn.execute(stmt.sqlite, args).fetchone())

    async def fetch(self, stmt: Statement, *args: Any) -> list[Row]:
        _storable(args)
        return await self._run(lambda: self._conn.execute(stmt.sqlite, args).fetchall())

    async def fetchval(self, stmt: Statement, *args: Any) -> Any:
        row = await self.fetchrow(stmt, *args)
        return None if row is None else row[0]

    async def execute(self, stmt: Statement, *args: Any) -> None:
        _storable(args)
        await self._run(self._conn.execute, stmt.sqlite, args)

    async def executemany(self, stmt: Statement, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            _storable(row)
        await self._run(self._conn.executemany, stmt.sqlite, rows)


class SQLiteDatabase(_SQLiteConn):
    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        self.url = url
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(_sqlite_connect(path, synchronous), None)
        self._writer = _sqlite_connect(path, synchronous)
        # Checkpoints (copying the WAL back into the database file) run on a thread of their
        # own instead of inside whichever commit crossed the WAL threshold: on a 10M-event table
        # that took ingestion from 34 to 19 ms per 100-event batch (docs/performance.md).
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        # The write lock is waited for in _begin; once held, nothing else in WAL mode blocks.
        self._writer.execute("PRAGMA busy_timeout=0")
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._write_lock = asyncio.Lock()
        self._closing = threading.Event()
        self._wipe_wal = threading.Event()
        self._restart_wanted = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(path,),
                                              name="sqlite-checkpointer", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self, path: Path) -> None:
        conn = _sqlite_connect(path, "FULL")
        conn.execute("PRAGMA busy_timeout=0")  # never queue behind the writers: next round
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                try:
                    if self._wipe_wal.is_set():
                        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                        if not busy:
                            self._wipe_wal.clear()
                            continue
                        # A reader is in the WAL: checkpoint as usual, and try again next round.
                    _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    # Under sustained writes a passive checkpoint never finds the WAL idle, so
                    # the WAL is never started over and grows by gigabytes; every page read
                    # then looks through its whole index (batched ingestion fell from 24,900 to
                    # 14,900 events/s with a 2 GB WAL), and every frame written past the end
                    # takes a page the kernel must allocate and zero. Past WAL_RESTART_FRAMES,
                    # copy what was written meanwhile until little is left, and have this
                    # process's writer start the WAL over before its next transaction
                    # (_start_wal_over): a restart needs the write lock, which a steady writer holds
                    # nearly all the time, so a restart tried from here found it taken and
                    # the WAL grew (to 1.8 GB over an import of 500,000 records). A wish not
                    # taken by the next round means this process is not writing: the restart
                    # is tried here.
                    if frames > WAL_RESTART_FRAMES:
                        if self._restart_wanted.is_set():
                            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                            if not busy:
                                self._restart_wanted.clear()
                            continue
                        for _ in range(8):
                            if frames - copied <= WAL_TAIL_FRAMES:
                                break
                            _, frames, copied = conn.execute(
                                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        self._restart_wanted.set()
                except sqlite3.OperationalError:
                    pass  # busy: another worker is checkpointing; the next round catches up
        finally:
            conn.close()

    async def _begin(self, tx: _SQLiteConn) -> None:
        """Takes SQLite's write lock, which other server workers may hold. SQLite's own busy
        handler sleeps in steps of up to 100 ms and lets one process starve another (requests
        waited over 5 s under ingestion load); this polls every millisecond or two instead,
        without holding up the event loop."""
        deadline = time.monotonic() + WRITE_LOCK_SECONDS
        while True:
            try:
                await tx._run(self._writer.execute, "BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.001 + random.random() * 0.001)

    async def _start_wal_over(self, tx: _SQLiteConn) -> None:
        """The checkpointer's wish (_checkpoint_loop), between two of this process's
        transactions: what is left of the WAL is copied and the database file synced, so that
        the next write starts the WAL over. The transaction about to begin waits for that
        (0.1-0.2 s under an import, every 80-120 MiB of WAL)."""
        self._restart_wanted.clear()
        try:
            await tx._run(self._writer.execute, "PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.OperationalError:
            pass  # taken by another process: the WAL goes on; the checkpointer asks again

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SQLiteConn]:
        async with self._write_lock:
            tx = _SQLiteConn(self._writer, self._writer_thread)
            if self._restart_wanted.is_set():
                await self._start_wal_over(tx)
            await self._begin(tx)
            try:
                yield tx
                await _run_commit_mark(tx)
            except BaseException:
                await tx._run(self._writer.execute, "ROLLBACK")
                raise
            work = _WHILE_COMMITTING.get()
            if work is None:
                await tx._run(self._writer.execute, "COMMIT")
                return
            committed = asyncio.ensure_future(tx._run(self._writer.execute, "COMMIT"))
            await asyncio.sleep(0)  # the commit handed to the writer thread
            try:
                work()
            finally:
                await committed

    async def execute(self, stmt: Statement, *args: Any) -> None:
        async with self.transaction() as tx:
            await tx.execute(stmt, *args)

    async def executemany(self, stmt: Statement, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(stmt, rows)

    async def run_in_thread(self, fn: Any, *args: Any) -> Any:
        """Long reads (exports, analytics) on a thread with a connection of their own."""
        path = sqlite_path(self.url)

        def call() -> Any:
            conn = _sqlite_connect(path, "NORMAL")
            try:
                return fn(conn, *args)
            finally:
                conn.close()

        return await asyncio.to_thread(call)

    async def ping(self) -> bool:
        return self._conn.execute("SELECT 1").fetchone()[0] == 1

    def wipe_old_copies(self) -> None:
        """After an erasure: the WAL still holds the pages as they were before it (a checkpoint
        copies them into the database and leaves the file as it is). The checkpointer's next
        round copies and truncates it to nothing, or the round after, when a reader held it."""
        self._wipe_wal.set()

    async def close(self) -> None:
        self._closing.set()
        self._checkpointer.join()
        self._conn.close()
        self._writer_thread.submit(self._writer.close).result()
        self._writer_thread.shutdown()


class _PGConn:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def _run(self, method: str, *args: Any) -> Any:
        return await _pg_call(self._conn, method, *args)

    async def fetchrow(self, stmt: Statement, *args: Any) -> Row | None:
        return await self._run("fetchrow", stmt.pg, *args)

    async def fetch(self, stmt: Statement, *args: Any) -> list[Row]:
        return list(await self._run("fetch", stmt.pg, *args))

    async def fetchval(self, stmt: Statement, *args: Any) -> Any:
        return await self._run("fetchval", stmt.pg, *args)

    async def execute(self, stmt: Statement, *args: Any) -> None:
        await self._run("execute", stmt.pg, *args)

    async def executemany(self, stmt: Statement, rows: Sequence[Sequence[Any]]) -> None:
        await self._run("executemany", stmt.pg, rows)


async def _no_session_state(conn: Any) -> None:
    """The pool's reset on release. asyncpg's default sends `RESET ALL; UNLISTEN *; ...` after
    every use, a second round trip per query (measured: half the sends on GET
    /v2/customers/{id}). Patron keeps no session state (no SET, LISTEN, advisory locks or
    cursors outside a transaction), and asyncpg still rolls back any open transaction."""


# Connections per server worker. On the 2-core bench machine, with PostgreSQL beside the server,
# 2-4 connections answered reads 15-25% faster than 10, and took more events and bills per
# second; with requests served in order (PostgresDatabase._turns), 8 took GET /v2/customers/{id}
# p99 from 24 to 74 ms and 3 gave 21-23 ms but event look-ups 10% slower (docs/performance.md):
# more connections only add backends competing for the cores.
PG_POOL_MIN, PG_POOL_MAX = 2, 4

# Every statement is prepared once per connection (asyncpg's statement cache) and keyed by the
# organisation and the customer, so one generic plan serves every execution. By default
# PostgreSQL plans each of the first five executions for its parameters and may keep doing so:
# the loyalty members statement (points, expiries and tier history in one) was planned anew on
# every request, 0.4 ms of the database's CPU each (1.0 -> 0.6 ms over random customers).
SESSION_SETTINGS = {"plan_cache_mode": "force_generic_plan"}


class PostgresDatabase(_PGConn):
    def __init__(self, url: str, pool: Any) -> None:
        super().__init__(pool)
        self.url = url
        self._pool = pool
        # The pool's connections, handed out in the order they were asked for. asyncpg's own
        # queue lets a newcomer take a connection that was just released to a waiter, and the
        # waiter goes to the back of the queue again: at 16 requests per worker over 4
        # connections, p90 was three times p50 (docs/performance.md). asyncio's Semaphore
        # hands a released turn to the longest waiter, so the pool itself never has one.
        self._turns = asyncio.Semaphore(pool.get_max_size())
        # Connections that ended their last use cleanly, kept here instead of going back to the
        # pool: asyncpg's acquire and release (timers, holders, the reset) cost the worker more
        # CPU than the statement of a customer read (docs/performance.md). A use that raises
        # (or is cancelled) hands its connection to the pool's own release, which waits out a
        # cancellation, rolls back and replaces a broken connection.
        self._idle: list[Any] = []

    @classmethod
    async def connect(cls, url: str, min_size: int = PG_POOL_MIN, max_size: int = PG_POOL_MAX,
                      settings: dict[str, str] | None = None) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                         reset=_no_session_state,
                                         server_settings={**SESSION_SETTINGS, **(settings or {})})
        return cls(url, pool)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        async with self._turns:
            conn = await self._kept_or_new()
            try:
                yield conn
            except BaseException:
                await self._pool.release(conn)
                raise
            if conn.is_closed() or conn.is_in_transaction():
                await self._pool.release(conn)
            else:
                self._idle.append(conn)

    async def _kept_or_new(self) -> Any:
        """A kept connection, or one from the pool. A kept one the server has closed meanwhile
        (a restart, pg_terminate_backend) goes back to the pool, which replaces it, instead of
        failing the request that would have used it."""
        while self._idle:
            conn = self._idle.pop()
            try:
                closed = conn.is_closed()
            except asyncpg.InterfaceError:  # the pool took it back when the server closed it
                continue
            if not closed:
                return conn
            await self._pool.release(conn)
        try:
            return await self._pool.acquire()
        except OSError as exc:
            raise PostgresUnreachable(f"cannot connect to PostgreSQL: {exc}") from exc

    async def _run(self, method: str, *args: Any) -> Any:
        async with self._connection() as conn:
            return await _pg_call(conn, method, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PGConn]:
        async with self._connection() as conn:
            async with conn.transaction():
                tx = _PGConn(conn)
                yield tx
                await _run_commit_mark(tx)
            work = _WHILE_COMMITTING.get()
            if work is not None:
                work()

    # Outside a transaction a statement commits on its own: under a commit mark it is given a
    # transaction, so that the mark commits with it. (Patron writes with fetch* only inside
    # transactions.)
    async def execute(self, stmt: Statement, *args: Any) -> None:
        if _COMMIT_MARK.get() is None:
            return await super().execute(stmt, *args)
        async with self.transaction() as tx:
            await tx.execute(stmt, *args)

    async def executemany(self, stmt: Statement, rows: Sequence[Sequence[Any]]) -> None:
        if _COMMIT_MARK.get() is None:
            return await super().executemany(stmt, rows)
        async with self.transaction() as tx:
            await tx.executemany(stmt, rows)

    async def ping(self) -> bool:
        return await self._run("fetchval", "SELECT 1") == 1

    def wipe_old_copies(self) -> None:
        """Nothing to ask: the old versions of erased rows are removed by (auto)vacuum
        (docs/operations.md)."""

    async def close(self) -> None:
        while self._idle:
            await self._pool.release(self._idle.pop())
        await self._pool.close()


async def open_database(url: str, *, sqlite_synchronous: str = "FULL", flush_commits: bool = True,
                        pg_pool_min: int = PG_POOL_MIN, pg_pool_max: int = PG_POOL_MAX) -> Database:
    """The database at `url`. With `flush_commits=False` a commit returns before it is flushed to
    disk (SQLite's synchronous=NORMAL in WAL mode, PostgreSQL's synchronous_commit=off): every
    committed transaction survives the process being killed and the database stays consistent,
    but an operating-system crash or power loss may undo the last ones. For work that is simply
    run again after such a crash, as `patron import` is."""
    if url.startswith(("postgresql://", "postgres://")):
        return await PostgresDatabase.connect(
            url, pg_pool_min, pg_pool_max,
            settings=None if flush_commits else {"synchronous_commit": "off"})
    if url.startswith("sqlite:"):
        unflushed = not flush_commits and sqlite_synchronous in ("FULL", "EXTRA")
        return SQLiteDatabase(url, "NORMAL" if unflushed else sqlite_synchronous)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
