"""The bot's database behind one seam: `Storage`, with SQLite (aiosqlite, one file, WAL) as the embedded default
and PostgreSQL (bot.core.postgres) for several processes on one database. Numbered migrations, transactional writes.

Features write SQLite's SQL once; on PostgreSQL bot.core.dialect translates it. A transaction yields a `Connection`
whose small API (execute → a cursor with lastrowid and rowcount, execute_fetchall, executemany; rows indexable by
name and position) is the same on both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import aiosqlite

from bot.core.contract import SetupError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_URL_SCHEMES = ("postgresql://", "postgres://")


class Row(Protocol):
    """A result row: by column name or position, and iterable over its values."""

    def __getitem__(self, key: Any, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def keys(self) -> Any: ...


class Cursor(Protocol):
    """What `Connection.execute` returns: the new row's id after an INSERT, how many rows changed, the rows read."""

    @property
    def lastrowid(self) -> int | None: ...
    @property
    def rowcount(self) -> int: ...
    async def fetchone(self) -> Any: ...
    async def fetchall(self) -> Any: ...


class Connection(Protocol):
    """The connection a transaction yields, the same on every engine (statements in SQLite's SQL, `?` params)."""

    async def execute(self, sql: str, parameters: Iterable[Any] = ..., /) -> Cursor: ...
    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ..., /) -> Iterable[Any]: ...
    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> Any: ...


