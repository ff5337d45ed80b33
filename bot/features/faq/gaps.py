"""Knowledge gaps: questions the FAQ could not answer confidently, counted so admins know what to write next."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.storage import Storage


@dataclass(frozen=True)
class Gap:
    example: str  # the first wording a member used
    asked: int
    closest: str | None  # the entry id that came nearest, if any


class GapLog:
    """The `faq_gaps` table of one community: one row per distinct question (by its sorted content words)."""

    def __init__(self, storage: Storage, community: str = "") -> None:
        self.storage = storage
        self.community = community

    async def record(self, key: str, example: str, closest: str | None, score: float) -> None:
        await self.storage.write(
            "INSERT INTO faq_gaps(community, query_key, example, best_entry, best_score) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(community, query_key) DO UPDATE SET asked = faq_gaps.asked + 1, last_seen = "
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), best_entry = excluded.best_entry, "
            "best_score = excluded.best_score",
            (self.community, key[:300], example[:300], closest, score),
        )

    async def top(self, limit: int = 20) -> list[Gap]:
        """The most asked first, then the most recent."""
        rows = await self.storage.fetchall(
            "SELECT example, asked, best_entry FROM faq_gaps WHERE community = ? "
            "ORDER BY asked DESC, last_seen DESC LIMIT ?", (self.community, limit)
        )
        return [Gap(r["example"], r["asked"], r["best_entry"]) for r in rows]
