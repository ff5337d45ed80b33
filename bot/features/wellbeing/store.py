"""Wellbeing items in the database: one open item per member, so repeated messages don't flood the moderators."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core.records import MessageRef
from bot.core.storage import Storage

EXCERPT = 300  # characters kept of what the member wrote: enough for context, no more than needed
REPEAT_WINDOW = 6 * 3600.0  # a new message within this time joins the member's open item


@dataclass(frozen=True)
class WellbeingItem:
    id: int
    platform: str
    member: str
    member_name: str
    channel: str
    source: str  # message | faq
    excerpt: str
    link: str
    seen_count: int
    status: str  # open | reaching_out | handled
    created_at: float
    post_ref: MessageRef | None
    reaching_by_name: str | None
    reaching_at: float | None
    handled_by_name: str | None
    handled_at: float | None
    community: str = ""


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


class WellbeingStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def raise_or_join(self, *, platform: str, member: str, member_name: str, channel: str, source: str,
                            text: str, link: str, community: str = "") -> tuple[int, bool]:
        """The member's open item in this community (joined) or a new one; returns (id, created)."""
        now = time.time()
        async with self.storage.transaction() as db:
            cur = await db.execute(
                "SELECT id FROM wellbeing_items WHERE member = ? AND community = ? AND status != 'handled' "
                "AND last_seen > ? ORDER BY id DESC LIMIT 1", (member, community, now - REPEAT_WINDOW))
            row = await cur.fetchone()
            if row is not None:
                await db.execute(
                    "UPDATE wellbeing_items SET seen_count = seen_count + 1, last_seen = ?, excerpt = ?, link = ?, "
                    "channel = ?, source = ? WHERE id = ?", (now, excerpt(text), link, channel, source, row[0]))
                return int(row[0]), False
            cur = await db.execute(
                "INSERT INTO wellbeing_items(platform, member, member_name, channel, source, excerpt, link, "
                "created_at, last_seen, community) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (platform, member, member_name, channel, source, excerpt(text), link, now, now, community))
            return int(cur.lastrowid or 0), True

    async def get(self, item_id: int) -> WellbeingItem | None:
        row = await self.storage.fetchone("SELECT * FROM wellbeing_items WHERE id = ?", (item_id,))
        if row is None:
            return None
        return WellbeingItem(
            id=row["id"], platform=row["platform"], member=row["member"], member_name=row["member_name"],
            channel=row["channel"], source=row["source"], excerpt=row["excerpt"], link=row["link"],
            seen_count=row["seen_count"], status=row["status"], created_at=row["created_at"],
            post_ref=MessageRef.decode(row["post_ref"]) if row["post_ref"] else None,
            reaching_by_name=row["reaching_by_name"], reaching_at=row["reaching_at"],
            handled_by_name=row["handled_by_name"], handled_at=row["handled_at"], community=row["community"])

    async def open_items(self, community: str = "", limit: int = 15) -> list[WellbeingItem]:
        rows = await self.storage.fetchall(
            "SELECT id FROM wellbeing_items WHERE status != 'handled' AND community = ? ORDER BY id DESC LIMIT ?",
            (community, limit))
        items = [await self.get(r["id"]) for r in rows]
        return [i for i in items if i is not None]

    async def set_post(self, item_id: int, ref: MessageRef) -> None:
        await self.storage.execute("UPDATE wellbeing_items SET post_ref = ? WHERE id = ?", (ref.encode(), item_id))

    async def reaching_out(self, item_id: int, who: str, name: str) -> bool:
        """Record who is reaching out; False when the item is already handled."""
        async with self.storage.transaction() as db:
            cur = await db.execute(
                "UPDATE wellbeing_items SET status = 'reaching_out', reaching_by = ?, reaching_by_name = ?, "
                "reaching_at = ? WHERE id = ? AND status != 'handled'", (who, name, time.time(), item_id))
            return cur.rowcount == 1

    async def handled(self, item_id: int, who: str, name: str) -> bool:
        """Close the item; False when it was closed already (the first moderator wins)."""
        async with self.storage.transaction() as db:
            cur = await db.execute(
                "UPDATE wellbeing_items SET status = 'handled', handled_by = ?, handled_by_name = ?, handled_at = ? "
                "WHERE id = ? AND status != 'handled'", (who, name, time.time(), item_id))
            return cur.rowcount == 1
