"""Which Web API client speaks for which workspace.

One Slack app reaches many workspaces in two ways: installed org-wide on Enterprise Grid (one bot token for all of
them) or installed in each workspace on its own (a bot token per workspace, `slack.workspaces[].bot_token`). Every
call the adapter makes goes through the client of the workspace it concerns; a channel's workspace is learned from
the requests that come from it and from the bot's own posts, and, for a channel first met after a restart, from
which token can see it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.errors import API_ERRORS
from bot.config import SlackWorkspaceConfig
from bot.core.contract import Staff, community_name
from bot.core.records import Place

log = logging.getLogger("bot.slack")

CHANNELS_KEPT = 50_000


class TeamClients:
    """The app's client (`default`) and the clients of workspaces installed with their own token."""

    def __init__(self, default: AsyncWebClient, own: dict[str, AsyncWebClient] | None = None) -> None:
        self.default = default
        self.own = dict(own or {})
        self._team_of: dict[str, str] = {}  # channel id -> team id, for workspaces with their own token

    def __iter__(self) -> Iterator[AsyncWebClient]:
        yield self.default
        yield from self.own.values()

    def for_team(self, team: str | None) -> AsyncWebClient:
        return self.own.get(team or "", self.default)

    def learn(self, channel: str, team: str | None) -> None:
        """A request or post showed which workspace a channel is in."""
        if self.own and channel and team:
            if len(self._team_of) > CHANNELS_KEPT:
                self._team_of.clear()
            self._team_of[channel] = team

    async def for_channel(self, channel: str) -> AsyncWebClient:
        """The client of the workspace a channel belongs to."""
        if not self.own:
            return self.default
        team = self._team_of.get(channel)
        if team is not None:
            return self.for_team(team)
        # Not seen since the last start: the workspace whose token can see the channel owns it.
        for team_id, client in self.own.items():
            try:
                await client.conversations_info(channel=channel)
            except API_ERRORS:
                continue
            self.learn(channel, team_id)
            return client
        return self.default


def workspace_staff(workspace: SlackWorkspaceConfig, index: int) -> Staff:
    """The staff of a workspace configured as a community of its own (slack.workspaces[index])."""
    team = workspace.team_id.strip()
    return Staff(
        place=Place("slack", workspace.mod_channel, team),
        setting=f"slack.workspaces[{index}].mod_channel",
        moderator_ids=frozenset(workspace.moderator_ids),
        admin_ids=frozenset(workspace.admin_ids),
        community=community_name("slack", team),
        audit=Place("slack", workspace.audit_channel, team) if workspace.audit_channel else None,
    )
