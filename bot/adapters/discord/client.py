"""The Discord adapter: discord.py's client and command tree in front of the core. It translates only.

Slash commands, the message context menu and the one persistent button class are built from `core.commands`;
each interaction becomes an `Invocation` or `Action`, the core answers with a `Reply`, and `embeds.render`
turns that into embeds and buttons. Roles come from config (`moderator_role_ids`, `admin_role_ids`), checked by
the core: the adapter never decides who may do what.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord.embeds import CoreButton, clip, image_file, render
from bot.config import DiscordConfig
from bot.core.commands import CommandSpec, Form
from bot.core.contract import Adapter, IncomingMessage, Staff, StartupError
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, error_reply

log = logging.getLogger("bot.discord")

NO_MENTIONS = discord.AllowedMentions.none()

# Discord drops an interaction that gets no response within 3 s; past this the adapter acknowledges first.
DEFER_AFTER = 2.0
# After acknowledging, how long a slow handler may take before the member gets an apology (tokens last 15 min).
SLOW_LIMIT = 60.0
AUTOCOMPLETE_LIMIT = 2.5
STOP_GRACE = 10.0
MAX_TIMEOUT = timedelta(days=28)  # Discord's longest member timeout

_V = TypeVar("_V", discord.ui.View, discord.ui.Modal)

MENU_NAMES = {"report": "Report to moderators"}
FORM_PREFIX = "form:"

SORRY = "Sorry, something went wrong on my side. Nothing was changed; please try again."
RESTARTING = "The bot is restarting. Please try again in a minute."
TOO_SLOW = "Sorry, that took too long. Please try again in a moment."


def menu_name(command: str) -> str:
    """The context-menu label for a message command: 'report' -> 'Report to moderators'."""
    return MENU_NAMES.get(command, command.replace("-", " ").replace("_", " ").title())[:32]


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
        await _apologise(interaction, SORRY)


class _Client(discord.Client):
    """discord.py's client with the adapter attached; events are forwarded to it."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree = _Tree(self, allowed_contexts=app_commands.AppCommandContext(guild=True),
                          allowed_installs=app_commands.AppInstallationType(guild=True))

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


