"""How the queue reads: a queue item's post, the /modqueue list, the /modstats figures, and the small
formatting of reasons, channels, times and ages they share."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bot.core.records import Button, Reply, error_reply
from bot.features.moderation.queue import DECISIONS, TIMEOUTS, ItemHistory, QueueItem, WaitingItem
from bot.features.moderation.spam import Scanner, SpamRules

TEXT_SHOWN = 1500  # characters of the original message shown in the queue post
STATUS_NAMES = {
    "open": "waiting",
    "removed": "removed",
    "timed_out": "removed + timeout",
    "not_spam": "not spam",
    "ignored": "ignored",
}
SPAM_STATUSES = ("removed", "timed_out")


def item_reply(item: QueueItem, names: dict[str, str] | None = None, now: float | None = None) -> Reply:
    """The item's post in the moderators' channel: the message, who, where, why, and the buttons or decision.
    `names` maps "platform:channel" to the channel's name where the platform told it."""
    now = time.time() if now is None else now
    if item.source == "mentions":
        title = f"Mention spam ({item.score:.0f} mentions / limit {item.threshold:.0f})"
    else:
        kind = "Reported message" if item.source == "report" else "Possible spam"
        title = f"{kind} (score {item.score:.2f} / threshold {item.threshold:.2f})"
    newest = item.messages[-1].text if item.messages else item.text  # a reworded copy shows what was said last
    text = newest if len(newest) <= TEXT_SHOWN else (
        newest[:TEXT_SHOWN] + f"… ({len(newest) - TEXT_SHOWN} more characters)")
    fields: list[tuple[str, str]] = [
        ("Author" if len(_authors(item)) <= 1 else "Authors", ", ".join(_authors(item))[:1000] or "unknown"),
        ("Channel" if len(_channels(item, names)) <= 1 else "Channels", ", ".join(_channels(item, names))[:1000]),
        ("Link", item.link or "no link"),
        ("Why", "\n".join(reason_line(r) for r in item.reasons)[:1000] or "no reasons recorded"),
    ]
    if item.seen_count > 1:
        count = len(_channels(item, names))
        fields.append(("Seen", f"seen {item.seen_count} times in {count} channel" + ("s" if count != 1 else "")))
    if item.auto_removed:
        fields.append(("Auto-removed", "yes: hidden at once because the score passed the auto threshold"))
    footer = f"Queue item #{item.id}"
    buttons: tuple[Button, ...] = ()
    if item.undone_status:
        fields.append(("Undone", f"{decision_label(item.undone_status)} by {item.undone_decider or 'a moderator'} "
                                 f"was undone by {item.undone_by_name} at {when(item.undone_at)}"))
    if item.is_open:
        footer += " · the first decision counts"
        if item.claimed_by:
            fields.append(("Claimed", f"{item.claimed_by_name or item.claimed_by} is on it "
                                      f"(since {when(item.claimed_at)})"))
        buttons = (
            Button("Remove", f"queue:{item.id}:remove", "danger"),
            Button("Remove + timeout…", f"queue:{item.id}:timeout", "danger"),
            Button("Not spam", f"queue:{item.id}:ham", "success"),
            Button("Ignore", f"queue:{item.id}:ignore"),
        ) + (() if item.claimed_by else (Button("I'm on it", f"queue:{item.id}:claim", "primary"),))
    else:
        fields.append(("Decision", f"{decision_text(item)} by {item.decided_by_name or item.decided_by} at "
                                   f"{when(item.decided_at)}"))
        if item.undoable(now):
            footer += " · can be undone for a day"
            buttons = (Button("Undo", f"queue:{item.id}:undo"),)
    if item.outcome:
        fields.append(("Result", item.outcome[:1000]))
    return Reply(title=title, text=text, fields=tuple(fields), buttons=buttons, footer=footer, ephemeral=False)


def _authors(item: QueueItem) -> list[str]:
    """Every account behind the item, named once each, first seen first (a reported text may have no author)."""
    named: dict[str, str] = {}
    if item.author:
        named[item.author] = item.author_name
    for m in item.messages:
        named.setdefault(m.author, m.author_name)
    return [f"{name} ({who})" if who and who != name else (name or "unknown") for who, name in named.items()]


def _channels(item: QueueItem, names: dict[str, str] | None) -> list[str]:
    """Every channel the item was seen in, first seen first."""
    return [channel_label(c, names) for c in item_channels(item)]


def item_channels(item: QueueItem) -> list[str]:
    """Every "platform:channel" the item was seen in, once each, first seen first."""
    return list(dict.fromkeys([f"{m.ref.platform}:{m.ref.channel}" for m in item.messages] or [item.channel]))


def timeout_choices(item: QueueItem) -> Reply:
    """Remove + timeout pressed: the moderator picks how long (AutoMod's lengths)."""
    return Reply(title=f"Remove + timeout: queue item #{item.id}",
                 text="How long should the author be timed out? The messages are removed as well.",
                 buttons=tuple(Button(label, f"queue:{item.id}:timeout:{seconds}", "danger")
                               for seconds, label in TIMEOUTS.items()))


