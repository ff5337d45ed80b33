"""Poll message edits converge: with several bot processes on one database, each editing the poll message after its
own votes, the edit that lands last shows the latest tally; on one process the bookkeeping adds no edit.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.config import Secret
from bot.core.contract import Adapter
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, Role
from bot.features.polls import Polls
from bot.features.polls.render import poll_reply
from bot.runner import open_core
from tests.conftest import make_config

SLACK = Place("slack", "C1")
DISCORD = Place("discord", "111")
MOD = Member("slack:UMOD", "mia", Role.MODERATOR)


class Wall:
    """One platform's messages as members see them: every edit, in the order the platform applied them."""

    def __init__(self) -> None:
        self.edits: list[tuple[MessageRef, Reply]] = []
        self.posts: list[tuple[Place, Reply]] = []

    def last(self, ref: MessageRef) -> Reply | None:
        return next((reply for r, reply in reversed(self.edits) if r == ref), None)


class SlowPlatform(Adapter):
    """One process's client of a shared platform whose edits take a random while to apply, so two processes'
    edits of one message land in any order."""

    def __init__(self, platform: str, wall: Wall, rng: random.Random, delay: float = 0.04) -> None:
        self.platform = platform
        self.wall = wall
        self.rng = rng
        self.delay = delay

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        self.wall.posts.append((place, reply))
        return MessageRef(self.platform, place.channel, str(len(self.wall.posts)))

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.delay))
        self.wall.edits.append((ref, reply))


def member(i: int) -> Member:
    return Member(f"slack:U{i}", f"u{i}", Role.MEMBER)


async def open_process(tmp_path: Path, name: str, target: str, debounce: float) -> Core:
    cfg = make_config(tmp_path / name, polls__update_debounce=debounce)
    if target.startswith("postgresql://"):
        cfg.storage.url = Secret(target)
    else:
        cfg.storage.path = target
    core = await open_core(cfg)
    await core.start()
    return core


async def versions(core: Core, poll_id: int) -> tuple[int, list[int]]:
    row = await core.storage.fetchone("SELECT tally_version FROM polls WHERE id = ?", (poll_id,))
    posts = await core.storage.fetchall("SELECT rendered_version FROM poll_posts WHERE poll_id = ? ORDER BY ref",
                                        (poll_id,))
    return row[0], [p[0] for p in posts]


# -- several processes on one database ----------------------------------------------------------------------


@pytest.mark.parametrize("debounce", [0.0, 0.02])
async def test_two_processes_voting_leave_every_copy_showing_the_final_tally(tmp_path: Path, engine: str,
                                                                             debounce: float):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = await open_process(tmp_path, "a", engine, debounce), await open_process(tmp_path, "b", engine, debounce)
    slack_wall, discord_wall = Wall(), Wall()
    rng = random.Random(7)
    for core, delay in ((a, 0.15), (b, 0.02)):  # one process's edits slower: they often land after newer ones
        core.attach(SlowPlatform("slack", slack_wall, rng, delay))
        core.attach(SlowPlatform("discord", discord_wall, rng, delay))
    try:
        await a.dispatch(Invocation("poll", MOD, SLACK, {"question": '"Tried it?" "Yes" "No" "Maybe" --post '
                                                                     "slack:C1,discord:111"}))
        poll_id = (await a.storage.fetchone("SELECT id FROM polls"))["id"]
        refs = await a.get(Polls).posts(poll_id)
        assert len(refs) == 2

        # Members press in both processes, interleaved, changing their minds: one through the slow process, then
        # through the fast one a moment later, while the slow one's edit of the older tally is still on its way.
        async def session(i: int) -> None:
            await asyncio.sleep(rng.uniform(0, 0.5))
            for step, core in enumerate((a, b, a, b)):
                reply = await core.dispatch_action(Action(f"poll:{poll_id}:vote:{(i + step) % 3}", member(i), SLACK))
                assert "is counted" in reply.plain(), reply.plain()
                await asyncio.sleep(rng.uniform(0, 0.02))

        await asyncio.gather(*(session(i) for i in range(40)))
        # After a lull, the commonest way to go wrong: a press in the slow process, then one in the fast process.
        await asyncio.sleep(0.3)
        last = asyncio.create_task(a.dispatch_action(Action(f"poll:{poll_id}:vote:0", member(40), SLACK)))
        await asyncio.sleep(0.01 + debounce)
        await b.dispatch_action(Action(f"poll:{poll_id}:vote:1", member(41), SLACK))
        await last
        await asyncio.sleep(debounce + 0.5)  # both processes finish their edits
    finally:
        await a.close()
        await b.close()

    check = await open_process(tmp_path, "check", engine, debounce)
    try:
        polls = check.get(Polls)
        poll = await polls.get(poll_id)
        assert poll is not None
        final = poll_reply(poll, await polls.tally(poll))
        assert "42 voters" in final.footer
        for wall, ref in ((slack_wall, refs[0]), (discord_wall, refs[1])) if refs[0].platform == "slack" else \
                ((slack_wall, refs[1]), (discord_wall, refs[0])):
            assert wall.last(ref) == final, (wall.last(ref), final)
        version, rendered = await versions(check, poll_id)
        assert rendered == [version, version]  # each copy's last claimed version is the latest
    finally:
        await check.close()


