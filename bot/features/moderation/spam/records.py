"""What the scanner reads and returns (a message, the reasons behind its score, the verdict) and how a reason
quotes the text it found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Reason", "ScanMessage", "Verdict", "clip"]


@dataclass(frozen=True)
class ScanMessage:
    """One message to scan, already translated from its platform."""

    id: str
    author: str  # platform-qualified, e.g. "discord:123" or "slack:U1"
    channel: str
    text: str
    ts: float = 0.0  # seconds since epoch; 0 = unknown, the scanner then keeps arrival order
    author_joined_ts: float | None = None
    mention_count: int = 0  # @everyone/@here/<!channel>/role mentions resolved by the platform


@dataclass(frozen=True)
class Reason:
    """One signal that contributed to a score."""

    rule: str
    weight: float
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The scanner's decision about one message, with every reason behind it."""

    message_id: str
    score: float
    threshold: float
    flagged: bool
    auto_action: bool
    reasons: tuple[Reason, ...]
    normalised: str
    fingerprint: str
    # The same author's earlier copies in other channels (message id, time) that this one matched, reworded or with
    # the same site / handle / code: when this one is flagged they are spam too, though they passed on their own.
    echoes: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.message_id,
            "flagged": self.flagged,
            "score": round(self.score, 3),
            "threshold": self.threshold,
            "reasons": [{"rule": r.rule, "weight": round(r.weight, 3), "detail": r.detail} for r in self.reasons],
        }
        if self.flagged and self.echoes:
            found["earlier_copies"] = [message_id for message_id, _ in self.echoes]
        return found


def clip(text: str, limit: int = 60) -> str:
    """Text as a reason quotes it: at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
