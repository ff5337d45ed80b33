"""The readable mod log, like Red-DiscordBot's modlog cases: every moderator decision on the queue (and every
undo) read back from the audit log, newest first, as `/modlog [member]` lists it and as the one line per decision
an audit channel gets."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.core.records import Button, Reply
from bot.core.storage import Storage
from bot.features.moderation.queue import DECISIONS, TIMEOUTS
from bot.features.moderation.render import age, decision_label

PAGE = 10
FILTER_MAX = 60  # characters of a member filter (it travels in the "Older" button's id)
CASE_ACTIONS = tuple(f"queue.{verb}" for verb in DECISIONS) + ("queue.undo",)
_MENTION = re.compile(r"^<[@#][!&]?([A-Za-z0-9]+)>$")  # a pasted platform mention, e.g. <@123> or <@U0123>


@dataclass(frozen=True)
class Case:
    """One decision as the mod log shows it: who, what, when, about whom, why."""

    id: int  # the audit log entry
    at: str  # ISO time from the audit log
    actor: str
    actor_name: str
    action: str  # queue.<verb>
    item_id: int | None
    author: str
    author_name: str
    timeout_seconds: int
    undid: str  # the status an undo reversed
    why: str

    @property
    def what(self) -> str:
        if self.action == "queue.undo":
            return f"Undid {decision_label(self.undid).lower()}"
        verb = self.action.removeprefix("queue.")
        label = DECISIONS[verb][1] if verb in DECISIONS else verb
        if verb == "timeout" and self.timeout_seconds:
            label += f" ({TIMEOUTS.get(self.timeout_seconds, age(self.timeout_seconds))})"
        return label

    def line(self) -> str:
        """One line, plain text: `Case 12 · 2026-12-01 02:10 UTC · Removed · spammer (discord:1) · by ana · …`."""
        who = f"{self.author_name} ({self.author})" if self.author and self.author != self.author_name else (
            self.author_name or self.author or "unknown author")
        item = f" · queue item #{self.item_id}" if self.item_id is not None else ""
        why = f" · why: {self.why}" if self.why else ""
        return f"Case {self.id} · {shown_time(self.at)} · {self.what} · {who} · by {self.actor_name}{item}{why}"


def shown_time(iso: str) -> str:
    """The audit log's ISO time as "2026-12-01 02:10 UTC"."""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


def member_filter(text: str) -> str:
    """What a moderator typed to name a member, as the mod log matches it: a pasted mention becomes its id."""
    text = " ".join(text.split())
    found = _MENTION.match(text)
    return (found.group(1) if found else text.lstrip("@")).strip()


_SQL = (
    "SELECT a.id, a.at, a.actor, a.action, a.detail, q.id AS item_id, q.author, q.author_name, q.reasons "
    "FROM audit_log a LEFT JOIN mod_queue q ON a.subject = 'queue:' || q.id "
    f"WHERE a.action IN ({', '.join('?' for _ in CASE_ACTIONS)})"
)
_BY_MEMBER = (
    " AND (q.author = ? OR q.author LIKE ? OR lower(q.author_name) = lower(?) OR EXISTS ("
    "SELECT 1 FROM mod_queue_messages m WHERE m.item_id = q.id AND "
    "(m.author = ? OR m.author LIKE ? OR lower(m.author_name) = lower(?))))"
)


async def read_cases(storage: Storage, member: str = "", *, offset: int = 0, limit: int = PAGE,
                     community: str = "") -> tuple[list[Case], bool]:
    """A community's decisions newest first (about `member`, by id or name, when given); and whether older ones
    remain."""
    sql, args = _SQL + " AND q.community = ?", [*CASE_ACTIONS, community]
    if member:
        sql += _BY_MEMBER
        pattern = "%:" + member.replace("%", "").replace("_", "")
        args += [member, pattern, member] * 2
    sql += " ORDER BY a.id DESC LIMIT ? OFFSET ?"
    rows = await storage.fetchall(sql, (*args, limit + 1, offset))
    return [_case(dict(r)) for r in rows[:limit]], len(rows) > limit


async def newest_case(storage: Storage, item_id: int) -> Case | None:
    """The latest decision or undo on a queue item (what an audit channel announces)."""
    rows = await storage.fetchall(_SQL + " AND a.subject = ? ORDER BY a.id DESC LIMIT 1",
                                  (*CASE_ACTIONS, f"queue:{item_id}"))
    return _case(dict(rows[0])) if rows else None


def _case(row: dict[str, Any]) -> Case:
    try:
        detail = json.loads(row["detail"] or "{}")
    except ValueError:
        detail = {}
    detail = detail if isinstance(detail, dict) else {}
    reasons = json.loads(row["reasons"]) if row.get("reasons") else []
    first = reasons[0] if reasons else {}
    return Case(
        id=int(row["id"]), at=str(row["at"]), actor=str(row["actor"]),
        actor_name=str(detail.get("by_name") or row["actor"]), action=str(row["action"]),
        item_id=row.get("item_id"), author=str(row.get("author") or detail.get("author") or ""),
        author_name=str(row.get("author_name") or ""), timeout_seconds=int(detail.get("timeout_seconds") or 0),
        undid=str(detail.get("undid") or ""), why=str(first.get("detail") or "")[:200],
    )


def modlog_reply(cases: list[Case], more: bool, member: str, offset: int) -> Reply:
    """/modlog: one line per decision, newest first, with an "Older" button while more remain."""
    about = f" about {member}" if member else ""
    if not cases:
        text = f"No moderator decisions{about} yet." if offset == 0 else "No older decisions."
        return Reply(title="Mod log", text=text)
    first, last = offset + 1, offset + len(cases)
    buttons: tuple[Button, ...] = ()
    if more:
        buttons = (Button("Older", f"modlog:{offset + PAGE}" + (f":{member}" if member else "")),)
    return Reply(title=f"Mod log{about}: decisions {first}–{last}, newest first",
                 text="\n".join(c.line() for c in cases), buttons=buttons)
