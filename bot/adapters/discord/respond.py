"""Answering a Discord interaction with the core's Reply: directly when the work is quick, otherwise acknowledged
first and followed up, and a short private apology when something failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace

import aiohttp
import discord

from bot.adapters.base import API_TIMEOUT
from bot.adapters.discord.render import NO_MENTIONS, edit_kwargs, image_file, message_kwargs, render
from bot.core.records import Reply, error_reply

log = logging.getLogger("bot.discord")

# Discord drops an interaction that gets no response within 3 s; past this the adapter acknowledges first.
DEFER_AFTER = 2.0
# After acknowledging, how long a slow handler may take before the member gets an apology (tokens last 15 min).
SLOW_LIMIT = 60.0

SORRY = "Sorry, something went wrong on my side. Nothing was changed; please try again."
TOO_SLOW = "Sorry, that took too long. Please try again in a moment."
POSTED = "Posted in the channel."


async def apologise(interaction: discord.Interaction, text: str) -> None:
    """A short private note to the member, whatever state the interaction is in; never raises."""
    embeds, _ = render(error_reply(text))
    try:
        async with in_time("an apology"):
            if interaction.type is discord.InteractionType.autocomplete:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
            elif not interaction.response.is_done():
                await interaction.response.send_message(embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.followup.send(embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except NoAnswer as exc:
        log.warning("could not tell the member about a failed interaction: %s", exc)
    except (discord.DiscordException, aiohttp.ClientError, OSError):
        log.warning("could not tell the member about a failed interaction", exc_info=True)


class NoAnswer(TimeoutError):
    """Discord did not answer a call within API_TIMEOUT."""


@contextlib.asynccontextmanager
async def in_time(what: str) -> AsyncIterator[None]:
    """Bound one call to Discord's API: discord.py sets no timeout of its own (aiohttp's default is 5 minutes), so
    a Discord that stopped answering would hold a handler, and a shutdown, that long."""
    try:
        async with asyncio.timeout(API_TIMEOUT):
            yield
    except TimeoutError:
        raise NoAnswer(f"Discord did not answer {what} within {API_TIMEOUT}s") from None


async def answer(interaction: discord.Interaction, work: Awaitable[Reply], *, component: bool = False,
                 force_ephemeral: bool = False) -> None:
    """Run the core's work; answer directly if it is quick, otherwise acknowledge first and follow up."""
    task = asyncio.ensure_future(work)
    try:
        try:
            reply = await asyncio.wait_for(asyncio.shield(task), DEFER_AFTER)
        except TimeoutError:
            async with in_time("the acknowledgement"):
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
            reply = replace(reply, ephemeral=True)
        async with in_time("the reply"):
            await respond(interaction, reply, component=component)
    except NoAnswer as exc:
        # Not retried, as Discord may have shown it; the work (a vote, say) is done and stays done.
        log.error("%s; what the member did is kept", exc)


async def respond(interaction: discord.Interaction, reply: Reply, *, component: bool) -> None:
    """Show `reply`: a button's reply may replace the message it is on; otherwise a new (private) message."""
    embeds, view = render(reply)
    file = image_file(reply)
    response = interaction.response
    replace_original = component and reply.replace_original
    if not response.is_done():
        if replace_original:
            await response.edit_message(**edit_kwargs(embeds, view, file))
            return
        await response.send_message(**message_kwargs(embeds, view, file), ephemeral=reply.ephemeral)
        return
    # Acknowledged earlier because the work was slow.
    if replace_original:
        await interaction.edit_original_response(**edit_kwargs(embeds, view, file))
    elif component:
        await interaction.followup.send(**message_kwargs(embeds, view, file), ephemeral=reply.ephemeral)
    elif reply.ephemeral:
        await interaction.edit_original_response(**edit_kwargs(embeds, view, file))
    else:
        # The private "thinking…" note becomes a pointer; the answer goes to the channel as a new message.
        note, _ = render(Reply(text=POSTED))
        await interaction.edit_original_response(embeds=note, allowed_mentions=NO_MENTIONS)
        await interaction.followup.send(**message_kwargs(embeds, view, file), ephemeral=False)