def decision_text(item: QueueItem) -> str:
    """The decision as the post and the mod log say it, with the timeout length picked."""
    label = decision_label(item.status)
    return f"{label} ({TIMEOUTS.get(item.timeout_seconds, age(item.timeout_seconds))})" if (
        item.status == "timed_out" and item.timeout_seconds) else label


def already_decided(item: QueueItem) -> Reply:
    """The answer to a moderator who pressed a button after someone else decided."""
    who = item.decided_by_name or item.decided_by or "another moderator"
    return error_reply(f"Already decided by {who} at {when(item.decided_at)} "
                       f"({decision_label(item.status).lower()}). Nothing was changed.")


def queue_list(total: int, items: list[WaitingItem]) -> Reply:
    """/modqueue: the newest open items, one line each, with a button to review each."""
    if not items:
        return Reply(title="Review queue", text="Nothing is waiting for review.")
    now = time.time()
    lines = []
    for it in items:
        first = it.reasons[0] if it.reasons else {"rule": "?", "detail": "no reasons"}
        extras = []
        if it.report_count:
            extras.append(f"reported ×{it.report_count}")
        if it.seen_count > 1:
            extras.append(f"seen ×{it.seen_count}")
        if it.auto_removed:
            extras.append("auto-removed")
        if it.claimed_by_name:
            extras.append(f"{it.claimed_by_name} is on it")
        lines.append(f"#{it.id} · {it.author_name or it.author or 'unknown'} · score {it.score:.2f} · "
                     f"{first['rule']}: {first['detail']} · {age(now - it.created_at)} ago"
                     + (f" · {', '.join(extras)}" if extras else ""))
    more = f"\nShowing the newest {len(items)} of {total}." if total > len(items) else ""
    return Reply(title=f"Review queue: {total} waiting", text="\n".join(lines) + more,
                 buttons=tuple(Button(f"Review #{it.id}", f"queue:{it.id}:show") for it in items))


def stats_reply(history: list[ItemHistory], scanner: Scanner, scanning: str) -> Reply:
    """/modstats: items by decision, response times, each rule's precision, what was learned, scanning state."""
    by_status: dict[str, int] = {}
    reported = 0
    waits: list[float] = []
    per_rule: dict[str, list[int]] = {}  # rule -> [decided spam, decided not spam]
    for h in history:
        by_status[h.status] = by_status.get(h.status, 0) + 1
        reported += h.source == "report"
        if h.decided_at is not None:
            waits.append(max(0.0, h.decided_at - h.created_at))
        if h.status in (*SPAM_STATUSES, "not_spam"):
            column = 0 if h.status in SPAM_STATUSES else 1
            for rule in {x.get("rule", "?") for x in h.reasons}:
                per_rule.setdefault(rule, [0, 0])[column] += 1
    counts = " · ".join(f"{STATUS_NAMES.get(s, s)} {by_status.get(s, 0)}" for s in STATUS_NAMES)
    fields: list[tuple[str, str]] = [("Items", f"{len(history)} in all ({reported} from member reports): {counts}")]
    if waits:
        fields.append(("Response time", f"median {age(statistics.median(waits))}, slowest {age(max(waits))} "
                                        f"({len(waits)} decided)"))
    if per_rule:
        lines = []
        for rule, (spam, ham) in sorted(per_rule.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0])):
            lines.append(f"{rule}: {spam} spam / {ham} not spam ({spam / (spam + ham):.0%} precision)")
        fields.append(("Per rule (decided spam / not spam)", "\n".join(lines)[:1000]))
    ham_docs, spam_docs = scanner.model.documents
    fields.append(("Learning", f"model learned from {spam_docs} spam and {ham_docs} not-spam decisions"
                               f"{'' if scanner.model.ready else ' (not used until 5 of each)'}; "
                               f"{len(scanner.known_spam_fingerprints())} known-spam fingerprints"))
    fields.append(("Scanning", scanning))
    return Reply(title="Moderation figures", text="Queue items by decision, how fast they were decided, and "
                 "how often each rule was right.", fields=tuple(fields))


def scanning_state(rules: SpamRules, *, scanning: bool, enabled: bool, problem: str | None) -> str:
    """Whether messages are scanned, and with which rules or why not."""
    if scanning:
        auto = f", auto-remove at {rules.auto_threshold:g}" if rules.auto_threshold is not None else ""
        return f"on: {rules.source} (threshold {rules.threshold:g}{auto})"
    if not enabled:
        return "off (spam.enabled is false); reports still reach the queue"
    return f"OFF: {problem}"


def decision_label(status: str) -> str:
    """How a stored status reads in the queue post ("Removed and timed out")."""
    return next((label for stored, label in DECISIONS.values() if stored == status), status)


def reason_line(reason: dict[str, Any]) -> str:
    weight = float(reason.get("weight") or 0.0)
    detail = str(reason.get("detail", ""))
    if weight == 0:
        return detail
    return f"{weight:+.2f} {detail}"


def channel_label(channel: str, names: dict[str, str] | None = None) -> str:
    """A stored "platform:channel" as "#name (platform)", the id standing in for a name nobody told us."""
    platform, _, name = channel.partition(":")
    return f"#{(names or {}).get(channel) or name} ({platform})" if name else channel


def when(ts: float | None) -> str:
    if ts is None:
        return "an unknown time"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86_400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} d"
