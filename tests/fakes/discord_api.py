"""A local fake of Discord: the REST API and the gateway websocket, on 127.0.0.1, recording every request.

    async with FakeDiscord() as fake:
        cfg.discord.api_url = fake.url          # REST goes here; GET /gateway/bot points at fake.gateway_url
        cfg.discord.token = Secret(fake.token)  # any other token gets 401 from GET /users/@me
        ...start the bot...
        await fake.wait_ready()                 # a client identified and got READY
        payload = fake.slash("faq", {"question": "nasal spray"})
        body = await fake.interact(payload)     # sends INTERACTION_CREATE, returns the JSON the bot answered with

Nothing here imports the bot: the fake only speaks Discord's wire format, so any Discord client can be tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
APP_ID = "1100000000000000001"
BOT_ID = "1100000000000000001"
GUILD_ID = "1200000000000000001"
CHANNEL_ID = "1300000000000000001"
OWNER_ID = "1400000000000000001"
EPHEMERAL = 64
DISCORD_EPOCH_MS = 1420070400000


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Recorded:
    """One HTTP request the fake received. `path` has no /api/v10 prefix; `json` is the body or payload_json."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # form field -> (filename, data)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> dict:
        """The message data of an interaction callback (`json["data"]`), or the body itself otherwise."""
        if isinstance(self.json, dict) and "type" in self.json and isinstance(self.json.get("data"), dict):
            return self.json["data"]
        return self.json if isinstance(self.json, dict) else {}


def _json(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", no charset: discord.py only parses JSON with that content type.
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def user_payload(user_id: str, name: str, *, bot: bool = False) -> dict:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0", "avatar": None,
            "bot": bot, "public_flags": 0}


def member_payload(user_id: str, name: str, roles: Iterable[str | int] = (), joined_at: str | None = None) -> dict:
    return {"user": user_payload(user_id, name), "nick": None, "roles": [str(r) for r in roles],
            "joined_at": joined_at or now_iso(), "deaf": False, "mute": False, "flags": 0, "pending": False,
            "permissions": "2248473465835073", "communication_disabled_until": None, "avatar": None}


def channel_payload(channel_id: str = CHANNEL_ID, guild_id: str = GUILD_ID, name: str = "general") -> dict:
    return {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}


def role_payload(role_id: str, name: str, position: int = 1) -> dict:
    return {"id": str(role_id), "name": name, "color": 0, "hoist": False, "position": position,
            "permissions": "0", "managed": False, "mentionable": False, "flags": 0}


