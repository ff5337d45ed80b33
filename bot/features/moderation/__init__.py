"""Spam scanning, members' reports and the moderators' review queue. Entry point: `Moderation`."""

from bot.features.moderation.feature import Moderation

__all__ = ["Moderation"]
