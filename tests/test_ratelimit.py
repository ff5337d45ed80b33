"""Per-member rate limits: a member who floods the bot is asked politely to slow down and nothing changes;
moderators are exempt; the limits come from config."""

from __future__ import annotations

from pathlib import Path

from bot.core.ratelimit import SLOW_DOWN, Limit, Limits, RateLimiter
from bot.core.records import Invocation, Member, Place, Role
from bot.runner import open_core
from tests.conftest import make_config

HERE = Place("console", "general")
FLOODER = Member("console:flo", "flo", Role.MEMBER)
MOD = Member("console:ana", "ana", Role.MODERATOR)


async def polls_in_db(core) -> int:
    return (await core.storage.fetchone("SELECT COUNT(*) AS n FROM polls"))["n"]


async def test_a_member_cannot_create_polls_without_end_and_moderators_can(tmp_path: Path):
    core = await open_core(make_config(tmp_path, limits__polls_per_hour=3))
    await core.start()
    try:
        replies = [await core.dispatch(Invocation("poll", FLOODER, HERE, {"question": f'"Q{i}?" "A" "B"'}))
                   for i in range(10)]
        assert [r.text == SLOW_DOWN for r in replies] == [False] * 3 + [True] * 7
        assert await polls_in_db(core) == 3  # refused ones changed nothing
        for i in range(5):
            reply = await core.dispatch(Invocation("poll", MOD, HERE, {"question": f'"M{i}?" "A" "B"'}))
            assert reply.text != SLOW_DOWN
        assert await polls_in_db(core) == 8
    finally:
        await core.close()


async def test_any_command_flood_is_slowed_and_the_limit_can_be_switched_off(tmp_path: Path):
    core = await open_core(make_config(tmp_path, limits__commands_per_minute=5))
    await core.start()
    try:
        answers = [await core.dispatch(Invocation("faq-topics", FLOODER, HERE)) for _ in range(8)]
        assert sum(a.text == SLOW_DOWN for a in answers) == 3
    finally:
        await core.close()
    core = await open_core(make_config(tmp_path, limits__commands_per_minute=0))
    await core.start()
    try:
        answers = [await core.dispatch(Invocation("faq-topics", FLOODER, HERE)) for _ in range(50)]
        assert not any(a.text == SLOW_DOWN for a in answers)
    finally:
        await core.close()


def test_windows_slide_and_idle_members_are_forgotten():
    limiter = RateLimiter(Limits(any=Limit(2, 10.0), by_name={}), max_members=10)
    assert limiter.allow("a", "x", now=0.0) and limiter.allow("a", "x", now=1.0)
    assert not limiter.allow("a", "x", now=2.0)
    assert limiter.allow("a", "x", now=11.5)  # the first attempt left the window
    for n in range(50):
        limiter.allow(f"m{n}", "x", now=100.0 + n)
    assert limiter.remembered() <= 20
