"""FAQ feedback and the FAQ's console/text polish, end to end: "Was this helpful?" ratings and /faq-stats on the
console, Discord and Slack; Slack's search-as-you-type /faq modal; private buttons on the console; layout."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.adapters.discord.render import render_embeds, source_line
from bot.adapters.slack import SlackAdapter
from bot.adapters.slack.render import render as slack_render
from bot.config import Secret
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, Place, Reply, Role, Source
from bot.features.faq import Faq
from tests.conftest import ROOT, ConsoleSession
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.slack_api import APP_TOKEN, TEAM_ID, FakeSlack, buttons, interactive_body, texts
from tests.test_console_cli import run_bot
from tests.test_discord import ADMIN_ROLE, Probe, Running, buttons_of, discord_config, embeds_of, is_ephemeral
from tests.test_slack import ADMIN, Harness, build_core, running_slack, view_submission

pytestmark = pytest.mark.timeout(30)

QUESTION = "how much does it cost"
ENTRY = "cost"
PLACE = Place("console", "general")


def numbered(out: str) -> dict[str, str]:
    """Console button label -> its number, from what the console printed."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^\s+\[(\d+)\] (.+)$", out, re.M)}


async def press(core: Core, action_id: str, who: str = "maria", role: Role = Role.MEMBER) -> Reply:
    return await core.dispatch_action(Action(action_id, Member(f"console:{who}", who, role), PLACE))


# -- ratings and /faq-stats through the console and the core --------------------------------------------------


async def test_every_answer_asks_was_this_helpful_and_a_rating_can_be_changed(core: Core):
    maria = ConsoleSession(core)
    out = await maria.say(f"/faq {QUESTION}")
    buttons_shown = numbered(out)
    assert {"👍 Helpful", "👎 Not helpful"} <= set(buttons_shown)
    assert "Thanks, glad it helped" in await maria.say(buttons_shown["👍 Helpful"])
    assert "already rated" in await maria.say(buttons_shown["👍 Helpful"])
    assert "Changed your rating" in await maria.say(buttons_shown["👎 Not helpful"])
    await press(core, f"faq:rate:{ENTRY}:down", who="bob")
    await press(core, f"faq:rate:{ENTRY}:up", who="carla")

    stats = {s.entry_id: s for s in await core.get(Faq).stats()}
    assert (stats[ENTRY].asked, stats[ENTRY].helpful, stats[ENTRY].not_helpful) == (1, 1, 2)
    assert len(stats) == len(core.get(Faq).kb.entries)  # every entry is listed, asked or not
    assert (await core.get(Faq).stats())[0].entry_id == ENTRY  # the most 👎 first: the one to rewrite

    admin = ConsoleSession(core, user="ada", role=Role.ADMIN)
    shown = await admin.say("/faq-stats")
    title = core.get(Faq).kb.get(ENTRY).title
    assert f"{title} ({ENTRY}): asked 1×, 👍 1 · 👎 2 (33% helpful)" in shown
    assert "Asked most without a confident answer:" in shown


async def test_answers_given_by_button_and_by_suggestion_are_counted_shares_are_not(core: Core):
    faq = core.get(Faq)
    await press(core, "faq:show:insurance")
    await core.dispatch(Invocation("faq", Member("console:maria", "maria"), PLACE, {"question": "entry:insurance"}))
    shared = await press(core, "faq:share:insurance")
    assert not shared.ephemeral and any(b.action_id == "faq:rate:insurance:up" for b in shared.buttons)
    assert {s.entry_id: s.asked for s in await faq.stats()}["insurance"] == 2


async def test_gaps_are_shown_beside_the_entries(core: Core):
    admin = ConsoleSession(core, user="ada", role=Role.ADMIN)
    await admin.say("/faq best pizza in chicago")
    shown = await admin.say("/faq-stats")
    assert "Asked most without a confident answer: 1× best pizza in chicago" in shown


async def test_faq_stats_is_refused_politely_to_members_and_moderators(core: Core):
    await press(core, f"faq:rate:{ENTRY}:down")
    for role in (Role.MEMBER, Role.MODERATOR):
        out = await ConsoleSession(core, user="mo", role=role).say("/faq-stats")
        assert "Sorry, only admins can do that" in out and "asked" not in out and "👎" not in out


