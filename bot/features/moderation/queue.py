"""The moderators' review queue in SQLite: its records (QueueItem, QueuedMessage) and every mod_queue,
mod_queue_messages and mod_reports statement: enqueue and group, fetch, list, claim, decide once, undo once."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.core.records import Member, MessageRef
from bot.core.storage import Storage
from bot.features.moderation.spam import Verdict, fingerprint, fingerprint_similarity

if TYPE_CHECKING:
    from bot.core.storage import Connection, Row

TEXT_STORED = 20_000
# What an earlier copy shows: the scanner keeps fingerprints of what members post, never their words.
EARLIER_COPY = "(an earlier copy of this message in another channel; its words were not kept)"
REPORT_RULE = "reported"
_EMPTY_FINGERPRINT = fingerprint("")

# verb in the button id -> (status stored, how the decision reads in the queue post)
DECISIONS: dict[str, tuple[str, str]] = {
    "remove": ("removed", "Removed"),
    "timeout": ("timed_out", "Removed and timed out"),
    "ham": ("not_spam", "Marked not spam"),
    "ignore": ("ignored", "Ignored"),
}

# The timeout lengths a moderator may pick (AutoMod's): seconds -> how it reads.
TIMEOUTS: dict[int, str] = {60: "60 s", 300: "5 min", 600: "10 min", 3600: "1 hour", 86_400: "1 day",
                            604_800: "1 week"}
UNDO_SECONDS = 86_400  # a decision can be undone for a day

_APPEND_OUTCOME = "UPDATE mod_queue SET outcome = trim(outcome || '; ' || ?, '; ') WHERE id = ?"


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
    timeout_seconds: int = 0
    claimed_by: str | None = None
    claimed_by_name: str | None = None
    claimed_at: float | None = None
    undone_status: str = ""  # the last decision undone on this item
    undone_decider: str = ""
    undone_by_name: str | None = None
    undone_at: float | None = None
    community: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def undoable(self, now: float) -> bool:
        """Decided less than a day ago."""
        return not self.is_open and self.decided_at is not None and now - self.decided_at < UNDO_SECONDS


@dataclass(frozen=True)
class Candidate:
    """A message about to be queued, whether the scanner flagged it or a member reported it."""

    platform: str
    author: str
    author_name: str
    channel: str  # the platform's channel id
    ref: MessageRef | None
    link: str
    text: str
    community: str = ""  # where it was posted: its moderators decide it


@dataclass(frozen=True)
class WaitingItem:
    """An open item as /modqueue lists it."""

    id: int
    author: str
    author_name: str
    score: float
    reasons: list[dict[str, Any]]
    created_at: float
    seen_count: int
    report_count: int
    auto_removed: bool
    claimed_by_name: str | None = None


@dataclass(frozen=True)
class ItemHistory:
    """What /modstats counts of one item: how it was decided, how soon, and which rules flagged it."""

    status: str
    source: str
    reasons: list[dict[str, Any]]
    created_at: float
    decided_at: float | None


def stored_reasons(verdict: Verdict) -> list[dict[str, Any]]:
    """The scanner's reasons as a queue item stores them."""
    return [{"rule": r.rule, "weight": round(r.weight, 3), "detail": r.detail} for r in verdict.reasons]


def group_key(verdict: Verdict) -> str:
    """Near-duplicates share the fingerprint; texts without content words are grouped only when identical."""
    if verdict.fingerprint and verdict.fingerprint != _EMPTY_FINGERPRINT:
        return verdict.fingerprint
    return "text:" + hashlib.sha256(verdict.normalised.encode("utf-8", "surrogatepass")).hexdigest()


def report_key(platform: str, channel: str, ref: MessageRef | None, text: str) -> str:
    """What a member reported: the message itself, or (without a message link) its text in that channel."""
    if ref is not None:
        return ref.encode()
    digest = hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{platform}|{channel}|text:{digest[:32]}"


