"""How a wellbeing item reads in the moderators' channel and in /wellbeing."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.records import Button, Reply
from bot.features.wellbeing.store import WellbeingItem

TITLE = "Wellbeing check: a member may be struggling"


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).strftime("%Y-%m-%d %H:%M UTC")


def where(item: WellbeingItem) -> str:
    if item.source == "faq":
        return "asked the FAQ privately"
    return f"wrote in #{item.channel}" if item.channel else "wrote"


def status_line(item: WellbeingItem) -> str:
    if item.status == "handled":
        return f"Handled by {item.handled_by_name} at {when(item.handled_at)}"
    if item.status == "reaching_out":
        return f"{item.reaching_by_name} is reaching out (since {when(item.reaching_at)})"
    return "Waiting for someone to reach out"


def item_reply(item: WellbeingItem) -> Reply:
    """The moderators' view: who, what they wrote, what the bot already did, and the two buttons."""
    times = f" ({item.seen_count} messages)" if item.seen_count > 1 else ""
    text = f"{item.member_name} {where(item)}{times}:\n“{item.excerpt}”"
    fields = [("Status", status_line(item)), ("Member", f"{item.member_name} ({item.member})")]
    if item.link:
        fields.append(("Link", item.link))
    buttons: tuple[Button, ...] = ()
    if item.status != "handled":
        buttons = (Button("I'll reach out", f"wellbeing:{item.id}:reach", "primary"),
                   Button("Handled", f"wellbeing:{item.id}:handled", "success"))
    return Reply(
        title=f"{TITLE} (#{item.id})", text=text, fields=tuple(fields), buttons=buttons, ephemeral=False,
        footer="They were sent crisis resources privately; their message was not hidden. If you reach out, do it "
               "kindly and in private. In immediate danger, contact emergency services.")


def listing(items: list[WellbeingItem]) -> Reply:
    if not items:
        return Reply(title="Wellbeing", text="No open wellbeing items. Thank you for looking after people.")
    lines = [f"#{i.id} · {i.member_name} · {status_line(i)} · {when(i.created_at)}" for i in items]
    buttons = tuple(Button(f"Review #{i.id}", f"wellbeing:{i.id}:show") for i in items[:5])
    return Reply(title="Wellbeing: open items", text="\n".join(lines), buttons=buttons)
