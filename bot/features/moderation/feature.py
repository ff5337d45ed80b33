"""Spam flagging and the moderators' review queue.

Every message the bot can read is scored by the spam scanner (`bot.core.spam`). Likely spam becomes a queue item
that is posted once to the moderators' channel of the message's platform, with the score and every reason.
Near-duplicates of an open item (the same or nearly the same words, any platform) are grouped into it instead of
posted again.
Members can report a message into the same queue. Moderators decide with the buttons; the first decision wins,
is written to the audit log, and teaches the scanner (learned model + known-spam fingerprints, both persisted in
SQLite so nothing is lost on restart). Bots never decide: with `auto_threshold` set in the rules, very high scores
are hidden at once but still wait for a moderator.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.commands import Option, action, command
from bot.core.contract import Feature, IncomingMessage, PlatformUnavailable, SetupError
from bot.core.records import Action, Button, Invocation, MessageRef, Place, Reply, Role, error_reply, reload_refused
from bot.core.storage import Storage
from bot.features.moderation.spam import (
    BayesModel,
    RulesError,
    ScanMessage,
    Scanner,
    SpamRules,
    Verdict,
    fingerprint,
    fingerprint_similarity,
)

if TYPE_CHECKING:
    import aiosqlite

log = logging.getLogger(__name__)

TIMEOUT_MINUTES = 60
QUEUE_LIST_MAX = 15
TEXT_SHOWN = 1500  # characters of the original message shown in the queue post
TEXT_STORED = 20_000
REPORT_RULE = "reported"
KNOWN_SPAM_RULE = "known-spam-fingerprint"
_EMPTY_FINGERPRINT = fingerprint("")

# verb in the button id -> (status stored, how the decision reads in the queue post)
DECISIONS: dict[str, tuple[str, str]] = {
    "remove": ("removed", "Removed"),
    "timeout": ("timed_out", "Removed and timed out"),
    "ham": ("not_spam", "Marked not spam"),
    "ignore": ("ignored", "Ignored"),
}
STATUS_NAMES = {
    "open": "waiting",
    "removed": "removed",
    "timed_out": "removed + timeout",
    "not_spam": "not spam",
    "ignored": "ignored",
}
SPAM_STATUSES = ("removed", "timed_out")


class SpamRulesStartupError(RulesError, SetupError):
    """The rules file is broken at start-up. Still a `RulesError` (with `.problems`, each "file:line: ..."); also
    a `SetupError`, so `bot run` / `bot console` print the problems and exit instead of showing a traceback."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(problems)
        self.args = (f"the spam rules ({path}) have {len(problems)} problem(s); fix them or set "
                     "spam.enabled: false:\n" + "\n".join(problems),)


# -- records ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedMessage:
    """One message grouped into a queue item."""

    ref: MessageRef
    author: str
    author_name: str
    text: str
    link: str
    deleted: bool


@dataclass(frozen=True)
class QueueItem:
    id: int
    platform: str
    author: str
    author_name: str
    channel: str  # "platform:channel"
    message_ref: str | None
    link: str
    text: str
    score: float
    threshold: float
    reasons: list[dict[str, Any]]
    fingerprint: str
    source: str
    auto_removed: bool
    seen_count: int
    report_count: int
    status: str
    created_at: float
    post_ref: str | None
    decided_by: str | None
    decided_by_name: str | None
    decided_at: float | None
    outcome: str
    messages: tuple[QueuedMessage, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True)
class _Candidate:
    """A message about to be queued, whether the scanner flagged it or a member reported it."""

    platform: str
    author: str
    author_name: str
    channel: str  # the platform's channel id
    ref: MessageRef | None
    link: str
    text: str


# -- the feature ------------------------------------------------------------------------------------------------


