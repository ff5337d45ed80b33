"""PostgreSQL storage through asyncpg: a connection pool, the same migrations and the same feature SQL (translated
by bot.core.dialect), for several bot processes on one database.

Exactly-once across processes is the database's job, never an in-process lock's: every write transaction first
takes one transaction-scoped advisory lock, so write transactions from all processes take turns exactly as they do
on SQLite's single writer. A feature's read-then-write (is the poll still open? is this item still undecided?)
therefore sees no other writer in between, and the conditional UPDATEs and primary keys the features already use
decide who was first. Reads outside a transaction run on any pooled connection, in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.core.dialect import Dialect, Schema
from bot.core.storage import Connection, Read, Script, Storage, StorageError, T, WriteMany, drive_async

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key held by every write transaction ("mbotwrit" in ASCII): one writer at a time, across
# every process on the database, released by COMMIT or ROLLBACK even if the process dies.
WRITE_LOCK = 0x6D626F7477726974
POOL_SIZE = 10

_SCHEMA_SQL = (
    "SELECT table_name, column_name, is_identity FROM information_schema.columns "
    "WHERE table_schema = current_schema()"
)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as 'UPDATE 3' or 'INSERT 0 1'; -1 when it names none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgCursor:
    """What `execute` returns: SQLite's cursor API over rows already fetched."""

    def __init__(self, rows: list[asyncpg.Record], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    async def fetchone(self) -> asyncpg.Record | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        rest, self._at = self._rows[self._at:], len(self._rows)
        return rest


class PgConnection:
    """One pooled connection inside a transaction, offering what features use of aiosqlite's connection."""

    def __init__(self, conn: asyncpg.Connection, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    async def execute(self, sql: str, parameters: Iterable[Any] = (), /) -> PgCursor:
        t = self._dialect.translate(sql)
        args = tuple(parameters)
        if not t.returns_rows:
            return PgCursor([], _rowcount(await self._conn.execute(t.sql, *args)), None)
        rows = await self._conn.fetch(t.sql, *args)
        if t.id_column is not None:  # our own RETURNING: the new id, and no rows, as SQLite's INSERT has none
            return PgCursor([], len(rows), int(rows[0][0]) if rows else None)
        return PgCursor(list(rows), -1 if t.sql[:6].lower() == "select" else len(rows), None)

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = (), /) -> list[asyncpg.Record]:
        return await (await self.execute(sql, parameters)).fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> None:
        t = self._dialect.translate(sql)
        await self._conn.executemany(t.sql, [tuple(p) for p in parameters])


class PostgresStorage(Storage):
    """A PostgreSQL database shared by any number of bot processes."""

    engine = "postgresql"
    lock_timeout = 10.0  # seconds a write transaction waits for the write lock before it fails

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.url = redact(url)
        self._scripts = _ScriptThread(url)
        self._dialect = Dialect()
        self._lock = asyncio.Lock()  # this process's writers queue here, not holding pooled connections meanwhile
        # The open transaction of the task that opened it (a task started inside inherits the variable, not the
        # transaction: it checks it is that task).
        self._current: ContextVar[tuple[asyncio.Task[Any] | None, PgConnection] | None] = ContextVar(
            f"pg-transaction-{id(self)}", default=None)

    @classmethod
    async def connect(cls, url: str) -> PostgresStorage:
        """Connect, migrate (taking turns with other processes starting at once) and learn the schema."""
        where = redact(url)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE, timeout=15, command_timeout=60,
                                             reset=_reset)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageError(f"{where}: cannot connect to PostgreSQL ({_reason(exc)}); check storage.url, that "
                               "the server is running and that the user and database exist") from None
        storage = cls(pool, url)
        try:
            await storage.after_migrations()  # an existing database: know its identity columns before migrating
            await storage.migrate()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            await pool.close()
            raise StorageError(f"{where}: the database cannot be used ({_reason(exc)})") from None
        return storage

    async def after_migrations(self) -> None:
        columns: dict[str, set[str]] = {}
        identity: dict[str, str] = {}
        for row in await self._pool.fetch(_SCHEMA_SQL):
            columns.setdefault(row["table_name"], set()).add(row["column_name"])
            if row["is_identity"] == "YES":
                identity[row["table_name"]] = row["column_name"]
        self._dialect = Dialect(Schema({t: frozenset(c) for t, c in columns.items()}, identity))

    async def close(self) -> None:
        async with self._lock:
            await self._scripts.close()
            await asyncio.wait_for(self._pool.close(), timeout=10)

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """BEGIN … COMMIT under the write lock, rolled back on any error. Inside a transaction (in the same task)
        the storage's own reads and writes use its connection, as they would share SQLite's one connection."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        outer = self._open()
        if outer is not None:
            yield outer
            return
        async with self._lock, self._pool.acquire() as conn:
            # One round trip to begin and take the lock. The lock timeout is like SQLite's busy timeout: a writer
            # stuck elsewhere makes this one fail (and roll back), not hang.
            db = PgConnection(conn, self._dialect)
            token = self._current.set((asyncio.current_task(), db))
            try:
                await conn.execute(f"BEGIN; SET LOCAL lock_timeout = {int(self.lock_timeout * 1000)}; "
                                   f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                yield db
            except BaseException:
                # A connection broken mid-statement cannot roll back; the pool then discards it, which does.
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")
            finally:
                self._current.reset(token)

    async def run_script(self, script: Callable[[], Script[T]]) -> T:
        """On a thread of its own, with an event loop and a connection of its own: each step is a round trip to
        the server, but none waits for this process's busy event loop, which would make every other process wait
        for the write lock that much longer. Takes the same write lock as `transaction()`."""
        if self._open() is not None:
            return await super().run_script(script)  # inside a transaction: a part of it
        return await self._scripts.run(lambda conn: self._run_on(conn, script))

    async def _run_on(self, conn: asyncpg.Connection, script: Callable[[], Script[T]]) -> T:
        await conn.execute(f"BEGIN; SET LOCAL lock_timeout = {int(self.lock_timeout * 1000)}; "
                           f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

        async def run(step: Read | WriteMany) -> list[Any]:
            sql = self._dialect.translate(step.sql).sql
            if isinstance(step, Read):
                return list(await conn.fetch(sql, *step.params))
            if step.rows:
                await conn.executemany(sql, step.rows)
            return []

        try:
            result = await drive_async(script(), run)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        return result

    async def write(self, sql: str, params: Iterable[Any] = ()) -> None:
        """One autocommitted statement, outside the write lock. Inside a transaction it joins it instead."""
        current = self._open()
        if current is not None:
            await current.execute(sql, params)
            return
        # Holding the lock would make every process wait for three round trips (and for whatever else this
        # process's event loop runs between them) to add one to a counter that nothing reads back first.
        t = self._dialect.translate(sql)
        await self._pool.execute(t.sql, *tuple(params))

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        current = self._open()
        if current is not None:
            return await current.execute_fetchall(sql, params)
        t = self._dialect.translate(sql)
        return list(await self._pool.fetch(t.sql, *tuple(params)))

    def _open(self) -> PgConnection | None:
        """This task's open transaction, if any."""
        current = self._current.get()
        return current[1] if current is not None and current[0] is asyncio.current_task() else None

    async def integrity_check(self) -> str:
        """PostgreSQL checks its own pages; this says the database answers and holds the migrations."""
        row = await self.fetchone("SELECT count(*) FROM schema_migrations")
        return "ok" if row is not None and row[0] > 0 else "no migrations recorded"


class _ScriptThread:
    """A thread running its own event loop and one connection, started at the first script: there, a script's
    round trips are answered at once instead of each waiting behind everything else the bot's loop has ready."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: asyncpg.Connection | None = None
        self._turns: asyncio.Lock | None = None  # made on the thread's loop: one script at a time on the connection

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-scripts", daemon=True)
            self._thread.start()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._on_thread(work), self._loop))

    async def _on_thread(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._turns is None:
            self._turns = asyncio.Lock()
        async with self._turns:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._url, timeout=15, command_timeout=60)
            try:
                return await work(self._conn)
            except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                conn, self._conn = self._conn, None  # broken: the next script connects afresh
                conn.terminate()
                raise

    async def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = None

        async def closing() -> None:
            if self._conn is not None:
                await self._conn.close(timeout=5)

        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(closing(), loop)), 10)
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 10)
        if not thread.is_alive():
            loop.close()


async def _reset(conn: asyncpg.Connection) -> None:
    """Before a connection goes back to the pool. The bot changes no session state (SET LOCAL and the advisory
    lock end with the transaction), so asyncpg's default reset, a round trip on every read, is not needed; only a
    transaction left open by an interrupted statement is ended."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
