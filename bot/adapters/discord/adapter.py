"""The Discord adapter: discord.py's client and command tree in front of the core. It translates only.

Slash commands, the message context menu and the one persistent button class are built from `core.commands`
(commands.py); each interaction becomes an `Invocation` or `Action` (inbound.py), the core answers with a `Reply`,
and respond.py / render.py turn that into embeds and buttons. Roles come from config (`moderator_role_ids`,
`admin_role_ids`), checked by the core: the adapter never decides who may do what.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.base import RESTARTING, STOP_GRACE, InFlight, form_args, opens_form, scrub
from bot.adapters.discord.commands import message_command, slash_command
from bot.adapters.discord.inbound import (
    form_values,
    incoming_message,
    member_of,
    place_of,
    pressed_on,
    submitted_form,
)
from bot.adapters.discord.render import (
    NO_MENTIONS,
    CoreButton,
    detached,
    edit_kwargs,
    form_modal,
    image_file,
    message_kwargs,
    render,
)
from bot.adapters.discord.respond import SORRY, NoAnswer, answer, apologise, in_time
from bot.adapters.discord.shards import IdentifyPacer, ShardStates, pacer_for, shard_options
from bot.config import DiscordConfig, DiscordServerConfig
from bot.core.commands import CommandSpec
from bot.core.contract import Adapter, Staff, StartupError, community_name
from bot.core.core import Core
from bot.core.records import Action, Invocation, MessageRef, Place, Reply

log = logging.getLogger("bot.discord")

MAX_TIMEOUT = timedelta(days=28)  # Discord's longest member timeout


def server_staff(server: DiscordServerConfig, index: int) -> Staff:
    """The staff of a server configured as a community of its own (discord.servers[index])."""
    guild = str(server.guild_id)
    return Staff(
        place=Place("discord", str(server.mod_channel_id), guild),
        setting=f"discord.servers[{index}].mod_channel_id",
        moderator_ids=frozenset(str(i) for i in server.moderator_role_ids),
        admin_ids=frozenset(str(i) for i in server.admin_role_ids),
        community=community_name("discord", guild),
        audit=Place("discord", str(server.audit_channel_id), guild) if server.audit_channel_id else None,
    )


def intents_for(cfg: DiscordConfig) -> discord.Intents:
    """Only what is needed: guilds always; guild messages and their content only for spam scanning."""
    intents = discord.Intents.none()
    intents.guilds = True
    if cfg.message_content:
        intents.guild_messages = True
        intents.message_content = True
    return intents


class _Tree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        adapter: DiscordAdapter = interaction.client.adapter  # type: ignore[attr-defined]
        return await adapter._accepting(interaction)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        log.error("Discord command %s failed", getattr(interaction.command, "name", "?"), exc_info=error)
        await apologise(interaction, SORRY)


class _Client(discord.AutoShardedClient):
    """discord.py's sharded client with the adapter attached; events are forwarded to it. Without
    discord.shard_count it runs the number of shards Discord recommends, one for most communities."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.began_login = False
        self.tree = _Tree(self, allowed_contexts=app_commands.AppCommandContext(guild=True),
                          allowed_installs=app_commands.AppInstallationType(guild=True))

    async def login(self, token: str) -> None:
        self.began_login = True
        await super().login(token)

    async def close(self) -> None:
        # AutoShardedClient.close() needs what login() sets up; before login there is nothing open to close.
        if self.began_login:
            await super().close()

    async def setup_hook(self) -> None:
        # One persistent button class for every custom_id: presses after a restart are served from the id alone.
        self.add_dynamic_items(CoreButton)

    async def on_core_button(self, interaction: discord.Interaction, action_id: str) -> None:
        await self.adapter._on_button(interaction, action_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.modal_submit:
            await self.adapter._on_form_submit(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter._on_message(message)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.adapter.identify_pacer.wait(shard_id)

    # discord.py reconnects and resumes by itself; these only keep `connected` true to the gateway's state.
    async def on_shard_ready(self, shard_id: int) -> None:
        self.adapter._on_gateway(shard_id, up=True)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self.adapter._on_gateway(shard_id, up=True)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self.adapter._on_gateway(shard_id, up=False)


class DiscordAdapter(Adapter):
    """discord.py in front of the core.

    Test seam: `discord.api_url` points the client at another Discord API, in tests a local fake (empty means
    discord.com). discord.py has no per-client address, so REST calls and webhooks follow the class attribute
    `Route.BASE`, set when the adapter is built; at login the gateway address is read from that API's
    GET /gateway/bot into `DiscordWebSocket.DEFAULT_GATEWAY`, so the websocket goes to the same place.
    """

    platform = "discord"

    def __init__(self, core: Core, cfg: DiscordConfig, *, guild_ready_timeout: float = 2.0,
                 ready_timeout: float = 60.0) -> None:
        self.core = core
        self.cfg = cfg
        guild = str(cfg.guild_ids[0]) if len(cfg.guild_ids) == 1 else None
        self.staff = Staff(
            place=Place("discord", str(cfg.mod_channel_id), guild) if cfg.mod_channel_id else None,
            setting="discord.mod_channel_id",
            moderator_ids=frozenset(str(i) for i in cfg.moderator_role_ids),
            admin_ids=frozenset(str(i) for i in cfg.admin_role_ids),
        )
        self.communities = {str(s.guild_id): server_staff(s, i) for i, s in enumerate(cfg.servers)}
        self.guild_ready_timeout = guild_ready_timeout
        self.ready_timeout = ready_timeout
        self._started = False
        self._shards = ShardStates()
        self.identify_pacer = IdentifyPacer()
        self._inflight = InFlight()
        self._connect_task: asyncio.Task[None] | None = None
        if cfg.api_url:
            Route.BASE = cfg.api_url.rstrip("/")  # the test seam (class docstring)
        self.client = self._build_client()

    @property
    def _closing(self) -> bool:
        """Whether stop() has begun: new interactions then get a polite note instead of an answer."""
        return self._inflight.closing

    @_closing.setter
    def _closing(self, value: bool) -> None:
        self._inflight.closing = value

    def _build_client(self) -> _Client:
        client = _Client(self, intents=intents_for(self.cfg), allowed_mentions=NO_MENTIONS,
                         guild_ready_timeout=self.guild_ready_timeout, chunk_guilds_at_startup=False,
                         max_messages=None, enable_debug_events=False, **shard_options(self.cfg))
        for spec in self.core.commands:
            if spec.kind == "slash":
                client.tree.add_command(slash_command(spec, self.core, self._on_command))
            elif spec.kind == "message":
                client.tree.add_command(message_command(spec, self._on_command))
            else:
                log.warning("command /%s has kind %r, which Discord cannot show; skipped", spec.name, spec.kind)
        return client

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, register the commands, connect to the gateway and wait until ready."""
        if self.client.is_closed():
            self.client = self._build_client()
        self._closing = self._started = False
        self._shards.reset()
        # A token pasted with its "Bot " prefix still works; the library adds the prefix itself.
        token = self.cfg.token.get().strip().removeprefix("Bot ").strip()
        try:
            await self._login(token)
            await self._sync_commands()
        except BaseException:
            await self.client.close()
            raise

        self._connect_task = asyncio.create_task(self._connect(), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        try:
            done, _ = await asyncio.wait({ready, self._connect_task}, timeout=self.ready_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if ready in done:
            self._started = True
            log.info("connected to Discord as %s", self.client.user)
            return
        problem = f"no READY from the Discord gateway within {self.ready_timeout:.0f}s"
        if self._connect_task in done:
            exc = self._connect_task.exception()
            problem = _gateway_problem(exc, token) if exc else "the Discord gateway closed the connection"
        await self._shutdown_client()
        raise StartupError(problem)

    async def _login(self, token: str) -> None:
        where = self.cfg.api_url or "discord.com"
        try:
            await self.client.login(token)
            recommended, url, limits = await self.client.http.get_bot_gateway()
            if self.cfg.api_url:
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)  # the test seam (class docstring)
            self.identify_pacer = pacer_for(self.cfg, recommended, limits, self.core.turn)
        except discord.LoginFailure as exc:
            raise StartupError(f"Discord rejected discord.token: {scrub(str(exc), token)}") from None
        except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise StartupError(f"could not reach Discord at {where}: {_describe(exc, token)}") from None

    async def _sync_commands(self) -> None:
        """Register the commands: per guild when discord.guild_ids is set (instant), else globally."""
        tree = self.client.tree
        targets: list[discord.Object | None] = [discord.Object(id=int(g)) for g in self.cfg.guild_ids] or [None]
        for guild in targets:
            where = f" in guild {guild.id}" if guild else ""
            try:
                if guild is not None:
                    tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
            except discord.HTTPException as exc:
                raise StartupError(
                    f"Discord refused to register the slash commands{where} ({exc.status}: {exc.text or exc}). "
                    "Check discord.guild_ids and that the bot was invited with the 'bot' and "
                    "'applications.commands' scopes.") from None
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise StartupError(f"could not reach Discord to register the commands: {_describe(exc, '')}") from None
            log.info("registered %d commands%s", len(synced), where or " globally (they can take a while to appear)")

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._started and not self._closing:  # during start() the failure becomes the StartupError
                log.exception("the Discord gateway connection ended")
            raise

    async def lost(self) -> str:
        task = self._connect_task
        if task is None:
            return await super().lost()
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            return "the Discord gateway task was cancelled"
        except Exception as exc:
            return f"the Discord gateway connection ended: {_gateway_problem(exc, self.cfg.token.get())}"
        return "the Discord gateway connection ended"

    @property
    def connected(self) -> bool:
        return self._started and self._shards.all_up and not self.client.is_closed()

    def _on_gateway(self, shard_id: int, *, up: bool) -> None:
        if not up:
            self._shards.down(shard_id)
        elif self._shards.up(shard_id):
            self.core.meter.count("reconnects", platform=self.platform)

    async def stop(self) -> None:
        """Refuse new interactions and let the ones in progress finish; REST still works until close()."""
        late = await self._inflight.drain(STOP_GRACE)
        if late:
            log.warning("%d Discord handlers still running after %.0fs; closing anyway", len(late), STOP_GRACE)

    async def close(self) -> None:
        await self._shutdown_client()

    async def _shutdown_client(self) -> None:
        await self.client.close()
        task, self._connect_task = self._connect_task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, 5.0)
            except (Exception, asyncio.CancelledError):
                task.cancel()

    # -- the contract: the core posts, edits, deletes and restricts -----------------------------------------

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        channel = self.client.get_partial_messageable(int(place.channel), guild_id=_int(place.guild))
        embeds, view = render(reply)
        async with in_time("a new message"):
            message = await channel.send(**message_kwargs(embeds, view, image_file(reply)))
        return MessageRef("discord", str(message.channel.id), str(message.id))

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        message = self.client.get_partial_messageable(int(ref.channel)).get_partial_message(int(ref.message))
        embeds, view = render(reply)
        async with in_time("an edit"):
            await message.edit(**edit_kwargs(embeds, view, image_file(reply)))

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> None:
        """A direct message: a channel message has no interaction to answer with a reply only they can see."""
        user_id = int(member_id.removeprefix("discord:"))
        embeds, _ = render(reply)
        async with in_time("a direct message"):
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            await user.send(embeds=embeds, allowed_mentions=NO_MENTIONS)

    async def delete(self, ref: MessageRef) -> None:
        message = self.client.get_partial_messageable(int(ref.channel)).get_partial_message(int(ref.message))
        try:
            async with in_time("a deletion"):
                await message.delete()
        except discord.NotFound:
            pass  # already gone: the goal is reached
        except discord.Forbidden:
            raise RuntimeError("Discord refused: the bot needs Manage Messages in that channel") from None

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        """Time the member out (needs the Moderate Members permission and a role above theirs)."""
        user_id = int(member_id.removeprefix("discord:"))
        guild_id = _int(place.guild) or (int(self.cfg.guild_ids[0]) if len(self.cfg.guild_ids) == 1 else None)
        if guild_id is None:
            return "not timed out: the server is unknown"
        duration = min(timedelta(minutes=max(minutes, 0)), MAX_TIMEOUT)
        try:
            async with in_time("a member time-out"):
                guild = self.client.get_guild(guild_id) or await self.client.fetch_guild(guild_id)
                member = guild.get_member(user_id) or await guild.fetch_member(user_id)
                await member.timeout(duration or None, reason="community bot: moderator decision")
        except discord.Forbidden:
            log.warning("Discord refused to time out %s: the bot needs Moderate Members and a higher role", member_id)
            return "not timed out: Discord refused (the bot needs Moderate Members and a role above the member's)"
        except discord.NotFound:
            return "not timed out: the member is no longer in the server"
        except discord.HTTPException as exc:
            log.warning("Discord could not time out %s: %s", member_id, exc)
            return f"not timed out: Discord answered {exc.status}"
        except NoAnswer as exc:
            log.warning("%s for %s", exc, member_id)
            return "perhaps not timed out: Discord did not answer in time (check the member in Discord)"
        if not duration:
            return "timeout removed"
        shown = int(duration.total_seconds() // 60)
        return f"timed out for {shown} minute{'' if shown == 1 else 's'}"

    async def channel_name(self, channel: str) -> str:
        """The guild channel's name: from the gateway's cache, else asked of the API (the core falls back to the id)."""
        if not channel.isdecimal():
            return channel
        async with in_time("a channel lookup"):
            found = self.client.get_channel(int(channel)) or await self.client.fetch_channel(int(channel))
        return str(getattr(found, "name", "") or channel)

    async def guild_of(self, channel: str) -> str | None:
        """The server a channel is in: from the gateway's cache, else asked of the API."""
        if not channel.isdecimal():
            return None
        async with in_time("a channel lookup"):
            found = self.client.get_channel(int(channel)) or await self.client.fetch_channel(int(channel))
        guild = getattr(found, "guild", None)
        return str(guild.id) if guild is not None else None

    # -- events: translated by inbound.py, answered by respond.py ---------------------------------------------

    async def _accepting(self, interaction: discord.Interaction) -> bool:
        if self._closing:
            await apologise(interaction, RESTARTING)
            return False
        return True

    async def _on_command(self, interaction: discord.Interaction, spec: CommandSpec, args: dict[str, str],
                          force_ephemeral: bool) -> None:
        async with self._inflight.track():
            try:
                member = member_of(self.core, interaction)
                if opens_form(spec, member, has_args=bool(args)):
                    assert spec.form is not None
                    await interaction.response.send_modal(detached(form_modal(spec.name, spec.form)))
                    return
                inv = Invocation(spec.name, member, place_of(interaction), args)
                await answer(interaction, self.core.dispatch(inv), force_ephemeral=force_ephemeral)
            except Exception:
                log.exception("Discord command /%s failed", spec.name)
                await apologise(interaction, SORRY)

    async def _on_form_submit(self, interaction: discord.Interaction) -> None:
        name = submitted_form(interaction)
        if name is None:
            return
        async with self._inflight.track():
            if not await self._accepting(interaction):
                return
            try:
                args = form_args(self.core.command(name), form_values(interaction))
                inv = Invocation(name, member_of(self.core, interaction), place_of(interaction), args)
                await answer(interaction, self.core.dispatch(inv))
            except Exception:
                log.exception("Discord form for /%s failed", name)
                await apologise(interaction, SORRY)

    async def _on_button(self, interaction: discord.Interaction, action_id: str) -> None:
        async with self._inflight.track():
            if not await self._accepting(interaction):
                return
            try:
                act = Action(action_id, member_of(self.core, interaction), place_of(interaction),
                             pressed_on(interaction))
                await answer(interaction, self.core.dispatch_action(act), component=True)
            except Exception:
                log.exception("Discord button %s failed", action_id)
                await apologise(interaction, SORRY)

    async def _on_message(self, message: discord.Message) -> None:
        if self._closing:
            return
        incoming = incoming_message(message)
        if incoming is None:
            return
        author = message.author
        role_ids = [str(r.id) for r in author.roles if not r.is_default()] if isinstance(author, discord.Member) else []
        role = self.core.member("discord", str(author.id), author.display_name, ids=role_ids,
                                guild=incoming.guild).role
        incoming = dataclasses.replace(incoming, author_role=role)
        async with self._inflight.track():
            await self.core.on_message(incoming)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _describe(exc: BaseException, token: str) -> str:
    return scrub(str(exc) or type(exc).__name__, token)


def _gateway_problem(exc: BaseException, token: str) -> str:
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return ("Discord refused the Message Content intent: enable it in the Developer Portal (Bot page, "
                "Privileged Gateway Intents) or set discord.message_content: false")
    if isinstance(exc, discord.ConnectionClosed) and exc.code == 4004:
        return "Discord rejected discord.token at the gateway"
    return f"the Discord gateway connection failed: {_describe(exc, token)}"
