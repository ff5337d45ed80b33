"""More kinds of polls and settings (issue 11): percentages that say what they are of, a minimum of picks, who
sees results when, reopening, results to the creator, role-only polls, members adding options, ranked-choice and
rating polls, polls that open later, and a chart that reads on its own. Through the core, the console, and the
fake Discord and Slack servers."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image as PILImage

from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, Place, Reply, Role
from bot.features.polls import Polls, PollSpec
from bot.features.polls.ballots import instant_runoff
from bot.features.polls.charts import results_chart_png
from bot.runner import open_core
from tests.conftest import ConsoleSession, make_config
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.test_discord import MOD_ROLE, Probe, Running, discord_config
from tests.test_polls import RecordingAdapter
from tests.test_slack import Harness, running_slack

HERE = Place("console", "general")
ALICE = Member("console:alice", "alice", Role.MEMBER)
BOB = Member("console:bob", "bob", Role.MEMBER)
CARO = Member("console:caro", "caro", Role.MEMBER)
HELPER = Member("console:hal", "hal", Role.MEMBER, frozenset({"111"}))
MOD = Member("console:mia", "mia", Role.MODERATOR)


class WhisperingAdapter(RecordingAdapter):
    """A recording platform that also keeps what was shown to one member only."""

    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.whispers: list[tuple[Place, str, Reply]] = []

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> None:
        self.whispers.append((place, member_id, reply))


async def make_poll(core: Core, line: str, member: Member = ALICE) -> tuple[Reply, int | None]:
    reply = await core.dispatch(Invocation("poll", member, HERE, {"question": line}))
    rows = await core.storage.fetchall("SELECT id FROM polls ORDER BY id DESC LIMIT 1")
    return reply, rows[0][0] if rows else None


async def press(core: Core, action_id: str, member: Member = ALICE) -> Reply:
    return await core.dispatch_action(Action(action_id, member, HERE))


async def say(core: Core, line: str, member: Member = ALICE) -> Reply:
    return await core.dispatch(Invocation("poll", member, HERE, {"question": line}))


async def polls_tally(core: Core, poll_id: int = 1):
    polls = core.get(Polls)
    return await polls.tally(await polls.get(poll_id))


@pytest.fixture
async def recorded(core: Core) -> WhisperingAdapter:
    adapter = WhisperingAdapter("console")
    core.attach(adapter)
    return adapter


# -- 1. what a percentage is of ---------------------------------------------------------------------------------


async def test_multiple_choice_percentages_say_they_are_of_voters_and_show_both_counts(core: Core):
    await make_poll(core, '"Which days?" "Mon" "Tue" "Wed" --multi 3')
    for member, picks in ((ALICE, (0, 1)), (BOB, (0,))):
        for p in picks:
            await press(core, f"poll:1:vote:{p}", member)
    text = (await press(core, "poll:1:results", CARO)).text
    assert "2 votes (100% of voters)" in text and "1 vote (50% of voters)" in text
    assert "Percentages are of the 2 voters, who could each pick up to 3: 3 votes in all." in text
    rows = (await core.get(Polls).export_csv(1)).splitlines()
    assert rows[1].endswith('"2","100.0","voters"') and rows[2].endswith('"1","50.0","voters"')


# -- 2. a minimum of picks --------------------------------------------------------------------------------------


async def test_a_ballot_counts_only_once_it_has_the_minimum_of_picks(core: Core):
    await make_poll(core, '"Pick two or three" "A" "B" "C" "D" --multi 3 --min 2')
    first = await press(core, "poll:1:vote:0")
    assert "Pick 1 more for your vote to count" in first.text
    tally = await polls_tally(core)
    assert tally.voters == 0 and tally.waiting == 1 and tally.total == 0
    assert "counted" in (await press(core, "poll:1:vote:2")).text
    tally = await polls_tally(core)
    assert tally.voters == 1 and tally.counts == (1, 0, 1, 0)
    poll = await core.get(Polls).get(1)
    assert (poll.min_choices, poll.max_choices) == (2, 3)


@pytest.mark.parametrize("line, message", [
    ('"Q?" "A" "B" "C" --multi 2 --min 3', "minimum number of picks (3) can't be more than the maximum (2)"),
    ('"Q?" "A" "B" --min 3', "between 1 and 2, not 3"),
    ('"Q?" "A" "B" --min 0', "between 1 and 2, not 0"),
    ('"Q?" "A" "B" --min ' + "9" * 400, "--min needs a number"),
    ('"Q?" --rating ' + "9" * 5000, "--rating needs a number"),
    ('"Q?" --rating 11', "between 2 and 10"),
    ('"Q?" "A" "B" --rating 5', "needs no options"),
    ('"Q?" --rating 5 --multi 2', "one number from each member"),
    ('"Q?" "A" "B" --results whenever', "Results can be shown always, voted"),
    ('"Q?" "A" "B" --roles @everyone', "leave it out to let everyone vote"),
    ('"Q?" "A" "B" --roles <!here>', "leave it out to let everyone vote"),
    ('"Q?" "A" "B" --roles "**bold**"', "I don't understand the role"),
    ('"Q?" "A" "B" --opens soon', "couldn't read the opening time"),
    ('"Q?" "A" "B" --opens 90d', "at most 60 days ahead"),
    ('"Q?" "A" "B" --opens 2h --closes 2026-01-01', "after the opening time"),
    ('"Q?" "A" "B" --closes 99999999999999w', "at most 60 days"),
])
async def test_bad_settings_get_a_polite_error_and_create_nothing(core: Core, line: str, message: str):
    reply, poll_id = await make_poll(core, line)
    assert message in reply.text and reply.ephemeral
    assert poll_id is None


async def test_the_form_and_discord_options_take_every_setting(core: Core):
    form = {"question": "Pain today?", "choices": "", "flags": "--rating 5 --results voted --roles moderators"}
    assert (await core.dispatch(Invocation("poll", MOD, HERE, form))).text.startswith("Poll #1 is up")
    poll = await core.get(Polls).get(1)
    assert (poll.kind, poll.options[-1], poll.results, poll.voter_roles) == ("rating", "5", "voted", ("moderators",))
    options = {"question": "Snacks?", "choices": "A|B|C", "min_choices": "2", "max_choices": "3", "kind": "choice",
               "results": "moderators", "add_options": "yes", "opens": "1h", "roles": "<@&42>"}
    assert (await core.dispatch(Invocation("poll", MOD, HERE, options))).text.startswith("Poll #2 is up")
    poll = await core.get(Polls).get(2)
    assert (poll.min_choices, poll.max_choices, poll.results, poll.allow_add, poll.voter_roles) == (
        2, 3, "moderators", True, ("42",))
    assert poll.opens_at is not None
    for bad, message in (({"min_choices": "0"}, "between 1 and 3, not 0"), ({"scale": "9" * 400}, "must be a number"),
                         ({"kind": "vibes"}, "choice, ranked or rating"), ({"flags": "--min 2 extra"}, "in More")):
        reply = await core.dispatch(Invocation("poll", MOD, HERE, {**options, **bad}))
        assert message in reply.text and reply.ephemeral, bad
    assert len(await core.storage.fetchall("SELECT id FROM polls")) == 2


# -- 3. who sees results, and reopening -------------------------------------------------------------------------


async def test_results_after_you_vote(core: Core, recorded: WhisperingAdapter):
    await make_poll(core, '"Q?" "A" "B" --results voted')
    post = recorded.posts[-1][1]
    assert "once they have voted" in post.text and "vote (" not in post.text
    await press(core, "poll:1:vote:1", BOB)
    await asyncio.sleep(0.05)
    assert "vote (" not in recorded.updates[-1][1].text  # the live post keeps the counts hidden
    before = await press(core, "poll:1:results", ALICE)
    assert "once they have voted" in before.text and "1 vote (100%)" not in before.text and before.image is None
    after = await press(core, "poll:1:results", BOB)
    assert "Your vote: B" in after.text and "1 vote (100%)" in after.text and after.ephemeral


async def test_results_for_moderators_only_even_after_close(core: Core, recorded: WhisperingAdapter):
    await make_poll(core, '"Q?" "A" "B" --results moderators')
    await press(core, "poll:1:vote:0", BOB)
    assert "only to moderators" in (await press(core, "poll:1:results", BOB)).text
    assert "1 vote (100%)" in (await press(core, "poll:1:results", MOD)).text
    assert "1 vote (100%)" in (await press(core, "poll:1:results", ALICE)).text  # the creator
    await press(core, "poll:1:close", MOD)
    final = recorded.posts[-1][1]
    assert final.title.startswith("Poll #1 closed") and "vote (" not in final.text and final.image is None
    assert "only to moderators" in (await press(core, "poll:1:results", BOB)).text


async def test_reopen_by_creator_or_moderator_keeps_votes_and_announces_the_next_close(
        core: Core, recorded: WhisperingAdapter):
    await make_poll(core, '"Q?" "A" "B"')
    await press(core, "poll:1:vote:0", BOB)
    await press(core, "poll:1:close")
    closed_post = recorded.updates[-1][1]
    assert any(b.action_id == "poll:1:reopen" for b in closed_post.buttons)
    refused = await press(core, "poll:1:reopen", BOB)
    assert "Only the member who started this poll or a moderator" in refused.text
    assert not (await core.get(Polls).get(1)).is_open
    assert "open again" in (await say(core, "reopen 1", MOD)).text
    assert "already open" in (await press(core, "poll:1:reopen")).text
    assert "counted" in (await press(core, "poll:1:vote:1", CARO)).text
    finals = len(recorded.posts)
    await press(core, "poll:1:close")
    assert len(recorded.posts) == finals + 1 and "2 voters" in recorded.posts[-1][1].footer
    audit = await core.storage.fetchall("SELECT actor FROM audit_log WHERE action = 'poll.reopen'")
    assert [r[0] for r in audit] == [MOD.id]


# -- 4. the creator gets the final results ----------------------------------------------------------------------


async def test_the_creator_gets_the_final_results_privately_once(core: Core, recorded: WhisperingAdapter):
    await make_poll(core, '"Q?" "A" "B" --results closed')
    await press(core, "poll:1:vote:0", BOB)
    await press(core, "poll:1:close", MOD)
    [(place, member_id, reply)] = recorded.whispers
    assert member_id == ALICE.id and place == HERE
    assert "Your poll #1 has closed" in reply.text and "1 vote (100%)" in reply.text and reply.image is not None
    await core.get(Polls).close(1, MOD.id)  # already closed: nothing more
    assert len(recorded.whispers) == 1


async def test_console_shows_the_creator_their_results(core: Core):
    console = ConsoleSession(core, user="alice")
    await console.say('/poll "Q?" "A" "B"')
    out = await console.say("/poll close 1")
    assert "[only alice sees this]" in out and "Your poll #1 has closed" in out


# -- 5. polls only some roles may vote in -----------------------------------------------------------------------


async def test_only_members_with_a_given_role_may_vote(core: Core):
    await make_poll(core, '"Helpers only?" "A" "B" --roles <@&111>,moderators')
    refused = await press(core, "poll:1:vote:0", BOB)
    assert "only for members with certain roles" in refused.text and refused.ephemeral
    assert "counted" in (await press(core, "poll:1:vote:0", HELPER)).text
    assert "counted" in (await press(core, "poll:1:vote:1", MOD)).text
    assert (await polls_tally(core)).counts == (1, 1)
    assert await core.get(Polls).ballot(1, BOB.id) == ()


async def test_console_roles_come_from_as(core: Core):
    console = ConsoleSession(core, user="alice")
    await console.say('/poll "Q?" "A" "B" --roles 111')
    out = await console.say("/poll results 1")
    assert "You haven't voted yet" in out
    first = 1  # the poll's first button: buttons are numbered across the session
    assert "only for members with certain roles" in await console.say(str(first))
    assert "roles 111" in await console.say("/as hal member 111")
    assert "counted" in await console.say(str(first))


# -- 6. members add options ------------------------------------------------------------------------------------


async def test_members_add_options_when_the_creator_allows(core: Core, recorded: WhisperingAdapter):
    await make_poll(core, '"Snacks?" "Crisps" "Fruit" --allow-add')
    assert any(b.action_id == "poll:1:add" for b in recorded.posts[-1][1].buttons)
    assert "/poll add 1" in (await press(core, "poll:1:add", BOB)).text
    added = await say(core, 'add 1 "Oat bars"', MOD)
    assert "Added “Oat bars” as option 3" in added.text
    assert any(b.action_id == "poll:1:vote:2" for b in recorded.updates[-1][1].buttons)
    assert "counted" in (await press(core, "poll:1:vote:2", CARO)).text
    for line, message in (("add 1 oat BARS", "listed twice"), ("add 1 @everyone wins", "can't mention @everyone"),
                          ("add 1 <!channel>", "can't mention"), ("add 1 " + "x" * 81, "keep options under 80"),
                          ("add 99 Tea", "no poll #99"), ("add " + "9" * 400 + " Tea", "Which poll?"),
                          ("add", "Which poll?"), ("add 1", "Write your option after the poll number")):
        reply = await say(core, line, MOD)  # moderators: no rate limit in the way of this many tries
        assert message in reply.text and reply.ephemeral, line
    assert len((await core.get(Polls).get(1)).options) == 3


async def test_adding_is_refused_when_not_allowed_closed_or_full(core: Core):
    await make_poll(core, '"Q?" "A" "B"')
    assert "didn't allow members to add options" in (await say(core, "add 1 C", BOB)).text
    # Adding counts against the member's /poll rate limit, like creating; a moderator fills this poll up.
    await make_poll(core, '"Q?" "A" "B" --allow-add')
    for n in range(20):
        assert "Added" in (await say(core, f"add 2 Extra {n}", MOD)).text
    full = await say(core, "add 2 One too many", MOD)  # the 23rd; a 26th could never fit as a button either
    assert "as many as fit as buttons" in full.text
    assert len((await core.get(Polls).get(2)).options) == 22
    await press(core, "poll:2:close")
    assert "closed" in (await say(core, "add 2 Late", MOD)).text


# -- 7. ranked-choice and rating polls --------------------------------------------------------------------------


def test_instant_runoff_round_by_round():
    # 0 leads on first choices without a majority; 2 is out and its ballots go to their next choice.
    ballots = ((0, 1), (0, 2), (1, 0), (1, 2), (2, 1))
    rounds, winners = instant_runoff(ballots, 3)
    assert [r.counts for r in rounds] == [{0: 2, 1: 2, 2: 1}, {0: 2, 1: 3}]
    assert rounds[0].eliminated == (2,) and winners == (1,)
    tied, tie = instant_runoff(((0,), (1,)), 2)
    assert tie == (0, 1) and len(tied) == 1
    assert instant_runoff((), 3) == ([instant_runoff((), 3)[0][0]], ())


async def test_a_ranked_poll_orders_by_presses_and_counts_by_instant_runoff(core: Core, tmp_path: Path):
    await make_poll(core, '"Best first step?" "Rest" "Water" "Meds" --ranked')
    said = await press(core, "poll:1:vote:2")
    assert "your choice number 1" in said.text
    said = await press(core, "poll:1:vote:0")
    assert "Your ranking: Meds > Rest." in said.text
    ballots = {BOB: (1, 0), CARO: (0, 1), HELPER: (1, 2), MOD: (2, 1)}
    for member, picks in ballots.items():
        for p in picks:
            await press(core, f"poll:1:vote:{p}", member)
    assert "off your ranking" in (await press(core, "poll:1:vote:2", MOD)).text  # MOD now ranks Water only
    assert await core.get(Polls).ballot(1, ALICE.id) == (2, 0)
    text = (await press(core, "poll:1:results")).text
    assert "Your vote: Meds > Rest" in text and "First choices:" in text
    assert "Round 1: Water 3, Rest 1, Meds 1" in text and "Winner: Water" in text
    assert "Round 1: Water 3" in text


async def test_a_rating_poll_shows_average_and_spread(core: Core, recorded: WhisperingAdapter):
    await make_poll(core, '"How bad is it today?" --rating 5')
    post = recorded.posts[-1][1]
    assert [b.label for b in post.buttons][:5] == ["1", "2", "3", "4", "5"] and "rate 1 to 5" in post.footer
    for member, score in ((ALICE, 4), (BOB, 2), (CARO, 4)):
        await press(core, f"poll:1:vote:{score - 1}", member)
    await press(core, "poll:1:vote:4", BOB)  # changes their rating from 2 to 5
    text = (await press(core, "poll:1:results")).text
    assert "Average: 4.3 out of 5 (3 ratings)." in text and "2 votes (67%)" in text


async def test_ranked_ballots_survive_a_restart(tmp_path: Path):
    cfg = make_config(tmp_path)
    core = await open_core(cfg)
    await core.start()
    await make_poll(core, '"Q?" "A" "B" "C" --ranked --min 2')
    for p in (2, 0):
        await press(core, f"poll:1:vote:{p}", BOB)
    await press(core, "poll:1:vote:1", CARO)  # one pick of the two needed: not counted yet
    await core.close()
    core = await open_core(cfg)
    await core.start()
    try:
        assert await core.get(Polls).ballot(1, BOB.id) == (2, 0)
        tally = await polls_tally(core)
        assert tally.ballots == ((2, 0),) and tally.waiting == 1
        assert "Your ranking: B > C" in (await press(core, "poll:1:vote:2", CARO)).text
        assert (await polls_tally(core)).voters == 2
    finally:
        await core.close()


# -- 8. polls that open later -----------------------------------------------------------------------------------


async def test_a_scheduled_poll_refuses_votes_until_it_opens_then_shows_its_buttons(
        core: Core, recorded: WhisperingAdapter):
    reply, _ = await make_poll(core, '"Q?" "A" "B" --opens 2h --closes 1h')
    assert reply.text.startswith("Poll #1 is up")
    poll = await core.get(Polls).get(1)
    assert poll.opens_at and poll.closes_at and poll.closes_at - poll.opens_at == pytest.approx(3600, abs=5)
    post = recorded.posts[-1][1]
    assert "opens " in post.footer and not any(":vote:" in b.action_id for b in post.buttons)
    refused = await press(core, "poll:1:vote:0", BOB)
    assert "isn't open yet" in refused.text and await core.get(Polls).ballot(1, BOB.id) == ()
    polls = core.get(Polls)
    soon = await polls.create(PollSpec("Soon?", ("A", "B"), opens_at=time.time() + 0.3), ALICE)
    await polls.publish(soon, [HERE])
    await asyncio.sleep(0.6)
    assert any(b.action_id == f"poll:{soon.id}:vote:0" for b in recorded.updates[-1][1].buttons)
    assert "counted" in (await press(core, f"poll:{soon.id}:vote:0", BOB)).text


async def test_a_poll_due_to_open_while_the_bot_was_down_gets_its_buttons_on_start(tmp_path: Path):
    cfg = make_config(tmp_path)
    core = await open_core(cfg)
    core.attach(RecordingAdapter("console"))
    polls = core.get(Polls)
    poll = await polls.create(PollSpec("Later?", ("A", "B"), opens_at=time.time() + 0.2), ALICE)
    await polls.publish(poll, [HERE])
    await core.close()  # stopped before the opening time: its timer is gone
    await asyncio.sleep(0.3)
    core = await open_core(cfg)
    adapter = RecordingAdapter("console")
    core.attach(adapter)
    await core.start()
    try:
        await asyncio.sleep(0.2)
        assert any(b.action_id == f"poll:{poll.id}:vote:0" for b in adapter.updates[-1][1].buttons)
        assert "counted" in (await press(core, f"poll:{poll.id}:vote:1", BOB)).text
    finally:
        await core.close()


# -- 9. a chart that reads on its own ---------------------------------------------------------------------------


async def test_the_chart_is_a_real_labelled_image(core: Core):
    await make_poll(core, '"Would you try it?" "Yes" "Maybe" "No" --multi 2')
    await press(core, "poll:1:vote:0")
    await press(core, "poll:1:vote:1")
    reply = await press(core, "poll:1:results")
    assert reply.image is not None
    picture = PILImage.open(io.BytesIO(reply.image.data))
    assert picture.format == "PNG" and picture.width == 720 and picture.height > 200
    more = PILImage.open(io.BytesIO(results_chart_png("Q?", tuple(f"Option {i}" for i in range(22)),
                                                      tuple(range(22)), 231, "note")))
    assert more.height > picture.height  # one row per option, every option named
    colours = picture.convert("RGB").getcolors(4096)
    assert colours is not None and len(colours) > 5  # antialiased text, not a 5x7 bitmap in one ink


# -- every platform ---------------------------------------------------------------------------------------------


@pytest.fixture
async def discord_run(tmp_path: Path) -> AsyncIterator[Running]:
    async with FakeDiscord(roles={MOD_ROLE: "Moderators", "1800000000000000001": "Helpers"}) as fake:
        run = await Running(fake, discord_config(tmp_path, fake), Probe()).start()
        yield run
        await run.stop()


async def test_discord_rating_poll_limited_to_a_role(discord_run: Running):
    fake = discord_run.fake
    posts = len(fake.find("POST", rf"/channels/{fake.channel_id}/messages"))
    rec = await fake.interact(fake.slash("poll", {"question": "Pain today?", "kind": "rating", "scale": "5",
                                                  "roles": "<@&1800000000000000001>", "results": "voted"}))
    assert rec.json["type"] == 4
    posted = await fake.wait_until(lambda: fake.find("POST", rf"/channels/{fake.channel_id}/messages")[posts:])
    message = fake.message_from(posted[0])
    labels = [b["label"] for row in message["components"] for b in row["components"]]
    assert labels[:5] == ["1", "2", "3", "4", "5"]
    refused = await fake.interact(fake.button("poll:1:vote:3", message, user_name="maria"))
    assert "only for members with certain roles" in json.dumps(refused.json)
    counted = await fake.interact(fake.button("poll:1:vote:3", message, user_name="hal", user_id="1600000000000000009",
                                              roles=["1800000000000000001"]))
    assert "counted" in json.dumps(counted.json) and counted.json["data"]["flags"] & EPHEMERAL
    results = await fake.interact(fake.button("poll:1:results", message, user_name="hal",
                                              user_id="1600000000000000009", roles=["1800000000000000001"]))
    assert "Average: 4.0 out of 5" in json.dumps(results.json)
    await asyncio.sleep(0.1)


async def test_discord_creator_gets_final_results_by_direct_message(discord_run: Running):
    fake = discord_run.fake
    core = discord_run.core
    assert core is not None
    posts = len(fake.find("POST", rf"/channels/{fake.channel_id}/messages"))
    await fake.interact(fake.slash("poll", {"question": "Ranked?", "choices": "A|B|C", "kind": "ranked"}))
    posted = await fake.wait_until(lambda: fake.find("POST", rf"/channels/{fake.channel_id}/messages")[posts:])
    message = fake.message_from(posted[0])
    for custom_id in ("poll:1:vote:2", "poll:1:vote:0"):
        said = await fake.interact(fake.button(custom_id, message, user_name="maria"))
    assert "Your ranking: C > A." in json.dumps(said.json, ensure_ascii=False)
    await fake.interact(fake.slash("poll-close", {"poll_id": "1"}))
    dm = await fake.wait_until(lambda: [r for r in fake.find("POST", r"/channels/.*/messages")
                                        if "Your poll #1 has closed" in json.dumps(r.json or {})])
    assert "Winner: C" in json.dumps(dm[0].json)
    edits = fake.find("PATCH", rf"/channels/{fake.channel_id}/messages/{message['id']}")
    closed = {**message, "components": edits[-1].json["components"]}
    ids = [b["custom_id"] for row in closed["components"] for b in row["components"]]
    assert "poll:1:reopen" in ids and not any(":vote:" in i for i in ids)
    refused = await fake.interact(fake.button("poll:1:reopen", closed, user_name="sam", user_id="1600000000000000007"))
    assert "Only the member who started this poll" in json.dumps(refused.json)
    reopened = await fake.interact(fake.button("poll:1:reopen", closed, user_name="maria"))
    assert "open again" in json.dumps(reopened.json)
    assert (await core.get(Polls).get(1)).is_open
    await asyncio.sleep(0.1)


@pytest.fixture
async def slack_run(tmp_path: Path) -> AsyncIterator[Harness]:
    fake = await FakeSlack(usergroups={"S0HELPERS": ["U0HAL"]}).start()
    async with running_slack(tmp_path, fake) as harness:
        yield harness
    await fake.stop()


async def test_slack_ranked_poll_with_added_option_and_results_to_creator(slack_run: Harness):
    slack = slack_run
    said = await slack.ask("/poll", '"Best first step?" "Rest" "Water" --ranked --allow-add --min 2')
    assert "Poll #1 is up" in json.dumps(said)
    [posted] = await slack.fake.wait_call("chat.postMessage")
    values = [e["value"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "poll:1:add" in values and "poll:1:reopen" not in values
    added = await slack.ask("/poll", "add 1 Dark room", key="add")
    assert "Added “Dark room” as option 3" in json.dumps(added, ensure_ascii=False)
    for value, key in (("poll:1:vote:2", "v1"), ("poll:1:vote:0", "v2")):
        await slack.press(value, key=key)
    [said] = await slack.fake.wait_response("v2")
    assert "Your ranking: Dark room > Rest." in json.dumps(said["blocks"], ensure_ascii=False)
    await slack.press("poll:1:close", key="close", user="U0MARIA")
    [whisper] = await slack.fake.wait_call("chat.postEphemeral")
    assert whisper["user"] == "U0MARIA" and "Your poll #1 has closed" in json.dumps(whisper, ensure_ascii=False)
    assert "Winner: Dark room" in json.dumps(whisper)


async def test_slack_role_poll_and_results_after_voting(slack_run: Harness):
    slack = slack_run
    await slack.ask("/poll", '"Helpers: which day?" "Mon" "Tue" --roles U0HAL,S0MODS --results voted')
    await slack.press("poll:1:vote:0", key="no", user="U0MARIA")
    [refused] = await slack.fake.wait_response("no")
    assert "only for members with certain roles" in refused["text"] and refused["response_type"] == "ephemeral"
    await slack.press("poll:1:results", key="peek", user="U0HAL")
    [peek] = await slack.fake.wait_response("peek")
    assert "once they have voted" in json.dumps(peek) and "1 vote" not in json.dumps(peek)
    await slack.press("poll:1:vote:1", key="yes", user="U0HAL")
    await slack.press("poll:1:results", key="seen", user="U0HAL")
    [seen] = await slack.fake.wait_response("seen")
    assert "1 vote (100%)" in json.dumps(seen) and "Your vote: Tue" in json.dumps(seen)
    rows = await slack.core.storage.fetchall("SELECT voter FROM poll_votes")
    assert [r[0] for r in rows] == ["slack:U0HAL"]