@dataclass(frozen=True)
class Read:
    """A step of a transaction script: a query whose rows the script receives."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class WriteMany:
    """A step of a transaction script: one statement run for each row of parameters (none: skipped)."""

    sql: str
    rows: list[tuple[Any, ...]]


T = TypeVar("T")
# A write transaction written as a generator: it yields Read and WriteMany steps, is sent each Read's rows, and
# returns its result. It holds no connection and awaits nothing, so an engine may run all of it in one trip.
Script = Generator[Read | WriteMany, list[Any], T]


def drive(script: Script[T], run: Callable[[Read | WriteMany], list[Any]]) -> T:
    """Run a script's steps through `run` (which answers a Read with its rows); returns the script's result."""
    try:
        step = next(script)
        while True:
            step = script.send(run(step))
    except StopIteration as done:
        return cast(T, done.value)


async def drive_async(script: Script[T], run: Callable[[Read | WriteMany], Awaitable[list[Any]]]) -> T:
    """`drive` with a `run` that awaits the database."""
    try:
        step = next(script)
        while True:
            step = script.send(await run(step))
    except StopIteration as done:
        return cast(T, done.value)


def bundled_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled migration, in order."""
    found = []
    for item in resources.files("bot.core").joinpath("migrations").iterdir():
        m = _MIGRATION_NAME.match(item.name)
        if m:
            found.append((int(m.group(1)), item.name, item.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


_START_ATTEMPTS = 20  # about 10 s of retries in all


def is_database_url(target: str | Path) -> bool:
    return isinstance(target, str) and "://" in target


class Storage:
    """The bot's database. Reads may run any time; writes go through `transaction()`.

    `Storage.open(target)` picks the engine: a `postgresql://` URL opens PostgreSQL, anything else is a SQLite file.
    Both run every write transaction one at a time (SQLite's write lock; on PostgreSQL an advisory lock, across
    every process), so a read-then-write inside a transaction sees no other writer between the two.
    """

    @classmethod
    async def open(cls, target: str | Path) -> Storage:
        """Open (creating if new) and migrate the database; raises StorageError with one line saying what to do."""
        if is_database_url(target):
            url = str(target)
            if not url.startswith(_URL_SCHEMES):
                raise StorageError(f"storage.url must start with postgresql:// (got {url.split('://')[0]}://…); "
                                   "leave it empty to use the SQLite file at storage.path")
            from bot.core.postgres import PostgresStorage

            return await PostgresStorage.connect(url)
        return await SqliteStorage.open_file(target)

    engine = "abstract"

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """BEGIN … COMMIT, rolled back on any error; one writer at a time."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def integrity_check(self) -> str:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write in its own transaction; returns lastrowid."""
        async with self.transaction() as db:
            cursor = await db.execute(sql, tuple(params))
            return cursor.lastrowid or 0

    async def run_script(self, script: Callable[[], Script[T]]) -> T:
        """Run a transaction script (see `Script`) as one write transaction, like `transaction()`: one writer at
        a time, rolled back if the script raises. Engines run it in as few trips as they can: a busy event loop
        makes every trip wait its turn, so a transaction of six statements held the write lock for six turns.
        The script runs on another thread: it must only compute on what it was given and the rows it reads."""
        async with self.transaction() as db:

            async def run(step: Read | WriteMany) -> list[Any]:
                if isinstance(step, Read):
                    return list(await db.execute_fetchall(step.sql, step.params))
                if step.rows:
                    await db.executemany(step.sql, step.rows)
                return []

            return await drive_async(script(), run)

    async def write(self, sql: str, params: Iterable[Any] = ()) -> None:
        """One self-contained write that no read-then-write transaction depends on: an append, a counter, an
        upsert decided by its own ON CONFLICT. The statement is atomic by itself, so an engine may run it without
        making other writers wait (PostgreSQL does); on SQLite it is a transaction like any other. Like `execute`,
        not for use inside `transaction()` (there, the transaction's connection writes)."""
        await self.execute(sql, params)

    async def audit(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        """Record who did what to what: every admin and moderator decision goes here."""
        await self.write(
            "INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
            (actor, action, subject, detail),
        )

    async def migrate(self, migrations: Iterable[tuple[int, str, str]] | None = None) -> list[int]:
        """Apply every migration not yet recorded; returns the versions applied.

        All of it runs in one write transaction, and what is done is read inside it: two processes starting at
        once take turns, and the second finds the work done instead of failing on "table already exists"."""
        applied = []
        async with self.transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
            )
            done = {row[0] for row in await db.execute_fetchall("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations if migrations is not None else bundled_migrations():
                if version in done:
                    continue
                for statement in split_sql(sql):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_migrations(version, name) VALUES (?, ?)", (version, name))
                applied.append(version)
        for version in applied:
            log.info("applied migration %03d", version)
        await self.after_migrations()
        return applied

    async def after_migrations(self) -> None:
        """Called after migrations: an engine that caches what the schema holds refreshes it."""


class SqliteStorage(Storage):
    """One SQLite file. One connection is shared by the whole process, so transactions are serialised with a lock:
    SQLite allows one writer anyway, and this keeps a half-finished transaction of one coroutine from swallowing
    another's writes.
    """

    engine = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()
        self._writes: list[tuple[str, tuple[Any, ...], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    async def open_file(cls, path: str | Path) -> SqliteStorage:
        path = str(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # Fail here if the file cannot be opened: a failed aiosqlite.connect leaves its thread reporting to
                # an event loop that is gone, a traceback after the one line.
                sqlite3.connect(path).close()
                # SQLite opens a read-only file quietly and fails only at the first write, after start-up.
                if not os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
                    raise StorageError(f"{path}: the database file is read-only; give the bot write access to the "
                                       "file and its folder")
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"{path}: cannot open the database ({exc}); check the folder exists and is "
                               "writable by the bot") from None
        try:
            db.row_factory = aiosqlite.Row
            # First, so that even switching to WAL waits for another process starting at the same moment.
            await db.execute("PRAGMA busy_timeout=5000")
            storage = cls(db, path)
            for attempt in range(_START_ATTEMPTS):
                try:
                    await db.execute("PRAGMA journal_mode=WAL")
                    # NORMAL in WAL mode: a commit survives a process kill; only an OS crash may lose the last
                    # commits.
                    await db.execute("PRAGMA synchronous=NORMAL")
                    await db.execute("PRAGMA foreign_keys=ON")
                    await storage.migrate()
                    break
                except sqlite3.OperationalError as exc:
                    # Two connections that both read the new file and then both want it exclusively (to switch it
                    # to WAL) deadlock; SQLite answers one of them "locked" at once instead of waiting, so wait here.
                    if "locked" not in str(exc) or attempt == _START_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))
        except sqlite3.Error as exc:
            # Close the connection's thread, or the process would hang on exit instead of letting the process
            # manager restart it.
            await db.close()
            raise StorageError(_explain(path, exc)) from None
        except BaseException:
            await db.close()  # any other failure too (a migration file unreadable, say): never a hang
            raise
        return storage

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer  # the writes already made are committed before the connection closes
        async with self._lock:
            await self._db.close()

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except asyncio.CancelledError:
                # aiosqlite still runs the BEGIN in its thread after the caller gave up on it: undo it before the
                # next transaction, which would otherwise find one open ("cannot start a transaction within a
                # transaction") and fail, and every one after it.
                await asyncio.shield(self._rollback_quietly())
                raise
            try:
                yield cast(Connection, self._db)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            else:
                await self._db.execute("COMMIT")

    async def write(self, sql: str, params: Iterable[Any] = ()) -> None:
        """Group commit: the self-contained writes that arrive together (answer counts, audit lines, gap records
        from many members at once) go in one transaction, in one trip to the connection's thread, instead of each
        taking its turn at the lock every write transaction waits for. Returns once this one is committed; a
        statement that fails fails alone (SQLite undoes just that statement)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((sql, tuple(params), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        while self._writes:
            batch, self._writes = self._writes, []
            try:
                async with self._lock:
                    failures = await self._db._execute(self._write_here, [(sql, params) for sql, params, _ in batch])
            except Exception as exc:  # BEGIN or COMMIT failed (a full disk, say): none of them was written
                failures = [exc] * len(batch)
            for (_, _, done), failure in zip(batch, failures, strict=True):
                if done.done():
                    continue
                if failure is None:
                    done.set_result(None)
                else:
                    done.set_exception(failure)

    def _write_here(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[Exception | None]:
        conn = self._db._conn  # on aiosqlite's thread, the only one that may use it
        conn.execute("BEGIN IMMEDIATE")
        failures: list[Exception | None] = []
        try:
            for sql, params in statements:
                try:
                    conn.execute(sql, params)
                    failures.append(None)
                except sqlite3.Error as exc:
                    if not conn.in_transaction:  # SQLite undid the whole transaction (a full disk, say)
                        raise
                    failures.append(exc)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return failures

    async def run_script(self, script: Callable[[], Script[T]]) -> T:
        """All of it in one trip to the connection's thread: BEGIN IMMEDIATE, the script's steps, COMMIT."""
        async with self._lock:
            # aiosqlite has no public way to run a function on its connection's thread; `_execute` is how each of
            # its own methods does (tested in tests/test_config_storage.py with the pinned versions).
            return cast(T, await self._db._execute(self._run_here, script))

    def _run_here(self, script: Callable[[], Script[T]]) -> T:
        conn = self._db._conn  # on aiosqlite's thread, the only one that may use it

        def run(step: Read | WriteMany) -> list[Any]:
            if isinstance(step, Read):
                return conn.execute(step.sql, step.params).fetchall()
            if step.rows:
                conn.executemany(step.sql, step.rows)
            return []

        conn.execute("BEGIN IMMEDIATE")
        try:
            result = drive(script(), run)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _rollback_quietly(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            await self._db.execute("ROLLBACK")

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return list(await self._db.execute_fetchall(sql, tuple(params)))

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"


def is_database_error(exc: BaseException) -> bool:
    """Whether an error came from the database engine (locked, full, gone), not from the bot's own code."""
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.split(".")[0] == "asyncpg"


class StorageError(SetupError):
    """The database cannot be used; the message is one line naming the file and what to do."""


def _explain(path: str, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return (f"{path}: the database is read-only or its folder is not writable ({text}); give the bot write "
                "access to the file and its folder")
    # SQLITE_FULL is a full disk; a write refused by a file-size limit or quota (EFBIG) is one of SQLITE_IOERR_*.
    if "disk is full" in text or getattr(exc, "sqlite_errorname", "").startswith("SQLITE_IOERR"):
        return (f"{path}: cannot write to the disk ({text}): it is full, at a size limit or failing; free some space "
                "(or raise the limit), then start the bot again")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"{path}: the database file is damaged ({text}); restore a backup, or move the file away to "
                "start with an empty one")
    return f"{path}: the database cannot be used ({text})"


def split_sql(sql: str) -> list[str]:
    # Migrations are plain DDL without semicolons inside literals or triggers: dropping comments (which may
    # contain any text) and splitting on semicolons is enough.
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return [s.strip() for s in code.split(";") if s.strip()]
