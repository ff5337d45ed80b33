"""Slack has no autocomplete for slash commands. A command whose typed option autocompletes elsewhere (the core's
@completer: Discord's suggestions as you type) opens, when run with no text on Slack, a modal whose select menu
searches as the member types (Block Kit `external_select`). Slack asks for the menu's options (`block_suggestion`,
answered by `ack(options=...)` within 3 seconds, in Socket Mode and over HTTP alike) and the core's completer
answers them; the chosen value is then run as the command's argument, exactly as if it had been typed.

The modal carries the channel and the slash command's response_url in `private_metadata`, so the answer is shown
privately where /command was typed, even in a channel the bot was not invited to, and after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.adapters.slack import inbound
from bot.adapters.slack.errors import API_ERRORS, reason
from bot.adapters.slack.render import INPUT_LABEL_MAX, MODAL_TITLE_MAX, PLACEHOLDER_MAX, plain
from bot.adapters.slack.respond import Responder
from bot.adapters.slack.teams import TeamClients
from bot.core.commands import CommandSpec, Option
from bot.core.core import Core
from bot.core.permissions import allowed
from bot.core.records import Invocation, Member, Place, Role

log = logging.getLogger("bot.slack")

PICK_PREFIX = "pick:"
# Slack drops an options answer after 3 seconds; past this the member sees no matches rather than an error.
OPTIONS_DEADLINE = 2.0
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
NO_CHOICE = "Please pick one of the suggestions (type a few words to search)."

MemberOf = Callable[[str, str | None, str | None], Awaitable[Member]]
Work = Callable[[str], contextlib.AbstractAsyncContextManager[None]]


def searchable(spec: CommandSpec) -> Option | None:
    """The option a picker searches for this command: the one typed as the rest of the line, if it autocompletes."""
    return next((o for o in spec.options if o.rest and o.autocomplete), None)


def pick_id(command: str, option: str) -> str:
    """The id of a command's picker (its modal's callback_id and its select's action_id): `pick:NAME:OPTION`."""
    return f"{PICK_PREFIX}{command}:{option}"


def picked_command(pick: str) -> tuple[str, str]:
    """(command, option) from a picker id; ('', '') when it is not one."""
    command, _, option = pick.removeprefix(PICK_PREFIX).partition(":")
    return (command, option) if pick.startswith(PICK_PREFIX) else ("", "")


def picker_view(spec: CommandSpec, option: Option, metadata: str) -> dict[str, Any]:
    """The modal: one required select whose options Slack fetches from us while the member types."""
    select = {"type": "external_select", "action_id": pick_id(spec.name, option.name), "min_query_length": 0,
              "placeholder": plain("Type a few words…", PLACEHOLDER_MAX)}
    return {
        "type": "modal",
        "callback_id": pick_id(spec.name, option.name),
        "private_metadata": metadata,
        "title": plain(f"/{spec.name}", MODAL_TITLE_MAX),
        "submit": plain("Show", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": [{"type": "input", "block_id": option.name, "label": plain(option.description, INPUT_LABEL_MAX),
                    "element": select}],
    }


def options_json(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The core's (label, value) suggestions as Slack options; values too long to come back whole are left out."""
    return [{"text": plain(label, OPTION_TEXT_MAX), "value": value} for label, value in pairs
            if label.strip() and 0 < len(value) <= OPTION_VALUE_MAX][:OPTIONS_MAX]


def picked_value(view: dict[str, Any], option: str) -> str:
    """The value of the option chosen in a submitted picker ('' when none)."""
    state = ((view.get("state") or {}).get("values") or {}).get(option) or {}
    chosen = next(iter(state.values()), None) or {}
    return str((chosen.get("selected_option") or {}).get("value") or "")


class Picker:
    """The pickers of one Slack adapter: opening them, answering their searches and their submissions."""

    def __init__(self, core: Core, clients: TeamClients, replies: Responder, member: MemberOf, work: Work) -> None:
        self.core, self.clients, self.replies, self.member, self.work = core, clients, replies, member, work

    def register(self, app: AsyncApp) -> None:
        app.options(re.compile(f"^{PICK_PREFIX}"))(self.on_options)
        app.view(re.compile(f"^{PICK_PREFIX}"))(self.on_submit)

    def offers(self, spec: CommandSpec, member: Member, text: str) -> bool:
        """Whether running `spec` opens a picker: with no text, for a member allowed to run it."""
        return not text.strip() and searchable(spec) is not None and allowed(member, spec.role)

    async def open(self, spec: CommandSpec, trigger_id: str, sender: inbound.Sender, respond: Any) -> None:
        option = searchable(spec)
        assert option is not None
        metadata = json.dumps({"channel": sender.channel, "team": sender.team,
                               "response_url": getattr(respond, "response_url", None)})
        try:
            await self.clients.for_team(sender.team).views_open(trigger_id=trigger_id,
                                                                view=picker_view(spec, option, metadata))
        except API_ERRORS as exc:
            log.error("platform=slack command=/%s could not open its picker: %s", spec.name, reason(exc))
            await self.replies.apologise(sender.channel, sender.user, respond, reason(exc))

    async def on_options(self, ack: Any, body: dict[str, Any]) -> None:
        """Slack wants the matching options for what the member has typed so far."""
        command, option = picked_command(str(body.get("action_id") or ""))
        spec = self.core.command(command)
        pairs: list[tuple[str, str]] = []
        async with self.work(f"/{command} search"):
            if spec is not None and await self.may_run(spec, body):
                typed = str(body.get("value") or "")
                try:
                    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
                    place = Place("slack", (body.get("channel") or {}).get("id", ""), team)
                    pairs = await asyncio.wait_for(self.core.autocomplete(command, option, typed, place),
                                                   OPTIONS_DEADLINE)
                except TimeoutError:
                    log.warning("platform=slack command=/%s search took longer than %.1fs", command,
                                OPTIONS_DEADLINE)
        await ack(options=options_json(pairs))

    async def may_run(self, spec: CommandSpec, body: dict[str, Any]) -> bool:
        if spec.role == Role.MEMBER:  # everyone may: no need to look up their groups while Slack waits
            return True
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        return allowed(await self.member(user, None, team), spec.role)

    async def on_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        command, option = picked_command(str(view.get("callback_id") or ""))
        value = picked_value(view, option)
        if not value:  # Slack requires a choice; a payload without one gets the modal's own error line
            await ack(response_action="errors", errors={option: NO_CHOICE})
            return
        await ack()  # closes the modal; the answer follows as a private message
        async with self.work(f"/{command}"):
            sender = inbound.form_sender(body, view)
            member = await self.member(sender.user, sender.name, sender.team)
            reply = await self.core.dispatch(Invocation(command, member, sender.place, {option: value}))
            await self.replies.deliver(reply, sender, self.respond(view), f"/{command}")

    @staticmethod
    def respond(view: dict[str, Any]) -> AsyncRespond | None:
        """The slash command's response_url the modal carries, to answer where the command was typed."""
        try:
            url = json.loads(view.get("private_metadata") or "{}").get("response_url")
        except (ValueError, AttributeError):
            url = None
        return AsyncRespond(response_url=url) if isinstance(url, str) and url.startswith("http") else None
