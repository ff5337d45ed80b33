"""How Slack's requests reach bolt: over HTTP at POST /slack/events (signatures checked by bolt, replays refused
here), or over a Socket Mode connection the bot opens itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.base import STOP_GRACE
from bot.adapters.slack.errors import AUTH_ERRORS, NETWORK_ERRORS, reason
from bot.core.contract import StartupError

log = logging.getLogger("bot.slack")

EVENTS_PATH = "/slack/events"
REPLAY_WINDOW = 6 * 60.0  # bolt's timestamp check allows five minutes; a little more for clock skew
SEEN_MAX = 10_000
CONNECT_TIMEOUT = 30.0


class HttpListener:
    """HTTP mode: bolt's app served at POST /slack/events on `host:port`."""

    def __init__(self, app: AsyncApp, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._seen_signatures: dict[str, float] = {}  # signature -> until when a copy counts as a replay
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start listening; returns the port actually listened on (useful with port 0)."""
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self.handle)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=STOP_GRACE)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._runner = runner
        addresses = runner.addresses
        port: int = addresses[0][1] if addresses else self.port
        log.info("platform=slack listening for Slack requests on http://%s:%s%s", self.host, port, EVENTS_PATH)
        return port

    async def stop(self) -> None:
        """Close the listening socket, then wait for the HTTP requests in progress."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.Response:
        # bolt refuses bad signatures and timestamps older than five minutes; a byte-identical copy of a
        # request it accepted (same timestamp, same signature) inside those five minutes is a replay too.
        signature = request.headers.get("X-Slack-Signature", "")
        now = time.monotonic()
        if signature and self._seen_signatures.get(signature, 0.0) > now:
            log.warning("platform=slack refused a replayed request")
            return web.Response(status=401, text="replayed request")
        if signature:
            if len(self._seen_signatures) > SEEN_MAX:
                self._seen_signatures = {s: t for s, t in self._seen_signatures.items() if t > now}
            self._seen_signatures[signature] = now + REPLAY_WINDOW
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        if bolt_response.status >= 400:
            self._seen_signatures.pop(signature, None)  # only accepted requests can be replayed
        return await to_aiohttp_response(bolt_response)


async def open_socket(app: AsyncApp, client: AsyncWebClient, app_token: str, api_url: str,
                      scrub: Callable[[str], str]) -> Any:
    """Socket Mode: ask the Web API for a websocket address (apps.connections.open) and connect bolt to it.

    Returns the connected handler (close it with `close_async`); `scrub` hides secrets in error text."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    try:
        opened = await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        why = reason(exc)
        if why in AUTH_ERRORS:
            raise StartupError(f"Slack rejected slack.app_token: {why}") from None
        raise StartupError(f"Slack refused a Socket Mode connection: {why} (is Socket Mode enabled for "
                           "the app, and does the app token have connections:write?)") from None
    except NETWORK_ERRORS as exc:
        raise StartupError(scrub(f"cannot reach the Slack API at {api_url}: {reason(exc)}")) from None
    handler = AsyncSocketModeHandler(app, app_token, web_client=client)
    handler.client.wss_uri = opened["url"]
    try:
        await asyncio.wait_for(handler.connect_async(), CONNECT_TIMEOUT)
    except NETWORK_ERRORS as exc:
        await handler.close_async()
        raise StartupError(f"could not open the Socket Mode connection: {reason(exc)}") from None
    log.info("platform=slack connected over Socket Mode")
    return handler
