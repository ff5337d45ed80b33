"""The Slack adapter: slack-bolt listeners that translate Slack events into core calls, and Replies into Block Kit.

Every listener calls `ack()` first (Slack wants an answer within 3 seconds), then does the work. Nothing is kept in
memory between requests: buttons carry the core's action id in their `value`, modals carry the channel in
`private_metadata`, so everything keeps working after a restart. Business rules live in the core; this module only
translates.

Modes: `socket` connects out to Slack (no public URL needed); `http` serves Slack's events, slash commands and
interactivity at POST /slack/events and refuses any request whose signature or timestamp is wrong (bolt's request
verification, always on).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.blocks import count_mass_mentions, form_view, render, to_plain
from bot.config import SlackConfig
from bot.core.commands import CommandSpec, parse_line
from bot.core.contract import Adapter, IncomingMessage, Staff, StartupError
from bot.core.core import Core
from bot.core.permissions import allowed
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply

log = logging.getLogger("bot.slack")

EVENTS_PATH = "/slack/events"
GROUP_TTL = 300.0  # seconds a user group's member list is trusted
NAME_TTL = 3600.0
STOP_GRACE = 10.0  # seconds stop() waits for requests already being handled
REPLAY_WINDOW = 6 * 60.0  # bolt's timestamp check allows five minutes; a little more for clock skew
CONNECT_TIMEOUT = 30.0
_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                "not_allowed_token_type"}
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
# Message subtypes that are a member posting something; edits, joins, bot posts etc. are not.
_MEMBER_SUBTYPES = {None, "file_share", "thread_broadcast"}
_NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found"}

RESTRICT_UNSUPPORTED = (
    "Slack does not let apps time out members with a bot token, so nothing was done on Slack. "
    "A workspace admin can remove the member from the channel or deactivate their account by hand."
)


def _reason(exc: BaseException) -> str:
    """Slack's error code, or a short description of a network failure; never a token."""
    if isinstance(exc, SlackApiError):
        try:
            return str(exc.response.get("error") or "unknown_error")
        except Exception:
            return "unknown_error"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _is_group(slack_id: str) -> bool:
    return slack_id.startswith("S")


class _GroupMembers:
    """Which configured Slack user groups (S…) a user is in, via usergroups.users.list, cached for a while."""

    def __init__(self, client: AsyncWebClient, group_ids: set[str], ttl: float = GROUP_TTL) -> None:
        self.client = client
        self.group_ids = sorted(group_ids)
        self.ttl = ttl
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def containing(self, user_id: str) -> set[str]:
        if not self.group_ids:
            return set()
        members = await asyncio.gather(*(self._members(g) for g in self.group_ids))
        return {g for g, users in zip(self.group_ids, members, strict=True) if user_id in users}

    async def _members(self, group: str) -> frozenset[str]:
        hit = self._cache.get(group)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        lock = self._locks.setdefault(group, asyncio.Lock())
        async with lock:
            hit = self._cache.get(group)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            try:
                response = await self.client.usergroups_users_list(usergroup=group)
            except (SlackApiError, *_NETWORK_ERRORS) as exc:
                log.warning("platform=slack could not read the members of user group %s (%s); "
                            "treating the user as not in it", group, _reason(exc))
                return frozenset()
            users = frozenset(response.get("users") or ())
            self._cache[group] = (time.monotonic(), users)
            return users


