"""SQLite storage through aiosqlite: one database file, WAL, numbered migrations, transactional writes."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.contract import SetupError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


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


class Storage:
    """The bot's database. Reads may run any time; writes go through `transaction()`.

    One connection is shared by the whole process, so transactions are serialised with a lock: SQLite allows one
    writer anyway, and this keeps a half-finished transaction of one coroutine from swallowing another's writes.
    """

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Storage:
        """Open (creating if new) and migrate the database; raises StorageError with one line saying what to do."""
        path = str(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"{path}: cannot open the database ({exc}); check the folder exists and is "
                               "writable by the bot") from None
        try:
            db.row_factory = aiosqlite.Row
            # First, so that even switching to WAL waits for another process starting at the same moment.
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a process kill; only an OS crash may lose the last commits.
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            storage = cls(db, path)
            await storage.migrate()
        except sqlite3.Error as exc:
            # Close the connection's thread, or the process would hang on exit instead of letting the process
            # manager restart it.
            await db.close()
            raise StorageError(_explain(path, exc)) from None
        return storage

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def migrate(self, migrations: Iterable[tuple[int, str, str]] | None = None) -> list[int]:
        """Apply every migration not yet recorded; returns the versions applied.

        All of it runs in one write transaction (BEGIN IMMEDIATE takes SQLite's write lock), and what is done is
        read inside it: two processes starting at once on one file take turns, and the second finds the work
        done instead of failing on "table already exists"."""
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
                for statement in _split_sql(sql):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_migrations(version, name) VALUES (?, ?)", (version, name))
                applied.append(version)
        for version in applied:
            log.info("applied migration %03d", version)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            else:
                await self._db.execute("COMMIT")

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self._db.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write in its own transaction; returns lastrowid."""
        async with self.transaction() as db:
            cursor = await db.execute(sql, tuple(params))
            return cursor.lastrowid or 0

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"

    async def audit(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        """Record who did what to what: every admin and moderator decision goes here."""
        await self.execute(
            "INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
            (actor, action, subject, detail),
        )


class StorageError(SetupError):
    """The database cannot be used; the message is one line naming the file and what to do."""


def _explain(path: str, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return (f"{path}: the database is read-only or its folder is not writable ({text}); give the bot write "
                "access to the file and its folder")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"{path}: the database file is damaged ({text}); restore a backup, or move the file away to "
                "start with an empty one")
    return f"{path}: the database cannot be used ({text})"


def _split_sql(sql: str) -> list[str]:
    # Migrations are plain DDL without semicolons inside literals or triggers: dropping comments (which may
    # contain any text) and splitting on semicolons is enough.
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return [s.strip() for s in code.split(";") if s.strip()]
