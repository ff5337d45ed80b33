"""FAQ feedback: how often each entry was given as an answer and how members rated it ("Was this helpful?"), and
the admins' overview of both (/faq-stats, `bot faq stats`), so they know which answers to rewrite."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.records import Button
from bot.core.storage import Storage

HELPFUL = "up"
NOT_HELPFUL = "down"
RATINGS = {HELPFUL: True, NOT_HELPFUL: False}


def rating_buttons(entry_id: str) -> tuple[Button, Button]:
    """The two buttons under every answer: faq:rate:<id>:up and faq:rate:<id>:down."""
    return (Button("👍 Helpful", f"faq:rate:{entry_id}:{HELPFUL}"),
            Button("👎 Not helpful", f"faq:rate:{entry_id}:{NOT_HELPFUL}"))


def thanks(helpful: bool, before: bool | None) -> str:
    """What a member is told after rating (or changing their rating of) an answer."""
    if before is helpful:
        return "You already rated this answer; thanks again."
    changed = "Changed your rating. " if before is not None else ""
    if helpful:
        return f"{changed}Thanks, glad it helped!"
    return f"{changed}Thanks for telling us. The admins see which answers need rewriting."


@dataclass(frozen=True)
class EntryStats:
    """One knowledge-base entry: how often it was given as an answer and how members rated it."""

    entry_id: str
    title: str
    asked: int = 0
    helpful: int = 0
    not_helpful: int = 0

    @property
    def rated(self) -> int:
        return self.helpful + self.not_helpful

    def line(self) -> str:
        """'Cost (cost): asked 12×, 👍 5 · 👎 3 (63% helpful)'."""
        rating = f"👍 {self.helpful} · 👎 {self.not_helpful}"
        if self.rated:
            rating += f" ({round(100 * self.helpful / self.rated)}% helpful)"
        else:
            rating = "not rated yet"
        return f"{self.title} ({self.entry_id}): asked {self.asked}×, {rating}"


def rewrite_first(stats: Iterable[EntryStats]) -> list[EntryStats]:
    """Entries most in need of rewriting first: the most 👎, then the lowest share of 👍, then the most asked."""
    return sorted(stats, key=lambda s: (-s.not_helpful, s.helpful / s.rated if s.rated else 1.0, -s.asked))


class FeedbackLog:
    """The `faq_answers` and `faq_ratings` tables of one community."""

    def __init__(self, storage: Storage, community: str = "") -> None:
        self.storage = storage
        self.community = community

    async def answered(self, entry_id: str) -> None:
        """Count one answer given with this entry."""
        await self.storage.write(
            "INSERT INTO faq_answers(community, entry_id) VALUES (?, ?) ON CONFLICT(community, entry_id) DO "
            "UPDATE SET answered = faq_answers.answered + 1, last_answered = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (self.community, entry_id),
        )

    async def rate(self, entry_id: str, member: str, helpful: bool) -> bool | None:
        """Record a member's rating of an entry, replacing any earlier one; returns the earlier one (or None)."""
        async with self.storage.transaction() as db:
            rows = list(await db.execute_fetchall(
                "SELECT helpful FROM faq_ratings WHERE community = ? AND entry_id = ? AND member = ?",
                (self.community, entry_id, member)))
            await db.execute(
                "INSERT INTO faq_ratings(community, entry_id, member, helpful) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(community, entry_id, member) "
                "DO UPDATE SET helpful = excluded.helpful, rated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (self.community, entry_id, member, int(helpful)),
            )
        return bool(rows[0][0]) if rows else None

    async def counts(self) -> dict[str, tuple[int, int, int]]:
        """entry id -> (answers given, 👍, 👎)."""
        found: dict[str, tuple[int, int, int]] = {}
        for row in await self.storage.fetchall("SELECT entry_id, answered FROM faq_answers WHERE community = ?",
                                               (self.community,)):
            found[row["entry_id"]] = (row["answered"], 0, 0)
        for row in await self.storage.fetchall(
                "SELECT entry_id, SUM(helpful) AS up, COUNT(*) - SUM(helpful) AS down FROM faq_ratings "
                "WHERE community = ? GROUP BY entry_id", (self.community,)):
            asked = found.get(row["entry_id"], (0, 0, 0))[0]
            found[row["entry_id"]] = (asked, int(row["up"] or 0), int(row["down"] or 0))
        return found
