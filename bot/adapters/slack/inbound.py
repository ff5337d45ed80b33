"""Slack payloads -> the core's records: who sent a request and from where, command and form arguments, the
message a shortcut or button acted on, IncomingMessage; and Slack markup -> the plain text the core expects.

Pure translation: no network, no rules. Reading a member's user groups and display name needs the Web API; that
is people.py.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from bot.adapters.base import FORM_PREFIX
from bot.core.contract import IncomingMessage
from bot.core.records import MessageRef, Place

# Message subtypes that are a member posting something; edits, joins, bot posts etc. are not.
MEMBER_SUBTYPES = {None, "file_share", "thread_broadcast"}


@dataclass(frozen=True)
class Sender:
    """Who sent a request (a Slack user id and, when the payload says, their name) and where from."""

    user: str
    name: str | None
    channel: str
    team: str | None

    @property
    def place(self) -> Place:
        return Place("slack", self.channel, self.team)


def _user(body: dict[str, Any]) -> dict[str, Any]:
    return body.get("user") or {}


def _name(user_info: dict[str, Any]) -> str | None:
    return user_info.get("username") or user_info.get("name")


def command_sender(body: dict[str, Any]) -> Sender:
    """A slash command's sender (its form-encoded body names them flat)."""
    return Sender(body.get("user_id", ""), body.get("user_name"), body.get("channel_id", ""), body.get("team_id"))


def command_text(body: dict[str, Any]) -> str:
    return to_plain(body.get("text") or "")


def form_metadata(channel: str, team: str | None) -> str:
    """What a form carries to its submission: where the command was run (a modal has no channel of its own)."""
    return json.dumps({"channel": channel, "team": team})


def form_sender(body: dict[str, Any], view: dict[str, Any]) -> Sender:
    """A form submission's sender, in the channel the form was opened from."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    user_info = _user(body)
    team = meta.get("team") or (body.get("team") or {}).get("id")
    return Sender(user_info.get("id", ""), _name(user_info), meta.get("channel", ""), team)


def form_command(view: dict[str, Any]) -> str:
    """The command a submitted form belongs to."""
    return str(view.get("callback_id", "")).removeprefix(FORM_PREFIX)


def form_values(view: dict[str, Any]) -> dict[str, str | None]:
    """block_id (the option name) -> the value typed into a submitted form."""
    state = (view.get("state") or {}).get("values") or {}
    return {block: ((inputs or {}).get("value") or {}).get("value") for block, inputs in state.items()}


def shortcut_sender(body: dict[str, Any]) -> Sender:
    user_info = _user(body)
    return Sender(user_info.get("id", ""), _name(user_info), (body.get("channel") or {}).get("id", ""),
                  (body.get("team") or {}).get("id"))


def shortcut_args(body: dict[str, Any], link: str) -> dict[str, str]:
    """The arguments of a message shortcut: the message it was run on (`link` from `permalink`)."""
    message = body.get("message") or {}
    author = message.get("user") or message.get("bot_id") or ""
    return {
        "text": to_plain(message.get("text") or ""),
        "author": f"slack:{author}",
        "channel": shortcut_sender(body).channel,
        "message": shortcut_ts(body),
        "link": link,
    }


def shortcut_ts(body: dict[str, Any]) -> str:
    return str((body.get("message") or {}).get("ts") or body.get("message_ts") or "")


def pressed_value(action: dict[str, Any]) -> str:
    """The core's action id a button (or menu option) carries."""
    return (action.get("value") or (action.get("selected_option") or {}).get("value")
            or action.get("action_id") or "")


def action_sender(body: dict[str, Any]) -> Sender:
    user_info = _user(body)
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    team = (body.get("team") or {}).get("id") or user_info.get("team_id")
    return Sender(user_info.get("id", ""), _name(user_info), channel, team)


def pressed_on(body: dict[str, Any], channel: str) -> MessageRef | None:
    """The message a pressed button is on."""
    container = body.get("container") or {}
    ts = str((body.get("message") or {}).get("ts") or container.get("message_ts") or "")
    return MessageRef("slack", channel, ts) if ts else None


def pressed_in_private(body: dict[str, Any]) -> bool:
    """Whether the button is on an ephemeral message (only response_url can edit those)."""
    return bool((body.get("container") or {}).get("is_ephemeral"))


def is_member_post(event: dict[str, Any]) -> bool:
    """A message a member posted in a channel (not an edit, join, bot post or direct message)."""
    if event.get("subtype") not in MEMBER_SUBTYPES or event.get("bot_id") or not event.get("user"):
        return False
    return event.get("channel_type") not in ("im", "mpim")


def incoming_message(event: dict[str, Any], author_name: str, link: str) -> IncomingMessage:
    """A member's message event (see `is_member_post`) for the core's watchers."""
    channel, ts, user = event.get("channel", ""), str(event.get("ts", "")), event["user"]
    raw = event.get("text") or ""
    try:
        when = float(ts)
    except ValueError:
        when = time.time()
    return IncomingMessage(
        ref=MessageRef("slack", channel, ts),
        author_id=f"slack:{user}",
        author_name=author_name,
        text=to_plain(raw),
        ts=when,
        link=link,
        mass_mentions=count_mass_mentions(raw),
        mentions=mentioned(raw),
    )


def permalink(base: str, channel: str, ts: str, thread_ts: str | None = None) -> str:
    """A link to a message, built without an API call (https://TEAM.slack.com/archives/C…/p…)."""
    if not base or not channel or not ts:
        return ""
    link = f"{base}/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


# -- Slack markup -> the plain text the core expects -----------------------------------------------------------

_MARKUP = re.compile(r"<([^<>]*)>")
_MASS_MENTION = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>")


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>|<!subteam\^([A-Z0-9]+)(\|[^>]*)?>")


def mentioned(raw: str) -> frozenset[str]:
    """The distinct members (<@U…>) and user groups (<!subteam^S…>) a raw Slack message mentions."""
    return frozenset(m.group(1) or m.group(3) for m in _MENTION.finditer(raw or ""))


def count_mass_mentions(raw: str) -> int:
    """How many @channel / @here / @everyone a raw Slack message really contains (typed text is escaped)."""
    return len(_MASS_MENTION.findall(raw or ""))


def _markup_to_plain(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # <@U123> or <@U123|maria>
        return "@" + (label or target[1:])
    if target.startswith("#"):  # <#C123|general>
        return "#" + (label or target[1:])
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^S123|@mods>, <!date^...|fallback>
        name = target[1:].split("^", 1)[0]
        if name in ("here", "channel", "everyone"):
            return "@" + name
        if name == "subteam":
            return label if label.startswith("@") else "@" + (label or "group")
        return label or name
    if label and label != target and label not in target:
        return f"{label} ({target})"
    return target


def to_plain(raw: str) -> str:
    """Slack message/command text as the plain text a member typed: markup decoded, entities unescaped."""
    text = _MARKUP.sub(_markup_to_plain, raw or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
