"""Platform-neutral records that flow between adapters and the core.

Adapters build `Member`, `Place`, `Invocation` and `Action` from platform events, hand them to the core and
render the `Reply` they get back. Nothing here knows about Discord or Slack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from textwrap import indent

MIN_REPEATED = 8  # a title shorter than this ("FDA") may be in a citation without being repeated there


class Role(IntEnum):
    """What a member may do; higher values include the lower ones."""

    MEMBER = 0
    MODERATOR = 1
    ADMIN = 2

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r} (expected member, moderator or admin)") from None


@dataclass(frozen=True)
class Member:
    """A person on one platform. `id` is platform-qualified ("discord:1234", "slack:U0123")."""

    id: str
    name: str
    role: Role = Role.MEMBER
    platform_roles: frozenset[str] = frozenset()

    @property
    def platform(self) -> str:
        return self.id.split(":", 1)[0]


@dataclass(frozen=True)
class Place:
    """Where something happened or should be posted: a channel on one platform."""

    platform: str
    channel: str
    guild: str | None = None  # Discord guild / Slack team, when known


@dataclass(frozen=True)
class MessageRef:
    """A message the bot posted, so it can be edited or deleted later (persisted as text)."""

    platform: str
    channel: str
    message: str

    def encode(self) -> str:
        return f"{self.platform}|{self.channel}|{self.message}"

    @classmethod
    def decode(cls, text: str) -> MessageRef:
        platform, channel, message = text.split("|", 2)
        return cls(platform, channel, message)


@dataclass(frozen=True)
class Invocation:
    """A command a member typed: `/faq question:...` becomes name="faq", args={"question": ...}."""

    name: str
    member: Member
    place: Place
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """A button press. `action_id` carries what it acts on ("faq:show:nasal-spray", "poll:42:vote:3")."""

    action_id: str
    member: Member
    place: Place
    message: MessageRef | None = None


@dataclass(frozen=True)
class Source:
    title: str
    url: str | None = None
    citation: str | None = None

    @property
    def detail(self) -> str | None:
        """The citation without the title repeated in it, for showing after the title: "Journal X, Article
        title, 2014" under the title "Article title" reads "Journal X, 2014"; None when nothing else is left."""
        if not self.citation:
            return None
        text = self.citation.strip()
        if text.casefold() == self.title.strip().casefold():
            return None
        name = re.sub(r"\s*\([^()]*\)$", "", self.title.strip())  # "Article (Author)" is cited as "Article"
        for repeated in dict.fromkeys((self.title.strip(), name)):
            at = text.casefold().find(repeated.casefold()) if len(repeated) >= MIN_REPEATED else -1
            if at >= 0:
                before, after = text[:at].rstrip(" ,;:—–-"), text[at + len(repeated):].lstrip(" ,;:—–-")
                text = ", ".join(p for p in (before, after) if p)
                break
        return text or None


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    style: str = "secondary"  # primary | secondary | danger | success


@dataclass(frozen=True)
class Image:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Reply:
    """What the core answers. All text is plain text; adapters escape it for their markup."""

    text: str
    title: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    sources: tuple[Source, ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str | None = None
    ephemeral: bool = True
    image: Image | None = None
    # When an action should edit the message it came from rather than answer separately.
    replace_original: bool = False

    def plain(self) -> str:
        """The reply as plain text (console, logs, tests)."""
        lines: list[str] = []
        if self.title:
            lines.append(f"== {self.title} ==")
        if self.text:
            lines.append(self.text)
        for name, value in self.fields:
            # A list ("• a\n• b", one reason per line) starts on its own line, indented under its name.
            lines.append(f"{name}:\n" + indent(value, "  ") if "\n" in value else f"{name}: {value}")
        if self.sources:
            lines.append("Sources:")
            for s in self.sources:
                where = s.url or s.detail or ""
                lines.append(f"  - {s.title}" + (f" ({where})" if where else ""))
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)


def error_reply(text: str) -> Reply:
    """A short, polite, private answer for something that could not be done."""
    return Reply(text=text, ephemeral=True)


def reload_refused(what: str, still: str, problems: list[str], shown: int = 15) -> Reply:
    """An admin's reload found problems: say what is still in force and list them (file:line: problem)."""
    listed = "\n".join(problems[:shown])
    if len(problems) > shown:
        listed += f"\n… and {len(problems) - shown} more"
    return Reply(title=f"Reload refused: {what} has problems",
                 text=f"{still} Fix these and reload again:\n{listed}")
