"""A local fake of the Slack Web API (plus response_url, file upload and Socket Mode endpoints) for adapter tests.

It listens on 127.0.0.1 on a random port, records every call (method + parsed query/form/JSON arguments + token),
and answers like Slack does (`{"ok": true, ...}` with ts values, or `{"ok": false, "error": ...}`). It also holds
the helpers tests use to talk to the adapter the way Slack would: signed HTTP requests and Socket Mode envelopes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-fake-0000-TEST-TOKEN"
APP_TOKEN = "xapp-1-fake-TEST-APP-TOKEN"
SIGNING_SECRET = "test-secret"
TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "migraine-community"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None = None
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSlack:
    """The fake server. `await fake.start()`, point `SlackConfig.api_url` at `fake.api_url`."""

    valid_tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    app_tokens: set[str] = field(default_factory=lambda: {APP_TOKEN})
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # id -> display name
    channels: dict[str, str] = field(default_factory=dict)  # id -> name, for conversations.info
    channel_teams: dict[str, str] = field(default_factory=dict)  # id -> workspace (conversations.info context_team_id)
    # Bot tokens of other workspaces (token -> team id): auth.test names that team, and such a token cannot see
    # another workspace's channels, as on Slack when a workspace installed the app on its own.
    token_teams: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # method -> error code to answer with
    transient: dict[str, list[int]] = field(default_factory=dict)  # method -> HTTP statuses to answer first
    # method -> seconds to sit on each of the next calls after doing them: a platform that never answers in time
    stalls: dict[str, list[float]] = field(default_factory=dict)
    not_in_channel: set[str] = field(default_factory=set)  # channels chat.postMessage refuses
    calls: list[Call] = field(default_factory=list)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (response_url key, body)
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Event()
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, key: str = "abc") -> str:
        return f"{self.base}/response/{key}"

    # -- what tests read -------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    def answers_to(self, method: str) -> list[dict[str, Any]]:
        return [c.answer for c in self.calls if c.method == method]

    def responses_to(self, key: str) -> list[dict[str, Any]]:
        return [body for k, body in self.responses if k == key]

    def deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        """Every message the bot showed: ("public"/"ephemeral"/"update"/"response", args)."""
        kinds = {"chat.postMessage": "public", "chat.postEphemeral": "ephemeral", "chat.update": "update"}
        out = [(kinds[c.method], c.args) for c in self.calls if c.method in kinds]
        out += [("response", body) for _, body in self.responses]
        return out

    async def wait_for(self, predicate: Any, timeout: float = 2.0) -> Any:
        """Wait until `predicate()` returns something truthy (the adapter works after it has acked)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting; calls so far: {[c.method for c in self.calls]}, "
                                     f"responses: {len(self.responses)}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    async def wait_call(self, method: str, count: int = 1, timeout: float = 2.0) -> list[dict[str, Any]]:
        return await self.wait_for(lambda: (c := self.calls_to(method)) and len(c) >= count and c, timeout)

    async def wait_response(self, key: str, count: int = 1, timeout: float = 2.0) -> list[dict[str, Any]]:
        return await self.wait_for(lambda: (r := self.responses_to(key)) and len(r) >= count and r, timeout)

    def _note(self) -> None:
        self._changed.set()

    # -- the Web API ------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_FIELDS:
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    pass
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() or args.pop("token", None)
        failures = self.transient.get(method)
        if failures:  # a flaky platform: answer this status (429 with Retry-After: 0, or a 5xx) first
            status = failures.pop(0)
            self.calls.append(Call(method, args, token))
            headers = {"Retry-After": "0"} if status == 429 else {}
            return web.json_response({"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"},
                                     status=status, headers=headers)
        call = Call(method, args, token)
        call.answer = self._answer(method, args, token)
        self.calls.append(call)
        self._note()
        if self.stalls.get(method):
            await asyncio.sleep(self.stalls[method].pop(0))  # done, but the answer comes too late
        return web.json_response(call.answer)

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token not in self.valid_tokens and token not in self.token_teams:
            return {"ok": False, "error": "invalid_auth"}
        token_team = self.token_teams.get(token, TEAM_ID)
        if method in self.errors:
            return {"ok": False, "error": self.errors[method]}
        ts = f"{1700000000 + next(self._ts)}.000100"
        channel = args.get("channel") or args.get("channel_id")
        if method == "auth.test":
            return {"ok": True, "url": f"https://{TEAM_DOMAIN}.slack.com/", "team": "Migraine Community",
                    "user": "migraine-bot", "team_id": token_team, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                    "is_enterprise_install": False}
        if method == "chat.postMessage":
            if channel in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            return {"ok": True, "channel": channel, "ts": ts,
                    "message": {"type": "message", "bot_id": BOT_ID, "text": args.get("text"), "ts": ts,
                                "blocks": args.get("blocks")}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": args.get("ts"), "text": args.get("text")}
        if method == "chat.delete":
            return {"ok": True, "channel": channel, "ts": args.get("ts")}
        if method == "chat.getPermalink":
            p_ts = str(args.get("message_ts")).replace(".", "")
            return {"ok": True, "channel": channel,
                    "permalink": f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{p_ts}"}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0VIEW", **(args.get("view") or {})}}
        if method == "usergroups.users.list":
            group = args.get("usergroup")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        if method == "users.info":
            user = args.get("user")
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "name": user.lower(),
                                         "profile": {"display_name": self.users[user], "real_name": ""}}}
        if method == "conversations.info":
            owner = self.channel_teams.get(channel, TEAM_ID)
            if channel not in self.channels or (self.token_teams and owner != token_team):
                return {"ok": False, "error": "channel_not_found"}
            info = {"id": channel, "name": self.channels[channel], "is_channel": True}
            if channel in self.channel_teams:
                info["context_team_id"] = self.channel_teams[channel]
            return {"ok": True, "channel": info}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):04d}"
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")}
                                          for f in (args.get("files") or [])]}
        return {"ok": False, "error": "unknown_method"}

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["key"], await request.json()))
        self._note()
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append((request.match_info["file_id"], await request.read()))
        self._note()
        return web.Response(text="OK")

    # -- Socket Mode ----------------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._note()
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"}})
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
                    self._note()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._note()
        return ws

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        await self._sockets[-1].send_json(envelope)


