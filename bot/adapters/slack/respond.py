"""Answering a Slack request with the core's Reply: privately through response_url (or chat.postEphemeral),
publicly in the channel, as an edit of the message a button is on, and a polite note when delivery failed.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.base import API_TIMEOUT
from bot.adapters.slack.errors import API_ERRORS, NOT_IN_CHANNEL, reason
from bot.adapters.slack.inbound import Sender
from bot.adapters.slack.render import render
from bot.adapters.slack.teams import TeamClients
from bot.core.contract import Adapter
from bot.core.records import MessageRef, Reply

log = logging.getLogger("bot.slack")


def can_respond(respond: Any) -> bool:
    """Whether bolt's `respond` has a response_url to answer through."""
    return respond is not None and bool(getattr(respond, "response_url", None))


class Responder:
    """Delivers replies for one adapter: its Web API clients, and its post/update for public messages."""

    def __init__(self, clients: TeamClients, adapter: Adapter) -> None:
        self.clients = clients
        self.adapter = adapter

    async def _respond(self, respond: Any, **message: Any) -> Any:
        """POST to the response_url. bolt's respond() opens a new HTTP session, so a new TCP connection, for every
        answer; the adapter's shared session keeps connections to Slack alive across answers."""
        session = self.clients.default.session
        if session is None or session.closed:
            return await respond(**message)
        hook = AsyncWebhookClient(url=respond.response_url, session=session, timeout=API_TIMEOUT)
        return await hook.send_dict({key: value for key, value in message.items() if value is not None})

    async def deliver(self, reply: Reply, sender: Sender, respond: Any, what: str) -> None:
        """Ephemeral replies go to the member only; public ones to the channel. Failures get a polite note."""
        try:
            if reply.ephemeral:
                await self.private(reply, sender.channel, sender.user, respond)
            else:
                await self.public(reply, sender, respond)
        except API_ERRORS as exc:
            log.error("platform=slack command=%s could not deliver reply: %s", what, reason(exc))
            await self.apologise(sender.channel, sender.user, respond, reason(exc))

    async def replace(self, reply: Reply, ref: MessageRef, sender: Sender, respond: Any, what: str, *,
                      in_private: bool) -> None:
        """Edit the message a button is on; a failure gets a polite note."""
        try:
            if in_private and can_respond(respond):
                # Ephemeral messages cannot be edited with chat.update, only through response_url.
                rendered = render(reply, image_shown=False)
                await self._respond(respond, text=rendered.text, blocks=rendered.blocks, replace_original=True)
            else:
                await self.adapter.update(ref, reply)
        except API_ERRORS as exc:
            log.error("platform=slack command=%s could not update the message: %s", what, reason(exc))
            await self.apologise(sender.channel, sender.user, respond, reason(exc))

    async def private(self, reply: Reply, channel: str, user: str, respond: Any) -> None:
        rendered = render(reply, image_shown=False)
        if can_respond(respond):
            # response_url works in every channel, even ones the bot was not invited to.
            response = await self._respond(respond, text=rendered.text, blocks=rendered.blocks,
                                           response_type="ephemeral", replace_original=False)
            if response.status_code == 200:
                return
            log.warning("platform=slack response_url answered %s; trying chat.postEphemeral", response.status_code)
        client = await self.clients.for_channel(channel)
        await client.chat_postEphemeral(channel=channel, user=user, text=rendered.text, blocks=rendered.blocks)

    async def public(self, reply: Reply, sender: Sender, respond: Any) -> None:
        try:
            await self.adapter.post(sender.place, reply)
        except SlackApiError as exc:
            if reason(exc) not in NOT_IN_CHANNEL or not can_respond(respond):
                raise
            # A private channel or DM the bot is not in: the response_url can still post for everyone to see.
            rendered = render(reply, image_shown=False)
            response = await self._respond(respond, text=rendered.text, blocks=rendered.blocks,
                                           response_type="in_channel", replace_original=False)
            if response.status_code != 200:
                raise

    async def apologise(self, channel: str, user: str, respond: Any, why: str) -> None:
        hint = " Invite me to this channel with /invite and try again." if why in NOT_IN_CHANNEL else ""
        note = Reply(text=f"Sorry, I couldn't show my answer here (Slack said: {why}).{hint}", ephemeral=True)
        try:
            await self.private(note, channel, user, respond)
        except Exception as exc:
            log.warning("platform=slack could not tell %s that delivery failed: %s", user, reason(exc))
