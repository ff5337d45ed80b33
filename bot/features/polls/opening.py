"""Polls scheduled to open later: a timer per poll that shows its vote buttons when the time comes.

Votes before the opening are refused by the store whatever the timers do, so a timer lost to a crash only delays
the buttons' appearance until the next start, when every open scheduled poll is shown again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.core.storage import Storage

log = logging.getLogger(__name__)


class Openings:
    """`on_open(poll_id)` runs once a scheduled poll's opening time has come (it re-renders every copy)."""

    def __init__(self, storage: Storage, on_open: Callable[[int], Awaitable[object]]) -> None:
        self.storage = storage
        self._on_open = on_open
        self._timers: dict[int, asyncio.Task[None]] = {}

    async def resume(self) -> None:
        """Arm every open poll that was scheduled; one whose time passed while the bot was down is shown now."""
        rows = await self.storage.fetchall("SELECT id, opens_at FROM polls WHERE closed_at IS NULL AND "
                                           "opens_at IS NOT NULL")
        for row in rows:
            self.arm(row["id"], row["opens_at"])

    def arm(self, poll_id: int, opens_at: float) -> None:
        old = self._timers.pop(poll_id, None)
        if old is not None:
            old.cancel()
        self._timers[poll_id] = asyncio.create_task(self._open_at(poll_id, opens_at))

    async def stop(self) -> None:
        timers = list(self._timers.values())
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        self._timers.clear()

    async def _open_at(self, poll_id: int, opens_at: float) -> None:
        await asyncio.sleep(max(0.0, opens_at - time.time()) + 0.05)  # just past it: the store's check agrees
        try:
            await self._on_open(poll_id)
        except Exception:
            log.exception("opening poll %s failed", poll_id)
        finally:
            self._timers.pop(poll_id, None)
