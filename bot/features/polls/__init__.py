"""Community polls with buttons on every platform. Entry point: `Polls`."""

from bot.features.polls.ballots import Poll, Tally
from bot.features.polls.feature import Polls
from bot.features.polls.spec import PollError, PollSpec

__all__ = ["Poll", "PollError", "PollSpec", "Polls", "Tally"]