async def _apologise(interaction: discord.Interaction, text: str) -> None:
    """A short private note to the member, whatever state the interaction is in; never raises."""
    reply = error_reply(text)
    embeds, _ = render(reply)
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            if not interaction.response.is_done():
                await interaction.response.autocomplete([])
        elif not interaction.response.is_done():
            await interaction.response.send_message(embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.followup.send(embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except (discord.DiscordException, aiohttp.ClientError, OSError):
        log.warning("could not tell the member about a failed interaction", exc_info=True)


class DiscordAdapter(Adapter):
    """discord.py in front of the core."""

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
        self.guild_ready_timeout = guild_ready_timeout
        self.ready_timeout = ready_timeout
        self._closing = False
        self._started = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self._connect_task: asyncio.Task[None] | None = None
        if cfg.api_url:
            # Tests point discord.py at a local fake. Route.BASE is where every REST call and webhook goes.
            Route.BASE = cfg.api_url.rstrip("/")
        self.client = self._build_client()

    # -- construction -------------------------------------------------------------------------------------

    def _build_client(self) -> _Client:
        client = _Client(self, intents=intents_for(self.cfg), allowed_mentions=NO_MENTIONS,
                         guild_ready_timeout=self.guild_ready_timeout, chunk_guilds_at_startup=False,
                         max_messages=None, enable_debug_events=False)
        for spec in self.core.commands:
            if spec.kind == "slash":
                client.tree.add_command(self._slash_command(spec))
            elif spec.kind == "message":
                client.tree.add_command(self._message_command(spec))
            else:
                log.warning("command /%s has kind %r, which Discord cannot show; skipped", spec.name, spec.kind)
        return client

    def _slash_command(self, spec: CommandSpec) -> app_commands.Command[Any, ..., Any]:
        """An app command whose parameters are the spec's options (all strings)."""
        names: dict[str, str] = {}  # python parameter name -> option name
        params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)]
        renames: dict[str, str] = {}
        descriptions: dict[str, str] = {}
        autocompletes: dict[str, Callable[..., Awaitable[list[app_commands.Choice[str]]]]] = {}
        choices: dict[str, list[app_commands.Choice[str]]] = {}
        for i, option in enumerate(spec.options):
            # Option names may hold '-', which Python identifiers cannot: parameters are o0, o1... renamed.
            py = f"o{i}"
            names[py] = option.name
            renames[py] = option.name
            descriptions[py] = clip(option.description or option.name, 100)
            default = inspect.Parameter.empty if option.required else None
            params.append(inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=default))
            if option.autocomplete:
                autocompletes[py] = self._completer(spec.name, option.name)
            elif option.choices:
                choices[py] = [app_commands.Choice(name=c[:100], value=c[:100]) for c in option.choices[:25]]

        async def callback(interaction: discord.Interaction, **kwargs: str | None) -> None:
            args = {names[k]: v for k, v in kwargs.items() if v is not None}
            await self._on_command(interaction, spec, args)

        callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_rename__ = renames  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_autocomplete__ = autocompletes  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
        command = app_commands.Command(name=spec.name, description=clip(spec.description or spec.name, 100),
                                       callback=callback, extras={"spec": spec})
        command.guild_only = True  # roles, channels and moderators only exist in a server
        return command

    def _completer(self, command: str, option: str) -> Callable[..., Awaitable[list[app_commands.Choice[str]]]]:
        async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            try:
                pairs = await asyncio.wait_for(self.core.autocomplete(command, option, current or ""),
                                               AUTOCOMPLETE_LIMIT)
            except TimeoutError:
                log.warning("autocomplete %s.%s took longer than %.1fs", command, option, AUTOCOMPLETE_LIMIT)
                return []
            return [app_commands.Choice(name=label[:100], value=value[:100])
                    for label, value in pairs if label.strip() and value][:25]

        return complete

    def _message_command(self, spec: CommandSpec) -> app_commands.ContextMenu:
        async def callback(interaction: discord.Interaction, message: discord.Message) -> None:
            args = {
                "text": message.content,
                "author": f"discord:{message.author.id}",
                "channel": str(message.channel.id),
                "message": str(message.id),
                "link": message.jump_url,
            }
            await self._on_command(interaction, spec, args, force_ephemeral=True)

        menu = app_commands.ContextMenu(name=menu_name(spec.name), callback=callback, extras={"spec": spec})
        menu.guild_only = True
        return menu

    # -- the contract -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, register the commands, connect to the gateway and wait until ready."""
        if self.client.is_closed():
            self.client = self._build_client()
        self._closing = self._started = False
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
            if self.cfg.api_url:
                # The gateway address comes from GET /gateway/bot of the configured API (a local fake in tests).
                _, url, _ = await self.client.http.get_bot_gateway()
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        except discord.LoginFailure as exc:
            raise StartupError(f"Discord rejected discord.token: {_scrub(str(exc), token)}") from None
        except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise StartupError(f"could not reach Discord at {where}: {_describe(exc, token)}") from None

    async def _sync_commands(self) -> None:
        """Register the commands: per guild when discord.guild_ids is set (instant), else globally."""
        tree = self.client.tree
        targets = [discord.Object(id=int(g)) for g in self.cfg.guild_ids] or [None]
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

    async def stop(self) -> None:
        """Refuse new interactions and let the ones in progress finish; REST still works until close()."""
        self._closing = True
        pending = {t for t in self._inflight if t is not asyncio.current_task() and not t.done()}
        if pending:
            done, late = await asyncio.wait(pending, timeout=STOP_GRACE)
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

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        channel = self.client.get_partial_messageable(int(place.channel), guild_id=_int(place.guild))
        embeds, view = render(reply)
        kwargs: dict[str, Any] = {"embeds": embeds, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            kwargs["view"] = _detached(view)
        file = image_file(reply)
        if file is not None:
            kwargs["file"] = file
        message = await channel.send(**kwargs)
        return MessageRef("discord", str(message.channel.id), str(message.id))

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        message = self.client.get_partial_messageable(int(ref.channel)).get_partial_message(int(ref.message))
        embeds, view = render(reply)
        file = image_file(reply)
        await message.edit(embeds=embeds, view=_detached(view) if view else None,
                           attachments=[file] if file else [], allowed_mentions=NO_MENTIONS)

    async def delete(self, ref: MessageRef) -> None:
        message = self.client.get_partial_messageable(int(ref.channel)).get_partial_message(int(ref.message))
        try:
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
        if not duration:
            return "timeout removed"
        return f"timed out for {int(duration.total_seconds() // 60)} minutes"

    # -- translating events -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _track(self) -> AsyncIterator[None]:
        """Mark the running handler as in flight so stop() waits for it."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _accepting(self, interaction: discord.Interaction) -> bool:
        if self._closing:
            await _apologise(interaction, RESTARTING)
            return False
        return True

    def _member(self, interaction: discord.Interaction) -> Member:
        user = interaction.user
        role_ids: list[str] = []
        if isinstance(user, discord.Member):
            # The ids Discord sent with the interaction, whether or not the guild's roles are cached.
            raw = getattr(user, "_roles", None)
            role_ids = [str(r) for r in raw] if raw is not None else [str(r.id) for r in user.roles]
        return self.core.member("discord", str(user.id), user.display_name, ids=role_ids)

    @staticmethod
    def _place(interaction: discord.Interaction) -> Place:
        guild = str(interaction.guild_id) if interaction.guild_id else None
        return Place("discord", str(interaction.channel_id or ""), guild)

    async def _on_command(self, interaction: discord.Interaction, spec: CommandSpec, args: dict[str, str],
                          *, force_ephemeral: bool = False) -> None:
        async with self._track():
            try:
                if spec.form is not None and not args:
                    modal = _form_modal(spec.name, spec.form)
                    await interaction.response.send_modal(_detached(modal))
                    return
                inv = Invocation(spec.name, self._member(interaction), self._place(interaction), args)
                await self._answer(interaction, self.core.dispatch(inv), force_ephemeral=force_ephemeral)
            except Exception:
                log.exception("Discord command /%s failed", spec.name)
                await _apologise(interaction, SORRY)

    async def _on_form_submit(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(FORM_PREFIX):
            return
        async with self._track():
            if not await self._accepting(interaction):
                return
            name = custom_id.removeprefix(FORM_PREFIX)
            spec = self.core.command(name)
            try:
                allowed = {f.name for f in spec.form.fields} if spec is not None and spec.form else set()
                # Like options left out of a slash command, fields left empty are not passed.
                args = {k: v for k, v in _modal_values(data.get("components", [])).items()
                        if k in allowed and v.strip()}
                inv = Invocation(name, self._member(interaction), self._place(interaction), args)
                await self._answer(interaction, self.core.dispatch(inv))
            except Exception:
                log.exception("Discord form for /%s failed", name)
                await _apologise(interaction, SORRY)

    async def _on_button(self, interaction: discord.Interaction, action_id: str) -> None:
        async with self._track():
            if not await self._accepting(interaction):
                return
            try:
                message = interaction.message
                ref = MessageRef("discord", str(interaction.channel_id), str(message.id)) if message else None
                act = Action(action_id, self._member(interaction), self._place(interaction), ref)
                await self._answer(interaction, self.core.dispatch_action(act), component=True)
            except Exception:
                log.exception("Discord button %s failed", action_id)
                await _apologise(interaction, SORRY)

    async def _on_message(self, message: discord.Message) -> None:
        if self._closing or message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        if message.is_system():  # joins, pins, boosts: nothing a member wrote
            return
        author = message.author
        joined = getattr(author, "joined_at", None)
        incoming = IncomingMessage(
            ref=MessageRef("discord", str(message.channel.id), str(message.id)),
            author_id=f"discord:{author.id}",
            author_name=author.display_name,
            text=message.content,
            ts=message.created_at.timestamp(),
            link=message.jump_url,
            author_joined_ts=joined.timestamp() if joined else None,
            mass_mentions=(1 if message.mention_everyone else 0) + len(message.raw_role_mentions),
        )
        async with self._track():
            await self.core.on_message(incoming)

    # -- answering ----------------------------------------------------------------------------------------

    async def _answer(self, interaction: discord.Interaction, work: Awaitable[Reply], *, component: bool = False,
                      force_ephemeral: bool = False) -> None:
        """Run the core's work; answer directly if it is quick, otherwise acknowledge first and follow up."""
        task = asyncio.ensure_future(work)
        try:
            reply = await asyncio.wait_for(asyncio.shield(task), DEFER_AFTER)
        except TimeoutError:
            if component:
                await interaction.response.defer()  # "update" ack: the message stays as it is for now
            else:
                await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                reply = await asyncio.wait_for(asyncio.shield(task), SLOW_LIMIT)
            except TimeoutError:
                log.error("Discord interaction took longer than %.0fs; the member was told", SLOW_LIMIT)
                reply = error_reply(TOO_SLOW)
        if force_ephemeral and not reply.ephemeral:
            reply = _private(reply)
        await self._respond(interaction, reply, component=component)

    async def _respond(self, interaction: discord.Interaction, reply: Reply, *, component: bool) -> None:
        embeds, view = render(reply)
        file = image_file(reply)
        response = interaction.response
        replace = component and reply.replace_original
        if not response.is_done():
            if replace:
                await response.edit_message(embeds=embeds, view=_detached(view) if view else None,
                                            attachments=[file] if file else [], allowed_mentions=NO_MENTIONS)
                return
            await response.send_message(**_message_kwargs(embeds, view, file), ephemeral=reply.ephemeral)
            return
        # Acknowledged earlier because the work was slow.
        if replace:
            await interaction.edit_original_response(embeds=embeds, view=_detached(view) if view else None,
                                                     attachments=[file] if file else [],
                                                     allowed_mentions=NO_MENTIONS)
        elif component:
            await interaction.followup.send(**_message_kwargs(embeds, view, file), ephemeral=reply.ephemeral)
        elif reply.ephemeral:
            await interaction.edit_original_response(embeds=embeds, view=_detached(view) if view else None,
                                                     attachments=[file] if file else [],
                                                     allowed_mentions=NO_MENTIONS)
        else:
            # The private "thinking…" note becomes a pointer; the answer goes to the channel as a new message.
            note, _ = render(Reply(text="Posted in the channel."))
            await interaction.edit_original_response(embeds=note, allowed_mentions=NO_MENTIONS)
            await interaction.followup.send(**_message_kwargs(embeds, view, file), ephemeral=False)


def _message_kwargs(embeds: list[discord.Embed], view: discord.ui.View | None,
                    file: discord.File | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"embeds": embeds, "allowed_mentions": NO_MENTIONS}
    if view is not None:
        kwargs["view"] = _detached(view)
    if file is not None:
        kwargs["file"] = file
    return kwargs


def _detached(view: _V) -> _V:
    """Mark a view finished before sending, so discord.py keeps nothing in memory for it: buttons are served
    by the persistent CoreButton class and forms by their custom_id."""
    view.stop()
    return view


def _private(reply: Reply) -> Reply:
    return replace(reply, ephemeral=True)


def _form_modal(name: str, form: Form) -> discord.ui.Modal:
    modal = discord.ui.Modal(title=clip(form.title, 45), custom_id=f"{FORM_PREFIX}{name}"[:100])
    for f in form.fields[:5]:
        text_input = discord.ui.TextInput(
            style=discord.TextStyle.paragraph if f.long else discord.TextStyle.short,
            custom_id=f.name[:100], required=f.required, max_length=max(1, min(f.max_length, 4000)),
            placeholder=f.placeholder[:100] or None,
        )
        # Labels show 45 characters; a longer one is cut there and shown whole as the description below it.
        description = clip(f.label, 100) if len(f.label) > 45 else None
        modal.add_item(discord.ui.Label(text=clip(f.label, 45), component=text_input, description=description))
    return modal


def _modal_values(components: list[dict[str, Any]]) -> dict[str, str]:
    """custom_id -> value of every text input in a modal submission (inside labels or action rows)."""
    values: dict[str, str] = {}
    for component in components:
        if "component" in component:
            values.update(_modal_values([component["component"]]))
        if "components" in component:
            values.update(_modal_values(component["components"]))
        if component.get("custom_id") and "value" in component:
            values[str(component["custom_id"])] = str(component["value"] or "")
    return values


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def _describe(exc: BaseException, token: str) -> str:
    return _scrub(str(exc) or type(exc).__name__, token)


def _gateway_problem(exc: BaseException, token: str) -> str:
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return ("Discord refused the Message Content intent: enable it in the Developer Portal (Bot page, "
                "Privileged Gateway Intents) or set discord.message_content: false")
    if isinstance(exc, discord.ConnectionClosed) and exc.code == 4004:
        return "Discord rejected discord.token at the gateway"
    return f"the Discord gateway connection failed: {_describe(exc, token)}"