class Moderation(Feature):
    """Scans messages, queues likely spam for moderators, records their decisions."""

    name = "moderation"

    def __init__(self, storage: Storage, rules_path: Path, *, enabled: bool = True) -> None:
        self.storage = storage
        self.rules_path = rules_path
        self.enabled = enabled
        self.rules_problem: str | None = None  # why scanning is off although spam.enabled is true
        self.scanner = Scanner(self._initial_rules())
        self._stored_fingerprints: set[str] = set()
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._learn_lock = asyncio.Lock()  # one decision at a time changes and persists what the scanner learned
        self._post_lock = asyncio.Lock()  # posts and edits of queue messages never overtake each other

    async def start(self) -> None:
        await self._ensure_loaded()

    # -- rules ------------------------------------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        """Whether every message is scanned (spam.enabled, and the rules file was found)."""
        return self.enabled and self.rules_problem is None

    def _initial_rules(self) -> SpamRules:
        path = self.rules_path
        try:
            return SpamRules.load(path)
        except RulesError as exc:
            if not self.enabled:
                log.warning("spam scanning is off (spam.enabled: false); the rules file %s has problems:\n%s",
                            path, exc)
                return SpamRules()
            if not path.exists():
                # A missing file is a deployment without rules, not a half-edited file: run without scanning (and
                # say so everywhere) rather than refuse to start. /spam-reload picks the file up once it exists.
                self.rules_problem = f"the rules file {path} does not exist"
                log.error("spam scanning is OFF: %s (set spam.rules in the config, then /spam-reload)",
                          self.rules_problem)
                return SpamRules()
            raise SpamRulesStartupError(path, exc.problems) from None

    def reload(self) -> list[str]:
        """Re-read the rules file. On any problem keep the current rules and return the problems."""
        try:
            rules = SpamRules.load(self.rules_path)
        except RulesError as exc:
            return list(exc.problems)
        self.scanner.rules = rules  # the scanner reads `rules` afresh for every message
        self.rules_problem = None
        return []

    # -- what the scanner learned, in SQLite ------------------------------------------------------------

    async def _ensure_loaded(self) -> None:
        """Restore the learned model and known-spam fingerprints before the first scan or decision."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            await self._restore_learning()
            self._loaded = True

    async def _restore_learning(self) -> None:
        model = BayesModel()
        row = await self.storage.fetchone("SELECT value FROM spam_state WHERE key = 'model'")
        if row is not None:
            try:
                model = BayesModel.from_state(json.loads(row["value"]))
            except (ValueError, TypeError) as exc:
                log.error("the stored spam model could not be read (%s); starting from an empty model", exc)
        rows = await self.storage.fetchall("SELECT fingerprint FROM spam_fingerprints ORDER BY rowid")
        stored = [r["fingerprint"] for r in rows]
        scanner = Scanner(self.scanner.rules, model)
        scanner.load_fingerprints(stored)
        self.scanner = scanner
        self._stored_fingerprints = set(stored)

    async def _persist_learning(self, db: aiosqlite.Connection) -> set[str]:
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

    def _learn(self, item: QueueItem, spam: bool) -> None:
        self.scanner.model.learn(item.text, spam)
        if spam:
            # Near-same text is now recognised anywhere, on every platform.
            self.scanner.remember_spam(item.text)
        elif any(r.get("rule") == KNOWN_SPAM_RULE for r in item.reasons):
            self.scanner.forget_spam(item.text)  # a stored fingerprint was wrong about this text

    # -- messages ---------------------------------------------------------------------------------------

    def mod_place(self, platform: str) -> Place | None:
        """The moderators' channel on one platform, or None if its settings name none."""
        return self.host.staff(platform).place

    async def on_message(self, msg: IncomingMessage) -> None:
        """Score a member's message; queue it for the moderators if it looks like spam."""
        if not self.scanning:
            return
        mod = self.mod_place(msg.ref.platform)
        if mod is not None and mod.channel == msg.ref.channel:
            return  # moderators quoting spam to each other
        await self._ensure_loaded()
        verdict = self.scanner.scan(ScanMessage(
            id=msg.ref.encode(), author=msg.author_id, channel=f"{msg.ref.platform}:{msg.ref.channel}",
            text=msg.text, ts=msg.ts, author_joined_ts=msg.author_joined_ts, mention_count=msg.mass_mentions,
        ))
        if not verdict.flagged:
            return
        candidate = _Candidate(msg.ref.platform, msg.author_id, msg.author_name, msg.ref.channel, msg.ref, msg.link,
                               msg.text)
        deleted, auto_note = False, ""
        if verdict.auto_action:
            deleted, why = await self._delete_message(msg.ref)
            if not deleted:
                auto_note = f"auto-remove failed: {why}"
                log.warning("could not auto-remove %s: %s", msg.ref.encode(), why)
        item_id, _ = await self._enqueue(candidate, verdict, _reasons(verdict), source="scan", deleted=deleted,
                                         note=auto_note)
        if deleted and item_id is not None:
            await self.storage.audit("bot", "queue.auto_remove", f"queue:{item_id}", json.dumps(
                {"message": msg.ref.encode(), "score": round(verdict.score, 3),
                 "reasons": _reasons(verdict)}, ensure_ascii=False))

    # -- the queue ----------------------------------------------------------------------------------------

    async def _similar_open_item(self, db: Any, fp: str) -> list[Any]:
        """The open item whose text is most like this one, if alike enough to be the same post reworded.

        Spammers vary a copy a little ("??" for "?", a word dropped); exact fingerprints would miss that, so
        the newest open items are compared by word-set similarity with the rules' near-duplicate bar.
        """
        bar = self.scanner.rules.fingerprints.min_similarity
        candidates = await db.execute_fetchall(
            "SELECT id, reasons, fingerprint FROM mod_queue WHERE status = 'open' AND group_key NOT LIKE 'text:%' "
            "ORDER BY id DESC LIMIT 500")
        scored = [(fingerprint_similarity(fp, row["fingerprint"]), row) for row in candidates]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        return [best[1]] if best[1] is not None and best[0] >= max(bar, 0.5) else []

    async def _enqueue(self, cand: _Candidate, verdict: Verdict, reasons: list[dict[str, Any]], *, source: str,
                       deleted: bool = False, note: str = "",
                       report: tuple[str, str] | None = None) -> tuple[int | None, bool]:
        """Store a new item or group the message into the open item with the same fingerprint, then show it.

        Returns (item id, created). A report the same member already made returns (None, False) and changes
        nothing. `report` is (reporter id, what was reported).
        """
        now = time.time()
        key = _group_key(verdict)
        ref = cand.ref.encode() if cand.ref is not None else None
        async with self.storage.transaction() as db:
            if report is not None:
                dup = await db.execute_fetchall(
                    "SELECT 1 FROM mod_reports WHERE reporter = ? AND report_key = ?", report)
                if dup:
                    return None, False
            rows = await db.execute_fetchall(
                "SELECT id, reasons FROM mod_queue WHERE status = 'open' AND group_key = ? ORDER BY id LIMIT 1",
                (key,))
            if not rows and not key.startswith("text:"):
                rows = await self._similar_open_item(db, verdict.fingerprint)
            if rows:
                item_id, created = int(rows[0]["id"]), False
                if report is not None:
                    merged = json.loads(rows[0]["reasons"])
                    known = {(r.get("rule"), r.get("detail")) for r in merged}
                    extra = [r for r in reasons if (r["rule"], r["detail"]) not in known and r["rule"] == REPORT_RULE]
                    if extra:
                        merged = extra + merged
                        await db.execute("UPDATE mod_queue SET reasons = ? WHERE id = ?",
                                         (json.dumps(merged, ensure_ascii=False), item_id))
                if deleted:
                    await db.execute("UPDATE mod_queue SET auto_removed = 1 WHERE id = ?", (item_id,))
                if note:
                    await db.execute("UPDATE mod_queue SET outcome = trim(outcome || '; ' || ?, '; ') WHERE id = ?",
                                     (note, item_id))
            else:
                cursor = await db.execute(
                    "INSERT INTO mod_queue(platform, author, author_name, channel, message_ref, link, text, normalised,"
                    " score, threshold, reasons, fingerprint, group_key, source, auto_removed, created_at, outcome,"
                    " seen_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (cand.platform, cand.author, cand.author_name, f"{cand.platform}:{cand.channel}", ref, cand.link,
                     cand.text[:TEXT_STORED], verdict.normalised[:TEXT_STORED], verdict.score, verdict.threshold,
                     json.dumps(reasons, ensure_ascii=False), verdict.fingerprint, key, source, int(deleted), now,
                     note))
                item_id, created = int(cursor.lastrowid or 0), True
            if cand.ref is not None:
                cursor = await db.execute(
                    "INSERT OR IGNORE INTO mod_queue_messages(item_id, ref, platform, channel, author, author_name,"
                    " text, link, seen_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (item_id, ref, cand.ref.platform, cand.ref.channel, cand.author, cand.author_name,
                     cand.text[:TEXT_STORED], cand.link, now, int(deleted)))
                if cursor.rowcount:
                    await db.execute("UPDATE mod_queue SET seen_count = seen_count + 1 WHERE id = ?", (item_id,))
            elif created:
                await db.execute("UPDATE mod_queue SET seen_count = 1 WHERE id = ?", (item_id,))
            if report is not None:
                await db.execute(
                    "INSERT INTO mod_reports(reporter, report_key, item_id, reported_at) VALUES (?, ?, ?, ?)",
                    (*report, item_id, now))
                await db.execute("UPDATE mod_queue SET report_count = report_count + 1 WHERE id = ?", (item_id,))
        if created:
            await self._post_new(item_id)
        else:
            await self._refresh_post(item_id)
        return item_id, created

    async def _post_new(self, item_id: int) -> None:
        async with self._post_lock:
            item = await self.item(item_id)
            if item is None:
                return
            staff = self.host.staff(item.platform)
            if staff.place is None:
                log.warning("no moderators' channel is configured for %s: queue item #%d is only listed by "
                            "/modqueue (set %s)", item.platform, item.id, staff.setting)
                return
            place = staff.place
            try:
                posted = await self.host.post(place, self.item_reply(item))
            except Exception:
                log.exception("could not post queue item #%d to the moderators' channel %s", item.id, place.channel)
                return
            if posted is None:
                return
            await self.storage.execute("UPDATE mod_queue SET post_ref = ? WHERE id = ?", (posted.encode(), item.id))
            latest = await self.item(item_id)
            if latest is not None and self.item_reply(latest) != self.item_reply(item):
                await self._update_post(latest)  # grouped into while the post was on its way

    async def _refresh_post(self, item_id: int) -> None:
        async with self._post_lock:
            item = await self.item(item_id)
            if item is not None:
                await self._update_post(item)

    async def _update_post(self, item: QueueItem) -> None:
        """Edit the queue message in place (call with _post_lock held)."""
        if item.post_ref is None:
            return
        ref = MessageRef.decode(item.post_ref)
        try:
            await self.host.update(ref, self.item_reply(item))
        except Exception:
            log.exception("could not update queue message of item #%d", item.id)

    async def item(self, item_id: int) -> QueueItem | None:
        row = await self.storage.fetchone("SELECT * FROM mod_queue WHERE id = ?", (item_id,))
        if row is None:
            return None
        rows = await self.storage.fetchall(
            "SELECT ref, author, author_name, text, link, deleted FROM mod_queue_messages WHERE item_id = ? "
            "ORDER BY seen_at, rowid", (item_id,))
        messages = tuple(QueuedMessage(MessageRef.decode(r["ref"]), r["author"], r["author_name"], r["text"],
                                       r["link"], bool(r["deleted"])) for r in rows)
        return QueueItem(
            id=row["id"], platform=row["platform"], author=row["author"], author_name=row["author_name"],
            channel=row["channel"], message_ref=row["message_ref"], link=row["link"], text=row["text"],
            score=row["score"], threshold=row["threshold"], reasons=json.loads(row["reasons"]),
            fingerprint=row["fingerprint"], source=row["source"], auto_removed=bool(row["auto_removed"]),
            seen_count=row["seen_count"], report_count=row["report_count"], status=row["status"],
            created_at=row["created_at"], post_ref=row["post_ref"], decided_by=row["decided_by"],
            decided_by_name=row["decided_by_name"], decided_at=row["decided_at"], outcome=row["outcome"],
            messages=messages,
        )

    # -- how an item looks --------------------------------------------------------------------------------

    def item_reply(self, item: QueueItem) -> Reply:
        kind = "Reported message" if item.source == "report" else "Possible spam"
        title = f"{kind} (score {item.score:.2f} / threshold {item.threshold:.2f})"
        text = item.text if len(item.text) <= TEXT_SHOWN else (
            item.text[:TEXT_SHOWN] + f"… ({len(item.text) - TEXT_SHOWN} more characters)")
        author = f"{item.author_name} ({item.author})" if item.author and item.author != item.author_name else (
            item.author_name or "unknown")
        others = {m.author for m in item.messages} - {item.author}
        if others:
            author += f" and {len(others)} other account(s)"
        fields: list[tuple[str, str]] = [
            ("Author", author),
            ("Channel", _channel_label(item.channel)),
            ("Link", item.link or "no link"),
            ("Why", "\n".join(_reason_line(r) for r in item.reasons)[:1000] or "no reasons recorded"),
        ]
        channels = {f"{m.ref.platform}:{m.ref.channel}" for m in item.messages}
        if item.seen_count > 1:
            where = ", ".join(sorted(_channel_label(c) for c in channels))
            in_channels = f"{len(channels)} channel" + ("s" if len(channels) != 1 else "")
            fields.append(("Seen", f"seen {item.seen_count} times in {in_channels}: {where}"[:1000]))
        if item.auto_removed:
            fields.append(("Auto-removed", "yes: hidden at once because the score passed the auto threshold"))
        footer = f"Queue item #{item.id}"
        buttons: tuple[Button, ...] = ()
        if item.is_open:
            footer += " · the first decision counts"
            buttons = (
                Button("Remove", f"queue:{item.id}:remove", "danger"),
                Button("Remove + timeout", f"queue:{item.id}:timeout", "danger"),
                Button("Not spam", f"queue:{item.id}:ham", "success"),
                Button("Ignore", f"queue:{item.id}:ignore"),
            )
        else:
            label = next((lbl for status, lbl in DECISIONS.values() if status == item.status), item.status)
            fields.append(("Decision", f"{label} by {item.decided_by_name or item.decided_by} at "
                                       f"{_when(item.decided_at)}"))
        if item.outcome:
            fields.append(("Result", item.outcome[:1000]))
        return Reply(title=title, text=text, fields=tuple(fields), buttons=buttons, footer=footer, ephemeral=False)

    # -- decisions ----------------------------------------------------------------------------------------

    @action("queue", role=Role.MODERATOR)
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        """queue:<id>:remove|timeout|ham|ignore decides an item (first press wins); queue:<id>:show shows it."""
        if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in (*DECISIONS, "show"):
            return error_reply("That button is not valid any more.")
        await self._ensure_loaded()
        item = await self.item(int(parts[0]))
        if item is None:
            return error_reply("That queue item no longer exists.")
        if parts[1] == "show":
            return replace(self.item_reply(item), ephemeral=True)
        return await self.decide(item, parts[1], act)

    async def decide(self, item: QueueItem, verb: str, act: Action) -> Reply:
        status, label = DECISIONS[verb]
        member = act.member
        learns = verb in ("remove", "timeout", "ham")
        async with self._learn_lock:
            learned = False
            try:
                async with self.storage.transaction() as db:
                    cursor = await db.execute(
                        "UPDATE mod_queue SET status = ?, decided_by = ?, decided_by_name = ?, decided_at = ? "
                        "WHERE id = ? AND status = 'open'", (status, member.id, member.name, time.time(), item.id))
                    won = cursor.rowcount == 1
                    if won:
                        await db.execute(
                            "INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
                            (member.id, f"queue.{verb}", f"queue:{item.id}", json.dumps({
                                "message": item.message_ref, "messages": [m.ref.encode() for m in item.messages],
                                "author": item.author, "score": round(item.score, 3), "reasons": item.reasons,
                            }, ensure_ascii=False)))
                        if learns:
                            learned = True
                            self._learn(item, spam=verb != "ham")
                            stored = await self._persist_learning(db)
                if won and learns:
                    self._stored_fingerprints = stored
            except Exception:
                if learned:
                    await self._restore_learning()  # memory follows the database, which rolled back
                raise
        if not won:
            current = await self.item(item.id) or item
            who = current.decided_by_name or current.decided_by or "another moderator"
            done = next((lbl for s, lbl in DECISIONS.values() if s == current.status), current.status)
            return error_reply(f"Already decided by {who} at {_when(current.decided_at)} ({done.lower()}). "
                               "Nothing was changed.")

        notes: list[str] = []
        if verb in ("remove", "timeout"):
            notes += await self._delete_all(item)
        if verb == "timeout":
            notes += await self._timeout_authors(item, act)
        if verb == "ham" and item.auto_removed:
            notes += await self._restore_messages(item)
        if learns:
            notes.append("the scanner learned from this decision")
        if notes:
            await self.storage.execute(
                "UPDATE mod_queue SET outcome = trim(outcome || '; ' || ?, '; ') WHERE id = ?",
                ("; ".join(notes), item.id))
        log.info("queue item #%d: %s by %s", item.id, label.lower(), member.id)
        decided = await self.item(item.id) or item
        view = replace(self.item_reply(decided), replace_original=True)
        if act.message is not None and decided.post_ref == act.message.encode():
            async with self._post_lock:
                pass  # an edit already on its way (a grouped duplicate) lands before this one
            return view  # pressed on the queue message itself: the adapter edits it in place
        async with self._post_lock:
            await self._update_post(decided)
        return replace(view, ephemeral=True)

    async def _delete_message(self, ref: MessageRef) -> tuple[bool, str]:
        try:
            await self.host.delete(ref)
        except PlatformUnavailable:
            return False, f"{ref.platform} is not connected, so its message was not deleted"
        except (NotImplementedError, RuntimeError) as exc:
            return False, str(exc) or f"{ref.platform} cannot delete messages"
        except Exception:
            log.exception("deleting %s failed", ref.encode())
            return False, f"{ref.platform} failed to delete the message"
        return True, ""

    async def _delete_all(self, item: QueueItem) -> list[str]:
        if not item.messages:
            return ["nothing to delete: the report came without a message link"]
        targets = [m for m in item.messages if not m.deleted]
        if not targets:
            return ["the message(s) were already removed automatically"]
        done, problems = 0, []
        for m in targets:
            ok, why = await self._delete_message(m.ref)
            if ok:
                done += 1
                await self.storage.execute("UPDATE mod_queue_messages SET deleted = 1 WHERE item_id = ? AND ref = ?",
                                           (item.id, m.ref.encode()))
            elif why not in problems:
                problems.append(why)
        return [f"deleted {done} of {len(targets)} message(s)", *problems]

    async def _timeout_authors(self, item: QueueItem, act: Action) -> list[str]:
        notes: list[str] = []
        seen: set[str] = set()
        targets = [(m.author, m.author_name, m.ref.platform, m.ref.channel) for m in item.messages]
        if not targets and item.author:
            targets = [(item.author, item.author_name, item.platform, item.channel.split(":", 1)[-1])]
        for author, name, platform, channel in targets:
            if not author or author in seen or not author.startswith(f"{platform}:"):
                continue
            seen.add(author)
            guild = act.place.guild if act.place.platform == platform else None
            try:
                result = await self.host.restrict(author, Place(platform, channel, guild), TIMEOUT_MINUTES)
            except PlatformUnavailable:
                result = f"not timed out, {platform} is not connected"
            except NotImplementedError as exc:
                result = f"not timed out: {exc}"
            except Exception:
                log.exception("restricting %s failed", author)
                result = "not timed out: the platform reported an error"
            notes.append(f"{name}: {result}")
        return notes or ["nobody to time out: the author is unknown"]

    async def _restore_messages(self, item: QueueItem) -> list[str]:
        """Not spam after an auto-removal: repost the hidden messages in their channel, with attribution."""
        restored = 0
        for m in item.messages:
            if not m.deleted:
                continue
            try:
                posted = await self.host.post(Place(m.ref.platform, m.ref.channel),
                                              Reply(text=f"Restored message from {m.author_name}: {m.text}",
                                                    ephemeral=False))
            except Exception:
                log.exception("could not restore %s", m.ref.encode())
                continue
            if posted is not None:
                restored += 1
                await self.storage.execute("UPDATE mod_queue_messages SET deleted = 0 WHERE item_id = ? AND ref = ?",
                                           (item.id, m.ref.encode()))
        return [f"restored {restored} auto-removed message(s) in their channel"]

    # -- commands -----------------------------------------------------------------------------------------

    @command("report", kind="message",
             options=(Option("text", "The message to report (console: /report TEXT)", rest=True),))
    async def cmd_report(self, inv: Invocation) -> Reply:
        """Send this message to the moderators' review queue, privately."""
        text = inv.args.get("text", "").strip()
        if not text:
            return error_reply("There is nothing to report: pick a message (or on the console type /report and "
                               "the text).")
        await self._ensure_loaded()
        platform = inv.place.platform
        channel = inv.args.get("channel") or inv.place.channel
        message = inv.args.get("message", "")
        ref = MessageRef(platform, channel, message) if message else None
        author = inv.args.get("author", "")
        if ref is not None:
            report_key = ref.encode()
        else:
            digest = hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8", "surrogatepass")).hexdigest()
            report_key = f"{platform}|{channel}|text:{digest[:32]}"
        verdict = self._probe(text, author, f"{platform}:{channel}")
        reasons = [{"rule": REPORT_RULE, "weight": 0.0, "detail": f"reported by {inv.member.name}"},
                   *_reasons(verdict)]
        candidate = _Candidate(platform, author, author or "unknown", channel, ref, inv.args.get("link", ""), text)
        item_id, _ = await self._enqueue(candidate, verdict, reasons, source="report",
                                         report=(inv.member.id, report_key))
        if item_id is None:
            return Reply(text="You already reported this message; the moderators have it.", ephemeral=True)
        return Reply(text="Thanks, the moderators will take a look.", ephemeral=True)

    def _probe(self, text: str, author: str, channel: str) -> Verdict:
        """Score a reported text without touching the live scanner's per-author memory."""
        probe = Scanner(self.scanner.rules, self.scanner.model)
        probe.load_fingerprints(self.scanner.known_spam_fingerprints())
        return probe.scan(ScanMessage(id="report", author=author or "unknown", channel=channel, text=text,
                                      ts=time.time()))

    @command("modqueue", role=Role.MODERATOR)
    async def cmd_queue(self, inv: Invocation) -> Reply:
        """Moderators: show the review queue of flagged and reported messages."""
        total = await self.storage.fetchone("SELECT count(*) AS n FROM mod_queue WHERE status = 'open'")
        rows = await self.storage.fetchall(
            "SELECT id, author, author_name, score, reasons, created_at, seen_count, report_count, auto_removed "
            "FROM mod_queue WHERE status = 'open' ORDER BY created_at DESC, id DESC LIMIT ?", (QUEUE_LIST_MAX,))
        if not rows:
            return Reply(title="Review queue", text="Nothing is waiting for review.")
        now = time.time()
        lines = []
        for r in rows:
            reasons = json.loads(r["reasons"])
            first = reasons[0] if reasons else {"rule": "?", "detail": "no reasons"}
            extras = []
            if r["report_count"]:
                extras.append(f"reported ×{r['report_count']}")
            if r["seen_count"] > 1:
                extras.append(f"seen ×{r['seen_count']}")
            if r["auto_removed"]:
                extras.append("auto-removed")
            lines.append(f"#{r['id']} · {r['author_name'] or r['author'] or 'unknown'} · score {r['score']:.2f} · "
                         f"{first['rule']}: {first['detail']} · {_age(now - r['created_at'])} ago"
                         + (f" · {', '.join(extras)}" if extras else ""))
        n = total["n"] if total else len(rows)
        more = f"\nShowing the newest {len(rows)} of {n}." if n > len(rows) else ""
        return Reply(title=f"Review queue: {n} waiting", text="\n".join(lines) + more,
                     buttons=tuple(Button(f"Review #{r['id']}", f"queue:{r['id']}:show") for r in rows))

    @command("modstats", role=Role.MODERATOR)
    async def cmd_stats(self, inv: Invocation) -> Reply:
        """Moderators: figures on flagged messages, decisions and response times."""
        await self._ensure_loaded()
        rows = await self.storage.fetchall("SELECT status, source, reasons, created_at, decided_at FROM mod_queue")
        by_status: dict[str, int] = {}
        reported = 0
        waits: list[float] = []
        per_rule: dict[str, list[int]] = {}  # rule -> [decided spam, decided not spam]
        for r in rows:
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
            reported += r["source"] == "report"
            if r["decided_at"] is not None:
                waits.append(max(0.0, r["decided_at"] - r["created_at"]))
            if r["status"] in (*SPAM_STATUSES, "not_spam"):
                column = 0 if r["status"] in SPAM_STATUSES else 1
                for rule in {x.get("rule", "?") for x in json.loads(r["reasons"])}:
                    per_rule.setdefault(rule, [0, 0])[column] += 1
        counts = " · ".join(f"{STATUS_NAMES.get(s, s)} {by_status.get(s, 0)}" for s in STATUS_NAMES)
        fields: list[tuple[str, str]] = [("Items", f"{len(rows)} in all ({reported} from member reports): {counts}")]
        if waits:
            fields.append(("Response time", f"median {_age(statistics.median(waits))}, slowest {_age(max(waits))} "
                                            f"({len(waits)} decided)"))
        if per_rule:
            lines = []
            for rule, (spam, ham) in sorted(per_rule.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0])):
                lines.append(f"{rule}: {spam} spam / {ham} not spam ({spam / (spam + ham):.0%} precision)")
            fields.append(("Per rule (decided spam / not spam)", "\n".join(lines)[:1000]))
        ham_docs, spam_docs = self.scanner.model.documents
        fields.append(("Learning", f"model learned from {spam_docs} spam and {ham_docs} not-spam decisions"
                                   f"{'' if self.scanner.model.ready else ' (not used until 5 of each)'}; "
                                   f"{len(self.scanner.known_spam_fingerprints())} known-spam fingerprints"))
        if self.scanning:
            rules = self.scanner.rules
            auto = f", auto-remove at {rules.auto_threshold:g}" if rules.auto_threshold is not None else ""
            state = f"on: {rules.source} (threshold {rules.threshold:g}{auto})"
        elif not self.enabled:
            state = "off (spam.enabled is false); reports still reach the queue"
        else:
            state = f"OFF: {self.rules_problem}"
        fields.append(("Scanning", state))
        return Reply(title="Moderation figures", text="Queue items by decision, how fast they were decided, and "
                     "how often each rule was right.", fields=tuple(fields))

    @command("spam-reload", role=Role.ADMIN)
    async def cmd_reload(self, inv: Invocation) -> Reply:
        """Admins: re-read the spam rules file; on errors the current rules stay in place."""
        problems = self.reload()
        await self.storage.audit(inv.member.id, "spam.reload", str(self.rules_path),
                                 "ok" if not problems else f"{len(problems)} problem(s)")
        if problems:
            return reload_refused("the spam rules", f"Still using the previous rules ({self.scanner.rules.source}).",
                                  problems)
        rules = self.scanner.rules
        return Reply(title="Spam rules reloaded",
                     text=f"Now using {rules.source}: threshold {rules.threshold:g}, {len(rules.phrases)} phrases.")


# -- helpers ----------------------------------------------------------------------------------------------------


def _reasons(verdict: Verdict) -> list[dict[str, Any]]:
    return [{"rule": r.rule, "weight": round(r.weight, 3), "detail": r.detail} for r in verdict.reasons]


def _group_key(verdict: Verdict) -> str:
    """Near-duplicates share the fingerprint; texts without content words are grouped only when identical."""
    if verdict.fingerprint and verdict.fingerprint != _EMPTY_FINGERPRINT:
        return verdict.fingerprint
    return "text:" + hashlib.sha256(verdict.normalised.encode("utf-8", "surrogatepass")).hexdigest()


def _reason_line(reason: dict[str, Any]) -> str:
    weight = float(reason.get("weight") or 0.0)
    detail = str(reason.get("detail", ""))
    if weight == 0:
        return detail
    return f"{weight:+.2f} {detail}"


def _channel_label(channel: str) -> str:
    platform, _, name = channel.partition(":")
    return f"#{name} ({platform})" if name else channel


def _when(ts: float | None) -> str:
    if ts is None:
        return "an unknown time"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86_400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} d"
