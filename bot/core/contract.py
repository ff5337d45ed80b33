"""The adapter contract: what every platform (console, Discord, Slack) implements, and nothing more.

The core calls `post`, `update` and `delete` to show polls and the moderators' queue; everything else an adapter
does is translating its platform's events into `Invocation`, `Action` and `IncomingMessage` for the core.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass

from bot.core.records import MessageRef, Place, Reply


class StartupError(Exception):
    """A platform refused to start (bad token, unreachable API); the message is the platform's reason."""


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


class Adapter(ABC):
    """One platform. Subclasses translate; they hold no rules of their own."""

    platform: str = "?"

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

    async def close(self) -> None:
        """Close the platform connection. Called after the core has flushed its last edits through `update`."""
        return None  # adapters without a connection (console) have nothing to close

    @abstractmethod
    async def post(self, place: Place, reply: Reply) -> MessageRef:
        """Post a public message and return a reference to edit it later."""

    @abstractmethod
    async def update(self, ref: MessageRef, reply: Reply) -> None:
        """Replace the content of a message the bot posted."""

    async def delete(self, ref: MessageRef) -> None:
        """Delete a message (the bot's own, or a member's when it has the permission)."""
        raise NotImplementedError(f"{self.platform} cannot delete messages")

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        """Time out or otherwise restrict a member; returns what was done, for the audit log."""
        raise NotImplementedError(f"{self.platform} cannot restrict members")
