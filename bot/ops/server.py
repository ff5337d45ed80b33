"""The operations endpoint (`ops.port`): GET /healthz and GET /metrics, served by aiohttp in the bot's own event
loop. It listens on `ops.host` (127.0.0.1 unless set), since metrics name commands and platforms."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.core.contract import StartupError
from bot.ops.health import Health

log = logging.getLogger("bot.ops")


class OpsServer:
    """/healthz answers 200 when `health()` is ok and 503 with the reasons (JSON) otherwise; /metrics answers
    `metrics()` in Prometheus's text format."""

    def __init__(self, host: str, port: int, health: Callable[[], Awaitable[Health]],
                 metrics: Callable[[], Awaitable[bytes]]) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._metrics = metrics
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start listening; returns the port actually listened on (useful with port 0)."""
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(f"ops endpoint cannot listen on {self.host}:{self.port}: "
                               f"{exc.strerror or exc}") from None
        self._runner = runner
        addresses = runner.addresses
        port: int = addresses[0][1] if addresses else self.port
        log.info("ops endpoint on http://%s:%s (/healthz, /metrics)", self.host, port)
        return port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        try:
            health = await self._health()
        except Exception as exc:
            log.exception("health check failed")
            return web.json_response({"status": "unavailable", "problems": [f"health check failed: {exc}"]},
                                     status=503)
        return web.json_response(health.as_json(), status=200 if health.ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        body = await self._metrics()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