class SlackAdapter(Adapter):
    """Slack through slack-bolt's AsyncApp, in Socket Mode or over HTTP."""

    platform = "slack"

    def __init__(self, core: Core, cfg: SlackConfig) -> None:
        if cfg.mode not in ("socket", "http"):
            raise ValueError(f"slack.mode must be socket or http, not {cfg.mode!r}")
        self.core = core
        self.cfg = cfg
        self.staff = Staff(
            place=Place("slack", cfg.mod_channel) if cfg.mod_channel else None,
            setting="slack.mod_channel",
            moderator_ids=frozenset(cfg.moderator_ids),
            admin_ids=frozenset(cfg.admin_ids),
        )
        self._seen_signatures: dict[str, float] = {}  # signature -> until when a copy counts as a replay
        base_url = cfg.api_url if cfg.api_url.endswith("/") else cfg.api_url + "/"
        # Our own Web API calls. bolt gets a token-less client of the same API and our `authorize` below, so it
        # neither needs the token at construction nor calls auth.test on its own: start() does that once.
        self.client = AsyncWebClient(token=cfg.bot_token.get() or None, base_url=base_url)
        self._bolt_client = AsyncWebClient(base_url=base_url)
        self.app = AsyncApp(
            name="migraine-community-bot",
            client=self._bolt_client,
            signing_secret=cfg.signing_secret.get(),
            authorize=self._authorizer(),
            request_verification_enabled=True,  # HTTP requests without a valid, fresh signature get 401
            process_before_response=False,  # ack() goes back to Slack at once; the work continues after
        )
        self._groups = _GroupMembers(self.client, {i for i in [*cfg.moderator_ids, *cfg.admin_ids] if _is_group(i)})
        self._names: dict[str, tuple[float, str]] = {}
        self._auth: Any = None
        self.bot_user_id = ""
        self.team_id = ""
        self.team_url = ""
        self.port: int | None = None  # the port actually listened on (http mode), useful with port 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._started = False
        self._register()

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if not self.cfg.bot_token:
            raise StartupError("slack.bot_token is not set")
        if self.cfg.mode == "http" and not self.cfg.signing_secret:
            raise StartupError("slack.signing_secret is not set: HTTP mode needs it to check that requests "
                               "really come from Slack")
        if self.cfg.mode == "socket" and not self.cfg.app_token:
            raise StartupError("slack.app_token is not set: Socket Mode needs an app-level token (xapp-...)")
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        self._bolt_client.session = self._session
        try:
            await self._verify_token()
            if self.cfg.mode == "socket":
                await self._start_socket()
            else:
                await self._start_http()
        except BaseException:
            await self._close_session()
            raise
        self._started = True

    async def _verify_token(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            reason = _reason(exc)
            if reason in _AUTH_ERRORS:
                raise StartupError(f"Slack rejected slack.bot_token: {reason}") from None
            raise StartupError(f"Slack's auth.test failed: {reason}") from None
        except _NETWORK_ERRORS as exc:
            raise StartupError(self._scrub(f"cannot reach the Slack API at {self.cfg.api_url}: "
                                           f"{_reason(exc)}")) from None
        self._auth = auth
        self.bot_user_id = auth.get("user_id") or ""
        self.team_id = auth.get("team_id") or ""
        self.team_url = (auth.get("url") or "").rstrip("/")
        log.info("platform=slack connected as %s to %s", auth.get("user"), auth.get("team"))

    async def _start_http(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._handle_http)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=STOP_GRACE)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.host, self.cfg.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(f"cannot listen on {self.cfg.host}:{self.cfg.port}: {exc.strerror or exc}") from None
        self._runner = runner
        addresses = runner.addresses
        self.port = addresses[0][1] if addresses else self.cfg.port
        log.info("platform=slack listening for Slack requests on http://%s:%s%s", self.cfg.host, self.port,
                 EVENTS_PATH)

    async def _start_socket(self) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        app_token = self.cfg.app_token.get()
        try:
            opened = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            reason = _reason(exc)
            if reason in _AUTH_ERRORS:
                raise StartupError(f"Slack rejected slack.app_token: {reason}") from None
            raise StartupError(f"Slack refused a Socket Mode connection: {reason} (is Socket Mode enabled for "
                               "the app, and does the app token have connections:write?)") from None
        except _NETWORK_ERRORS as exc:
            raise StartupError(self._scrub(f"cannot reach the Slack API at {self.cfg.api_url}: "
                                           f"{_reason(exc)}")) from None
        handler = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        handler.client.wss_uri = opened["url"]
        try:
            await asyncio.wait_for(handler.connect_async(), CONNECT_TIMEOUT)
        except _NETWORK_ERRORS as exc:
            await handler.close_async()
            raise StartupError(f"could not open the Socket Mode connection: {_reason(exc)}") from None
        self._socket = handler
        log.info("platform=slack connected over Socket Mode")

    async def stop(self) -> None:
        """Stop taking requests and let the ones being handled finish (up to STOP_GRACE s); the Web API client
        stays open until close(), so the core can still post and edit."""
        if self._runner is not None:
            # Closes the listening socket, then waits for HTTP requests in progress.
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        pending = {t for t in self._inflight if not t.done()}
        if pending:
            _done, late = await asyncio.wait(pending, timeout=STOP_GRACE)
            if late:
                log.warning("platform=slack %d request(s) still running at shutdown were cancelled", len(late))
                for task in late:
                    task.cancel()
        self._started = False

    async def close(self) -> None:
        await self._close_session()

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None
            self._bolt_client.session = None

    async def _handle_http(self, request: web.Request) -> web.Response:
        # bolt refuses bad signatures and timestamps older than five minutes; a byte-identical copy of a
        # request it accepted (same timestamp, same signature) inside those five minutes is a replay too.
        signature = request.headers.get("X-Slack-Signature", "")
        now = time.monotonic()
        if signature and self._seen_signatures.get(signature, 0.0) > now:
            log.warning("platform=slack refused a replayed request")
            return web.Response(status=401, text="replayed request")
        if signature:
            if len(self._seen_signatures) > 10_000:
                self._seen_signatures = {s: t for s, t in self._seen_signatures.items() if t > now}
            self._seen_signatures[signature] = now + REPLAY_WINDOW
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        if bolt_response.status >= 400:
            self._seen_signatures.pop(signature, None)  # only accepted requests can be replayed
        return await to_aiohttp_response(bolt_response)

    def _authorizer(self) -> Any:
        # A plain function: bolt passes arguments by name and would trip over a bound method's `self`.
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
            """bolt asks this for every request: the answer of the one auth.test start() made."""
            if self._auth is None:
                return None
            return AuthorizeResult.from_auth_test_response(bot_token=self.cfg.bot_token.get(),
                                                           auth_test_response=self._auth)

        return authorize

    def _scrub(self, text: str) -> str:
        for secret in (self.cfg.bot_token.get(), self.cfg.app_token.get(), self.cfg.signing_secret.get()):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    # -- the contract: the core posts, edits and deletes ---------------------------------------------------

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        rendered = render(reply, image_shown=True)
        response = await self.client.chat_postMessage(channel=place.channel, text=rendered.text,
                                                      blocks=rendered.blocks, unfurl_links=False,
                                                      unfurl_media=False)
        channel = response.get("channel") or place.channel
        ref = MessageRef("slack", channel, str(response["ts"]))
        if reply.image is not None:
            await self._upload(channel, reply)
        return ref

    async def _upload(self, channel: str, reply: Reply, thread_ts: str | None = None) -> None:
        """Attach a reply's image (files_upload_v2); a failed upload never undoes the message itself."""
        assert reply.image is not None
        try:
            await self.client.files_upload_v2(channel=channel, content=reply.image.data, thread_ts=thread_ts,
                                              filename=reply.image.filename, title=reply.image.filename)
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            log.warning("platform=slack could not upload image %s to %s: %s", reply.image.filename, channel,
                        _reason(exc))

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        rendered = render(reply, image_shown=True)
        await self.client.chat_update(channel=ref.channel, ts=ref.message, text=rendered.text,
                                      blocks=rendered.blocks)
        if reply.image is not None:
            # chat.update cannot attach files: the new image goes into the message's thread.
            await self._upload(ref.channel, reply, thread_ts=ref.message)

    async def delete(self, ref: MessageRef) -> None:
        """chat.delete. A bot token can delete the bot's own messages; deleting a member's needs more rights."""
        try:
            await self.client.chat_delete(channel=ref.channel, ts=ref.message)
        except SlackApiError as exc:
            raise RuntimeError(f"Slack could not delete the message: {_reason(exc)}") from None

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        """Slack has no time-out for bots: raise NotImplementedError with a polite explanation."""
        raise NotImplementedError(RESTRICT_UNSUPPORTED)

    # -- translating Slack's requests ----------------------------------------------------------------------

    def _register(self) -> None:
        for spec in self.core.commands:
            if spec.kind == "slash":
                self.app.command(f"/{spec.name}")(self._command_listener(spec))
            elif spec.kind == "message":
                self.app.shortcut(spec.name)(self._shortcut_listener(spec))
        self.app.view(re.compile(r"^form:"))(self._on_form)
        self.app.action(re.compile(r".*"))(self._on_action)
        self.app.event("message")(self._on_message)

    @contextlib.asynccontextmanager
    async def _work(self, what: str) -> AsyncIterator[None]:
        """Track a request's work (so stop() can wait for it) and log, never raise, any failure."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            yield
        except Exception:
            log.exception("platform=slack command=%s failed", what)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def member(self, user_id: str, name: str | None = None) -> Member:
        """The core's Member for a Slack user, with the configured user groups they belong to."""
        groups = await self._groups.containing(user_id)
        return self.core.member("slack", user_id, name or user_id, ids=groups)

    def _command_listener(self, spec: CommandSpec) -> Any:
        async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            async with self._work(f"/{spec.name}"):
                await self._run_command(spec, body, respond)

        return on_command

    async def _run_command(self, spec: CommandSpec, body: dict[str, Any], respond: Any) -> None:
        user, channel, team = body.get("user_id", ""), body.get("channel_id", ""), body.get("team_id")
        text = to_plain(body.get("text") or "")
        member = await self.member(user, body.get("user_name"))
        if spec.form is not None and not text.strip() and body.get("trigger_id") and allowed(member, spec.role):
            await self._open_form(spec, body["trigger_id"], channel, team, user, respond)
            return
        inv = Invocation(spec.name, member, Place("slack", channel, team), parse_line(spec, text))
        reply = await self.core.dispatch(inv)
        await self._deliver(reply, channel=channel, user=user, team=team, respond=respond, what=f"/{spec.name}")

    async def _open_form(self, spec: CommandSpec, trigger_id: str, channel: str, team: str | None, user: str,
                         respond: Any) -> None:
        assert spec.form is not None
        meta = json.dumps({"channel": channel, "team": team})
        view = form_view(f"form:{spec.name}", spec.form.title, spec.form.fields, meta)
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            log.error("platform=slack command=/%s could not open its form: %s", spec.name, _reason(exc))
            await self._apologise(channel, user, respond, _reason(exc))

    async def _on_form(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        name = str(view.get("callback_id", "")).removeprefix("form:")
        async with self._work(f"/{name}"):
            spec = self.core.command(name)
            try:
                meta = json.loads(view.get("private_metadata") or "{}")
            except ValueError:
                meta = {}
            channel, team = meta.get("channel", ""), meta.get("team") or (body.get("team") or {}).get("id")
            state = (view.get("state") or {}).get("values") or {}
            names = [f.name for f in spec.form.fields] if spec is not None and spec.form is not None else []
            args = {}
            for field_name in names:
                value = ((state.get(field_name) or {}).get("value") or {}).get("value")
                if value:
                    args[field_name] = value
            user_info = body.get("user") or {}
            user = user_info.get("id", "")
            member = await self.member(user, user_info.get("username") or user_info.get("name"))
            reply = await self.core.dispatch(Invocation(name, member, Place("slack", channel, team), args))
            await self._deliver(reply, channel=channel, user=user, team=team, respond=None, what=f"/{name}")

    def _shortcut_listener(self, spec: CommandSpec) -> Any:
        async def on_shortcut(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            async with self._work(spec.name):
                await self._run_shortcut(spec, body, respond)

        return on_shortcut

    async def _run_shortcut(self, spec: CommandSpec, body: dict[str, Any], respond: Any) -> None:
        if body.get("type") != "message_action":
            return
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        team_info = body.get("team") or {}
        ts = str(message.get("ts") or body.get("message_ts") or "")
        author = message.get("user") or message.get("bot_id") or ""
        args = {
            "text": to_plain(message.get("text") or ""),
            "author": f"slack:{author}",
            "channel": channel,
            "message": ts,
            "link": self.permalink(channel, ts, team_info.get("domain"), message.get("thread_ts")),
        }
        user_info = body.get("user") or {}
        user = user_info.get("id", "")
        member = await self.member(user, user_info.get("username") or user_info.get("name"))
        reply = await self.core.dispatch(Invocation(spec.name, member, Place("slack", channel, team_info.get("id")),
                                                    args))
        try:
            await self._send_ephemeral(reply, channel, user, respond)
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            log.error("platform=slack command=%s could not deliver reply: %s", spec.name, _reason(exc))

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        async with self._work("button"):
            if body.get("type") != "block_actions":
                return
            value = (action.get("value") or (action.get("selected_option") or {}).get("value")
                     or action.get("action_id") or "")
            container = body.get("container") or {}
            channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
            ts = str((body.get("message") or {}).get("ts") or container.get("message_ts") or "")
            if not channel:
                log.warning("platform=slack command=button:%s pressed outside a channel; ignored", value)
                return
            user_info = body.get("user") or {}
            user = user_info.get("id", "")
            team = (body.get("team") or {}).get("id") or user_info.get("team_id")
            member = await self.member(user, user_info.get("username") or user_info.get("name"))
            ref = MessageRef("slack", channel, ts) if ts else None
            reply = await self.core.dispatch_action(Action(value, member, Place("slack", channel, team), ref))
            what = f"button:{value.split(':', 1)[0]}"
            if reply.replace_original and ref is not None:
                try:
                    if container.get("is_ephemeral") and self._can_respond(respond):
                        # Ephemeral messages cannot be edited with chat.update, only through response_url.
                        rendered = render(reply, image_shown=False)
                        await respond(text=rendered.text, blocks=rendered.blocks, replace_original=True)
                    else:
                        await self.update(ref, reply)
                    return
                except (SlackApiError, *_NETWORK_ERRORS) as exc:
                    log.error("platform=slack command=%s could not update the message: %s", what, _reason(exc))
                    await self._apologise(channel, user, respond, _reason(exc))
                    return
            await self._deliver(reply, channel=channel, user=user, team=team, respond=respond, what=what)

    async def _on_message(self, event: dict[str, Any]) -> None:
        # Events are acknowledged by bolt before this runs, so the scan never holds Slack up.
        async with self._work("message"):
            if event.get("subtype") not in _MEMBER_SUBTYPES or event.get("bot_id") or not event.get("user"):
                return
            if event.get("channel_type") in ("im", "mpim"):
                return
            channel, ts, user = event.get("channel", ""), str(event.get("ts", "")), event["user"]
            raw = event.get("text") or ""
            try:
                when = float(ts)
            except ValueError:
                when = time.time()
            message = IncomingMessage(
                ref=MessageRef("slack", channel, ts),
                author_id=f"slack:{user}",
                author_name=await self.user_name(user),
                text=to_plain(raw),
                ts=when,
                link=self.permalink(channel, ts, None, event.get("thread_ts")),
                mass_mentions=count_mass_mentions(raw),
            )
            await self.core.on_message(message)

    # -- delivering replies ---------------------------------------------------------------------------------

    @staticmethod
    def _can_respond(respond: Any) -> bool:
        return respond is not None and bool(getattr(respond, "response_url", None))

    async def _deliver(self, reply: Reply, *, channel: str, user: str, team: str | None, respond: Any,
                       what: str) -> None:
        """Ephemeral replies go to the member only; public ones to the channel. Failures get a polite note."""
        try:
            if reply.ephemeral:
                await self._send_ephemeral(reply, channel, user, respond)
            else:
                await self._send_public(reply, channel, team, respond)
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            log.error("platform=slack command=%s could not deliver reply: %s", what, _reason(exc))
            await self._apologise(channel, user, respond, _reason(exc))

    async def _send_ephemeral(self, reply: Reply, channel: str, user: str, respond: Any) -> None:
        rendered = render(reply, image_shown=False)
        if self._can_respond(respond):
            # response_url works in every channel, even ones the bot was not invited to.
            response = await respond(text=rendered.text, blocks=rendered.blocks, response_type="ephemeral",
                                     replace_original=False)
            if response.status_code == 200:
                return
            log.warning("platform=slack response_url answered %s; trying chat.postEphemeral", response.status_code)
        await self.client.chat_postEphemeral(channel=channel, user=user, text=rendered.text, blocks=rendered.blocks)

    async def _send_public(self, reply: Reply, channel: str, team: str | None, respond: Any) -> None:
        try:
            await self.post(Place("slack", channel, team), reply)
        except SlackApiError as exc:
            if _reason(exc) not in _NOT_IN_CHANNEL or not self._can_respond(respond):
                raise
            # A private channel or DM the bot is not in: the response_url can still post for everyone to see.
            rendered = render(reply, image_shown=False)
            response = await respond(text=rendered.text, blocks=rendered.blocks, response_type="in_channel",
                                     replace_original=False)
            if response.status_code != 200:
                raise

    async def _apologise(self, channel: str, user: str, respond: Any, reason: str) -> None:
        hint = " Invite me to this channel with /invite and try again." if reason in _NOT_IN_CHANNEL else ""
        note = Reply(text=f"Sorry, I couldn't show my answer here (Slack said: {reason}).{hint}", ephemeral=True)
        try:
            await self._send_ephemeral(note, channel, user, respond)
        except Exception as exc:
            log.warning("platform=slack could not tell %s that delivery failed: %s", user, _reason(exc))

    # -- small look-ups ---------------------------------------------------------------------------------------

    def permalink(self, channel: str, ts: str, domain: str | None = None, thread_ts: str | None = None) -> str:
        """A link to a message, built without an API call (https://TEAM.slack.com/archives/C…/p…)."""
        base = self.team_url or (f"https://{domain}.slack.com" if domain else "")
        if not base or not channel or not ts:
            return ""
        link = f"{base}/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link

    async def user_name(self, user_id: str) -> str:
        """A member's display name via users.info (cached); their id if Slack won't say."""
        hit = self._names.get(user_id)
        if hit is not None and time.monotonic() - hit[0] < NAME_TTL:
            return hit[1]
        try:
            info = (await self.client.users_info(user=user_id)).get("user") or {}
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            log.debug("platform=slack users.info %s failed: %s", user_id, _reason(exc))
            return user_id
        profile = info.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or info.get("name") or user_id
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[user_id] = (time.monotonic(), name)
        return name