async def test_a_stale_render_that_lands_last_is_made_again_with_the_latest(tmp_path: Path, engine: str):
    """Forced: process A renders an older tally and its edit is held back until B's newer edit has landed."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = await open_process(tmp_path, "a", engine, 0.0), await open_process(tmp_path, "b", engine, 0.0)
    wall = Wall()
    held = asyncio.Event()
    landed: list[str] = []

    class HeldPlatform(SlowPlatform):
        async def update(self, ref: MessageRef, reply: Reply) -> None:
            if self is slow_a and not landed:
                landed.append("a-waits")
                await held.wait()  # A's first edit is slow to reach the platform
            self.wall.edits.append((ref, reply))
            if self is not slow_a:
                held.set()

    slow_a = HeldPlatform("slack", wall, random.Random(1), 0)
    a.attach(slow_a)
    b.attach(HeldPlatform("slack", wall, random.Random(2), 0))
    try:
        await a.dispatch(Invocation("poll", MOD, SLACK, {"question": '"Tried it?" "Yes" "No"'}))
        poll_id = (await a.storage.fetchone("SELECT id FROM polls"))["id"]
        [ref] = await a.get(Polls).posts(poll_id)
        first = asyncio.create_task(a.dispatch_action(Action(f"poll:{poll_id}:vote:0", member(1), SLACK)))
        while not landed:
            await asyncio.sleep(0.01)
        await b.dispatch_action(Action(f"poll:{poll_id}:vote:1", member(2), SLACK))
        await first
        await asyncio.sleep(0.3)
        poll = await a.get(Polls).get(poll_id)
        assert poll is not None
        final = poll_reply(poll, await a.get(Polls).tally(poll))
        assert "2 voters" in final.footer
        stale = [r for _, r in wall.edits if "1 voter" in r.footer]
        assert stale and wall.edits.index((ref, stale[0])) > 0  # A's stale edit did land after B's
        assert wall.last(ref) == final
    finally:
        await a.close()
        await b.close()


# -- one process: the same edits as before ------------------------------------------------------------------


async def test_one_process_makes_one_edit_per_copy_per_change_and_none_for_nothing_new(tmp_path: Path):
    core = await open_core(make_config(tmp_path))
    await core.start()
    wall = Wall()
    core.attach(SlowPlatform("slack", wall, random.Random(3), 0))
    core.attach(SlowPlatform("discord", wall, random.Random(4), 0))
    try:
        polls = core.get(Polls)
        await core.dispatch(Invocation("poll", MOD, SLACK, {"question": '"Q?" "A" "B" --allow-add --post '
                                                                  "slack:C1,discord:111"}))
        assert wall.edits == []  # posting shows version 0; nothing to edit
        for i in range(5):
            await core.dispatch_action(Action(f"poll:1:vote:{i % 2}", member(i), SLACK))
            await asyncio.sleep(0.02)
            assert len(wall.edits) == 2 * (i + 1)  # each vote: one edit of each copy, as without versions
        assert "5 voters" in wall.edits[-1][1].footer
        assert await versions(core, 1) == (5, [5, 5])

        # A refresh with nothing new (another process's, or a copy posted late) edits nothing.
        await polls.publish(await polls.get(1), [])
        assert len(wall.edits) == 10

        # A press a poll refuses changes nothing and edits nothing.
        refused = await core.dispatch_action(Action("poll:1:vote:7", member(0), SLACK))
        assert "isn't part of this poll" in refused.plain()
        assert await versions(core, 1) == (5, [5, 5])

        await core.dispatch(Invocation("poll", MOD, SLACK, {"question": "add 1 Oat milk"}))
        assert len(wall.edits) == 12 and "Oat milk" in str(wall.edits[-1][1])
        await polls.close(1, MOD.id)
        assert len(wall.edits) == 14 and all("(closed)" in r.title for _, r in wall.edits[-2:])
        late = await core.dispatch_action(Action("poll:1:vote:0", member(9), SLACK))
        assert "closed" in late.plain()
        await asyncio.sleep(0.02)
        assert len(wall.edits) == 14 and await versions(core, 1) == (7, [7, 7])
    finally:
        await core.close()


async def test_a_burst_is_still_one_debounced_edit(tmp_path: Path):
    core = await open_core(make_config(tmp_path, polls__update_debounce=0.2))
    await core.start()
    wall = Wall()
    core.attach(SlowPlatform("slack", wall, random.Random(5), 0))
    try:
        await core.dispatch(Invocation("poll", MOD, SLACK, {"question": '"Q?" "A" "B"'}))
        await asyncio.gather(*(core.dispatch_action(Action("poll:1:vote:0", member(i), SLACK)) for i in range(30)))
        await asyncio.sleep(0.4)
        assert len(wall.edits) == 1 and "30 votes (100%)" in wall.edits[0][1].text
    finally:
        await core.close()
    assert len(wall.edits) == 1  # shutting down has nothing left to flush
