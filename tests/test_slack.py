"""The Slack adapter end to end: the real SlackAdapter in HTTP (and Socket) mode against a local fake Slack.

Requests are signed exactly like Slack signs them; nothing here reaches the internet. Listeners do their work
after acking, so tests wait for the fake to see the resulting Web API call or response_url POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml

from bot.adapters.slack import SlackAdapter, render
from bot.adapters.slack.inbound import count_mass_mentions, to_plain
from bot.adapters.slack.render import BUTTONS_PER_ACTIONS, FIELDS_PER_SECTION, SECTION_MAX, escape
from bot.config import Secret
from bot.core.commands import Form, FormField, Option, action, command
from bot.core.contract import Feature, IncomingMessage, StartupError
from bot.core.core import Core
from bot.core.records import Action, Button, Image, Invocation, Member, MessageRef, Place, Reply, Role, Source
from bot.features.faq import Faq
from bot.features.polls import Polls, PollSpec
from bot.runner import open_core
from tests.conftest import ROOT, make_config
from tests.fakes.slack_api import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_DOMAIN,
    TEAM_ID,
    FakeSlack,
    assert_nothing_pings,
    block_actions_payload,
    buttons,
    event_body,
    interactive_body,
    sign,
    signed_headers,
    slash_body,
    slash_fields,
    texts,
)

pytestmark = pytest.mark.timeout(15)

FORM = "application/x-www-form-urlencoded"
ADMIN = "U0ADMIN"
ADMIN_GROUP = "S0ADMINS"
GROUP_ADMIN = "U0GROUPIE"
MOD_GROUP = "S0MODS"
# A question the knowledge base answers confidently; tests read the expected entry from the core itself.
QUESTION = "How much does it cost?"


class Extras(Feature):
    """Commands the core does not declare yet, so the form, shortcut, slow and edit paths can be exercised."""

    def __init__(self) -> None:
        self.seen: list[Invocation | Action] = []

    @command("test-form", options=(Option("question", "The question", rest=True),),
             form=Form("New poll", (FormField("question", "Question"),
                                    FormField("options", "Options, one per line", long=True, required=False))))
    async def cmd_form(self, inv: Invocation) -> Reply:
        """Open a form."""
        self.seen.append(inv)
        return Reply(title="Poll made", text=json.dumps(inv.args, sort_keys=True), ephemeral=False)

    @command("test-report", kind="message")
    async def cmd_report(self, inv: Invocation) -> Reply:
        """Report a message."""
        self.seen.append(inv)
        return Reply(text="Thanks, the moderators will have a look.", ephemeral=False)

    @command("test-slow")
    async def cmd_slow(self, inv: Invocation) -> Reply:
        """Take a while."""
        await asyncio.sleep(0.4)
        return Reply(text="slow done")

    @action("edit")
    async def on_edit(self, act: Action, parts: list[str]) -> Reply:
        self.seen.append(act)
        return Reply(title="Edited", text=f"edited {parts}", ephemeral=False, replace_original=True)


class Harness:
    """A running SlackAdapter on a core, the fake Slack it talks to, and an HTTP client playing Slack."""

    def __init__(self, fake: FakeSlack, core: Core, adapter: SlackAdapter, extras: Extras) -> None:
        self.fake, self.core, self.adapter, self.extras = fake, core, adapter, extras
        self.dispatched: list[Invocation] = []
        self.pressed: list[Action] = []
        self.messages: list[IncomingMessage] = []
        self.http = aiohttp.ClientSession()
        real_dispatch, real_action, real_message = core.dispatch, core.dispatch_action, core.on_message

        async def dispatch(inv: Invocation) -> Reply:
            self.dispatched.append(inv)
            return await real_dispatch(inv)

        async def dispatch_action(act: Action) -> Reply:
            self.pressed.append(act)
            return await real_action(act)

        async def on_message(message: IncomingMessage) -> None:
            self.messages.append(message)
            await real_message(message)

        core.dispatch, core.dispatch_action, core.on_message = dispatch, dispatch_action, on_message

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}/slack/events"

    async def send(self, body: str | bytes, *, content_type: str = FORM, headers: dict[str, str] | None = None,
                   **sign_kw: Any) -> tuple[int, str]:
        if headers is None:
            headers = signed_headers(body, content_type=content_type, **sign_kw)
        raw = body.encode() if isinstance(body, str) else body
        async with self.http.post(self.url, data=raw, headers=headers) as resp:
            return resp.status, await resp.text()

    async def command(self, name: str, text: str = "", key: str = "r", **kw: Any) -> tuple[int, str]:
        return await self.send(slash_body(name, text, response_url=self.fake.response_url(key), **kw))

    async def ask(self, name: str, text: str = "", key: str = "r", **kw: Any) -> dict[str, Any]:
        """Run a slash command and return what it answered through the response_url."""
        before = len(self.fake.responses_to(key))
        status, _ = await self.command(name, text, key, **kw)
        assert status == 200
        return (await self.fake.wait_response(key, before + 1))[-1]

    async def press(self, value: str, key: str = "b", **kw: Any) -> tuple[int, str]:
        payload = block_actions_payload(value, response_url=self.fake.response_url(key) if key else "", **kw)
        return await self.send(interactive_body(payload))


async def build_core(tmp_path: Path, extras: Extras | None = None, **slack: Any) -> tuple[Core, Any]:
    cfg = make_config(tmp_path)
    s = cfg.slack
    s.enabled, s.mode, s.host, s.port = True, "http", "127.0.0.1", 0
    s.bot_token, s.signing_secret = Secret(BOT_TOKEN), Secret(SIGNING_SECRET)
    s.admin_ids, s.moderator_ids = [ADMIN, ADMIN_GROUP], [MOD_GROUP]
    for key, value in slack.items():
        setattr(s, key, value)
    return await open_core(cfg, extra_features=[extras] if extras is not None else []), cfg


@pytest.fixture
async def fake():
    server = await FakeSlack(usergroups={ADMIN_GROUP: [GROUP_ADMIN], MOD_GROUP: []},
                             users={"U0SPAM": "Spammy McSpam"}).start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running_slack(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Harness]:
    """A core with the bundled features (and Extras) behind a Slack adapter in HTTP mode, talking to `fake`."""
    extras = Extras()
    core, cfg = await build_core(tmp_path, extras, api_url=fake.api_url)
    adapter = SlackAdapter(core, cfg.slack)
    core.attach(adapter)
    await adapter.start()
    await core.start()
    harness = Harness(fake, core, adapter, extras)
    yield harness
    await harness.http.close()
    await adapter.stop()
    await adapter.close()
    await core.close()


@pytest.fixture
async def slack(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Harness]:
    async with running_slack(tmp_path, fake) as harness:
        yield harness


# -- rendering (pure) ----------------------------------------------------------------------------------------


def test_render_maps_every_part_of_a_reply_to_block_kit():
    reply = Reply(
        title="Nasal spray", text="First paragraph.\n\nSecond one.",
        fields=(("Dose", "Small"), ("Where", "Pharmacy")),
        sources=(Source("Study & <review>", url="https://example.org/a?b=1&c=2"), Source("Article", citation="p. 4")),
        buttons=(Button("More", "faq:show:a"), Button("Share", "faq:share:a", "primary"),
                 Button("Remove", "queue:1:remove", "danger"), Button("Approve", "queue:1:ok", "success")),
        footer="This is general information, not medical advice.",
    )
    rendered = render(reply)
    assert [b["type"] for b in rendered.blocks] == ["header", "section", "section", "context", "actions"]
    assert rendered.blocks[0]["text"] == {"type": "plain_text", "text": "Nasal spray", "emoji": False}
    assert rendered.blocks[1]["text"]["type"] == "plain_text"
    assert [f["text"] for f in rendered.blocks[2]["fields"]] == ["Dose\nSmall", "Where\nPharmacy"]
    context = rendered.blocks[3]["elements"]
    assert context[0]["type"] == "mrkdwn"
    assert context[0]["text"] == ("*Sources:* <https://example.org/a?b=1&amp;c=2|Study &amp; &lt;review&gt;>"
                                  " · Article (p. 4)")
    assert context[1] == {"type": "plain_text", "text": reply.footer, "emoji": False}
    elements = rendered.blocks[4]["elements"]
    assert [e["value"] for e in elements] == ["faq:show:a", "faq:share:a", "queue:1:remove", "queue:1:ok"]
    assert [e.get("style") for e in elements] == [None, "primary", "danger", "primary"]
    assert rendered.text == "Nasal spray\nFirst paragraph.\n\nSecond one."


def test_render_respects_slack_limits():
    long_text = ("word " * 1500).strip()  # 7499 characters
    reply = Reply(
        title="T" * 400, text=long_text,
        fields=tuple((f"f{i}", "v" * 3000) for i in range(23)),
        buttons=tuple(Button("L" * 100, "faq:show:same") for _ in range(30)),
    )
    blocks = render(reply).blocks
    assert len(blocks[0]["text"]["text"]) == 150
    sections = [b for b in blocks if b["type"] == "section" and "text" in b]
    assert len(sections) == 3 and all(len(s["text"]["text"]) <= SECTION_MAX for s in sections)
    assert " ".join(s["text"]["text"] for s in sections) == long_text
    field_sections = [b for b in blocks if b["type"] == "section" and "fields" in b]
    assert [len(s["fields"]) for s in field_sections] == [FIELDS_PER_SECTION, FIELDS_PER_SECTION, 3]
    assert all(len(f["text"]) <= 2000 for s in field_sections for f in s["fields"])
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [BUTTONS_PER_ACTIONS, 5]
    elements = buttons(blocks)
    assert len({e["action_id"] for e in elements}) == 30  # unique per message even for duplicate buttons
    assert {e["value"] for e in elements} == {"faq:show:same"}
    assert all(len(e["text"]["text"]) <= 75 for e in elements)
    assert len(blocks) <= 50


def test_user_text_can_never_ping_or_format():
    typed = "<!channel> <@U123> <#C1|x> *bold* & _it_"
    reply = Reply(title=typed, text=typed, fields=((typed, typed),), buttons=(Button(typed, "faq:show:x"),),
                  footer=typed, sources=(Source(typed, citation=typed),))
    rendered = render(reply)
    assert_nothing_pings(rendered.text, rendered.blocks)
    assert rendered.text.startswith("&lt;!channel&gt; &lt;@U123&gt;")
    assert all(typed in t for t in texts(rendered.blocks, "plain_text") if t != " ")


def test_ephemeral_reply_mentions_an_image_it_cannot_show():
    reply = Reply(text="Results", image=Image("chart.png", b"png"), ephemeral=True)
    assert "chart.png" in " ".join(texts(render(reply).blocks))
    assert "chart.png" not in " ".join(texts(render(Reply(text="Results", image=Image("chart.png", b"p"),
                                                         ephemeral=False)).blocks))


def test_incoming_markup_becomes_plain_text():
    raw = "<!channel> hi <@U1|maria> in <#C1|general> see <https://x.org|x.org> &lt;3 <!here> &amp; <!everyone>"
    assert count_mass_mentions(raw) == 3
    assert count_mass_mentions("&lt;!channel&gt; typed literally") == 0
    assert to_plain(raw) == "@channel hi @maria in #general see https://x.org <3 @here & @everyone"
    assert to_plain("<https://a.org/p|click here>") == "click here (https://a.org/p)"
    assert escape("<a & b>") == "&lt;a &amp; b&gt;"


# -- the manifest -----------------------------------------------------------------------------------------------


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text(encoding="utf-8"))


async def test_manifest_lists_every_slash_command(core: Core):
    manifest = load_manifest()
    listed = {c["command"] for c in manifest["features"]["slash_commands"]}
    missing = {f"/{s.name}" for s in core.commands if s.kind == "slash"} - listed
    assert not missing, f"add these to slack/manifest.yaml features.slash_commands: {sorted(missing)}"
    shortcuts = {s["callback_id"] for s in manifest["features"].get("shortcuts", []) if s["type"] == "message"}
    missing = {s.name for s in core.commands if s.kind == "message"} - shortcuts
    assert not missing, f"add message shortcuts to slack/manifest.yaml for: {sorted(missing)}"
    assert {"/faq", "/faq-topics", "/faq-reload", "/faq-gaps", "/poll", "/modqueue", "/modstats"} <= listed
    assert "report" in shortcuts


async def test_manifest_descriptions_are_the_command_docstrings(core: Core):
    manifest = {c["command"]: c for c in load_manifest()["features"]["slash_commands"]}
    for spec in core.commands:
        if spec.kind == "slash":
            assert manifest[f"/{spec.name}"]["description"] == spec.description, (
                f"/{spec.name}: copy its docstring's first line into slack/manifest.yaml")


def test_manifest_settings():
    manifest = load_manifest()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "chat:write.public", "channels:history", "groups:history", "users:read",
            "usergroups:read", "files:write", "channels:read"} <= scopes
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert {"message.channels", "message.groups"} <= set(settings["event_subscriptions"]["bot_events"])
    assert settings["socket_mode_enabled"] is True
    assert "https://YOUR-HOST/slack/events" in (ROOT / "slack" / "manifest.yaml").read_text(encoding="utf-8")


# -- slash commands ---------------------------------------------------------------------------------------------


async def test_faq_acks_at_once_and_answers_privately_with_sources_and_disclaimer(slack: Harness):
    entry = slack.core.get(Faq).find(QUESTION).entry
    assert entry is not None and entry.related and entry.sources, "pick a QUESTION with a confident answer"
    started = time.monotonic()
    status, body = await slack.command("/faq", QUESTION, key="q1")
    assert status == 200 and body == "" and time.monotonic() - started < 1.0
    [answer] = await slack.fake.wait_response("q1")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    blocks = answer["blocks"]
    types = [b["type"] for b in blocks]
    assert types[0] == "header" and "section" in types and "context" in types and types[-1] == "actions"
    assert blocks[0]["text"]["text"] == entry.title
    context = " ".join(texts([b for b in blocks if b["type"] == "context"]))
    assert "Sources:" in context and entry.sources[0].title in context
    assert slack.core.get(Faq).kb.safety.disclaimer in context
    values = [e["value"] for e in buttons(blocks)]
    assert f"faq:show:{entry.related[0]}" in values
    assert values[-3:] == [f"faq:share:{entry.id}", f"faq:rate:{entry.id}:up", f"faq:rate:{entry.id}:down"]
    assert answer["text"].startswith(escape(entry.title))
    assert slack.fake.calls_to("chat.postMessage") == []
    assert len(slack.dispatched) == 1
    inv = slack.dispatched[0]
    assert inv.member.id == "slack:U0MARIA" and inv.member.name == "maria"
    assert inv.place == Place("slack", "C0GENERAL", TEAM_ID) and inv.args == {"question": QUESTION}


async def test_source_links_from_the_knowledge_base_are_links(slack: Harness):
    entry = next(e for e in slack.core.get(Faq).kb.entries if any(s.url for s in e.sources))
    source = next(s for s in entry.sources if s.url)
    answer = await slack.ask("/faq", f"entry:{entry.id}")  # what picking an autocomplete suggestion sends
    mrkdwn = " ".join(texts(answer["blocks"], "mrkdwn"))
    assert f"<{escape(source.url)}|{escape(source.title)}>" in mrkdwn


async def test_related_entry_button_answers_privately(slack: Harness):
    answer = await slack.ask("/faq", QUESTION)
    related = buttons(answer["blocks"])[0]
    assert related["value"].startswith("faq:show:")
    status, _ = await slack.press(related["value"], key="b1", action_id=related["action_id"])
    assert status == 200
    [shown] = await slack.fake.wait_response("b1")
    assert shown["response_type"] == "ephemeral" and shown["replace_original"] is False
    entry = slack.core.get(Faq).kb.get(related["value"].removeprefix("faq:show:"))
    assert shown["blocks"][0]["text"]["text"] == entry.title
    act = slack.pressed[0]
    assert act.action_id == related["value"] and act.member.id == "slack:U0MARIA"
    assert act.message == MessageRef("slack", "C0GENERAL", "1700000001.000100")
    assert len(slack.dispatched) == 1 and len(slack.pressed) == 1


async def test_share_button_posts_publicly_in_the_channel(slack: Harness):
    entry = slack.core.get(Faq).kb.entries[0]
    await slack.press(f"faq:share:{entry.id}", key="b2")
    [posted] = await slack.fake.wait_call("chat.postMessage")
    assert posted["channel"] == "C0GENERAL"
    assert posted["blocks"][0]["text"]["text"] == entry.title
    assert f"faq:share:{entry.id}" not in [e["value"] for e in buttons(posted["blocks"])]
    assert posted["unfurl_links"] is False
    assert slack.fake.responses_to("b2") == []
    assert len(slack.pressed) == 1


async def test_not_sure_suggestions_work_when_pressed(slack: Harness):
    query = next((q for q in ("bladder hurts", "dose for kids", "weather today ketamine", "ketamine bladder kids",
                              "my head and ketamine weather")
                  if (a := slack.core.get(Faq).find(q)).entry is None and a.suggestions), None)
    assert query, "the knowledge base no longer gives suggestions for the test questions: pick new ones"
    answer = await slack.ask("/faq", query, key="q2")
    assert answer["blocks"][0]["text"]["text"] == "I'm not sure I understood"
    suggestion = buttons(answer["blocks"])[0]
    assert suggestion["value"].startswith("faq:show:")
    await slack.press(suggestion["value"], key="b3", action_id=suggestion["action_id"])
    [shown] = await slack.fake.wait_response("b3")
    entry = slack.core.get(Faq).kb.get(suggestion["value"].removeprefix("faq:show:"))
    assert shown["blocks"][0]["text"]["text"] == entry.title


async def test_admin_only_reload_is_refused_for_a_member(slack: Harness):
    answer = await slack.ask("/faq-reload", user="U0MARIA")
    assert answer["response_type"] == "ephemeral"
    assert "only admins" in " ".join(texts(answer["blocks"]))
    assert slack.dispatched[0].member.role.name == "MEMBER"


async def test_admin_reload_works_for_a_configured_admin_user(slack: Harness):
    answer = await slack.ask("/faq-reload", user=ADMIN, user_name="ana")
    assert answer["blocks"][0]["text"]["text"] == "Knowledge base reloaded"


async def test_admin_reload_works_for_a_member_of_a_configured_admin_group(slack: Harness):
    answer = await slack.ask("/faq-reload", user=GROUP_ADMIN)
    assert answer["blocks"][0]["text"]["text"] == "Knowledge base reloaded"
    assert slack.dispatched[0].member.role.name == "ADMIN"
    assert ADMIN_GROUP in slack.dispatched[0].member.platform_roles
    await slack.ask("/faq-gaps", user=GROUP_ADMIN)
    # Group membership is cached: one usergroups.users.list per group, not per command.
    assert [c["usergroup"] for c in slack.fake.calls_to("usergroups.users.list")].count(ADMIN_GROUP) == 1


async def test_a_failing_group_lookup_means_not_in_the_group(slack: Harness, caplog):
    slack.fake.errors["usergroups.users.list"] = "missing_scope"
    with caplog.at_level(logging.WARNING, logger="bot.slack"):
        answer = await slack.ask("/faq-reload", user=GROUP_ADMIN)
    assert "only admins" in " ".join(texts(answer["blocks"]))
    assert "missing_scope" in caplog.text


async def test_what_members_type_is_shown_literally_and_never_pings(slack: Harness):
    # Slack HTML-escapes &, < and > in a slash command's text; what the member typed reaches the core intact.
    typed = "<!channel> <@U123> *bold* zebra quokka"
    await slack.ask("/faq", escape(typed), key="q3")
    assert slack.dispatched[0].args == {"question": typed}
    gaps = await slack.ask("/faq-gaps", user=ADMIN, key="q4")
    plain_texts = texts(gaps["blocks"], "plain_text")
    assert any(typed in t for t in plain_texts)
    assert_nothing_pings(gaps["text"], gaps["blocks"])
    assert "&lt;!channel&gt; &lt;@U123&gt; *bold* zebra quokka" in gaps["text"]
    # With "escape channels, users and links" on, Slack would send real markup: it becomes plain words.
    await slack.ask("/faq", "<!here> <@U999|bob> hello", key="q5")
    assert slack.dispatched[-1].args == {"question": "@here @bob hello"}


async def test_public_posts_escape_everything_a_member_typed(slack: Harness):
    typed = "<!channel> <@U123> *bold* & more"
    ref = await slack.adapter.post(Place("slack", "C0GENERAL", TEAM_ID), Reply(
        title=typed, text=typed, fields=((typed, typed),), buttons=(Button(typed, "poll:1:vote:0"),),
        footer=typed, ephemeral=False))
    [posted] = slack.fake.calls_to("chat.postMessage")
    assert ref == MessageRef("slack", "C0GENERAL", slack.fake.answers_to("chat.postMessage")[0]["ts"])
    assert_nothing_pings(posted["text"], posted["blocks"])
    assert posted["text"].startswith("&lt;!channel&gt; &lt;@U123&gt; *bold* &amp; more")


# -- request verification -------------------------------------------------------------------------------------


async def test_the_url_verification_challenge_is_answered_when_signed(slack: Harness):
    body = json.dumps({"token": "x", "challenge": "ch4llenge", "type": "url_verification"})
    status, text = await slack.send(body, content_type="application/json")
    assert status == 200 and "ch4llenge" in text
    assert (await slack.send(body, content_type="application/json", secret="nope"))[0] == 401


async def test_a_bad_signature_is_refused_before_the_core(slack: Harness):
    status, _ = await slack.send(slash_body("/faq", "cost"), signature="v0=" + "0" * 64)
    assert status == 401
    status, _ = await slack.send(slash_body("/faq", "cost"), secret="not-the-secret")
    assert status == 401
    status, _ = await slack.send(interactive_body(block_actions_payload("faq:show:cost")), secret="nope")
    assert status == 401
    await asyncio.sleep(0.1)
    assert slack.dispatched == [] and slack.pressed == []
    assert slack.fake.deliveries() == []


async def test_a_missing_signature_is_refused(slack: Harness):
    status, _ = await slack.send(slash_body("/faq", "cost"), headers={"Content-Type": FORM})
    assert status == 401
    body = slash_body("/faq", "cost")
    headers = signed_headers(body, content_type=FORM)
    del headers["X-Slack-Signature"]
    assert (await slack.send(body, headers=headers))[0] == 401
    await asyncio.sleep(0.1)
    assert slack.dispatched == []


async def test_a_replayed_request_six_minutes_old_is_refused(slack: Harness):
    body = slash_body("/faq", "cost", response_url=slack.fake.response_url("old"))
    status, _ = await slack.send(body, age=360)  # correctly signed, but with a 6-minute-old timestamp
    assert status == 401
    status, _ = await slack.send(event_body({"type": "message", "channel": "C0GENERAL", "user": "U0SPAM",
                                             "text": "hi", "ts": "1700000000.1", "channel_type": "channel"}),
                                 content_type="application/json", age=360)
    assert status == 401
    await asyncio.sleep(0.1)
    assert slack.dispatched == [] and slack.messages == []
    # The same request signed now is accepted, exactly once.
    assert (await slack.send(body))[0] == 200
    await slack.fake.wait_response("old")
    assert len(slack.dispatched) == 1


async def test_an_identical_copy_of_an_accepted_request_is_refused(slack: Harness):
    body = slash_body("/faq", "cost", response_url=slack.fake.response_url("twice"))
    headers = signed_headers(body, content_type=FORM)
    assert (await slack.send(body, headers=headers))[0] == 200
    await slack.fake.wait_response("twice")
    status, text = await slack.send(body, headers=headers)  # replayed byte for byte, a second later
    assert status == 401 and "replayed" in text
    await asyncio.sleep(0.1)
    assert len(slack.dispatched) == 1 and len(slack.fake.responses_to("twice")) == 1
    bad = signed_headers(body, content_type=FORM, secret="wrong")
    assert (await slack.send(body, headers=bad))[0] == 401
    assert (await slack.send(body, headers=bad))[0] == 401  # a refused request is not remembered as seen


# -- hostile requests: the signature is checked on the raw bytes before anything parses them ----------------

JSON = "application/json"
# Bodies bolt cannot read. Before the signature was checked first, each got 500 and an ERROR traceback unsigned.
HOSTILE_BODIES: dict[str, tuple[str | bytes, str]] = {
    "bad JSON": ('{"type": "event_callback", "event": ', JSON),
    "a JSON array": ('[{"type": "url_verification", "challenge": "x"}]', JSON),
    "a JSON string": ('"url_verification"', JSON),
    "null": ("null", JSON),
    "a payload that is an array": (urlencode({"payload": "[1, 2]"}), FORM),
    "a payload that is not JSON": (urlencode({"payload": "{nope"}), FORM),
    "not UTF-8": (b'{"type": "url_verification", "challenge": "\xff\xfe"}', JSON),
    "deeply nested JSON": ('{"a":' * 100_000 + "1" + "}" * 100_000, JSON),
    "a deeply nested payload": (urlencode({"payload": "[" * 100_000 + "]" * 100_000}), FORM),
    "fields of the wrong kind": (json.dumps({"type": "event_callback", "event": "x", "authorizations": "x"}), JSON),
    "an action list that is a string": (interactive_body({"type": "block_actions", "actions": "x", "user": 5}), FORM),
}
BAD_TIMESTAMPS = ["abc", "", "1e9", " 1700000000", "-1", "+1700000000", "9" * 5000, "0x6553f100", "1700000000.5"]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()[:200]}" for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
async def test_unsigned_garbage_gets_401_and_no_error_in_the_log(slack: Harness, caplog, name: str):
    body, content_type = HOSTILE_BODIES[name]
    assert (await slack.send(body, content_type=content_type, secret="guessed"))[0] == 401
    assert (await slack.send(body, headers={"Content-Type": content_type}))[0] == 401
    forged = signed_headers(body, content_type=content_type, signature="v0=" + "0" * 64)
    assert (await slack.send(body, headers=forged))[0] == 401
    await asyncio.sleep(0.1)
    assert errors_logged(caplog) == []
    assert slack.dispatched == [] and slack.pressed == [] and slack.messages == []


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS, ids=lambda t: repr(t)[:16])
async def test_a_timestamp_that_is_not_a_number_gets_401(slack: Harness, caplog, timestamp: str):
    # Signed correctly over the bogus timestamp: only the timestamp is wrong, and int() must never see it.
    body = '{"type": "event_callback", "event": '
    assert (await slack.send(body, content_type=JSON, timestamp=timestamp))[0] == 401
    good = slash_body("/faq", "cost")
    assert (await slack.send(good, timestamp=timestamp))[0] == 401
    assert errors_logged(caplog) == []
    assert slack.dispatched == []


async def test_a_timestamp_in_other_digits_or_a_non_ascii_signature_gets_401(slack: Harness, caplog):
    # Header values aiohttp's client will not send: written by hand. int() reads Arabic-Indic digits, and
    # hmac.compare_digest raises on non-ASCII text; neither may turn into a 500.
    body = slash_body("/faq", "cost").encode()
    now = str(int(time.time()))
    arabic = "".join(chr(0x0660 + int(d)) for d in now)
    cases = [(arabic, sign(body, arabic)), (now, "v0=" + "é" * 64), (now, sign(body, now) + "\u200b")]
    for timestamp, signature in cases:
        reader, writer = await asyncio.open_connection("127.0.0.1", slack.adapter.port)
        head = (f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {len(body)}\r\n"
                f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n"
                "Connection: close\r\n\r\n")
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        writer.close()
        assert status_line.split()[1] == b"401", (timestamp, signature, status_line)
    assert errors_logged(caplog) == []
    assert slack.dispatched == []


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
async def test_signed_garbage_gets_400_and_is_not_remembered(slack: Harness, caplog, name: str):
    body, content_type = HOSTILE_BODIES[name]
    headers = signed_headers(body, content_type=content_type)
    status, text = await slack.send(body, headers=headers)
    assert (status, text) == (400, "malformed request")
    # Refused, so not remembered as seen: the same copy is malformed again, not "replayed".
    assert await slack.send(body, headers=headers) == (400, "malformed request")
    await asyncio.sleep(0.1)
    assert errors_logged(caplog) == []
    assert any("could not read" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert slack.dispatched == [] and slack.pressed == [] and slack.messages == []


async def test_an_oversized_body_is_never_a_500(slack: Harness, caplog):
    body = "payload=" + "a" * 3_000_000
    assert (await slack.send(body, headers={"Content-Type": FORM}))[0] == 401  # refused before it is read
    assert (await slack.send(body, secret="guessed"))[0] == 413  # aiohttp's 1 MiB limit on reading it
    assert errors_logged(caplog) == []


def mutate(value: Any, rng: random.Random) -> Any:
    """A copy of a Slack payload with some leaves (and sometimes a whole branch) swapped for the wrong kind."""
    wrong = [None, 5, -1, 1e308, "", "x" * 3000, [], {}, ["x"], {"id": 5}, True, "\x00\ud7ff\u202e"]
    if rng.random() < 0.15:
        return rng.choice(wrong)
    if isinstance(value, dict):
        return {k: mutate(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [mutate(v, rng) for v in value]
    return value


async def test_fuzzed_requests_never_get_a_500(slack: Harness, caplog):
    rng = random.Random(10)
    event = json.loads(event_body({"type": "message", "channel": "C0GENERAL", "user": "U0SPAM", "text": "hi",
                                   "ts": "1700000000.1", "channel_type": "channel"}))
    press = block_actions_payload("faq:show:cost", response_url=slack.fake.response_url("fz"))
    command = slash_fields("/faq", "cost", response_url=slack.fake.response_url("fz"))
    bodies: list[tuple[str | bytes, str]] = []
    for _ in range(60):
        bodies.append((json.dumps(mutate(event, rng)), JSON))
        bodies.append((interactive_body(mutate(press, rng)), FORM))
        bodies.append((urlencode({k: str(mutate(v, rng)) for k, v in command.items()}), FORM))
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        bodies.append((raw, rng.choice([JSON, FORM])))
        cut = json.dumps(event)
        bodies.append((cut[:rng.randrange(len(cut))], JSON))
    unsigned, signed = set(), set()
    for body, content_type in dict(bodies).items():  # each once: a second identical copy would be a replay
        unsigned.add((await slack.send(body, content_type=content_type, secret="guessed"))[0])
        signed.add((await slack.send(body, content_type=content_type))[0])
    await asyncio.sleep(0.3)
    assert unsigned == {401}
    assert signed <= {200, 400, 404}, signed  # 404: bolt has no listener for it
    # Signed fields of the wrong kind that bolt can read are acked, and only the work after the ack may fail
    # (logged by the adapter's listener); neither aiohttp nor bolt ever logs a failed request.
    assert [r for r in errors_logged(caplog) if not r.startswith("bot.slack: platform=slack command=")] == []


# -- messages, shortcuts, forms, edits ---------------------------------------------------------------------


async def test_member_messages_reach_the_core_with_mass_mentions_counted(slack: Harness):
    base = {"type": "message", "channel": "C0GENERAL", "channel_type": "channel"}
    ignored = [
        {**base, "bot_id": "B0OTHER", "subtype": "bot_message", "text": "<!channel> I am a bot", "ts": "1.1"},
        {**base, "subtype": "message_changed", "message": {"text": "edited"}, "ts": "1.2"},
        {**base, "user": "U0BOT", "bot_id": "B0BOT", "text": "my own post", "ts": "1.3"},
        {**base, "subtype": "channel_join", "user": "U0NEW", "text": "joined", "ts": "1.4"},
    ]
    for event in ignored:
        assert (await slack.send(event_body(event), content_type="application/json"))[0] == 200
    raw = "<!channel> free pills <https://spam.example|click> &lt;3 <!here|here>"
    event = {**base, "user": "U0SPAM", "text": raw, "ts": "1700000100.000200"}
    started = time.monotonic()
    assert (await slack.send(event_body(event), content_type="application/json"))[0] == 200
    assert time.monotonic() - started < 1.0
    [message] = await slack.fake.wait_for(lambda: slack.messages)
    await asyncio.sleep(0.05)
    assert len(slack.messages) == 1
    assert message.ref == MessageRef("slack", "C0GENERAL", "1700000100.000200")
    assert message.author_id == "slack:U0SPAM" and message.author_name == "Spammy McSpam"
    assert message.text == "@channel free pills click (https://spam.example) <3 @here"
    assert message.mass_mentions == 2 and message.ts == 1700000100.0002
    assert message.link == f"https://{TEAM_DOMAIN}.slack.com/archives/C0GENERAL/p1700000100000200"

async def test_a_member_slack_will_not_describe_is_not_asked_about_on_every_message(slack: Harness):
    base = {"type": "message", "channel": "C0GENERAL", "channel_type": "channel", "user": "U0STRANGER"}
    for n in range(3):
        event = {**base, "text": f"hello again {n}", "ts": f"1700000200.00000{n}"}
        assert (await slack.send(event_body(event), content_type="application/json"))[0] == 200
    await slack.fake.wait_for(lambda: len(slack.messages) == 3)
    assert [m.author_name for m in slack.messages] == ["U0STRANGER"] * 3
    assert [c["user"] for c in slack.fake.calls_to("users.info")] == ["U0STRANGER"]



async def test_message_shortcut_reports_privately(slack: Harness):
    payload = {
        "type": "message_action", "callback_id": "test-report", "trigger_id": "1.2.3",
        "response_url": slack.fake.response_url("rep"), "token": "x",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN}, "channel": {"id": "C0GENERAL", "name": "general"},
        "user": {"id": "U0MARIA", "name": "maria"},
        "message": {"type": "message", "user": "U0SPAM", "text": "buy &lt;cheap&gt; pills <!channel>",
                    "ts": "1700000200.000300"},
        "message_ts": "1700000200.000300",
    }
    assert (await slack.send(interactive_body(payload)))[0] == 200
    [answer] = await slack.fake.wait_response("rep")
    assert answer["response_type"] == "ephemeral"  # always private, even though the core said public
    inv = slack.extras.seen[0]
    assert inv.name == "test-report"
    assert inv.args == {
        "text": "buy <cheap> pills @channel", "author": "slack:U0SPAM", "channel": "C0GENERAL",
        "message": "1700000200.000300",
        "link": f"https://{TEAM_DOMAIN}.slack.com/archives/C0GENERAL/p1700000200000300",
    }
    assert slack.fake.calls_to("chat.postMessage") == []


def view_submission(view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """What Slack sends when maria submits `view` with these input values."""
    return {
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {"id": "U0MARIA", "username": "maria", "name": "maria", "team_id": TEAM_ID},
        "api_app_id": "A0APP", "token": "x", "trigger_id": "1.2.4",
        "view": {**view, "id": "V0VIEW", "state": {"values": {
            name: {"value": {"type": "plain_text_input", "value": value}} for name, value in values.items()}}},
    }


async def test_a_form_command_without_text_opens_a_modal_and_posts_on_submit(slack: Harness):
    status, _ = await slack.command("/test-form", "", trigger_id="trig-1")
    assert status == 200
    [opened] = await slack.fake.wait_call("views.open")
    assert opened["trigger_id"] == "trig-1"
    view = opened["view"]
    assert view["type"] == "modal" and view["callback_id"] == "form:test-form"
    assert [b["block_id"] for b in view["blocks"]] == ["question", "options"]
    assert view["blocks"][1]["element"]["multiline"] is True and view["blocks"][1]["optional"] is True
    assert json.loads(view["private_metadata"])["channel"] == "C0GENERAL"
    assert slack.dispatched == []
    submission = view_submission(view, {"question": "Best <!channel> time?", "options": "Morning\nEvening"})
    status, body = await slack.send(interactive_body(submission))
    assert status == 200 and body == ""  # an empty ack closes the modal
    [posted] = await slack.fake.wait_call("chat.postMessage")
    assert posted["channel"] == "C0GENERAL" and posted["blocks"][0]["text"]["text"] == "Poll made"
    assert slack.dispatched[0].args == {"question": "Best <!channel> time?", "options": "Morning\nEvening"}
    assert_nothing_pings(posted["text"], posted["blocks"])


async def test_a_form_command_with_text_runs_directly(slack: Harness):
    await slack.command("/test-form", "Best time?")
    await slack.fake.wait_call("chat.postMessage")
    assert slack.fake.calls_to("views.open") == []
    assert slack.dispatched[0].args == {"question": "Best time?"}


async def test_replace_original_edits_the_message_the_button_was_on(slack: Harness):
    await slack.press("edit:7", key="e1", ephemeral=False, message_ts="1700000300.000400")
    [updated] = await slack.fake.wait_call("chat.update")
    assert updated["channel"] == "C0GENERAL" and updated["ts"] == "1700000300.000400"
    assert updated["blocks"][0]["text"]["text"] == "Edited"
    # On an ephemeral message chat.update can't work: the response_url replaces it.
    await slack.press("edit:8", key="e2", ephemeral=True)
    [replaced] = await slack.fake.wait_response("e2")
    assert replaced["replace_original"] is True and replaced["blocks"][0]["text"]["text"] == "Edited"
    assert len(slack.fake.calls_to("chat.update")) == 1 and len(slack.pressed) == 2


async def test_an_unknown_button_gets_a_polite_private_answer(slack: Harness):
    await slack.press("gone:1", key="u1")
    [answer] = await slack.fake.wait_response("u1")
    assert answer["response_type"] == "ephemeral" and "not valid any more" in answer["text"]


async def test_public_reply_where_the_bot_is_not_a_member_uses_the_response_url(slack: Harness):
    slack.fake.not_in_channel.add("C0PRIVATE")
    await slack.press(f"faq:share:{slack.core.get(Faq).kb.entries[0].id}", key="p1", channel="C0PRIVATE")
    [answer] = await slack.fake.wait_response("p1")
    assert answer["response_type"] == "in_channel" and answer["replace_original"] is False


async def test_a_delivery_failure_gets_a_polite_note(slack: Harness, caplog):
    slack.fake.not_in_channel.add("C0PRIVATE")
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        await slack.press(f"faq:share:{slack.core.get(Faq).kb.entries[0].id}", key="", channel="C0PRIVATE")
        [note] = await slack.fake.wait_call("chat.postEphemeral")
    assert note["user"] == "U0MARIA" and "Sorry" in note["text"] and "/invite" in note["text"]
    assert "platform=slack command=button:faq" in caplog.text and "not_in_channel" in caplog.text


# -- the contract the core uses --------------------------------------------------------------------------------


async def test_post_update_delete_and_restrict(slack: Harness):
    place = Place("slack", "C0GENERAL", TEAM_ID)
    ref = await slack.core.post(place, Reply(title="Poll", text="Votes", image=Image("chart.png", b"\x89PNG"),
                                             ephemeral=False))
    [posted] = slack.fake.calls_to("chat.postMessage")
    assert ref == MessageRef("slack", "C0GENERAL", slack.fake.answers_to("chat.postMessage")[0]["ts"])
    assert "chart.png" not in " ".join(texts(posted["blocks"]))
    [url_call] = slack.fake.calls_to("files.getUploadURLExternal")
    assert url_call["filename"] == "chart.png"
    assert slack.fake.uploads == [(slack.fake.uploads[0][0], b"\x89PNG")]
    [completed] = slack.fake.calls_to("files.completeUploadExternal")
    assert completed["channel_id"] == "C0GENERAL"
    await slack.adapter.update(ref, Reply(title="Poll", text="Closed", ephemeral=False,
                                          image=Image("final.png", b"\x89PNG2")))
    [updated] = slack.fake.calls_to("chat.update")
    assert updated["ts"] == ref.message and updated["blocks"][1]["text"]["text"] == "Closed"
    completed = slack.fake.calls_to("files.completeUploadExternal")[-1]
    assert completed["thread_ts"] == ref.message  # chat.update can't attach files: the image goes in the thread
    assert slack.fake.uploads[-1][1] == b"\x89PNG2"
    await slack.adapter.delete(ref)
    assert slack.fake.calls_to("chat.delete") == [{"channel": "C0GENERAL", "ts": ref.message}]
    slack.fake.errors["chat.delete"] = "cant_delete_message"
    with pytest.raises(RuntimeError, match="cant_delete_message") as refused:
        await slack.adapter.delete(MessageRef("slack", "C0GENERAL", "1.2"))
    assert "a workspace admin must delete it by hand" in str(refused.value)  # what the queue's Result line says
    with pytest.raises(NotImplementedError, match="Slack does not let apps time out members"):
        await slack.adapter.restrict("slack:U0SPAM", place, 10)


async def test_stop_lets_requests_in_flight_finish_then_refuses_new_ones(slack: Harness):
    started = time.monotonic()
    status, _ = await slack.command("/test-slow", key="slow")
    assert status == 200 and time.monotonic() - started < 0.3  # acked before the 0.4 s of work
    await slack.adapter.stop()
    await slack.adapter.close()
    assert slack.fake.responses_to("slow"), "the reply of the request in flight was lost"
    with pytest.raises(aiohttp.ClientConnectionError):
        await slack.command("/faq", "cost")


# -- start-up ----------------------------------------------------------------------------------------------------


async def test_a_rejected_token_stops_start_up_with_slacks_reason(tmp_path: Path, fake: FakeSlack, caplog):
    core, cfg = await build_core(tmp_path, api_url=fake.api_url, bot_token=Secret("xoxb-revoked-SECRET-123"))
    adapter = SlackAdapter(core, cfg.slack)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(StartupError) as caught:
            await adapter.start()
        assert "invalid_auth" in str(caught.value) and "slack.bot_token" in str(caught.value)
        assert "xoxb-revoked-SECRET-123" not in str(caught.value)
        assert "xoxb-revoked-SECRET-123" not in caplog.text
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert adapter.port is None  # never started listening
    finally:
        await adapter.stop()
        await adapter.close()
        await core.close()


async def test_an_unreachable_api_stops_start_up(tmp_path: Path, fake: FakeSlack):
    port = fake.port
    await fake.stop()
    core, cfg = await build_core(tmp_path, api_url=f"http://127.0.0.1:{port}/api/")
    adapter = SlackAdapter(core, cfg.slack)
    try:
        with pytest.raises(StartupError, match="cannot reach the Slack API") as caught:
            await adapter.start()
        assert BOT_TOKEN not in str(caught.value)
    finally:
        await adapter.stop()
        await adapter.close()
        await core.close()


async def test_http_mode_needs_a_signing_secret(tmp_path: Path, fake: FakeSlack):
    core, cfg = await build_core(tmp_path, api_url=fake.api_url, signing_secret=Secret(""))
    try:
        with pytest.raises(StartupError, match="signing_secret"):
            await SlackAdapter(core, cfg.slack).start()
        assert fake.calls == []
    finally:
        await core.close()


async def test_socket_mode_connects_and_serves_commands(tmp_path: Path, fake: FakeSlack, caplog):
    core, cfg = await build_core(tmp_path, api_url=fake.api_url, mode="socket", app_token=Secret(APP_TOKEN))
    adapter = SlackAdapter(core, cfg.slack)
    core.attach(adapter)
    try:
        with caplog.at_level(logging.DEBUG):
            await adapter.start()
            assert fake.socket_connected and adapter.port is None
            await fake.socket_send({
                "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
                "payload": slash_fields("/faq", QUESTION, response_url=fake.response_url("sock")),
            })
            await fake.wait_for(lambda: [a for a in fake.socket_acks if a.get("envelope_id") == "env-1"])
            [answer] = await fake.wait_response("sock")
        assert answer["blocks"][0]["text"]["text"] == core.get(Faq).find(QUESTION).entry.title
        assert APP_TOKEN not in caplog.text and BOT_TOKEN not in caplog.text
    finally:
        await adapter.stop()
        await adapter.close()
        await core.close()
    await fake.wait_for(lambda: not fake.socket_connected)


async def test_socket_mode_with_a_rejected_app_token(tmp_path: Path, fake: FakeSlack):
    core, cfg = await build_core(tmp_path, api_url=fake.api_url, mode="socket", app_token=Secret("xapp-wrong-999"))
    adapter = SlackAdapter(core, cfg.slack)
    try:
        with pytest.raises(StartupError, match="slack.app_token: invalid_auth") as caught:
            await adapter.start()
        assert "xapp-wrong-999" not in str(caught.value)
    finally:
        await adapter.stop()
        await adapter.close()
        await core.close()


async def test_a_real_poll_from_the_slack_form_vote_and_live_update(slack: Harness):
    status, _ = await slack.command("/poll", "", trigger_id="trig-poll")
    assert status == 200
    [opened] = await slack.fake.wait_call("views.open")
    view = opened["view"]
    assert view["callback_id"] == "form:poll"
    fields = [b["block_id"] for b in view["blocks"]]
    assert fields[:2] == ["question", "choices"]
    submission = view_submission(view, {"question": "Would you try ketamine? <!channel>",
                                        "choices": "Yes\nNo\n@everyone maybe"})
    status, _ = await slack.send(interactive_body(submission))
    assert status == 200
    [posted] = await slack.fake.wait_call("chat.postMessage")
    assert posted["channel"] == "C0GENERAL"
    assert_nothing_pings(posted["text"], posted["blocks"])
    buttons = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["value"] for e in buttons][:3] == ["poll:1:vote:0", "poll:1:vote:1", "poll:1:vote:2"]
    ts = slack.fake.answers_to("chat.postMessage")[0]["ts"]
    await slack.press("poll:1:vote:0", key="v1", ephemeral=False, message_ts=ts)
    [ack] = await slack.fake.wait_response("v1")
    assert "counted" in ack["text"] and ack["response_type"] == "ephemeral"
    [updated] = await slack.fake.wait_call("chat.update")
    assert updated["ts"] == ts and "1 vote (100%)" in json.dumps(updated["blocks"])


@contextlib.asynccontextmanager
async def socket_adapter(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[SlackAdapter]:
    """A started Socket Mode adapter on the fake Slack, stopped and closed with its core afterwards."""
    core, cfg = await build_core(tmp_path, api_url=fake.api_url, mode="socket", app_token=Secret(APP_TOKEN))
    adapter = SlackAdapter(core, cfg.slack)
    core.attach(adapter)
    try:
        await adapter.start()
        yield adapter
    finally:
        await adapter.stop()
        await adapter.close()
        await core.close()


async def test_a_token_revoked_after_start_ends_lost_so_bot_run_exits_for_a_restart(tmp_path: Path, fake: FakeSlack):
    """Socket Mode: Slack closes the socket and apps.connections.open answers invalid_auth from then on; a Web API
    call with the bot token answers token_revoked. Either ends lost() with a reason and no token text."""
    async with socket_adapter(tmp_path, fake) as adapter:
        watcher = asyncio.create_task(adapter.lost())
        await asyncio.sleep(0.05)
        assert not watcher.done()  # connected and well
        fake.errors["chat.postMessage"] = "token_revoked"
        with contextlib.suppress(Exception):
            await adapter.post(Place("slack", "C0GENERAL"), Reply(text="hello", ephemeral=False))
        why = await asyncio.wait_for(watcher, 2)
        assert why == "Slack rejected slack.bot_token: token_revoked" and BOT_TOKEN not in why


async def test_an_app_token_revoked_while_reconnecting_ends_lost(tmp_path: Path, fake: FakeSlack):
    async with socket_adapter(tmp_path, fake) as adapter:
        watcher = asyncio.create_task(adapter.lost())
        fake.app_tokens.clear()  # revoked: apps.connections.open answers invalid_auth from now on
        with contextlib.suppress(Exception):  # what the SDK does when the socket drops: ask for a new address
            await adapter._socket.client.issue_new_wss_url()
        why = await asyncio.wait_for(watcher, 2)
        assert why == "Slack rejected slack.app_token: invalid_auth" and APP_TOKEN not in why


async def test_a_vote_is_written_before_slack_hears_ok(slack: Harness):
    """HTTP mode: when the 200 for a button press reaches Slack, the vote is already in the database, so a process
    killed right after loses nothing it acknowledged."""
    creator = Member("slack:U0MAKER", "maker", Role.MEMBER)
    poll = await slack.core.get(Polls).create(PollSpec("Tried it?", ("Yes", "No")), creator)
    real = slack.core.dispatch_action

    async def slow_disk(act: Action) -> Reply:  # a busy machine: the write takes a moment
        await asyncio.sleep(0.3)
        return await real(act)

    slack.core.dispatch_action = slow_disk  # type: ignore[method-assign]
    for n, user in enumerate(("U0A1", "U0A2", "U0A3")):
        status, _ = await slack.press(f"poll:{poll.id}:vote:0", key=f"k{n}", user=user)
        assert status == 200
        rows = await slack.core.storage.fetchall("SELECT voter FROM poll_votes WHERE poll_id = ?", (poll.id,))
        assert len(rows) == n + 1  # no waiting: written before the acknowledgement


async def test_a_write_that_cannot_finish_in_time_is_not_confirmed(slack: Harness, monkeypatch):
    import bot.adapters.slack.acks as slack_acks

    monkeypatch.setattr(slack_acks, "ACK_DEADLINE", 0.2)
    real = slack.core.dispatch_action

    async def stuck(act: Action) -> Reply:
        await asyncio.sleep(0.6)
        return await real(act)

    slack.core.dispatch_action = stuck  # type: ignore[method-assign]
    started = time.monotonic()
    status, _ = await slack.press("poll:1:vote:0", key="late")
    assert status == 200 and time.monotonic() - started < 0.5  # Slack is answered before its own limit
    [said] = await slack.fake.wait_response("late")
    assert "may not have been saved" in json.dumps(said)


async def test_rate_limits_and_server_errors_are_retried_not_fatal(slack: Harness):
    slack.fake.transient["chat.postMessage"] = [429, 503]
    watcher = asyncio.create_task(slack.adapter.lost())
    ref = await slack.adapter.post(Place("slack", "C0GENERAL"), Reply(text="hello", ephemeral=False))
    assert ref.message and len(slack.fake.calls_to("chat.postMessage")) == 3  # two refusals, then through
    await asyncio.sleep(0.05)
    assert not watcher.done()  # transient trouble is not "lost for good"
    watcher.cancel()


async def test_a_crisis_message_gets_resources_only_the_member_sees(slack: Harness):
    text = "honestly I can't keep living like this, my family would be better off if I wasn't around anymore"
    status, _ = await slack.send(event_body({"type": "message", "channel": "C0GENERAL", "user": "U0SAM",
                                             "text": text, "ts": "1700000100.000100"}),
                                 content_type="application/json")
    assert status == 200
    [ephemeral] = await slack.fake.wait_call("chat.postEphemeral")
    assert ephemeral["channel"] == "C0GENERAL" and ephemeral["user"] == "U0SAM"
    assert "988" in json.dumps(ephemeral)
    assert not slack.fake.calls_to("chat.delete")  # the message itself is left alone
