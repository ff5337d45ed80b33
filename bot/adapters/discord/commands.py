"""The core's command list as discord.py app commands: slash commands with their options, autocomplete and
choices, and message context menus. Each callback hands the interaction and its arguments to a `Run`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from bot.adapters.base import clip
from bot.adapters.discord.inbound import message_args, place_of
from bot.core.commands import CommandSpec
from bot.core.core import Core

log = logging.getLogger("bot.discord")

AUTOCOMPLETE_LIMIT = 2.5
DESCRIPTION_MAX = 100
CHOICE_MAX = 100
CHOICES_MAX = 25
MENU_NAME_MAX = 32
MENU_NAMES = {"report": "Report to moderators"}

# What a command's callback hands over: the interaction, the command, its arguments, whether to answer privately.
Run = Callable[[discord.Interaction, CommandSpec, dict[str, str], bool], Awaitable[None]]
Complete = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


def menu_name(command: str) -> str:
    """The context-menu label for a message command: 'report' -> 'Report to moderators'."""
    return MENU_NAMES.get(command, command.replace("-", " ").replace("_", " ").title())[:MENU_NAME_MAX]


def slash_command(spec: CommandSpec, core: Core, run: Run) -> app_commands.Command[Any, ..., None]:
    """An app command whose parameters are the spec's options (all strings)."""
    names: dict[str, str] = {}  # python parameter name -> option name
    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=discord.Interaction)]
    descriptions: dict[str, str] = {}
    completers: dict[str, Complete] = {}
    choices: dict[str, list[app_commands.Choice[str]]] = {}
    for i, option in enumerate(spec.options):
        # Option names may hold '-', which Python identifiers cannot: parameters are o0, o1... renamed.
        py = f"o{i}"
        names[py] = option.name
        descriptions[py] = clip(option.description or option.name, DESCRIPTION_MAX)
        default = inspect.Parameter.empty if option.required else None
        params.append(inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=default))
        if option.autocomplete:
            completers[py] = completer(core, spec.name, option.name)
        elif option.choices:
            choices[py] = [app_commands.Choice(name=c[:CHOICE_MAX], value=c[:CHOICE_MAX])
                           for c in option.choices[:CHOICES_MAX]]

    async def callback(interaction: discord.Interaction, **kwargs: str | None) -> None:
        args = {names[k]: v for k, v in kwargs.items() if v is not None}
        await run(interaction, spec, args, False)

    # The options exist only at run time, so the signature discord.py reads is given explicitly (PEP 362).
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    app_commands.rename(**names)(callback)
    app_commands.describe(**descriptions)(callback)
    app_commands.autocomplete(**completers)(callback)
    app_commands.choices(**choices)(callback)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=spec.name, description=clip(spec.description or spec.name, DESCRIPTION_MAX), callback=callback,
        extras={"spec": spec})
    return app_commands.guild_only(command)  # roles, channels and moderators only exist in a server


def completer(core: Core, command: str, option: str) -> Complete:
    """The core's suggestions for one option, cut to Discord's limits; none when they come too slowly."""

    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            pairs = await asyncio.wait_for(core.autocomplete(command, option, current or "",
                                                          place_of(interaction)), AUTOCOMPLETE_LIMIT)
        except TimeoutError:
            log.warning("autocomplete %s.%s took longer than %.1fs", command, option, AUTOCOMPLETE_LIMIT)
            return []
        return [app_commands.Choice(name=label[:CHOICE_MAX], value=value[:CHOICE_MAX])
                for label, value in pairs if label.strip() and value][:CHOICES_MAX]

    return complete


def message_command(spec: CommandSpec, run: Run) -> app_commands.ContextMenu:
    """A message context menu; its answer is always private, whatever the core says."""

    async def callback(interaction: discord.Interaction, message: discord.Message) -> None:
        await run(interaction, spec, message_args(message), True)

    menu = app_commands.ContextMenu(name=menu_name(spec.name), callback=callback, extras={"spec": spec})
    return app_commands.guild_only(menu)
