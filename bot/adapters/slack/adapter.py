"""The Slack adapter: slack-bolt listeners that translate Slack requests into core calls (inbound.py), and answer
with the core's Replies as Block Kit (render.py, respond.py). Requests arrive through transport.py.

Every listener calls `ack()` first (Slack wants an answer within 3 seconds), then does the work. Nothing is kept in
memory between requests: buttons carry the core's action id in their `value`, modals carry the channel in
`private_metadata`, so everything keeps working after a restart. Business rules live in the core; this module only
translates.

Modes: `socket` connects out to Slack (no public URL needed); `http` serves Slack's events, slash commands and
interactivity at POST /slack/events and refuses any request whose signature or timestamp is wrong before reading its
body (transport.py; bolt's own request verification, always on, checks again).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.base import API_TIMEOUT, STOP_GRACE, InFlight, form_args, opens_form, scrub
from bot.adapters.slack import inbound
from bot.adapters.slack.acks import AckOnce, written_before_ack
from bot.adapters.slack.errors import API_ERRORS, AUTH_ERRORS, NETWORK_ERRORS, reason
from bot.adapters.slack.people import ChannelNames, DisplayNames, GroupMembers, is_group
from bot.adapters.slack.picker import Picker
from bot.adapters.slack.render import form_view, render
from bot.adapters.slack.respond import Responder
from bot.adapters.slack.teams import TeamClients, workspace_staff
from bot.adapters.slack.transport import HttpListener, open_socket, unreadable
from bot.config import SlackConfig
from bot.core.commands import CommandSpec, parse_line
from bot.core.contract import Adapter, Staff, StartupError
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply

log = logging.getLogger("bot.slack")

RESTRICT_UNSUPPORTED = (
    "Slack does not let apps time out members with a bot token, so nothing was done on Slack. "
    "A workspace admin can remove the member from the channel or deactivate their account by hand."
)


class SlackAdapter(Adapter):
    """Slack through slack-bolt's AsyncApp, in Socket Mode or over HTTP.

    Test seam: `slack.api_url` is the Web API base URL of both clients (ours and bolt's), in tests a local fake.
    Everything else follows from that API's answers: Socket Mode's websocket address comes from its
    apps.connections.open, and response_url addresses come in the requests themselves.
    """

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
        self.communities = {w.team_id.strip(): workspace_staff(w, i) for i, w in enumerate(cfg.workspaces)}
        base_url = cfg.api_url if cfg.api_url.endswith("/") else cfg.api_url + "/"
        # Our own Web API calls. bolt gets a token-less client of the same API and our `authorize` below, so it
        # neither needs the token at construction nor calls auth.test on its own: start() does that once.
        # Transient failures are retried by the SDK's own handlers: 429 after its Retry-After, 5xx and dropped
        # connections a couple of times. Refused credentials are not transient: see lost().
        retries = [AsyncRateLimitErrorRetryHandler(max_retry_count=2), AsyncServerErrorRetryHandler(max_retry_count=2),
                   AsyncConnectionErrorRetryHandler(max_retry_count=2)]
        # A call that times out is not retried by these (TimeoutError is none of the errors they retry).
        self.client = AsyncWebClient(token=cfg.bot_token.get() or None, base_url=base_url, retry_handlers=retries,
                                     timeout=API_TIMEOUT)
        self._bolt_client = AsyncWebClient(base_url=base_url, retry_handlers=list(retries),
                                           timeout=API_TIMEOUT)
        # Workspaces that installed the app on their own have their own bot token and client.
        self.clients = TeamClients(self.client, {
            w.team_id.strip(): AsyncWebClient(token=w.bot_token.get(), base_url=base_url, retry_handlers=list(retries),
                                              timeout=API_TIMEOUT)
            for w in cfg.workspaces if w.bot_token})
        self._team_auth: dict[str, Any] = {}  # team id -> its own token's auth.test answer
        self.app = AsyncApp(
            name="migraine-community-bot",
            client=self._bolt_client,
            signing_secret=cfg.signing_secret.get(),
            authorize=self._authorizer(),
            request_verification_enabled=True,  # HTTP requests without a valid, fresh signature get 401
            process_before_response=False,  # ack() goes back to Slack at once; the work continues after
        )
        groups: dict[str, str | None] = {i: None for i in [*cfg.moderator_ids, *cfg.admin_ids] if is_group(i)}
        for w in cfg.workspaces:  # a workspace's own user groups are asked of that workspace
            groups.update({i: w.team_id.strip() for i in [*w.moderator_ids, *w.admin_ids] if is_group(i)})
        self._groups = GroupMembers(self.clients, groups)
        self._names = DisplayNames(self.clients)
        self._channel_names = ChannelNames(self.clients)
        self._replies = Responder(self.clients, self)
        self._picker = Picker(core, self.clients, self._replies, self.member, self._work)
        self._auth: Any = None
        self.bot_user_id = ""
        self.team_id = ""
        self.team_url = ""
        self.port: int | None = None  # the port actually listened on (http mode), useful with port 0
        self._session: aiohttp.ClientSession | None = None
        self._http = HttpListener(self.app, cfg.host, cfg.port, cfg.signing_secret.get())  # serves only in http mode
        self._socket: Any = None
        self._lost: asyncio.Future[str] | None = None
        self._watch_auth(self.client, "slack.bot_token")
        for i, w in enumerate(cfg.workspaces):
            if w.bot_token:
                self._watch_auth(self.clients.for_team(w.team_id.strip()), f"slack.workspaces[{i}].bot_token")
        self._inflight = InFlight()
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
        # The SDK applies its own timeout only to sessions it creates; a shared session carries its own, and
        # aiohttp's default would let an unanswered call hold a handler, or a shutdown, for 5 minutes.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))
        for client in self.clients:
            client.session = self._session
        self._bolt_client.session = self._session
        try:
            await self._verify_token()
            if self.cfg.mode == "socket":
                self._socket = await open_socket(self.app, self.client, self.cfg.app_token.get(), self.cfg.api_url,
                                                 self._scrub)
                self._watch_auth(self._socket.client, "slack.app_token", method="issue_new_wss_url")
            else:
                self.port = await self._http.start()
        except BaseException:
            await self._close_session()
            raise
        self._lost = asyncio.get_running_loop().create_future()
        self._started = True

    # -- lost for good -------------------------------------------------------------------------------------

    def _watch_auth(self, client: Any, setting: str, method: str = "api_call") -> None:
        """Wrap `client.method` so that Slack refusing our credentials after start (a revoked token, an inactive
        account) ends `lost()`, instead of the SDK retrying, and logging, forever. Transient failures (network,
        5xx, 429) are left to the SDK's own retries."""
        original = getattr(client, method)

        async def watched(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await original(*args, **kwargs)
            except SlackApiError as exc:
                why = reason(exc)
                params = kwargs.get("params")
                own = not (isinstance(params, dict) and params.get("token"))  # apps.connections.open: the app token
                if why in AUTH_ERRORS and own and self._lost is not None and not self._lost.done():
                    self._lost.set_result(f"Slack rejected {setting}: {why}")
                raise
            if method == "issue_new_wss_url":  # Socket Mode asks for a new address only to reconnect
                self.core.meter.count("reconnects", platform=self.platform)
            return result

        setattr(client, method, watched)

    async def lost(self) -> str:
        if self._lost is None:
            return await super().lost()
        return await asyncio.shield(self._lost)

    @property
    def connected(self) -> bool:
        """HTTP mode: listening since start. Socket Mode: the SDK's websocket is open (it reconnects by itself)."""
        if not self._started or (self._lost is not None and self._lost.done()):
            return False
        if self._socket is None:
            return self.cfg.mode == "http"
        client = self._socket.client
        session = client.current_session
        return not client.closed and not client.stale and session is not None and not session.closed

    async def _verify_token(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            why = reason(exc)
            if why in AUTH_ERRORS:
                raise StartupError(f"Slack rejected slack.bot_token: {why}") from None
            raise StartupError(f"Slack's auth.test failed: {why}") from None
        except NETWORK_ERRORS as exc:
            raise StartupError(self._scrub(f"cannot reach the Slack API at {self.cfg.api_url}: "
                                           f"{reason(exc)}")) from None
        self._auth = auth
        self.bot_user_id = auth.get("user_id") or ""
        self.team_id = auth.get("team_id") or ""
        self.team_url = (auth.get("url") or "").rstrip("/")
        log.info("platform=slack connected as %s to %s", auth.get("user"), auth.get("team"))
        for i, w in enumerate(self.cfg.workspaces):
            if not w.bot_token:
                continue
            setting = f"slack.workspaces[{i}].bot_token"
            try:
                team_auth = await self.clients.for_team(w.team_id.strip()).auth_test()
            except SlackApiError as exc:
                raise StartupError(f"Slack rejected {setting}: {reason(exc)}") from None
            except NETWORK_ERRORS as exc:
                raise StartupError(self._scrub(f"cannot reach the Slack API with {setting}: {reason(exc)}")) from None
            if team_auth.get("team_id") != w.team_id.strip():
                raise StartupError(f"{setting} belongs to workspace {team_auth.get('team_id')}, not "
                                   f"{w.team_id.strip()}: check the token and the team_id")
            self._team_auth[w.team_id.strip()] = team_auth
            log.info("platform=slack connected as %s to %s", team_auth.get("user"), team_auth.get("team"))

    async def stop(self) -> None:
        """Stop taking requests and let the ones being handled finish (up to STOP_GRACE s); the Web API client
        stays open until close(), so the core can still post and edit."""
        await self._http.stop()
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        late = await self._inflight.drain(STOP_GRACE)
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
            for client in self.clients:
                client.session = None
            self._bolt_client.session = None

    def _authorizer(self) -> Any:
        # A plain function: bolt passes arguments by name and would trip over a bound method's `self`.
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
            """bolt asks this for every request: the answer of the auth.test start() made for that workspace's
            token (its own, or the app's)."""
            own = self._team_auth.get(team_id or "")
            if own is not None:
                return AuthorizeResult.from_auth_test_response(
                    bot_token=self.clients.for_team(team_id).token or "", auth_test_response=own)
            if self._auth is None:
                return None
            return AuthorizeResult.from_auth_test_response(bot_token=self.cfg.bot_token.get(),
                                                           auth_test_response=self._auth)

        return authorize

    def _scrub(self, text: str) -> str:
        return scrub(text, self.cfg.bot_token.get(), self.cfg.app_token.get(), self.cfg.signing_secret.get(),
                     *(w.bot_token.get() for w in self.cfg.workspaces))

    # -- the contract: the core posts, edits and deletes ---------------------------------------------------

    async def _client_for(self, place: Place) -> AsyncWebClient:
        """The client of the place's workspace (learned for its channel when the place names it)."""
        if place.guild:
            self.clients.learn(place.channel, place.guild)
            return self.clients.for_team(place.guild)
        return await self.clients.for_channel(place.channel)

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        rendered = render(reply, image_shown=True)
        client = await self._client_for(place)
        response = await client.chat_postMessage(channel=place.channel, text=rendered.text, blocks=rendered.blocks,
                                                 unfurl_links=False, unfurl_media=False)
        channel = response.get("channel") or place.channel
        ref = MessageRef("slack", channel, str(response["ts"]))
        if reply.image is not None:
            await self._upload(client, channel, reply)
        return ref

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> None:
        """An ephemeral message in the channel: only that member sees it, and only there."""
        rendered = render(reply, image_shown=False)
        client = await self._client_for(place)
        await client.chat_postEphemeral(channel=place.channel, user=member_id.removeprefix("slack:"),
                                        text=rendered.text, blocks=rendered.blocks)

    async def _upload(self, client: AsyncWebClient, channel: str, reply: Reply, thread_ts: str | None = None) -> None:
        """Attach a reply's image (files_upload_v2); a failed upload never undoes the message itself."""
        assert reply.image is not None
        try:
            await client.files_upload_v2(channel=channel, content=reply.image.data, thread_ts=thread_ts,
                                         filename=reply.image.filename, title=reply.image.filename)
        except API_ERRORS as exc:
            log.warning("platform=slack could not upload image %s to %s: %s", reply.image.filename, channel,
                        reason(exc))

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        rendered = render(reply, image_shown=True)
        client = await self.clients.for_channel(ref.channel)
        await client.chat_update(channel=ref.channel, ts=ref.message, text=rendered.text, blocks=rendered.blocks)
        if reply.image is not None:
            # chat.update cannot attach files: the new image goes into the message's thread.
            await self._upload(client, ref.channel, reply, thread_ts=ref.message)

    async def delete(self, ref: MessageRef) -> None:
        """chat.delete. A bot token can delete the bot's own messages; deleting a member's needs more rights."""
        try:
            client = await self.clients.for_channel(ref.channel)
            await client.chat_delete(channel=ref.channel, ts=ref.message)
        except SlackApiError as exc:
            why = reason(exc)
            if why in ("cant_delete_message", "message_not_found", "not_in_channel", "channel_not_found"):
                raise RuntimeError(f"Slack could not delete the message ({why}): a bot cannot delete members' "
                                   "messages, so a workspace admin must delete it by hand") from None
            raise RuntimeError(f"Slack could not delete the message: {why}") from None

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        """Slack has no time-out for bots: raise NotImplementedError with a polite explanation."""
        raise NotImplementedError(RESTRICT_UNSUPPORTED)

    async def channel_name(self, channel: str) -> str:
        """conversations.info's name, cached; the id when Slack won't say."""
        return await self._channel_names.get(channel)

    async def guild_of(self, channel: str) -> str | None:
        """The workspace a channel belongs to (conversations.info's context_team_id), cached."""
        return await self._channel_names.team(channel)

    # -- requests: translated by inbound.py, answered by respond.py ------------------------------------------

    def _register(self) -> None:
        # bolt tries listeners in order, building each one's arguments, until one matches: one listener for every
        # slash command, and the busiest kinds (messages, buttons) first, keep that walk short on every request.
        self.app.event("message")(self._on_message)
        self.app.action(re.compile(r".*"))(self._on_action)
        slash = {f"/{spec.name}": spec for spec in self.core.commands if spec.kind == "slash"}
        if slash:
            names = "|".join(re.escape(name) for name in slash)
            self.app.command(re.compile(f"^(?:{names})$"))(self._command_listener(slash))
        for spec in self.core.commands:
            if spec.kind == "message":
                self.app.shortcut(spec.name)(self._shortcut_listener(spec))
        self.app.view(re.compile(r"^form:"))(self._on_form)
        self._picker.register(self.app)  # Slack's stand-in for slash-command autocomplete
        self.app.error(unreadable)  # a signed payload bolt cannot read gets 400, not 500 and a traceback

    @contextlib.asynccontextmanager
    async def _work(self, what: str) -> AsyncIterator[None]:
        """Track a request's work (so stop() can wait for it) and log, never raise, any failure."""
        async with self._inflight.track():
            try:
                yield
            except Exception:
                log.exception("platform=slack command=%s failed", what)

    async def member(self, user_id: str, name: str | None = None, team: str | None = None) -> Member:
        """The core's Member for a Slack user in workspace `team`, with the configured user groups they belong
        to."""
        groups = await self._groups.containing(user_id)
        return self.core.member("slack", user_id, name or user_id, ids=groups, guild=team)

    def _command_listener(self, specs: dict[str, CommandSpec]) -> Any:
        async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            spec = specs[body["command"]]
            async with self._work(f"/{spec.name}"):
                await self._run_command(spec, body, respond)

        return on_command

    async def _run_command(self, spec: CommandSpec, body: dict[str, Any], respond: Any) -> None:
        sender = inbound.command_sender(body)
        text = inbound.command_text(body)
        self.clients.learn(sender.channel, sender.team)
        member = await self.member(sender.user, sender.name, sender.team)
        if body.get("trigger_id") and opens_form(spec, member, has_args=bool(text.strip())):
            await self._open_form(spec, body["trigger_id"], sender, respond)
            return
        if body.get("trigger_id") and self._picker.offers(spec, member, text):
            await self._picker.open(spec, body["trigger_id"], sender, respond)
            return
        reply = await self.core.dispatch(Invocation(spec.name, member, sender.place, parse_line(spec, text)))
        await self._replies.deliver(reply, sender, respond, f"/{spec.name}")

    async def _open_form(self, spec: CommandSpec, trigger_id: str, sender: inbound.Sender, respond: Any) -> None:
        assert spec.form is not None
        view = form_view(spec.name, spec.form, inbound.form_metadata(sender.channel, sender.team))
        try:
            await self.clients.for_team(sender.team).views_open(trigger_id=trigger_id, view=view)
        except API_ERRORS as exc:
            log.error("platform=slack command=/%s could not open its form: %s", spec.name, reason(exc))
            await self._replies.apologise(sender.channel, sender.user, respond, reason(exc))

    async def _on_form(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        name = inbound.form_command(view)
        async with AckOnce(ack) as acked, self._work(f"/{name}"):
            sender = inbound.form_sender(body, view)
            args = form_args(self.core.command(name), inbound.form_values(view))
            self.clients.learn(sender.channel, sender.team)
            member = await self.member(sender.user, sender.name, sender.team)
            reply = await written_before_ack(self.core.dispatch(Invocation(name, member, sender.place, args)),
                                             acked)
            await self._replies.deliver(reply, sender, None, f"/{name}")

    def _shortcut_listener(self, spec: CommandSpec) -> Any:
        async def on_shortcut(ack: Any, body: dict[str, Any], respond: Any) -> None:
            async with AckOnce(ack) as acked, self._work(spec.name):
                await self._run_shortcut(spec, body, respond, acked)

        return on_shortcut

    async def _run_shortcut(self, spec: CommandSpec, body: dict[str, Any], respond: Any, acked: AckOnce) -> None:
        if body.get("type") != "message_action":
            return
        sender = inbound.shortcut_sender(body)
        message = body.get("message") or {}
        link = self.permalink(sender.channel, inbound.shortcut_ts(body), (body.get("team") or {}).get("domain"),
                              message.get("thread_ts"))
        self.clients.learn(sender.channel, sender.team)
        member = await self.member(sender.user, sender.name, sender.team)
        reply = await written_before_ack(
            self.core.dispatch(Invocation(spec.name, member, sender.place, inbound.shortcut_args(body, link))), acked)
        try:
            await self._replies.private(reply, sender.channel, sender.user, respond)
        except API_ERRORS as exc:
            log.error("platform=slack command=%s could not deliver reply: %s", spec.name, reason(exc))

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        async with AckOnce(ack) as acked, self._work("button"):
            if body.get("type") != "block_actions":
                return
            value = inbound.pressed_value(action)
            sender = inbound.action_sender(body)
            if not sender.channel:
                log.warning("platform=slack command=button:%s pressed outside a channel; ignored", value)
                return
            self.clients.learn(sender.channel, sender.team)
            member = await self.member(sender.user, sender.name, sender.team)
            ref = inbound.pressed_on(body, sender.channel)
            reply = await written_before_ack(self.core.dispatch_action(Action(value, member, sender.place, ref)),
                                             acked)
            what = f"button:{value.split(':', 1)[0]}"
            if reply.replace_original and ref is not None:
                await self._replies.replace(reply, ref, sender, respond, what,
                                            in_private=inbound.pressed_in_private(body))
                return
            await self._replies.deliver(reply, sender, respond, what)

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        # Events are acknowledged by bolt before this runs, so the scan never holds Slack up.
        async with self._work("message"):
            if not inbound.is_member_post(event):
                return
            channel, ts = event.get("channel", ""), str(event.get("ts", ""))
            # The workspace the channel belongs to (the envelope's), not the author's: in a channel shared with
            # another organisation (Slack Connect) the author's team is theirs, the channel's moderators are ours.
            team = body.get("context_team_id") or body.get("team_id") or event.get("team")
            self.clients.learn(channel, team)
            name = await self.user_name(event["user"], team)
            link = self.permalink(channel, ts, None, event.get("thread_ts"))
            role = (await self.member(event["user"], name, team)).role
            await self.core.on_message(dataclasses.replace(inbound.incoming_message(event, name, link),
                                                           author_role=role, guild=team))

    # -- small look-ups ---------------------------------------------------------------------------------------

    def permalink(self, channel: str, ts: str, domain: str | None = None, thread_ts: str | None = None) -> str:
        """A link to a message, built without an API call (https://TEAM.slack.com/archives/C…/p…)."""
        base = self.team_url or (f"https://{domain}.slack.com" if domain else "")
        return inbound.permalink(base, channel, ts, thread_ts)

    async def user_name(self, user_id: str, team: str | None = None) -> str:
        """A member's display name via users.info of their workspace (cached); their id if Slack won't say."""
        return await self._names.get(user_id, team)
