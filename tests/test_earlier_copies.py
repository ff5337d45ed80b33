"""A pitch reworded for another channel gives away the author's earlier copy, which passed on its own: both wait
in one queue item, and Remove takes both down. A copy of a message already queued joins its item."""

from __future__ import annotations

from bot.core.core import Core
from bot.features.moderation.queue import EARLIER_COPY
from tests.conftest import ConsoleSession
from tests.test_moderation import buttons

FIRST = "anyone tried the cefaly? mine is brand new, never used it, $80"
AGAIN = "selling a brand new cefaly for $80, dm me if you want it"


async def test_the_earlier_copy_joins_the_flagged_one_and_is_removed_with_it(core: Core, console: ConsoleSession):
    assert "[#mod-queue" not in await console.say(FIRST)  # on its own it reads like a member's post
    await console.say("/channel offtopic")
    out = await console.say(AGAIN)
    assert out.count("[#mod-queue, message") == 1
    rows = await core.storage.fetchall("SELECT item_id, ref, text, deleted FROM mod_queue_messages ORDER BY seen_at")
    assert [(r["item_id"], r["ref"].split("|")[1]) for r in rows] == [(1, "general"), (1, "offtopic")]
    assert rows[0]["text"] == EARLIER_COPY and rows[1]["text"] == AGAIN  # the earlier words were never kept
    latest = (await core.storage.fetchone("SELECT seen_count FROM mod_queue WHERE id = 1"))["seen_count"]
    assert latest == 2
    await console.say("/as mo moderator")
    shown = await console.say("/modqueue")
    assert "#1" in shown
    queue_post = out.split("[#mod-queue", 1)[1]
    claimed = await console.say(str(buttons(queue_post)["I'm on it"]))
    assert "Channels: #general (console), #offtopic (console)" in claimed
    removed = await console.say(str(buttons(queue_post)["Remove"]))
    assert "Removed" in removed
    deleted = await core.storage.fetchall("SELECT deleted FROM mod_queue_messages ORDER BY seen_at")
    assert [r["deleted"] for r in deleted] == [1, 1]


async def test_a_reworded_copy_of_a_queued_message_joins_its_item(core: Core, console: ConsoleSession):
    first = ("my neurologist mentioned magnesium glycinate, I get mine from calmleaf-store.com and it seems to help "
             "a bit")
    again = "calmleaf-store.com has the magnesium glycinate that helps me, 20% off this week with code CALM20"
    await console.say(first)
    await console.say("/channel offtopic")
    await console.say(again)
    items = await core.storage.fetchall("SELECT id FROM mod_queue")
    assert len(items) == 1
    refs = await core.storage.fetchall("SELECT ref FROM mod_queue_messages WHERE item_id = 1 ORDER BY seen_at")
    assert [r["ref"].split("|")[1] for r in refs] == ["general", "offtopic"]