@pytest.mark.parametrize("action_id", [
    "faq:rate:cost:sideways", "faq:rate:cost", "faq:rate:cost:up:extra", "faq:rate:" + "9" * 5000 + ":up",
    "faq:rate:nowhere:up", "faq:rate:@everyone:up", "faq:rate:**cost**:down",
])
async def test_bad_rating_buttons_get_a_polite_answer_and_change_nothing(core: Core, action_id: str):
    reply = await press(core, action_id)
    assert reply.ephemeral and ("not valid any more" in reply.text or "no longer in the knowledge base" in reply.text)
    assert all(s.helpful == s.not_helpful == 0 for s in await core.get(Faq).stats())
    assert await core.storage.fetchall("SELECT * FROM faq_ratings") == []


def test_bot_faq_stats_on_the_command_line(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {ROOT / 'faq'}\n")
    assert run_bot("console", "--config", str(config), stdin=f"/faq {QUESTION}\n").returncode == 0
    result = run_bot("faq", "stats", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"({ENTRY}): asked 1×, not rated yet" in result.stdout
    assert len(result.stdout.splitlines()) == len(Faq(None, ROOT / "faq").kb.entries)


# -- the console: only the buttons a member can see ------------------------------------------------------------


async def test_a_member_cannot_press_the_buttons_of_someone_elses_private_reply(core: Core):
    session = ConsoleSession(core)
    out = await session.say(f"/faq {QUESTION}")
    shown = numbered(out)
    await session.say("/as bob")
    refused = await session.say(shown["👍 Helpful"])
    assert "only they can press it" in refused and "maria" in refused
    assert await core.storage.fetchall("SELECT * FROM faq_ratings") == []
    # A shared answer is public: anyone in the channel may press its buttons.
    await session.say("/as maria")
    posted = numbered(await session.say(shown["Share in channel"]))
    await session.say("/as bob")
    assert "Thanks, glad it helped" in await session.say(posted["👍 Helpful"])
    # Back as maria, her own private buttons work again.
    await session.say("/as maria")
    assert "glad it helped" in await session.say(shown["👍 Helpful"])


async def test_whispered_buttons_belong_to_the_member_they_were_whispered_to(core: Core):
    session = ConsoleSession(core, user="ada")
    await session.adapter.whisper(PLACE, "console:bob", Reply(text="Just for bob", buttons=(
        core.get(Faq).entry_reply(core.get(Faq).kb.get(ENTRY)).buttons[-2],)))
    number = numbered(session.buffer.getvalue())["👍 Helpful"]
    assert "only they can press it" in await session.say(number)
    await session.say("/as bob")
    assert "glad it helped" in await session.say(number)


# -- layout: lists, indentation, sources, "not sure" ---------------------------------------------------------


async def test_topic_lists_start_on_their_own_line(console: ConsoleSession):
    out = await console.say("/faq-topics")
    assert "Access:\n  • " in out and "Access: •" not in out


def test_multi_line_fields_are_indented_under_their_name():
    text = Reply(text="x", fields=(("Why", "rule one (0.40)\nrule two (0.30)"), ("Link", "none"))).plain()
    assert "Why:\n  rule one (0.40)\n  rule two (0.30)\nLink: none" in text


def test_sources_do_not_repeat_their_title_on_any_platform():
    title = "Practical Pain Management, Ask the Expert: Intranasal Ketamine for Migraine Therapy"
    source = Source(title, citation=f"{title}, 2014 (reference 8)")
    assert source.detail == "2014 (reference 8)"
    assert Source("Same", citation="Same").detail is None
    assert Source("FDA", citation="FDA guidance").detail == "FDA guidance"  # too short to count as a repeat
    reply = Reply(text="x", sources=(source,))
    for shown in (reply.plain(), source_line(source), json.dumps(slack_render(reply).blocks)):
        assert shown.count("Intranasal Ketamine for Migraine Therapy") == 1, shown
    faq = Faq(None, ROOT / "faq")
    for entry in faq.kb.entries:
        for s in entry.sources:
            assert s.detail is None or s.title.casefold() not in s.detail.casefold()


def test_not_sure_keeps_its_suggestions_right_under_the_question():
    # A bar no answer clears: every question is "not sure", with the entries it came close to as suggestions.
    faq = Faq(None, ROOT / "faq", min_confidence=0.99)
    answer = faq.find("does ketamine hurt the bladder")
    assert answer.entry is None and answer.suggestions
    reply = faq.answer_reply(answer)
    assert reply.text.endswith("Did you mean one of these?") and reply.footer is None and reply.buttons
    assert [b["type"] for b in slack_render(reply).blocks][-2:] == ["section", "actions"]
    assert render_embeds(reply)[-1].footer.text is None


async def test_not_sure_on_the_console_shows_the_suggestions_under_the_question(console: ConsoleSession):
    console.adapter.core.get(Faq).min_confidence = 0.99  # every question is "not sure", with suggestions
    lines = (await console.say("/faq does ketamine hurt the bladder")).splitlines()
    at = lines.index("Did you mean one of these?")
    assert lines[at + 1].startswith("  [")


# -- Slack: ratings, stats and the search-as-you-type modal ---------------------------------------------------


@pytest.fixture
async def slack(tmp_path: Path, fake):
    async with running_slack(tmp_path, fake) as harness:
        yield harness


@pytest.fixture
async def fake():
    server = await FakeSlack(usergroups={}, users={}).start()
    yield server
    await server.stop()


def suggestion_request(typed: str, action_id: str = "pick:faq:question", user: str = "U0MARIA") -> str:
    return interactive_body({
        "type": "block_suggestion", "user": {"id": user, "username": "maria", "team_id": TEAM_ID},
        "team": {"id": TEAM_ID}, "api_app_id": "A0APP", "token": "x", "action_id": action_id,
        "block_id": "question", "value": typed, "container": {"type": "view", "view_id": "V0VIEW"},
        "view": {"id": "V0VIEW", "type": "modal", "callback_id": action_id},
    })


def chosen(view: dict[str, Any], value: str | None) -> dict[str, Any]:
    body = view_submission(view, {})
    select = {"type": "external_select", "selected_option": {"value": value} if value else None}
    body["view"]["state"] = {"values": {"question": {"pick:faq:question": select}}}
    return body


async def test_slack_faq_with_no_text_opens_a_modal_that_searches_as_you_type(slack: Harness):
    status, _ = await slack.command("/faq", "", key="p1", trigger_id="trig-9")
    assert status == 200
    [opened] = await slack.fake.wait_call("views.open")
    view = opened["view"]
    assert opened["trigger_id"] == "trig-9" and view["callback_id"] == "pick:faq:question"
    [block] = view["blocks"]
    assert block["type"] == "input" and block["element"]["type"] == "external_select"
    assert slack.dispatched == []

    status, body = await slack.send(suggestion_request("ketamin nasel"))
    assert status == 200
    options = json.loads(body)["options"]
    expected = await slack.core.autocomplete("faq", "question", "ketamin nasel")  # the core's own search
    assert [(o["text"]["text"], o["value"]) for o in options] == expected[:len(options)]
    assert {"text": {"type": "plain_text", "text": "Ketamine nasal spray", "emoji": False},
            "value": "entry:nasal-spray"} in options[:3]

    status, body = await slack.send(interactive_body(chosen(view, "entry:nasal-spray")))
    assert status == 200 and body == ""  # closes the modal
    [answer] = await slack.fake.wait_response("p1")  # where /faq was typed, privately
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0]["text"]["text"] == "Ketamine nasal spray"
    assert "faq:rate:nasal-spray:up" in [b["value"] for b in buttons(answer["blocks"])]
    assert slack.dispatched[-1].args == {"question": "entry:nasal-spray"}
    assert slack.dispatched[-1].place == Place("slack", "C0GENERAL", TEAM_ID)


async def test_slack_search_answers_odd_input_and_unknown_pickers_with_no_error(slack: Harness):
    for typed, action_id in (("", "pick:faq:question"), ("<!channel> *bold* " * 400, "pick:faq:question"),
                             ("x", "pick:nothing:here"), ("x", "pick:")):
        status, body = await slack.send(suggestion_request(typed, action_id))
        assert status == 200
        options = json.loads(body)["options"]
        assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150 for o in options)
    status, body = await slack.send(suggestion_request(" ", "pick:faq:question"))
    assert len(json.loads(body)["options"]) > 0  # an empty box lists answers to browse


