"""`bot db backup FILE` and `bot db restore FILE`: copies of the SQLite database, safe while the bot runs.

Both use SQLite's online backup API on a connection of their own: a backup is one consistent snapshot even while
the bot keeps writing (WAL lets it), and a restore writes through SQLite's locking instead of replacing the file
under an open connection (which would mix the copy with a stale -wal file). PostgreSQL has its own tools
(pg_dump / pg_restore; see the README)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bot.cli import add_config_option, load
from bot.config import Config
from bot.core.storage import bundled_migrations, is_database_url

BUSY_TIMEOUT = 30.0  # seconds to wait for the bot's own write to finish before copying
PG_HINT = ("storage.url points at PostgreSQL: back it up with pg_dump and restore with pg_restore "
           "(see the README, \"Running in production\")")


class DbError(Exception):
    """Why a backup or restore was refused; nothing was changed."""


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="back up or restore the SQLite database").add_subparsers(dest="db_command")
    p = db.add_parser("backup", help="copy the database to FILE (safe while the bot runs)")
    add_config_option(p)
    p.add_argument("file", help="where to write the copy (replaced if it exists)")
    p.set_defaults(func=cmd_backup)
    p = db.add_parser("restore", help="replace the database with the copy in FILE, after checking it opens "
                                      "(stop the bot first)")
    add_config_option(p)
    p.add_argument("file", help="a copy made by `bot db backup`")
    p.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        live = sqlite_path(load(args))
        version = backup(live, Path(args.file))
    except DbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {live} to {args.file} (schema version {version})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        live = sqlite_path(load(args))
        version, kept = restore(Path(args.file), live)
    except DbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"restored {live} from {args.file} (schema version {version})")
    if kept is not None:
        print(f"the database it replaced is kept at {kept}")
    return 0


def sqlite_path(cfg: Config) -> Path:
    target = cfg.database()
    if is_database_url(target):
        raise DbError(PG_HINT)
    return Path(target)


def backup(live: Path, target: Path) -> int:
    """Copy `live` to `target` as one self-contained file, checked before it replaces `target`; returns its schema
    version."""
    if not live.is_file():
        raise DbError(f"{live}: there is no database to back up yet")
    if target.exists() and target.resolve() == live.resolve():
        raise DbError(f"{target} is the live database itself; choose another file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _remove(partial)
    try:
        with _connect(str(live)) as source, _connect(str(partial)) as copy:
            # One step (pages=-1): a single read snapshot, so writes the bot makes meanwhile are simply not in it.
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        version = check(partial)
    except sqlite3.Error as exc:
        _remove(partial)
        raise DbError(f"could not back up {live}: {exc}") from None
    except DbError:
        _remove(partial)
        raise
    os.replace(partial, target)
    return version


def restore(source: Path, live: Path) -> tuple[int, Path | None]:
    """Check that `source` opens and is a bot database this version can use, keep the current database beside it,
    then copy `source` over it. Returns the schema version and where the replaced database was kept."""
    version = check(source)
    newest = max(v for v, _, _ in bundled_migrations())
    if version > newest:
        raise DbError(f"{source} has schema version {version}, newer than this bot's {newest}: restore it with the "
                      "bot version that made it")
    kept: Path | None = None
    if live.is_file():
        kept = live.with_name(f"{live.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
        backup(live, kept)
    live.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _connect(_read_only(source), uri=True) as copy, _connect(str(live)) as target:
            copy.backup(target)
    except sqlite3.Error as exc:
        raise DbError(f"could not restore into {live}: {exc}" + (f"; the previous database is kept at {kept}"
                                                                    if kept else "")) from None
    return check(live), kept


def check(path: Path) -> int:
    """The schema version of a readable, undamaged bot database at `path`; DbError saying what is wrong otherwise."""
    if not path.is_file():
        raise DbError(f"{path}: no such file")
    try:
        with _connect(_read_only(path), uri=True) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
            if problems != ["ok"]:
                raise DbError(f"{path} is damaged: {'; '.join(str(p) for p in problems[:3])}")
            try:
                row = db.execute("SELECT max(version) FROM schema_migrations").fetchone()
            except sqlite3.OperationalError:
                raise DbError(f"{path} is an SQLite database but not the bot's (no schema_migrations)") from None
    except sqlite3.DatabaseError as exc:
        raise DbError(f"{path} cannot be opened as a database: {exc}") from None
    if row is None or row[0] is None:
        raise DbError(f"{path} is an SQLite database but not the bot's (no migration recorded)")
    return int(row[0])


@contextlib.contextmanager
def _connect(target: str, *, uri: bool = False) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(target, timeout=BUSY_TIMEOUT, uri=uri)
    try:
        yield db
    finally:
        db.close()


def _read_only(path: Path) -> str:
    """A URI that opens `path` without writing to it (a damaged copy stays as it was)."""
    return path.resolve().as_uri() + "?mode=ro"


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
