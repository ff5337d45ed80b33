"""Who may do what: member / moderator / admin.

Adapters call `Permissions.role_for` with what the platform says about a user (Discord role ids, Slack user and
user-group ids); the core checks the resulting `Role` before running any command or action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.records import Member, Role


@dataclass(frozen=True)
class Permissions:
    """Moderator and admin ids per platform, from config."""

    moderators: dict[str, frozenset[str]]
    admins: dict[str, frozenset[str]]

    @classmethod
    def from_config(cls, cfg: object) -> Permissions:
        discord = getattr(cfg, "discord", None)
        slack = getattr(cfg, "slack", None)
        return cls(
            moderators={
                "discord": frozenset(str(i) for i in getattr(discord, "moderator_role_ids", [])),
                "slack": frozenset(getattr(slack, "moderator_ids", [])),
            },
            admins={
                "discord": frozenset(str(i) for i in getattr(discord, "admin_role_ids", [])),
                "slack": frozenset(getattr(slack, "admin_ids", [])),
            },
        )

    def role_for(self, platform: str, ids: Iterable[str]) -> Role:
        """The highest role any of `ids` (the user's own id, role ids, group ids) grants on `platform`."""
        ids = {str(i) for i in ids}
        if ids & self.admins.get(platform, frozenset()):
            return Role.ADMIN
        if ids & self.moderators.get(platform, frozenset()):
            return Role.MODERATOR
        return Role.MEMBER


def allowed(member: Member, needed: Role) -> bool:
    return member.role >= needed


def denied_text(needed: Role) -> str:
    return f"Sorry, only {needed.name.lower()}s can do that. Nothing was changed."
