"""Who may do what: member / moderator / admin.

Each adapter's `Staff` (from its own config section) names the platform ids that make someone a moderator or an
admin; adapters pass what the platform says about a user (Discord role ids, Slack user and user-group ids) and the
core checks the resulting `Role` before running any command or action.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.contract import Staff
from bot.core.records import Member, Role


def role_for(staff: Staff, ids: Iterable[str]) -> Role:
    """The highest role any of `ids` (the user's own id, role ids, group ids) grants under `staff`."""
    ids = {str(i) for i in ids}
    if ids & staff.admin_ids:
        return Role.ADMIN
    if ids & staff.moderator_ids:
        return Role.MODERATOR
    return Role.MEMBER


def allowed(member: Member, needed: Role) -> bool:
    return member.role >= needed


def denied_text(needed: Role) -> str:
    return f"Sorry, only {needed.name.lower()}s can do that. Nothing was changed."
