"""Community polls with buttons on every platform. Entry point: `Polls`."""

from bot.features.polls.feature import Polls

__all__ = ["Polls"]