async def test_slack_picker_submitted_without_a_choice_says_so(slack: Harness):
    await slack.command("/faq", "", key="p2")
    [opened] = await slack.fake.wait_call("views.open")
    status, body = await slack.send(interactive_body(chosen(opened["view"], None)))
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert slack.dispatched == []


async def test_slack_faq_with_text_and_topics_still_answer_directly(slack: Harness):
    answer = await slack.ask("/faq", "topics", key="t1")
    assert answer["blocks"][0]["text"]["text"] == "What I can answer"
    assert slack.fake.calls_to("views.open") == []


async def test_slack_rating_and_stats(slack: Harness):
    answer = await slack.ask("/faq", QUESTION, key="r1")
    rate = next(b for b in buttons(answer["blocks"]) if b["value"] == f"faq:rate:{ENTRY}:down")
    await slack.press(rate["value"], key="r2", action_id=rate["action_id"])
    [thanks] = await slack.fake.wait_response("r2")
    assert thanks["response_type"] == "ephemeral" and "Thanks for telling us" in thanks["text"]

    refused = await slack.ask("/faq-stats", "", key="r3")
    assert "only admins" in refused["text"]
    shown = await slack.ask("/faq-stats", "", key="r4", user=ADMIN)
    body = " ".join(texts(shown["blocks"]))
    assert f"({ENTRY}): asked 1×, 👍 0 · 👎 1 (0% helpful)" in body


