"""The two contracts of the framework: what every platform implements (`Adapter`) and what every feature offers
(`Feature`), plus what a feature may ask of the core (`Host`).

The core calls an adapter's `post`, `update`, `delete` and `restrict` on a feature's behalf; everything else an
adapter does is translating its platform's events into `Invocation`, `Action` and `IncomingMessage`. A feature
declares its commands, buttons and completers with the decorators in `bot.core.commands` and may override the
hooks below; it reaches platforms only through its `Host`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

from bot.core.meter import Meter, NullMeter
from bot.core.records import MessageRef, Place, Reply, Role


class StartupError(Exception):
    """A platform refused to start (bad token, unreachable API); the message is the platform's reason."""


class SetupError(Exception):
    """Settings or admin-edited content a person must fix before the bot can start; the message says where."""


class PlatformUnavailable(Exception):
    """No adapter is connected for the platform a feature wanted to act on."""

    def __init__(self, platform: str) -> None:
        super().__init__(f"{platform} is not connected")
        self.platform = platform


@dataclass(frozen=True)
class IncomingMessage:
    """A message a member posted in a channel the bot can read (for spam scanning)."""

    ref: MessageRef
    author_id: str  # platform-qualified
    author_name: str
    text: str
    ts: float
    link: str = ""
    author_joined_ts: float | None = None
    mass_mentions: int = 0
    author_role: Role = Role.MEMBER  # from the platform's staff settings, like a command's member
    mentions: frozenset[str] = frozenset()  # the distinct members and roles it mentions (platform ids)
    guild: str | None = None  # Discord guild / Slack team, which decides the community

    @property
    def place(self) -> Place:
        return Place(self.ref.platform, self.ref.channel, self.guild)


DEFAULT_COMMUNITY = ""


@dataclass(frozen=True)
class Staff:
    """Who moderates one community on one platform and where: given to each adapter by the runner from its own
    config section. A deployment serves the default community (every server or workspace not configured on its
    own) and any number of communities each named "<platform>:<guild or team id>"."""

    place: Place | None = None  # the moderators' channel, where queue items are posted
    setting: str = "a moderators' channel"  # the config key that names it, for log messages
    moderator_ids: frozenset[str] = frozenset()  # platform role / user / group ids
    admin_ids: frozenset[str] = frozenset()
    community: str = DEFAULT_COMMUNITY
    audit: Place | None = None  # where each moderator decision is also posted, when configured per community


def community_name(platform: str, guild: str) -> str:
    """The name a community configured on its own is stored under ("discord:1234", "slack:T0123")."""
    return f"{platform}:{guild}"


class Adapter(ABC):
    """One platform. Subclasses translate; they hold no rules of their own."""

    platform: str = "?"
    staff: Staff = Staff()  # the default community's
    # Servers / workspaces configured on their own: guild or team id -> their Staff (community_name(...)).
    communities: dict[str, Staff] = {}

    def staff_for(self, guild: str | None) -> Staff:
        """The staff of the community a guild (Discord server, Slack team) belongs to."""
        return self.communities.get(guild or "", self.staff)

    def community_staff(self, community: str) -> Staff | None:
        """The staff of a community by its name; None when this platform does not serve it."""
        if community == DEFAULT_COMMUNITY:
            return self.staff
        return next((s for s in self.communities.values() if s.community == community), None)

    @abstractmethod
    async def start(self) -> None:
        """Connect and begin delivering events to the core; returns once connected.

        Raises StartupError with the platform's reason (never a token) when it cannot."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop taking events and let in-flight ones finish; posting and editing still work afterwards."""

    async def lost(self) -> str:
        """Return (with the reason) if the connection dies for good after start; wait forever otherwise.

        Transient drops are the platform library's to retry. `bot run` exits non-zero when this returns, so
        the process manager restarts the bot instead of leaving a platform silently offline."""
        await asyncio.Event().wait()
        return ""

    @property
    def connected(self) -> bool:
        """Whether the platform connection is up right now (for health checks); adapters without one (console)
        are always connected."""
        return True

    async def close(self) -> None:
        """Close the platform connection. Called after the core has flushed its last edits through `update`."""
        return None  # adapters without a connection (console) have nothing to close

    @abstractmethod
    async def post(self, place: Place, reply: Reply) -> MessageRef:
        """Post a public message and return a reference to edit it later."""

    @abstractmethod
    async def update(self, ref: MessageRef, reply: Reply) -> None:
        """Replace the content of a message the bot posted."""

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> None:
        """Show `reply` to one member only, about something they posted in `place`: a message only they see where
        the platform has one, else a direct message. `member_id` is platform-qualified."""
        raise NotImplementedError(f"{self.platform} cannot send private messages")

    async def delete(self, ref: MessageRef) -> None:
        """Delete a message (the bot's own, or a member's when it has the permission)."""
        raise NotImplementedError(f"{self.platform} cannot delete messages")

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        """Time out or otherwise restrict a member (minutes=0 lifts it); returns what was done, for the audit log."""
        raise NotImplementedError(f"{self.platform} cannot restrict members")

    async def channel_name(self, channel: str) -> str:
        """The channel's name as members see it (without '#'); the id itself where the platform has no other."""
        return channel

    async def guild_of(self, channel: str) -> str | None:
        """The server / workspace a channel belongs to, when the platform can tell; None otherwise."""
        return None