def message_payload(message_id: str, channel_id: str, *, content: str = "", author: dict | None = None,
                    embeds: list | None = None, components: list | None = None, flags: int = 0,
                    guild_id: str | None = None, member: dict | None = None, mention_everyone: bool = False,
                    mention_roles: Iterable[str] = (), webhook_id: str | None = None) -> dict:
    data = {
        "id": str(message_id), "channel_id": str(channel_id), "type": 0, "content": content,
        "author": author or user_payload(BOT_ID, "Migraine Bot", bot=True), "timestamp": now_iso(),
        "edited_timestamp": None, "tts": False, "mention_everyone": mention_everyone, "mentions": [],
        "mention_roles": [str(r) for r in mention_roles], "attachments": [], "embeds": embeds or [],
        "pinned": False, "flags": flags, "components": components or [],
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if member is not None:
        data["member"] = member
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
    return data


class FakeDiscord:
    """Discord's REST API and gateway for one bot, one application and a few guilds."""

    def __init__(self, *, token: str = "fake-discord-token", guild_ids: Iterable[str | int] = (GUILD_ID,),
                 channel_id: str = CHANNEL_ID, roles: dict[str, str] | None = None) -> None:
        self.token = token
        self.guild_ids = [str(g) for g in guild_ids]
        self.channel_id = channel_id
        self.roles = dict(roles or {})  # role id -> name, sent in GUILD_CREATE
        self.app_id = APP_ID
        self.bot = user_payload(BOT_ID, "Migraine Bot", bot=True)
        self.requests: list[Recorded] = []
        self.identifies: list[dict] = []  # the d of every IDENTIFY (token, intents, shard, ...)
        # What GET /gateway/bot answers: the shard count Discord recommends and how many shards may IDENTIFY at once.
        self.recommended_shards = 1
        self.max_concurrency = 1
        self.commands: dict[str | None, list[dict]] = {}  # guild id (None = global) -> registered commands
        self.messages: dict[str, dict] = {}  # message id -> last payload (channel posts, responses, followups)
        self.dm_channels: dict[str, str] = {}  # direct-message channel id -> the member it is with
        self.status_overrides: dict[tuple[str, str], tuple[int, dict]] = {}  # (METHOD, path regex) -> reply
        # (METHOD, path regex) -> replies given once each, in order, before answering normally: 429s and 5xx
        self.failures: dict[tuple[str, str], list[tuple[int, dict, dict[str, str]]]] = {}
        # (METHOD, path regex) -> seconds to sit on each matching request after doing it: no answer in time
        self.stalls: dict[tuple[str, str], float] = {}
        self.identify_close_code: int | None = None  # e.g. 4014 (disallowed intents) to refuse IDENTIFY
        self.interactions: dict[str, dict] = {}  # interaction token -> payload delivered with interact()
        # channel id -> its guild, for channels GET /channels/{id} places outside the first guild (not in any
        # GUILD_CREATE, so a client only learns their guild by asking)
        self.channel_guilds: dict[str, str] = {}
        self._originals: dict[str, str] = {}  # interaction token -> id of its original response message
        self._sockets: list[web.WebSocketResponse] = []
        self._shard_of: dict[web.WebSocketResponse, tuple[int, int]] = {}  # socket -> [shard_id, shard_count]
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def drop(self, code: int) -> None:
        """Close every gateway connection with a close code, as Discord does (4004: authentication failed)."""
        for ws in list(self._sockets):
            await ws.close(code=code)

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The REST base to give the bot (discord.api_url)."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    def snowflake(self) -> str:
        """A new id that, like Discord's, encodes the current time (discord.py derives created_at from it)."""
        millis = int(datetime.now(UTC).timestamp() * 1000) - DISCORD_EPOCH_MS
        return str((millis << 22) | (next(self._ids) & 0x3FFFFF))

    # -- waiting and finding ------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy and return its value. Re-checked on every request the fake sees
        and every 20 ms, so the predicate may also look at the bot's side."""
        async def waiter() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.02)

        return await asyncio.wait_for(waiter(), timeout)

    def find(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Requests so far, filtered by method and a regex that must match the whole path."""
        return [r for r in self.requests
                if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))]

    async def wait_for_request(self, method: str, path: str, *, after: int = 0, timeout: float = 5.0) -> Recorded:
        """The first request from index `after` on matching method and path regex."""
        def look() -> Recorded | None:
            return next((r for r in self.requests[after:]
                         if r.method == method and re.fullmatch(path, r.path)), None)

        return await self.wait_until(look, timeout)

    async def wait_ready(self, timeout: float = 5.0) -> dict:
        """Wait until a client has identified (and been sent READY); returns its IDENTIFY data."""
        return await self.wait_until(lambda: self.identifies[-1] if self.identifies else None, timeout)

    # -- gateway ------------------------------------------------------------------------------------------

    @staticmethod
    def shard_for(guild_id: str | int | None, shard_count: int) -> int:
        """The shard Discord sends a guild's events on (direct messages go to shard 0)."""
        return (int(guild_id) >> 22) % shard_count if guild_id else 0

    async def dispatch(self, event: str, data: dict) -> None:
        """Send a DISPATCH (op 0) event to every connected client whose shard owns the event's guild, as Discord
        does (a client that sent no shard in IDENTIFY is shard 0 of 1 and gets everything)."""
        frame = json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
        for ws in list(self._sockets):
            shard_id, count = self._shard_of.get(ws, (0, 1))
            if not ws.closed and self.shard_for(data.get("guild_id"), count) == shard_id:
                await ws.send_str(frame)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                        break
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:  # heartbeat
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:  # identify
                    await self._ready(ws, frame["d"])
                elif op == 6:  # resume: the session id says which shard this connection was
                    shard = re.fullmatch(r"fake-session-(\d+)-(\d+)", str(frame["d"].get("session_id")))
                    if shard:
                        self._shard_of[ws] = (int(shard.group(1)), int(shard.group(2)))
                    await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}}))
        finally:
            await self._notify()
        return ws

    async def _ready(self, ws: web.WebSocketResponse, identify: dict) -> None:
        if identify.get("token") != self.token or self.identify_close_code:
            await ws.close(code=self.identify_close_code or 4004, message=b"Refused by the fake.")
            return
        shard_id, count = identify.get("shard") or (0, 1)
        self._shard_of[ws] = (shard_id, count)
        guild_ids = [g for g in self.guild_ids if self.shard_for(g, count) == shard_id]
        ready = {
            "v": 10, "user": self.bot, "guilds": [{"id": g, "unavailable": True} for g in guild_ids],
            "session_id": f"fake-session-{shard_id}-{count}", "resume_gateway_url": self.gateway_url,
            "application": {"id": self.app_id, "flags": 0}, "shard": [shard_id, count],
        }
        await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready}))
        for guild_id in guild_ids:
            await ws.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq),
                                          "d": self.guild_payload(guild_id)}))
        self.identifies.append(identify)
        await self._notify()

    def guild_payload(self, guild_id: str) -> dict:
        roles = [role_payload(guild_id, "@everyone", 0)]
        roles += [role_payload(rid, name) for rid, name in self.roles.items()]
        return {
            "id": guild_id, "name": "Migraine Support", "icon": None, "owner_id": OWNER_ID, "roles": roles,
            "emojis": [], "stickers": [], "features": [], "channels": [channel_payload(self.channel_id, guild_id)],
            "threads": [], "members": [], "member_count": 2, "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [], "unavailable": False,
            "large": False, "joined_at": now_iso(), "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0,
            "preferred_locale": "en-US", "nsfw_level": 0, "afk_timeout": 300,
        }

    # -- interactions: payloads as Discord sends them ------------------------------------------------------

    def interaction(self, type_: int, data: dict | None, *, user_id: str = "1600000000000000001",
                    user_name: str = "maria", roles: Iterable[str | int] = (), guild_id: str | None = None,
                    channel_id: str | None = None, message: dict | None = None) -> dict:
        guild_id = guild_id or self.guild_ids[0]
        channel_id = channel_id or self.channel_id
        iid = self.snowflake()
        payload = {
            "id": iid, "application_id": self.app_id, "type": type_, "token": f"itoken-{iid}", "version": 1,
            "guild_id": guild_id, "channel_id": channel_id, "channel": channel_payload(channel_id, guild_id),
            "member": member_payload(user_id, user_name, roles), "locale": "en-US", "guild_locale": "en-US",
            "app_permissions": "2248473465835073", "entitlements": [], "attachment_size_limit": 26214400,
            "authorizing_integration_owners": {"0": guild_id}, "context": 0,
        }
        if data is not None:
            payload["data"] = data
        if message is not None:
            payload["message"] = message
        return payload

    def slash(self, name: str, options: dict[str, str] | None = None, *, focused: str | None = None,
              **who: Any) -> dict:
        """A slash command (type 2), or with `focused` the autocomplete request (type 4) for that option."""
        opts = []
        for key, value in (options or {}).items():
            opt = {"name": key, "type": 3, "value": value}
            if key == focused:
                opt["focused"] = True
            opts.append(opt)
        guild_id = who.get("guild_id") or self.guild_ids[0]
        data = {"id": self._command_id(name, guild_id), "name": name, "type": 1, "options": opts,
                "guild_id": guild_id}
        return self.interaction(4 if focused else 2, data, **who)

    def message_command(self, name: str, target: dict, **who: Any) -> dict:
        """A message context-menu command (type 2, data.type 3) run on `target` (a message payload)."""
        guild_id = who.get("guild_id") or self.guild_ids[0]
        data = {"id": self._command_id(name, guild_id), "name": name, "type": 3, "target_id": target["id"],
                "guild_id": guild_id, "resolved": {"messages": {target["id"]: target}}}
        return self.interaction(2, data, **who)

    def button(self, custom_id: str, message: dict, **who: Any) -> dict:
        """A button press (type 3) on `message`, which must carry the button in its components."""
        return self.interaction(3, {"custom_id": custom_id, "component_type": 2}, message=message, **who)

    def modal_submit(self, custom_id: str, values: dict[str, str], **who: Any) -> dict:
        """A submitted modal (type 5): each value in a Label (type 18) holding a text input, as Discord sends."""
        components = [{"type": 18, "id": i + 1, "component": {"type": 4, "id": 100 + i, "custom_id": key,
                                                               "value": value}}
                      for i, (key, value) in enumerate(values.items())]
        return self.interaction(5, {"custom_id": custom_id, "components": components}, **who)

    def user_message(self, content: str, *, user_id: str = "1600000000000000002", user_name: str = "spammer",
                     roles: Iterable[str] = (), mention_everyone: bool = False, mention_roles: Iterable[str] = (),
                     bot: bool = False, joined_at: str | None = None, guild_id: str | None = None,
                     channel_id: str | None = None) -> dict:
        """A MESSAGE_CREATE payload for a member's message in the fake's channel (or `channel_id` of `guild_id`)."""
        member = member_payload(user_id, user_name, roles, joined_at)
        member.pop("user")
        author = user_payload(user_id, user_name, bot=bot)
        return message_payload(self.snowflake(), channel_id or self.channel_id, content=content, author=author,
                               guild_id=guild_id or self.guild_ids[0], member=member, mention_everyone=mention_everyone,
                               mention_roles=mention_roles)

    def _command_id(self, name: str, guild_id: str) -> str:
        for cmd in self.commands.get(guild_id, []) + self.commands.get(None, []):
            if cmd["name"] == name:
                return cmd["id"]
        return self.snowflake()

    async def interact(self, payload: dict, timeout: float = 5.0) -> Recorded:
        """Deliver an interaction through the gateway and return the bot's callback request for it."""
        path = rf"/interactions/{payload['id']}/{re.escape(payload['token'])}/callback"
        start = len(self.requests)
        self.interactions[payload["token"]] = payload
        if "message" in payload:
            self._originals[payload["token"]] = payload["message"]["id"]
            self.messages.setdefault(payload["message"]["id"], payload["message"])
        await self.dispatch("INTERACTION_CREATE", payload)
        return await self.wait_for_request("POST", path, after=start, timeout=timeout)

    def message_from(self, recorded: Recorded) -> dict:
        """The message the fake created for a callback, followup or channel post (with its components)."""
        mid = recorded.headers.get("x-fake-message-id")
        if mid is None:
            raise KeyError("that request created no message")
        return self.messages[mid]

    # -- REST -------------------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(API_PREFIX)
        body, files = await self._body(request)
        rec = Recorded(request.method, path, dict(request.query), body, files,
                       {k.lower(): v for k, v in request.headers.items()})
        self.requests.append(rec)
        try:
            response = await self._answer(request, rec)
        finally:
            await self._notify()
        for (method, pattern), seconds in self.stalls.items():
            if method == rec.method and re.fullmatch(pattern, path):
                await asyncio.sleep(seconds)  # done, but the answer comes too late
        return response

    async def _body(self, request: web.Request) -> tuple[Any, dict[str, tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            payload: Any = None
            files: dict[str, tuple[str, bytes]] = {}
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data)
                else:
                    files[part.name or ""] = (part.filename or "", bytes(data))  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        if not raw:
            return None, {}
        try:
            return json.loads(raw), {}
        except ValueError:
            return raw.decode("utf-8", "replace"), {}

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _answer(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        method, path = rec.method, rec.path
        for (m, pattern), queued in self.failures.items():
            if queued and m == method and re.fullmatch(pattern, path):
                status, body, headers = queued.pop(0)
                response = _json(body, status=status)
                response.headers.update(headers)
                return response
        for (m, pattern), (status, body) in self.status_overrides.items():
            if m == method and re.fullmatch(pattern, path):
                return _json(body, status=status)
        # Interaction callbacks and webhooks authenticate with the interaction token, not the bot token.
        if m := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            return self._callback(m.group(1), m.group(2), rec)
        if m := re.fullmatch(r"/webhooks/(\d+)/([^/]+)(/messages/(@original|\d+))?", path):
            return self._webhook(method, m.group(2), m.group(4), rec)
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        if method == "GET" and path == "/users/@me":
            return _json(self.bot)
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json({
                "id": self.app_id, "name": "Migraine Bot", "description": "", "icon": None, "bot_public": False,
                "bot_require_code_grant": False, "owner": user_payload(OWNER_ID, "owner"), "verify_key": "00",
                "flags": 0, "team": None, "summary": "", "rpc_origins": [], "interactions_endpoint_url": None,
            })
        if method == "GET" and path in ("/gateway/bot", "/gateway"):
            return _json({"url": self.gateway_url, "shards": self.recommended_shards, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": self.max_concurrency}})
        if m := re.fullmatch(r"/applications/(\d+)(/guilds/(\d+))?/commands", path):
            if method == "PUT":
                scope = {"guild_id": m.group(3)} if m.group(3) else {}
                registered = [{"description": "", "options": [], **c, **scope, "version": "1",
                               "id": self._command_id(c["name"], m.group(3) or ""), "application_id": self.app_id}
                              for c in rec.json or []]
                self.commands[m.group(3)] = registered
                return _json(registered)
            return _json(self.commands.get(m.group(3), []))
        if method == "POST" and path == "/users/@me/channels":  # open a direct-message channel
            recipient = str((rec.json or {}).get("recipient_id", ""))
            dm = {"id": self.snowflake(), "type": 1, "last_message_id": None,
                  "recipients": [user_payload(recipient, "member")]}
            self.dm_channels[dm["id"]] = recipient
            return _json(dm)
        if method == "GET" and (m := re.fullmatch(r"/users/(\d+)", path)):
            return _json(user_payload(m.group(1), "member"))
        if m := re.fullmatch(r"/channels/(\d+)/messages(/(\d+))?", path):
            return self._channel_message(method, m.group(1), m.group(3), rec)
        if m := re.fullmatch(r"/channels/(\d+)", path):
            return _json(channel_payload(m.group(1), self.channel_guilds.get(m.group(1), self.guild_ids[0])))
        if m := re.fullmatch(r"/guilds/(\d+)/members/(\d+)", path):
            member = member_payload(m.group(2), "member")
            if method == "PATCH" and isinstance(rec.json, dict):
                member.update({k: v for k, v in rec.json.items() if k in ("communication_disabled_until", "nick")})
            return _json(member)
        return _json({"message": f"404: Not Found ({method} {path})", "code": 0}, status=404)

    def _store(self, rec: Recorded, message: dict) -> dict:
        self.messages[message["id"]] = message
        rec.headers["x-fake-message-id"] = message["id"]
        return message

    def _message_from_body(self, rec: Recorded, channel_id: str, message_id: str | None = None,
                           flags: int = 0) -> dict:
        body = rec.json if isinstance(rec.json, dict) else {}
        old = self.messages.get(message_id or "", {})
        return message_payload(
            message_id or self.snowflake(), channel_id,
            content=body.get("content", old.get("content", "")) or "",
            embeds=body.get("embeds", old.get("embeds", [])),
            components=body.get("components", old.get("components", [])),
            flags=body.get("flags", old.get("flags", flags)) or 0, guild_id=self.guild_ids[0],
        )

    def _callback(self, interaction_id: str, token: str, rec: Recorded) -> web.Response:
        body = rec.json or {}
        kind = body.get("type")
        data = body.get("data") or {}
        info: dict[str, Any] = {"id": interaction_id, "type": 2, "response_message_loading": kind == 5,
                                "response_message_ephemeral": bool((data.get("flags") or 0) & EPHEMERAL)}
        result: dict[str, Any] = {"interaction": info}
        if kind in (4, 5, 7):  # new message, deferred new message ("thinking"), update the component's message
            existing = self._originals.get(token) if kind == 7 else None
            message = self._message_from_body(Recorded("", "", {}, data), self.channel_id, existing)
            self._store(rec, message)
            self._originals[token] = message["id"]
            info["response_message_id"] = message["id"]
            result["resource"] = {"type": kind, "message": message}
        return _json(result)

    def _webhook(self, method: str, token: str, message_id: str | None, rec: Recorded) -> web.StreamResponse:
        mid = self._originals.get(token) if message_id == "@original" else message_id
        if method == "DELETE":
            self.messages.pop(mid or "", None)
            return web.Response(status=204)
        if method == "GET":
            return _json(self.messages.get(mid or "", {}))
        return _json(self._store(rec, self._message_from_body(rec, self.channel_id, mid)))

    def _channel_message(self, method: str, channel_id: str, message_id: str | None, rec: Recorded) -> web.Response:
        if method == "DELETE":
            self.messages.pop(message_id or "", None)
            return web.Response(status=204)
        if method in ("POST", "PATCH"):
            return _json(self._store(rec, self._message_from_body(rec, channel_id, message_id)))
        if message_id and message_id in self.messages:
            return _json(self.messages[message_id])
        return _json({"message": "Unknown Message", "code": 10008}, status=404)
