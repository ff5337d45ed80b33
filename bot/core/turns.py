"""Turns across processes: wait until a name is free, then hold it for a while, whichever process asks.

A platform limit that counts per bot, not per connection (Discord allows one gateway IDENTIFY per bucket every
5 seconds), has to be shared by every `bot run` process on the database. The claim is one write transaction, so
on SQLite (one writer) and on PostgreSQL (every write transaction takes the same advisory lock) two processes
never both see the name free. Clocks of the hosts are assumed to agree to well under the spacing (NTP).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.core.storage import Storage


async def take_turn(storage: Storage, name: str, every: float, *, clock: Callable[[], float] = time.time,
                    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> float:
    """Wait until `name` is free, then claim it for `every` seconds; returns how long it waited."""
    waited = 0.0
    while True:
        now = clock()
        async with storage.transaction() as db:
            rows = list(await db.execute_fetchall("SELECT free_at FROM turns WHERE name = ?", (name,)))
            free_at = float(rows[0][0]) if rows else 0.0
            if free_at <= now:
                await db.execute("INSERT INTO turns(name, free_at) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                                 "free_at = excluded.free_at", (name, now + every))
                return waited
        # Another process holds it: wait out its turn (never longer than one turn, in case its clock is ahead).
        delay = min(free_at - now, every)
        await sleep(delay)
        waited += delay
