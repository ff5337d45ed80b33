"""`bot run`: every enabled platform in one event loop, sharing one core and one database."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.config import Config, missing_settings
from bot.core.contract import Adapter, Feature, StartupError
from bot.core.core import Core
from bot.core.meter import Meter
from bot.core.ratelimit import Limit, Limits
from bot.core.storage import Storage
from bot.features import bundled
from bot.logs import setup_logging
from bot.runner_platforms import RETRY_FIRST, Platforms

if TYPE_CHECKING:
    from bot.ops.metrics import Metrics
    from bot.ops.server import OpsServer

log = logging.getLogger("bot.run")


async def open_core(cfg: Config, extra_features: Iterable[Feature] = (), meter: Meter | None = None) -> Core:
    """Open the database and load every bundled feature; raises with a clear message if content is broken.

    `extra_features` join the bundled ones (tests use it to add probe commands); `meter` receives what the core
    and the features measure."""
    storage = await Storage.open(cfg.database())
    try:
        features = bundled(cfg, storage)
    except Exception:
        await storage.close()
        raise
    limits = Limits(any=Limit(cfg.limits.commands_per_minute, 60.0),
                    by_name={"poll": Limit(cfg.limits.polls_per_hour, 3600.0),
                             "report": Limit(cfg.limits.reports_per_hour, 3600.0)})
    return Core(storage, [*features, *extra_features], limits, meter)


def build_adapters(core: Core, cfg: Config) -> list[Adapter]:
    adapters: list[Adapter] = []
    if cfg.discord.enabled:
        from bot.adapters.discord import DiscordAdapter

        adapters.append(DiscordAdapter(core, cfg.discord))
    if cfg.slack.enabled:
        from bot.adapters.slack import SlackAdapter

        adapters.append(SlackAdapter(core, cfg.slack))
    return adapters


async def serve(cfg: Config, stop: asyncio.Event | None = None, *, retry_first: float = RETRY_FIRST) -> int:
    """Start the enabled adapters, run until `stop` is set (SIGTERM / Ctrl-C), then shut down in order.

    A platform that cannot start is retried every so often while the others serve; `bot run` exits 1 only when
    none can start or when one is lost for good."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    metrics = _metrics(cfg)
    core = await open_core(cfg, meter=metrics)
    platforms = Platforms(core, build_adapters(core, cfg), retry_first=retry_first)
    ops = None
    code = 0
    try:
        if metrics is not None:
            ops = await start_ops(cfg, core, platforms, metrics)
        if not await platforms.start():
            return 1
        await core.start()
        log.info("bot running on %s", ", ".join(a.platform for a in platforms.started))
        code = await platforms.watch(stop)
        log.info("shutting down")
    except StartupError as exc:  # the ops endpoint could not listen
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        # Adapters stop taking events first; then the core finishes (flushing poll edits through the still
        # open connections) and closes the database; only then do the connections close.
        await platforms.stop()
        if ops is not None:
            await ops.stop()
        await core.close()
        await platforms.close()
    return code


def _metrics(cfg: Config) -> Metrics | None:
    """Prometheus metrics only when the ops endpoint is on: nothing else needs the library loaded."""
    if not cfg.ops.port:
        return None
    from bot.ops.metrics import Metrics

    return Metrics()


async def start_ops(cfg: Config, core: Core, platforms: Platforms, metrics: Metrics) -> OpsServer:
    """Serve /healthz and /metrics on ops.host:ops.port for as long as the bot runs."""
    from bot.ops import health
    from bot.ops.server import OpsServer

    async def check() -> health.Health:
        return await health.check(core.storage, platforms.adapters, platforms.down)

    async def scrape() -> bytes:
        await metrics.refresh(core.features, platforms.adapters)
        return metrics.render()

    server = OpsServer(cfg.ops.host, cfg.ops.port, check, scrape)
    await server.start()
    return server


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
