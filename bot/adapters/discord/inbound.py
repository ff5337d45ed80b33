"""Discord interactions and messages -> the core's records: Member, Place, command arguments, the message a
button is on, a submitted form's values and IncomingMessage. Pure translation: no network, no rules.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.adapters.base import FORM_PREFIX
from bot.core.contract import IncomingMessage
from bot.core.core import Core
from bot.core.records import Member, MessageRef, Place


def member_of(core: Core, interaction: discord.Interaction) -> Member:
    """The member who interacted, with the role their Discord roles grant under the configured staff ids."""
    user = interaction.user
    # @everyone is every member's role: it must never count as a configured role id.
    role_ids = [str(r.id) for r in user.roles if not r.is_default()] if isinstance(user, discord.Member) else []
    guild = str(interaction.guild_id) if interaction.guild_id else None
    return core.member("discord", str(user.id), user.display_name, ids=role_ids, guild=guild)


def place_of(interaction: discord.Interaction) -> Place:
    guild = str(interaction.guild_id) if interaction.guild_id else None
    return Place("discord", str(interaction.channel_id or ""), guild)


def message_args(message: discord.Message) -> dict[str, str]:
    """The arguments of a message command (context menu): the message it was run on."""
    return {
        "text": message.content,
        "author": f"discord:{message.author.id}",
        "channel": str(message.channel.id),
        "message": str(message.id),
        "link": message.jump_url,
    }


def pressed_on(interaction: discord.Interaction) -> MessageRef | None:
    """The message a pressed button is on."""
    message = interaction.message
    return MessageRef("discord", str(interaction.channel_id), str(message.id)) if message else None


def submitted_form(interaction: discord.Interaction) -> str | None:
    """The command whose form (modal) was submitted; None for a modal that is not one of ours."""
    custom_id = str(_data(interaction).get("custom_id", ""))
    return custom_id.removeprefix(FORM_PREFIX) if custom_id.startswith(FORM_PREFIX) else None


def form_values(interaction: discord.Interaction) -> dict[str, str]:
    """custom_id -> value of a submitted modal's text inputs."""
    return modal_values(_data(interaction).get("components", []))


def _data(interaction: discord.Interaction) -> dict[str, Any]:
    return interaction.data or {}  # type: ignore[return-value]


def modal_values(components: list[dict[str, Any]]) -> dict[str, str]:
    """custom_id -> value of every text input in a modal submission (inside labels or action rows)."""
    values: dict[str, str] = {}
    for component in components:
        if "component" in component:
            values.update(modal_values([component["component"]]))
        if "components" in component:
            values.update(modal_values(component["components"]))
        if component.get("custom_id") and "value" in component:
            values[str(component["custom_id"])] = str(component["value"] or "")
    return values


def incoming_message(message: discord.Message) -> IncomingMessage | None:
    """A message a member wrote in a server, for the core's watchers; None for bots, webhooks, DMs and system
    messages (joins, pins, boosts)."""
    if message.guild is None or message.author.bot or message.webhook_id is not None or message.is_system():
        return None
    author = message.author
    joined = getattr(author, "joined_at", None)  # only a Member (not a User) has it
    return IncomingMessage(
        ref=MessageRef("discord", str(message.channel.id), str(message.id)),
        author_id=f"discord:{author.id}",
        author_name=author.display_name,
        text=message.content,
        ts=message.created_at.timestamp(),
        link=message.jump_url,
        author_joined_ts=joined.timestamp() if joined else None,
        mass_mentions=(1 if message.mention_everyone else 0) + len(message.raw_role_mentions),
        mentions=frozenset(f"user:{i}" for i in message.raw_mentions)
        | frozenset(f"role:{i}" for i in message.raw_role_mentions),
        guild=str(message.guild.id),
    )