class ModQueue:
    """The queue tables. Each public method is one transaction unless it is given the caller's connection."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def add(self, cand: Candidate, verdict: Verdict, reasons: list[dict[str, Any]], *, source: str,
                  min_similarity: float, deleted: bool = False, note: str = "",
                  report: tuple[str, str] | None = None, key: str | None = None) -> tuple[int | None, bool]:
        """Store a new item or group the message into the open item with the same fingerprint.

        Returns (item id, created). A report the same member already made returns (None, False) and changes
        nothing. `report` is (reporter id, what was reported); `key` groups by something other than the text.
        """
        now = time.time()
        key = key or group_key(verdict)
        ref = cand.ref.encode() if cand.ref is not None else None
        async with self.storage.transaction() as db:
            if report is not None:
                dup = await db.execute_fetchall(
                    "SELECT 1 FROM mod_reports WHERE reporter = ? AND report_key = ?", report)
                if dup:
                    return None, False
            rows = list(await db.execute_fetchall(
                "SELECT id, reasons, score FROM mod_queue WHERE status = 'open' AND group_key = ? AND community = ? "
                "ORDER BY id LIMIT 1", (key, cand.community)))
            if not rows and key == verdict.fingerprint:
                rows = await self._similar_open_item(db, verdict.fingerprint, min_similarity, cand.community)
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
                if report is None and verdict.score > float(rows[0]["score"]):
                    # The strongest copy speaks for the item: its score and reasons, with any reports kept.
                    kept = [r for r in json.loads(rows[0]["reasons"]) if r.get("rule") == REPORT_RULE]
                    await db.execute("UPDATE mod_queue SET score = ?, reasons = ? WHERE id = ?",
                                     (verdict.score, json.dumps(kept + reasons, ensure_ascii=False), item_id))
                if deleted:
                    await db.execute("UPDATE mod_queue SET auto_removed = 1 WHERE id = ?", (item_id,))
                if note:
                    await db.execute(_APPEND_OUTCOME, (note, item_id))
            else:
                cursor = await db.execute(
                    "INSERT INTO mod_queue(platform, author, author_name, channel, message_ref, link, text, normalised,"
                    " score, threshold, reasons, fingerprint, group_key, source, auto_removed, created_at, outcome,"
                    " seen_count, community) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (cand.platform, cand.author, cand.author_name, f"{cand.platform}:{cand.channel}", ref, cand.link,
                     cand.text[:TEXT_STORED], verdict.normalised[:TEXT_STORED], verdict.score, verdict.threshold,
                     json.dumps(reasons, ensure_ascii=False), verdict.fingerprint, key, source, int(deleted), now,
                     note, cand.community))
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
        return item_id, created

    async def _similar_open_item(self, db: Connection, fp: str, min_similarity: float, community: str) -> list[Row]:
        """The open item whose text is most like this one, if alike enough to be the same post reworded.

        Spammers vary a copy a little ("??" for "?", a word dropped); exact fingerprints would miss that, so
        the newest open items are compared by word-set similarity with the rules' near-duplicate bar.
        """
        candidates = await db.execute_fetchall(
            "SELECT id, reasons, score, fingerprint FROM mod_queue WHERE status = 'open' AND community = ? "
            "AND group_key NOT LIKE 'text:%' ORDER BY id DESC LIMIT 500", (community,))
        scored = [(fingerprint_similarity(fp, row["fingerprint"]), row) for row in candidates]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        return [best[1]] if best[1] is not None and best[0] >= max(min_similarity, 0.5) else []

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
            messages=messages, timeout_seconds=row["timeout_seconds"], claimed_by=row["claimed_by"],
            claimed_by_name=row["claimed_by_name"], claimed_at=row["claimed_at"], undone_status=row["undone_status"],
            undone_decider=row["undone_decider"], undone_by_name=row["undone_by_name"], undone_at=row["undone_at"],
            community=row["community"],
        )

    async def open_count(self) -> int:
        """How many items are open, in every community (the queue_size gauge)."""
        total = await self.storage.fetchone("SELECT count(*) AS n FROM mod_queue WHERE status = 'open'")
        return int(total["n"]) if total else 0

    async def waiting(self, limit: int, community: str = "") -> tuple[int, list[WaitingItem]]:
        """How many items of a community are open, and the newest `limit` of them."""
        total = await self.storage.fetchone(
            "SELECT count(*) AS n FROM mod_queue WHERE status = 'open' AND community = ?", (community,))
        rows = await self.storage.fetchall(
            "SELECT id, author, author_name, score, reasons, created_at, seen_count, report_count, auto_removed, "
            "claimed_by_name FROM mod_queue WHERE status = 'open' AND community = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?", (community, limit))
        items = [WaitingItem(r["id"], r["author"], r["author_name"], r["score"], json.loads(r["reasons"]),
                             r["created_at"], r["seen_count"], r["report_count"], bool(r["auto_removed"]),
                             r["claimed_by_name"]) for r in rows]
        return (total["n"] if total else len(items)), items

    async def history(self, community: str = "") -> list[ItemHistory]:
        """Every item ever queued in a community, open or decided."""
        rows = await self.storage.fetchall(
            "SELECT status, source, reasons, created_at, decided_at FROM mod_queue WHERE community = ?", (community,))
        return [ItemHistory(r["status"], r["source"], json.loads(r["reasons"]), r["created_at"], r["decided_at"])
                for r in rows]

    async def decide_once(self, db: Connection, item: QueueItem, verb: str, member: Member,
                          timeout_seconds: int = 0) -> bool:
        """Record `member`'s decision and its audit entry inside the caller's transaction, unless the item was
        decided already; returns whether this decision was the first."""
        status, _ = DECISIONS[verb]
        cursor = await db.execute(
            "UPDATE mod_queue SET status = ?, decided_by = ?, decided_by_name = ?, decided_at = ?, "
            "timeout_seconds = ? WHERE id = ? AND status = 'open'",
            (status, member.id, member.name, time.time(), timeout_seconds, item.id))
        if cursor.rowcount != 1:
            return False
        await db.execute(
            "INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
            (member.id, f"queue.{verb}", f"queue:{item.id}", json.dumps({
                "message": item.message_ref, "messages": [m.ref.encode() for m in item.messages],
                "author": item.author, "score": round(item.score, 3), "reasons": item.reasons,
                "by_name": member.name, "timeout_seconds": timeout_seconds,
            }, ensure_ascii=False)))
        return True

    async def undo_once(self, db: Connection, item: QueueItem, member: Member) -> bool:
        """Reopen `item` as it was before its decision, with the audit entry, inside the caller's transaction,
        unless that decision was already undone (or replaced); returns whether this undo was the first."""
        cursor = await db.execute(
            "UPDATE mod_queue SET status = 'open', undone_status = status, undone_decider = "
            "coalesce(decided_by_name, decided_by, ''), undone_by = ?, undone_by_name = ?, undone_at = ?, "
            "decided_by = NULL, decided_by_name = NULL, decided_at = NULL, timeout_seconds = 0, outcome = '' "
            "WHERE id = ? AND status = ? AND decided_by = ?",
            (member.id, member.name, time.time(), item.id, item.status, item.decided_by or ""))
        if cursor.rowcount != 1:
            return False
        await db.execute(
            "INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
            (member.id, "queue.undo", f"queue:{item.id}", json.dumps({
                "undid": item.status, "decided_by": item.decided_by, "decided_at": item.decided_at,
                "author": item.author, "by_name": member.name, "timeout_seconds": item.timeout_seconds,
            }, ensure_ascii=False)))
        return True

    async def claim(self, item_id: int, member: Member) -> bool:
        """Mark an open, unclaimed item as `member`'s ("I'm on it"); returns whether this claim was the first."""
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "UPDATE mod_queue SET claimed_by = ?, claimed_by_name = ?, claimed_at = ? "
                "WHERE id = ? AND status = 'open' AND claimed_by IS NULL", (member.id, member.name, time.time(),
                                                                            item_id))
            if cursor.rowcount != 1:
                return False
            await db.execute("INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
                             (member.id, "queue.claim", f"queue:{item_id}",
                              json.dumps({"by_name": member.name}, ensure_ascii=False)))
        return True

    async def open_group_of(self, refs: list[MessageRef], community: str) -> str | None:
        """The group key of an open item of the community that already holds one of these messages."""
        for ref in refs:
            row = await self.storage.fetchone(
                "SELECT q.group_key FROM mod_queue_messages m JOIN mod_queue q ON q.id = m.item_id "
                "WHERE m.ref = ? AND q.status = 'open' AND q.community = ? ORDER BY q.id LIMIT 1",
                (ref.encode(), community))
            if row is not None:
                return str(row["group_key"])
        return None

    async def add_earlier_copies(self, item_id: int, copies: list[tuple[MessageRef, float]], author: str,
                                 author_name: str) -> int:
        """Group the author's earlier copies (that passed on their own) into the item, so Remove takes them down
        too; a copy already in an open item stays where it is. Returns how many were added."""
        added = 0
        async with self.storage.transaction() as db:
            for ref, seen_at in copies:
                taken = await db.execute_fetchall(
                    "SELECT 1 FROM mod_queue_messages m JOIN mod_queue q ON q.id = m.item_id "
                    "WHERE m.ref = ? AND q.status = 'open'", (ref.encode(),))
                if list(taken):
                    continue
                cursor = await db.execute(
                    "INSERT INTO mod_queue_messages(item_id, ref, platform, channel, author, author_name, text, link,"
                    " seen_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, 0) ON CONFLICT DO NOTHING",
                    (item_id, ref.encode(), ref.platform, ref.channel, author, author_name, EARLIER_COPY, seen_at))
                added += cursor.rowcount
            if added:
                await db.execute("UPDATE mod_queue SET seen_count = seen_count + ? WHERE id = ?", (added, item_id))
        return added

    async def replace_message(self, item_id: int, old: MessageRef, new: MessageRef) -> None:
        """A removed message was posted again by the bot: the repost stands for it (a second Remove deletes it)."""
        await self.storage.execute("UPDATE mod_queue_messages SET ref = ?, deleted = 0 WHERE item_id = ? AND ref = ?",
                                   (new.encode(), item_id, old.encode()))

    async def set_post(self, item_id: int, post: MessageRef) -> None:
        """Remember the item's message in the moderators' channel, to edit it later."""
        await self.storage.execute("UPDATE mod_queue SET post_ref = ? WHERE id = ?", (post.encode(), item_id))

    async def set_deleted(self, item_id: int, ref: MessageRef, deleted: bool) -> None:
        """Mark one grouped message as removed from (or restored to) its channel."""
        await self.storage.execute("UPDATE mod_queue_messages SET deleted = ? WHERE item_id = ? AND ref = ?",
                                   (int(deleted), item_id, ref.encode()))

    async def add_outcome(self, item_id: int, note: str) -> None:
        """Append to what happened after the decision (shown as the item's result)."""
        await self.storage.execute(_APPEND_OUTCOME, (note, item_id))
