"""Acknowledging Slack in time: after the work is written when it finishes within the deadline, so a process killed
after Slack heard "ok" has already written the vote, decision, report or poll."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from bot.core.records import Reply, error_reply

# Slack shows an error if a button press or form is not acknowledged within 3 seconds. The core's write (group
# commit) takes milliseconds; past this, the member is told the truth instead of being left with a spinner.
ACK_DEADLINE = 2.5
TOO_SLOW = ("Sorry, that is taking longer than Slack allows. It may not have been saved: please check in a moment "
            "and try again if needed.")


class AckOnce:
    """Acknowledge exactly once: after the work when it finishes in time, else when the deadline passes or on
    the way out whatever happened (so Slack never waits the full 3 seconds for nothing)."""

    def __init__(self, ack: Any) -> None:
        self._ack = ack
        self.done = False

    async def now(self) -> None:
        if not self.done:
            self.done = True
            await self._ack()

    async def __aenter__(self) -> AckOnce:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.now()


async def written_before_ack(work: Awaitable[Reply], acked: AckOnce) -> Reply:
    """Run the core's work (which commits what it changes), then acknowledge: a process killed after Slack heard
    "ok" has already written the vote, decision, report or poll. The work is shielded: past the deadline it still
    finishes, but the member is not told it did."""
    task = asyncio.ensure_future(work)
    try:
        reply = await asyncio.wait_for(asyncio.shield(task), ACK_DEADLINE)
    except TimeoutError:
        await acked.now()
        return error_reply(TOO_SLOW)
    await acked.now()
    return reply
