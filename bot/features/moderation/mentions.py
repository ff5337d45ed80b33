"""A per-member mention-spam limit, as Discord's AutoMod has: many distinct members and roles mentioned in one
message, or across a short window, send the member's messages to the moderators' queue.

It counts behaviour, not words, so it sits beside the spam scanner and never changes its scores.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from bot.features.moderation.spam import Reason, Verdict, fingerprint, normalise

MENTION_RULE = "mention-spam"
AUTHORS_MAX = 10_000  # members remembered at once; the least recently active are forgotten first
SEEN_MAX = 50  # messages with mentions remembered per member within the window


@dataclass(frozen=True)
class MentionSpam:
    """The limit was reached: how many distinct mentions, against which limit."""

    count: int
    limit: int

    @property
    def reason(self) -> str:
        return f"mention spam ({self.count} mentions)"

    def verdict(self, message_id: str, text: str) -> Verdict:
        """The finding as a queue item stores it (the score is the number of mentions, the threshold the limit)."""
        return Verdict(message_id=message_id, score=float(self.count), threshold=float(self.limit), flagged=True,
                       auto_action=False, reasons=(Reason(MENTION_RULE, 0.0, self.reason),),
                       normalised=normalise(text), fingerprint=fingerprint(text))


class MentionLimit:
    """Distinct mentions per member over the last `window` seconds; `limit` 0 switches the check off."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._seen: OrderedDict[str, deque[tuple[float, frozenset[str]]]] = OrderedDict()

    def check(self, author: str, ts: float, mentions: frozenset[str]) -> MentionSpam | None:
        """Remember this message's mentions; the finding when the member has now reached the limit."""
        if self.limit <= 0 or not mentions:
            return None
        seen = self._seen.pop(author, None) or deque(maxlen=SEEN_MAX)
        while seen and ts - seen[0][0] > self.window:
            seen.popleft()
        seen.append((ts, mentions))
        self._seen[author] = seen
        while len(self._seen) > AUTHORS_MAX:
            self._seen.popitem(last=False)
        distinct = frozenset().union(*(m for _, m in seen))
        count = max(len(distinct), len(mentions))
        return MentionSpam(count, self.limit) if count >= self.limit else None