# -- talking to the adapter like Slack does -------------------------------------------------------------------


def sign(body: str | bytes, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    """Slack's signature: over the raw bytes, so a body that is not UTF-8 can be signed too."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: str | bytes, *, content_type: str, secret: str = SIGNING_SECRET, age: float = 0.0,
                   signature: str | None = None, timestamp: str | None = None) -> dict[str, str]:
    """Headers Slack would send; `timestamp` replaces the real one (and is signed like one)."""
    ts = timestamp if timestamp is not None else str(int(time.time() - age))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature if signature is not None else sign(body, ts, secret),
    }


def slash_fields(command: str, text: str, *, user: str = "U0MARIA", user_name: str = "maria",
                 channel: str = "C0GENERAL", response_url: str = "",
                 trigger_id: str = "1337.42.abcd") -> dict[str, str]:
    """The fields Slack sends for a slash command (form-encoded over HTTP, a dict over Socket Mode)."""
    return {
        "token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": TEAM_DOMAIN,
        "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": user_name,
        "command": command, "text": text, "api_app_id": "A0APP", "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger_id,
    }


def slash_body(command: str, text: str, **kw: str) -> str:
    return urlencode(slash_fields(command, text, **kw))


def block_actions_payload(value: str, *, action_id: str = "0:x", user: str = "U0MARIA", channel: str = "C0GENERAL",
                          message_ts: str = "1700000001.000100", ephemeral: bool = True,
                          response_url: str = "") -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "maria", "name": "maria", "team_id": TEAM_ID},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                      "is_ephemeral": ephemeral},
        "trigger_id": "1337.43.efgh",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "channel": {"id": channel, "name": "general"},
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": "1700000002.1"}],
    }
    if not ephemeral:
        payload["message"] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": message_ts,
                              "text": "..."}
    return payload


def interactive_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any]) -> str:
    return json.dumps({
        "token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": "A0APP",
        "event": event, "type": "event_callback", "event_id": "Ev0001", "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    })


def texts(blocks: list[dict[str, Any]], kind: str | None = None) -> list[str]:
    """Every text object's text in some blocks (optionally only plain_text or mrkdwn ones)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            is_text = node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str)
            if is_text and (kind is None or node["type"] == kind):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def assert_nothing_pings(text: str, blocks: list[dict[str, Any]]) -> None:
    for mrkdwn in [text, *texts(blocks, "mrkdwn")]:
        assert "<!" not in mrkdwn and "<@" not in mrkdwn and "<#" not in mrkdwn, mrkdwn
