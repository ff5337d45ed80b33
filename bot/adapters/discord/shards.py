"""Gateway sharding: which shards this process runs, how fast they may identify, and whether all are connected.

Discord requires a bot in more than 2,500 servers to split its gateway connection into shards; each server's
events arrive on shard `(guild_id >> 22) % shard_count`. discord.py's AutoShardedClient runs the shards; several
`bot run` processes may each run some of them (`discord.shard_ids`) on one database, which keeps work exactly-once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.config import DiscordConfig

log = logging.getLogger("bot.discord")

IDENTIFY_WINDOW = 5.0  # seconds: Discord allows one IDENTIFY per rate-limit bucket in this window


def shard_options(cfg: DiscordConfig) -> dict[str, Any]:
    """AutoShardedClient's options: no shard_count lets Discord recommend one at connect (GET /gateway/bot)."""
    options: dict[str, Any] = {"shard_count": cfg.shard_count}
    if cfg.shard_ids:
        options["shard_ids"] = list(cfg.shard_ids)
    return options


# (turn name, seconds) -> waits for that turn across every process on the database (Core.turn)
Turns = Callable[[str, float], Awaitable[float]]


class IdentifyPacer:
    """Spaces IDENTIFYs as Discord asks: `max_concurrency` buckets (shard_id % max_concurrency), each allowing one
    IDENTIFY per 5 seconds, per bot: with `turns` the buckets are shared by every process on the database (each
    running some shard_ids), otherwise kept in this process. Large bots get several buckets, so their shards
    connect in parallel windows."""

    def __init__(self, max_concurrency: int = 1, turns: Turns | None = None, window: float = IDENTIFY_WINDOW) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.turns = turns
        self.window = window
        self._last: dict[int, float] = {}

    async def wait(self, shard_id: int | None) -> None:
        bucket = (shard_id or 0) % self.max_concurrency
        if self.turns is not None:
            try:
                await self.turns(f"discord-identify:{bucket}", self.window)
                return
            except Exception as exc:  # the database is down: pace this process alone rather than not connect
                log.warning("could not take the IDENTIFY turn through the database (%s); pacing this process alone",
                            exc)
        loop = asyncio.get_running_loop()
        delay = self._last.get(bucket, -math.inf) + self.window - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        self._last[bucket] = loop.time()


def pacer_for(cfg: DiscordConfig, recommended: int, limits: Mapping[str, Any],
              turns: Turns | None = None) -> IdentifyPacer:
    """The pacer for what GET /gateway/bot said; warns when Discord wants more shards than configured."""
    if cfg.shard_count is not None and recommended > cfg.shard_count:
        log.warning("Discord recommends %d shards but discord.shard_count is %d: raise it on every process",
                    recommended, cfg.shard_count)
    return IdentifyPacer(int(limits.get("max_concurrency", 1)), turns)


class ShardStates:
    """Which shards are up; a shard that comes back after going down counts as a reconnect."""

    def __init__(self) -> None:
        self._up: set[int] = set()
        self._dropped: set[int] = set()

    def reset(self) -> None:
        self._up.clear()
        self._dropped.clear()

    def up(self, shard_id: int) -> bool:
        """Mark the shard connected; True when it had dropped (a reconnect)."""
        self._up.add(shard_id)
        was_dropped = shard_id in self._dropped
        self._dropped.discard(shard_id)
        return was_dropped

    def down(self, shard_id: int) -> None:
        if shard_id in self._up:
            self._up.discard(shard_id)
            self._dropped.add(shard_id)

    @property
    def all_up(self) -> bool:
        return bool(self._up) and not self._dropped
