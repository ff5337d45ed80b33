"""`bot run`'s platforms, each on its own: one that cannot start is retried in the background while the others
serve, and only one lost for good (revoked credentials) ends the process, for the process manager to restart it."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable

from bot.core.contract import Adapter, StartupError
from bot.core.core import Core

log = logging.getLogger("bot.run")

RETRY_FIRST = 5.0  # seconds before the first retry of a platform that could not start; doubled each time
RETRY_MAX = 300.0


class Platforms:
    """Starts, watches, stops and closes the enabled adapters. `down` says why a platform is not serving, for the
    health check; a platform is attached to the core only while it is up."""

    def __init__(self, core: Core, adapters: Iterable[Adapter], *, retry_first: float = RETRY_FIRST,
                 retry_max: float = RETRY_MAX) -> None:
        self.core = core
        self.adapters = list(adapters)
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.started: list[Adapter] = []
        self.down: dict[str, str] = {a.platform: "starting" for a in self.adapters}
        self._failed: dict[Adapter, str] = {}

    async def start(self) -> bool:
        """Start each platform in turn (in config order, so logs and tests read the same every time); True when at
        least one serves (the others are retried by `watch`)."""
        for adapter in self.adapters:
            try:
                await self._start_once(adapter)
            except StartupError as exc:
                log.error("%s could not start: %s", adapter.platform, exc)
                print(f"error: {adapter.platform} could not start: {exc}", file=sys.stderr)
                self._failed[adapter] = str(exc)
            else:
                log.info("%s adapter started", adapter.platform)
        if self.started and self._failed:
            log.warning("serving %s while %s is retried in the background", self._names(self.started),
                        self._names(self._failed))
        return bool(self.started)

    async def watch(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set (0) or a started platform is lost for good (1), restarting failed ones."""
        stopping: asyncio.Task[object] = asyncio.create_task(stop.wait())
        watchers: dict[asyncio.Task[object], Adapter] = {asyncio.create_task(a.lost(), name=a.platform): a
                                                         for a in self.started}
        retries: dict[asyncio.Task[object], Adapter] = {asyncio.create_task(self._retry(a, why)): a
                                                        for a, why in self._failed.items()}
        try:
            while True:
                done, _ = await asyncio.wait({stopping, *watchers, *retries}, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    return 0
                for task in done & watchers.keys():
                    error = task.exception()
                    why = repr(error) if error is not None else task.result()
                    log.error("%s connection lost for good: %s; exiting so the process manager restarts the bot",
                              watchers[task].platform, why)
                    return 1
                for task in done & retries.keys():
                    adapter = retries.pop(task)
                    watchers[asyncio.create_task(adapter.lost(), name=adapter.platform)] = adapter
        finally:
            pending = [stopping, *watchers, *retries]
            for task in pending:
                task.cancel()
            # A retry cancelled inside start() closes what it opened before this returns.
            await asyncio.gather(*pending, return_exceptions=True)

    async def stop(self) -> None:
        """Stop taking events on every started platform (posting and editing still work until `close`)."""
        for adapter in reversed(self.started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("%s did not stop cleanly", adapter.platform)

    async def close(self) -> None:
        for adapter in reversed(self.started):
            try:
                await adapter.close()
            except Exception:
                log.exception("%s did not close cleanly", adapter.platform)

    async def _start_once(self, adapter: Adapter) -> None:
        # Attached before starting, so that an event arriving the moment it connects finds its staff settings.
        self.core.attach(adapter)
        try:
            await adapter.start()
        except BaseException:
            self.core.detach(adapter)
            raise
        self.started.append(adapter)
        self.started.sort(key=self.adapters.index)
        self.down.pop(adapter.platform, None)

    async def _retry(self, adapter: Adapter, why: str) -> None:
        delay, attempt = self.retry_first, 1
        while True:
            self.down[adapter.platform] = f"could not start: {why} (next try in {delay:g}s)"
            await asyncio.sleep(delay)
            attempt += 1
            try:
                await self._start_once(adapter)
            except StartupError as exc:
                why = str(exc)
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
                log.exception("%s failed to start", adapter.platform)
            else:
                log.info("%s adapter started on attempt %d", adapter.platform, attempt)
                self.core.meter.count("reconnects", platform=adapter.platform)
                return
            log.error("%s could not start (attempt %d): %s", adapter.platform, attempt, why)
            delay = min(delay * 2, self.retry_max)

    @staticmethod
    def _names(adapters: Iterable[Adapter]) -> str:
        return ", ".join(a.platform for a in adapters)
