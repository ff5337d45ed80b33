"""Who a Slack user is, asked of the Web API and cached for a while: the configured user groups they are in
(for their role) and their display name; and what a channel is called.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.adapters.slack.errors import API_ERRORS, reason
from bot.adapters.slack.teams import TeamClients

log = logging.getLogger("bot.slack")

GROUP_TTL = 300.0  # seconds a user group's member list is trusted
NAME_TTL = 3600.0
UNKNOWN_TTL = 300.0  # a user Slack would not describe (a missing scope, a deleted or external user) is asked again
NAMES_MAX = 10_000


def is_group(slack_id: str) -> bool:
    """User group ids start with S (users with U or W)."""
    return slack_id.startswith("S")


class GroupMembers:
    """Which configured Slack user groups (S…) a user is in, via usergroups.users.list, cached for a while. Each
    group is asked of the workspace it was configured for (`groups`: group id -> team id, None for the app's)."""

    def __init__(self, clients: TeamClients, groups: dict[str, str | None], ttl: float = GROUP_TTL) -> None:
        self.clients = clients
        self.groups = groups
        self.group_ids = sorted(groups)
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
                client = self.clients.for_team(self.groups.get(group))
                response = await client.usergroups_users_list(usergroup=group)
            except API_ERRORS as exc:
                log.warning("platform=slack could not read the members of user group %s (%s); "
                            "treating the user as not in it", group, reason(exc))
                return frozenset()
            users = frozenset(response.get("users") or ())
            self._cache[group] = (time.monotonic(), users)
            return users


class DisplayNames:
    """Members' display names via users.info, cached for a while."""

    def __init__(self, clients: TeamClients, ttl: float = NAME_TTL) -> None:
        self.clients = clients
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str]] = {}

    async def get(self, user_id: str, team: str | None = None) -> str:
        """The member's display name (asked of their workspace); their id if Slack won't say."""
        hit = self._cache.get(user_id)
        if hit is not None and time.monotonic() < hit[0]:
            return hit[1]
        try:
            info = (await self.clients.for_team(team).users_info(user=user_id)).get("user") or {}
        except API_ERRORS as exc:
            log.debug("platform=slack users.info %s failed: %s", user_id, reason(exc))
            # Remembered for a while too: asking again on every message of a busy member would spend the
            # workspace's users.info rate limit on an answer that will not change in the meantime.
            self._remember(user_id, user_id, UNKNOWN_TTL)
            return user_id
        profile = info.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or info.get("name") or user_id
        self._remember(user_id, name, self.ttl)
        return name

    def _remember(self, user_id: str, name: str, ttl: float) -> None:
        if len(self._cache) > NAMES_MAX:
            self._cache.clear()
        self._cache[user_id] = (time.monotonic() + ttl, name)  # (trusted until, name)


class ChannelNames:
    """Channels' names and workspaces via conversations.info, cached for a while; the id when Slack won't say."""

    def __init__(self, clients: TeamClients, ttl: float = NAME_TTL) -> None:
        self.clients = clients
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str, str | None]] = {}

    async def get(self, channel: str) -> str:
        found = await self._info(channel)
        return found[0] if found is not None else channel

    async def team(self, channel: str) -> str | None:
        """The workspace the channel belongs to (context_team_id), None when Slack won't say."""
        found = await self._info(channel)
        return found[1] if found is not None else None

    async def _info(self, channel: str) -> tuple[str, str | None] | None:
        hit = self._cache.get(channel)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1], hit[2]
        try:
            client = await self.clients.for_channel(channel)
            info = (await client.conversations_info(channel=channel)).get("channel") or {}
        except API_ERRORS as exc:
            log.debug("platform=slack conversations.info %s failed: %s", channel, reason(exc))
            return None  # not cached: a missing scope or invitation may be fixed while the bot runs
        name = str(info.get("name") or channel)
        team = info.get("context_team_id") or None
        if len(self._cache) > NAMES_MAX:
            self._cache.clear()
        self._cache[channel] = (time.monotonic(), name, team)
        return name, team
