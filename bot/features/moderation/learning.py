"""What the scanner learned from moderators (the model and known-spam fingerprints), as stored in the database:
restored and persisted for the live scanner, and read without writing for the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.features.moderation.spam import BayesModel, Scanner

if TYPE_CHECKING:
    from bot.core.storage import Connection, Storage
    from bot.features.moderation.queue import QueueItem

log = logging.getLogger(__name__)

KNOWN_SPAM_RULE = "known-spam-fingerprint"
_MODEL_SQL = "SELECT value FROM spam_state WHERE key = 'model'"
_FINGERPRINTS_SQL = "SELECT fingerprint FROM spam_fingerprints ORDER BY rowid"


def _decode_model(value: str) -> BayesModel:
    return BayesModel.from_state(json.loads(value))


def read_learned(path: Path, scanner: Scanner) -> list[str]:
    """Load what the bot stored into `scanner` without writing to its database; returns notes for the user."""
    if not path.is_file():
        return [f"no database at {path}; scanning without learned data"]
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute(_MODEL_SQL).fetchone()
            fingerprints = [r[0] for r in db.execute(_FINGERPRINTS_SQL)]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return [f"could not read learned data from {path} ({exc}); scanning without it"]
    return _apply(scanner, row[0] if row is not None else None, fingerprints)


async def read_learned_from(storage: Storage, scanner: Scanner) -> list[str]:
    """The same from an open Storage (PostgreSQL, where several processes share what moderators taught)."""
    row = await storage.fetchone(_MODEL_SQL)
    fingerprints = [r["fingerprint"] for r in await storage.fetchall(_FINGERPRINTS_SQL)]
    return _apply(scanner, row["value"] if row is not None else None, fingerprints)


def _apply(scanner: Scanner, model: str | None, fingerprints: list[str]) -> list[str]:
    notes = []
    if model is not None:
        try:
            scanner.model = _decode_model(model)
        except ValueError as exc:
            notes.append(f"the stored model could not be read ({exc})")
    scanner.load_fingerprints(fingerprints)
    return notes


class Learning:
    """The live scanner, with what it learned kept in step with the database (nothing is lost on restart)."""

    def __init__(self, storage: Storage, scanner: Scanner) -> None:
        self.storage = storage
        self.scanner = scanner
        self._stored_fingerprints: set[str] = set()
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._learn_lock = asyncio.Lock()  # one decision at a time changes and persists what the scanner learned

    async def ensure_loaded(self) -> None:
        """Restore the learned model and known-spam fingerprints before the first scan or decision."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            await self.restore()
            self._loaded = True

    async def restore(self) -> None:
        """Replace the scanner with one holding exactly what the database holds (keeping the current rules)."""
        model = BayesModel()
        row = await self.storage.fetchone(_MODEL_SQL)
        if row is not None:
            try:
                model = _decode_model(row["value"])
            except (ValueError, TypeError) as exc:
                log.error("the stored spam model could not be read (%s); starting from an empty model", exc)
        rows = await self.storage.fetchall(_FINGERPRINTS_SQL)
        stored = [r["fingerprint"] for r in rows]
        scanner = Scanner(self.scanner.rules, model, self.scanner.language)
        scanner.load_fingerprints(stored)
        authors = await self.storage.fetchone("SELECT value FROM spam_state WHERE key = 'authors'")
        if authors is not None:
            try:
                scanner.load_authors_state(json.loads(authors["value"]))
            except ValueError as exc:
                log.error("the stored per-author spam memory could not be read (%s); starting without it", exc)
        self.scanner = scanner
        self._stored_fingerprints = set(stored)

    async def record_decision(self, claim: Callable[[Connection], Awaitable[bool]], item: QueueItem,
                              spam: bool | None, *, undo: bool = False) -> bool:
        """Run `claim` (a decision that counts only if it is the first; returns whether it was) in one transaction
        with what it teaches: `spam` True or False learns from the item, None teaches nothing; with `undo` it
        unlearns what that decision taught. Returns `claim`'s answer; if the transaction fails, the scanner goes
        back to what the database holds."""
        async with self._learn_lock:
            learned = False
            stored: set[str] | None = None
            try:
                async with self.storage.transaction() as db:
                    won = await claim(db)
                    if won and spam is not None:
                        learned = True
                        if undo:
                            self._unlearn(item, spam)
                        else:
                            self._learn(item, spam)
                        stored = await self._persist(db)
                if stored is not None:
                    self._stored_fingerprints = stored
            except Exception:
                if learned:
                    await self.restore()  # memory follows the database, which rolled back
                raise
        return won

    async def save_authors(self) -> None:
        """Keep the per-author memory (cross-channel copies, bursts) across a restart."""
        state = json.dumps(self.scanner.authors_state(), separators=(",", ":"), ensure_ascii=False)
        await self.storage.write(
            "INSERT INTO spam_state(key, value) VALUES ('authors', ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", (state,))

    def _learn(self, item: QueueItem, spam: bool) -> None:
        self.scanner.model.learn(item.text, spam)
        if spam:
            # Near-same text is now recognised anywhere, on every platform.
            self.scanner.remember_spam(item.text)
        elif any(r.get("rule") == KNOWN_SPAM_RULE for r in item.reasons):
            self.scanner.forget_spam(item.text)  # a stored fingerprint was wrong about this text

    def _unlearn(self, item: QueueItem, spam: bool) -> None:
        """The reverse of `_learn`, for a decision a moderator undid."""
        self.scanner.model.forget(item.text, spam)
        if spam:
            self.scanner.forget_spam(item.text)
        elif any(r.get("rule") == KNOWN_SPAM_RULE for r in item.reasons):
            self.scanner.remember_spam(item.text)

    async def _persist(self, db: Connection) -> set[str]:
        """Write the model and the fingerprint changes inside the caller's transaction; returns what is stored."""
        state = json.dumps(self.scanner.model.to_state(), separators=(",", ":"), ensure_ascii=False)
        await db.execute(
            "INSERT INTO spam_state(key, value) VALUES ('model', ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", (state,))
        known = self.scanner.known_spam_fingerprints()
        current = set(known)
        added = [(fp,) for fp in known if fp not in self._stored_fingerprints]
        dropped = [(fp,) for fp in self._stored_fingerprints - current]
        if added:
            await db.executemany("INSERT OR IGNORE INTO spam_fingerprints(fingerprint) VALUES (?)", added)
        if dropped:
            await db.executemany("DELETE FROM spam_fingerprints WHERE fingerprint = ?", dropped)
        return current