# -- Discord: ratings and stats --------------------------------------------------------------------------------


async def test_discord_rating_and_stats(tmp_path: Path):
    async with FakeDiscord(roles={ADMIN_ROLE: "Admins"}) as fake:
        run = await Running(fake, discord_config(tmp_path, fake), Probe()).start()
        try:
            first = await fake.interact(fake.slash("faq", {"question": QUESTION}))
            ids = [b["custom_id"] for b in buttons_of(first.json)]
            assert ids[-2:] == [f"faq:rate:{ENTRY}:up", f"faq:rate:{ENTRY}:down"]
            message = fake.message_from(first)
            pressed = await fake.interact(fake.button(f"faq:rate:{ENTRY}:up", message))
            assert is_ephemeral(pressed.json["data"])
            assert "glad it helped" in embeds_of(pressed.json)[0]["description"]

            refused = await fake.interact(fake.slash("faq-stats", user_name="maria"))
            assert "only admins" in embeds_of(refused.json)[0]["description"]
            shown = await fake.interact(fake.slash("faq-stats", user_name="ada", roles=[ADMIN_ROLE]))
            embed = embeds_of(shown.json)[0]
            assert embed["title"] == "FAQ answers: asked and rated"
            assert f"({ENTRY}): asked 1×, 👍 1 · 👎 0 (100% helpful)" in embed["description"]
        finally:
            await run.stop()


async def test_the_readme_console_example_presses_what_it_says(core: Core):
    """The README's example session, line by line: `1` right after `/poll …` votes for the poll's first option."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("In the console, type `/help`, then for example:", 1)[1].split("```")[1]
    lines = [re.split(r"\s{2,}\(", line.removeprefix("> "))[0].strip() for line in block.splitlines() if line]
    assert lines[0].startswith("/poll ") and lines[1] == "1"
    session = ConsoleSession(core)
    poll = await session.say(lines[0])
    assert numbered(poll)["1. Yes"] == "1"
    assert "is counted" in await session.say(lines[1])
    for line in lines[2:]:
        assert "Traceback" not in await session.say(line)


async def test_slack_search_works_over_socket_mode_too(tmp_path: Path, fake: FakeSlack):
    core, cfg = await build_core(tmp_path, api_url=fake.api_url, mode="socket", app_token=Secret(APP_TOKEN))
    adapter = SlackAdapter(core, cfg.slack)
    core.attach(adapter)
    try:
        await adapter.start()
        payload = json.loads(parse_qs(suggestion_request("insurence"))["payload"][0])
        await fake.socket_send({"envelope_id": "env-s", "type": "interactive", "accepts_response_payload": True,
                                "payload": payload})
        [acked] = await fake.wait_for(lambda: [a for a in fake.socket_acks if a.get("envelope_id") == "env-s"])
        values = [o["value"] for o in acked["payload"]["options"]]
        assert "entry:insurance" in values[:3]
    finally:
        await adapter.stop()
        await adapter.close()
        await core.close()
