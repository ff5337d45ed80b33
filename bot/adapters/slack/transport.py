"""How Slack's requests reach bolt: over HTTP at POST /slack/events (signature, freshness and replays checked here
on the raw bytes before anything parses the body), or over a Socket Mode connection the bot opens itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.base import STOP_GRACE
from bot.adapters.slack.errors import AUTH_ERRORS, NETWORK_ERRORS, reason
from bot.core.contract import StartupError

log = logging.getLogger("bot.slack")

EVENTS_PATH = "/slack/events"
MAX_SKEW = 5 * 60.0  # Slack's rule: a request whose timestamp is more than five minutes off is refused
REPLAY_WINDOW = MAX_SKEW + 60.0  # a little more than MAX_SKEW for clock skew
TIMESTAMP_DIGITS = 12  # Unix seconds until the year 33658; longer "timestamps" are not worth converting
SEEN_MAX = 10_000
CONNECT_TIMEOUT = 30.0
ERROR_TEXT_MAX = 200
MALFORMED = "malformed request"


def header_problem(headers: Mapping[str, str], now: float) -> str | None:
    """Why a request cannot be Slack's, judged from its headers alone (None if it may be): checked before the body
    is even read."""
    signature = headers.get("X-Slack-Signature", "")
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    if not signature:
        return "no signature"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= TIMESTAMP_DIGITS):
        return "no valid timestamp"
    if abs(now - int(timestamp)) > MAX_SKEW:
        return "a timestamp more than five minutes off"
    return None


def signed(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether `body` carries Slack's signature: HMAC-SHA256 of `v0:<timestamp>:<raw bytes>` with the signing
    secret. Works on bytes, so a body that is not UTF-8 is judged like any other."""
    signature = headers.get("X-Slack-Signature", "")
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    if not signature.isascii():
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii"))


def bolt_request(body: bytes, query: str, headers: Mapping[str, str]) -> AsyncBoltRequest:
    """The request as bolt reads it; ValueError if the body is not something Slack sends (not UTF-8, not JSON, not
    a JSON object, nested too deeply, fields of the wrong kind)."""
    try:
        request = AsyncBoltRequest(body=body.decode("utf-8"), query=query, headers=headers)  # type: ignore[arg-type]
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except Exception as exc:  # building the request only parses the body: any failure means bolt cannot read it
        raise ValueError(short(exc)) from None
    if not isinstance(request.body, dict):
        raise ValueError("not a JSON object")
    return request


def short(exc: BaseException) -> str:
    """An exception as one short line for the log: its type and the start of its message."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= ERROR_TEXT_MAX else text[:ERROR_TEXT_MAX] + "…"


def refuse_malformed(why: str) -> str:
    """Log that a signed request was refused because its body cannot be read; returns the text to answer (400)."""
    log.warning("platform=slack refused a signed request it could not read: %s", why)
    return MALFORMED


async def unreadable(error: Exception, response: BoltResponse | None) -> BoltResponse | None:
    """bolt's error handler (register with `app.error`). Only signed requests reach bolt, so a failure before a
    listener acked means a payload bolt cannot read: refused with 400 on one log line. A listener that fails after
    its ack (response None) is a bug: logged with its traceback."""
    if response is None:
        log.error("platform=slack a listener failed after its ack: %s", short(error), exc_info=error)
        return None
    return BoltResponse(status=400, body=refuse_malformed(short(error)))


class HttpListener:
    """HTTP mode: bolt's app served at POST /slack/events on `host:port`, for requests signed with `secret`.

    Nothing parses a body before its signature is checked: unsigned requests get 401, signed bodies bolt cannot
    read get 400, and neither leaves a traceback in the log."""

    def __init__(self, app: AsyncApp, host: str, port: int, secret: str) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.secret = secret
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
        problem = header_problem(request.headers, time.time())
        body = b"" if problem else await request.read()
        if problem is None and not signed(self.secret, request.headers, body):
            problem = "a wrong signature"
        if problem:
            log.warning("platform=slack refused a request with %s", problem)
            return web.Response(status=401, text="invalid request")
        # A byte-identical copy of a request already accepted (same timestamp, same signature) inside the
        # five minutes its timestamp is fresh is a replay.
        signature = request.headers["X-Slack-Signature"]
        now = time.monotonic()
        if self._seen_signatures.get(signature, 0.0) > now:
            log.warning("platform=slack refused a replayed request")
            return web.Response(status=401, text="replayed request")
        try:
            parsed = bolt_request(body, request.query_string, request.headers)
        except ValueError as exc:
            return web.Response(status=400, text=refuse_malformed(str(exc)))
        if len(self._seen_signatures) > SEEN_MAX:
            self._seen_signatures = {s: t for s, t in self._seen_signatures.items() if t > now}
        self._seen_signatures[signature] = now + REPLAY_WINDOW
        try:
            bolt_response = await self.app.async_dispatch(parsed)
        except Exception as exc:  # raised past bolt's own error handler, which reads the body too
            bolt_response = BoltResponse(status=400, body=refuse_malformed(short(exc)))
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
