"""Community polls with buttons on every platform. Entry point: `Polls`."""

from bot.features.polls.feature import Polls
from bot.features.polls.spec import PollError, PollSpec
from bot.features.polls.store import Poll, Tally

__all__ = ["Poll", "PollError", "PollSpec", "Polls", "Tally"]
