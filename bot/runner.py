"""`bot run`: every enabled platform in one event loop, sharing one core and one database."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterable

from bot.config import Config, missing_settings
from bot.core.contract import Adapter, Feature, StartupError
from bot.core.core import Core
from bot.core.ratelimit import Limit, Limits
from bot.core.storage import Storage
from bot.features import bundled
from bot.logs import setup_logging

log = logging.getLogger("bot.run")


async def open_core(cfg: Config, extra_features: Iterable[Feature] = ()) -> Core:
    """Open the database and load every bundled feature; raises with a clear message if content is broken.

    `extra_features` join the bundled ones (tests use it to add probe commands)."""
    storage = await Storage.open(cfg.resolve_path(cfg.storage.path))
    try:
        features = bundled(cfg, storage)
    except Exception:
        await storage.close()
        raise
    limits = Limits(any=Limit(cfg.limits.commands_per_minute, 60.0),
                    by_name={"poll": Limit(cfg.limits.polls_per_hour, 3600.0),
                             "report": Limit(cfg.limits.reports_per_hour, 3600.0)})
    return Core(storage, [*features, *extra_features], limits)


def build_adapters(core: Core, cfg: Config) -> list[Adapter]:
    adapters: list[Adapter] = []
    if cfg.discord.enabled:
        from bot.adapters.discord import DiscordAdapter

        adapters.append(DiscordAdapter(core, cfg.discord))
    if cfg.slack.enabled:
        from bot.adapters.slack import SlackAdapter

        adapters.append(SlackAdapter(core, cfg.slack))
    return adapters


async def serve(cfg: Config, stop: asyncio.Event | None = None) -> int:
    """Start the enabled adapters, run until `stop` is set (SIGTERM / Ctrl-C), then shut down in order."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    core = await open_core(cfg)
    adapters = build_adapters(core, cfg)
    for adapter in adapters:
        core.attach(adapter)
    started: list[Adapter] = []
    code = 0
    try:
        for adapter in adapters:
            try:
                await adapter.start()
            except StartupError as exc:
                log.error("%s could not start: %s", adapter.platform, exc)
                print(f"error: {adapter.platform} could not start: {exc}", file=sys.stderr)
                code = 1
                return code
            started.append(adapter)
            log.info("%s adapter started", adapter.platform)
        await core.start()
        log.info("bot running on %s", ", ".join(a.platform for a in started))
        stopping = asyncio.create_task(stop.wait())
        watchers = {asyncio.create_task(a.lost(), name=a.platform): a for a in started}
        done, _ = await asyncio.wait({stopping, *watchers}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopping, *watchers):
            task.cancel()
        for watcher, adapter in watchers.items():
            if watcher in done and not watcher.cancelled() and watcher.exception() is None:
                log.error("%s connection lost for good: %s; exiting so the process manager restarts the bot",
                          adapter.platform, watcher.result())
                code = 1
        log.info("shutting down")
    finally:
        # Adapters stop taking events first; then the core finishes (flushing poll edits through the still
        # open connections) and closes the database; only then do the connections close.
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("%s did not stop cleanly", adapter.platform)
        await core.close()
        for adapter in reversed(started):
            try:
                await adapter.close()
            except Exception:
                log.exception("%s did not close cleanly", adapter.platform)
    return code


def run(cfg: Config) -> int:
    setup_logging(cfg.log_level, cfg)
    problems = missing_settings(cfg)
    if problems:
        print("cannot start:\n" + "\n".join(f"  {p}" for p in problems), file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(cfg))
    except KeyboardInterrupt:
        return 0
