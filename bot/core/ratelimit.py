"""Per-member rate limits: one member cannot flood the bot (300 polls in a row, a storm of reports or button
presses). Moderators and admins are exempt, so they can always act."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

SLOW_DOWN = "You're going a little fast. Please wait a minute and try again. Nothing was changed."


@dataclass(frozen=True)
class Limit:
    count: int  # at most this many ...
    seconds: float  # ... within this window; count 0 switches the limit off


@dataclass(frozen=True)
class Limits:
    """`any` applies to every command and button press; `by_name` adds tighter ones for single commands."""

    any: Limit = Limit(30, 60.0)
    by_name: dict[str, Limit] = field(default_factory=lambda: {"poll": Limit(5, 3600.0),
                                                                "report": Limit(10, 3600.0)})


class RateLimiter:
    """Sliding windows per (member, what); memory is bounded by forgetting idle members."""

    def __init__(self, limits: Limits, max_members: int = 50_000) -> None:
        self.limits = limits
        self.max_members = max_members
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def allow(self, member_id: str, name: str, now: float | None = None) -> bool:
        """Record the attempt and say whether it is within every limit that applies."""
        now = time.monotonic() if now is None else now
        checks = [("*", self.limits.any)]
        if name in self.limits.by_name:
            checks.append((name, self.limits.by_name[name]))
        windows = []
        for key, limit in checks:
            if limit.count <= 0:
                continue
            window = self._seen.setdefault((member_id, key), deque())
            while window and now - window[0] > limit.seconds:
                window.popleft()
            if len(window) >= limit.count:
                return False
            windows.append(window)
        for window in windows:
            window.append(now)
        if len(self._seen) > self.max_members:
            self._forget_idle(now)
        return True

    def remembered(self) -> int:
        """How many (member, limit) windows are held: bounded by `max_members` plus the ones still active."""
        return len(self._seen)

    def _forget_idle(self, now: float) -> None:
        longest = max([self.limits.any.seconds, *(limit.seconds for limit in self.limits.by_name.values())])
        for key in [k for k, w in self._seen.items() if not w or now - w[-1] > longest]:
            del self._seen[key]