class Host(Protocol):
    """What a feature may ask of the core: show things on a platform, find the moderators, report figures."""

    meter: Meter  # where the feature reports what it measures (bot.core.meter.CATALOGUE)

    async def post(self, place: Place, reply: Reply) -> MessageRef | None:
        """Post publicly; None when that platform is not connected."""

    async def update(self, ref: MessageRef, reply: Reply) -> bool:
        """Edit a message the bot posted; False when that platform is not connected."""

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> bool:
        """Show a reply to one member only; False when that platform is not connected."""

    async def delete(self, ref: MessageRef) -> None:
        """Delete a message; raises PlatformUnavailable, or NotImplementedError where the platform cannot."""

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        """Time a member out (0 lifts it); raises PlatformUnavailable, or NotImplementedError where it cannot."""

    async def channel_name(self, place: Place) -> str:
        """The channel's name as members see it; its id when the platform is not connected or won't say."""

    async def locate(self, place: Place) -> Place:
        """`place` with its server / workspace filled in when the platform can tell (for community checks)."""

    def staff(self, platform: str, community: str = DEFAULT_COMMUNITY) -> Staff:
        """Who moderates `community` on `platform` and where (an empty Staff when it is not connected)."""

    def community(self, place: Place) -> str:
        """The community a place belongs to (DEFAULT_COMMUNITY unless its server or workspace has its own)."""

    def has_communities(self, platform: str) -> bool:
        """Whether any server or workspace of `platform` is configured as a community of its own."""


class _Detached:
    """The host of a feature no core has attached (CLI tools): nothing is connected, nothing is measured."""

    meter: Meter = NullMeter()

    async def post(self, place: Place, reply: Reply) -> MessageRef | None:
        return None

    async def update(self, ref: MessageRef, reply: Reply) -> bool:
        return False

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> bool:
        return False

    async def delete(self, ref: MessageRef) -> None:
        raise PlatformUnavailable(ref.platform)

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        raise PlatformUnavailable(place.platform)

    async def channel_name(self, place: Place) -> str:
        return place.channel

    async def locate(self, place: Place) -> Place:
        return place

    def staff(self, platform: str, community: str = DEFAULT_COMMUNITY) -> Staff:
        return Staff(community=community)

    def community(self, place: Place) -> str:
        return DEFAULT_COMMUNITY

    def has_communities(self, platform: str) -> bool:
        return False


class Feature:
    """A unit of behaviour: its commands, buttons and completers (declared with the decorators in
    `bot.core.commands`) and these optional hooks, all no-ops by default."""

    name: ClassVar[str] = "feature"
    host: Host = _Detached()

    def attach(self, host: Host) -> None:
        """Called once by the core before `start`; keep `host` to post, edit, delete and find moderators."""
        self.host = host

    async def start(self) -> None:
        """Resume anything that was pending when the process last stopped (timers, learned state)."""

    async def stop(self) -> None:
        """Finish pending work (flush edits, cancel timers) before the database closes."""

    async def on_message(self, message: IncomingMessage) -> None:
        """A member posted a message in a channel the bot reads."""

    async def gauges(self) -> dict[str, float]:
        """Current levels to export (gauge names of bot.core.meter.CATALOGUE), read when metrics are scraped."""
        return {}
