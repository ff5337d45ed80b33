"""The Discord adapter end to end: the real discord.py client, command tree and views against a local fake Discord.

Interactions are delivered the way Discord delivers them (INTERACTION_CREATE over the gateway websocket) and the
assertions read what the bot sent back to the fake's REST API. Nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest

import bot.adapters.discord.respond as discord_client
from bot.adapters.discord import DiscordAdapter, escape, intents_for, menu_name, neutralise, render
from bot.adapters.discord.render import TOTAL_MAX
from bot.config import Config, Secret
from bot.core.commands import Form, FormField, Option, action, command
from bot.core.contract import Feature, IncomingMessage, StartupError
from bot.core.core import Core
from bot.core.permissions import denied_text
from bot.core.records import Action, Button, Image, Invocation, MessageRef, Place, Reply, Role, Source
from bot.runner import open_core
from tests.conftest import make_config
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord

pytestmark = pytest.mark.timeout(30)

ADMIN_ROLE = "1700000000000000001"
MOD_ROLE = "1700000000000000002"
DISCLAIMER = "not medical advice"


class Probe(Feature):
    """A test feature: a message command, a command with a form, a slow command and a message watcher."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.messages: list[IncomingMessage] = []

    @command("bookmark", kind="message")
    async def bookmark(self, inv: Invocation) -> Reply:
        """Keep a message for later."""
        self.invocations.append(inv)
        return Reply(text=f"Saved {inv.args['link']}", ephemeral=False)

    @command("suggest", options=(Option("idea", "Your idea"),),
             form=Form("Suggest an FAQ topic", (FormField("idea", "What should the FAQ cover?", long=True,
                                                          placeholder="e.g. driving after a nasal spray",
                                                          max_length=300),)))
    async def suggest(self, inv: Invocation) -> Reply:
        """Suggest a topic for the FAQ."""
        self.invocations.append(inv)
        return Reply(title="Thanks!", text=f"Suggested: {inv.args.get('idea', '')}")

    @command("slow")
    async def slow(self, inv: Invocation) -> Reply:
        """Takes its time."""
        await asyncio.sleep(0.4)
        return Reply(text="done slowly")

    @action("probe")
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        return Reply(title="Updated", text=f"pressed by {act.member.name}", replace_original=True)

    async def on_message(self, message: IncomingMessage) -> None:
        self.messages.append(message)


class GuardedProbe(Probe):
    """The probe plus a command with a form that only admins may run."""

    @command("rename-topic", role=Role.ADMIN, form=Form("Rename a topic", (FormField("topic", "New name"),)))
    async def rename_topic(self, inv: Invocation) -> Reply:
        """Rename an FAQ topic."""
        self.invocations.append(inv)
        return Reply(text=f"Renamed to {inv.args.get('topic', '')}")


def discord_config(tmp_path: Path, fake: FakeDiscord, **overrides) -> Config:
    cfg = make_config(tmp_path, **overrides)
    cfg.discord.enabled = True
    cfg.discord.api_url = fake.url
    cfg.discord.token = Secret(fake.token)
    cfg.discord.guild_ids = [int(g) for g in fake.guild_ids]
    cfg.discord.admin_role_ids = [int(ADMIN_ROLE)]
    cfg.discord.moderator_role_ids = [int(MOD_ROLE)]
    return cfg


async def make_core(cfg: Config, probe: Probe | None = None) -> Core:
    return await open_core(cfg, extra_features=[probe] if probe is not None else [])


class Running:
    """A started adapter on its own core; `restart()` builds fresh ones on the same database."""

    def __init__(self, fake: FakeDiscord, cfg: Config, probe: Probe) -> None:
        self.fake, self.cfg, self.probe = fake, cfg, probe
        self.core: Core | None = None
        self.adapter: DiscordAdapter | None = None

    async def start(self) -> Running:
        self.core = await make_core(self.cfg, self.probe)
        self.adapter = DiscordAdapter(self.core, self.cfg.discord, guild_ready_timeout=0.05)
        self.core.attach(self.adapter)
        await self.adapter.start()
        await self.core.start()
        return self

    async def stop(self) -> None:
        # The order `bot run` uses: stop taking events, let the core flush and close, then disconnect.
        if self.adapter is not None:
            await self.adapter.stop()
        if self.core is not None:
            await self.core.close()
        if self.adapter is not None:
            await self.adapter.close()
        self.adapter = self.core = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(roles={ADMIN_ROLE: "Admins", MOD_ROLE: "Moderators"}) as fake:
        yield fake


@pytest.fixture
async def running(tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[Running]:
    run = await Running(fake, discord_config(tmp_path, fake), Probe()).start()
    yield run
    await run.stop()


def embeds_of(body: dict) -> list[dict]:
    return body["data"].get("embeds", [])


def buttons_of(body: dict) -> list[dict]:
    return [c for row in body["data"].get("components", []) for c in row["components"]]


def is_ephemeral(data: dict) -> bool:
    return bool((data.get("flags") or 0) & EPHEMERAL)


# -- rendering: a pure function --------------------------------------------------------------------------


def test_render_escapes_everything_a_member_could_type():
    typed = "@everyone <@&123> **bold** [x](http://evil) @here <@123456789012345678>"
    embeds, view = render(Reply(title="**t** @everyone", text=typed, fields=(("<@&1>", "`code` @here"),),
                                footer="@everyone footer", buttons=(Button("@everyone", "faq:show:x"),)))
    data = embeds[0].to_dict()
    description = data["description"]
    assert "@everyone" not in description and "@here" not in description
    assert "@\u200beveryone" in description
    assert "\\*\\*bold\\*\\*" in description
    assert "\\[x](http://evil)" in description  # the masked link shows literally
    assert "<@&123>" not in description and "<\u200b@&123>" in description
    assert "<@123456789012345678>" not in description
    assert data["title"] == "\\*\\*t\\*\\* @\u200beveryone"
    assert data["fields"][0]["name"] == "<\u200b@&1>"
    assert "@here" not in data["fields"][0]["value"]
    # Footers and labels are not markdown: mentions neutralised, no backslashes added.
    assert data["footer"]["text"] == "@\u200beveryone footer"
    assert view is not None and view.children[0].item.label == "@\u200beveryone"
    assert escape("a_b") == "a\\_b" and neutralise("a_b") == "a_b"


def test_render_sources_links_and_citations():
    reply = Reply(title="T", text="Answer", footer="This is not medical advice.", sources=(
        Source("American Headache Society", url="https://americanheadachesociety.org/"),
        Source("A [tricky] title", url="https://example.org/a_(b)"),
        Source("Golden article", citation="migraine.com, 2017"),
        Source("Bad link", url="javascript:alert(1)"),
    ))
    (embed,), view = render(reply)
    assert view is None
    sources = embed.to_dict()["fields"][-1]
    assert sources["name"] == "Sources"
    lines = sources["value"].split("\n")
    assert lines[0] == "• [American Headache Society](https://americanheadachesociety.org/)"
    assert lines[1] == "• [A \\[tricky\\] title](https://example.org/a_%28b%29)"
    assert lines[2] == "• Golden article — migraine.com, 2017"
    assert "](javascript" not in lines[3]
    assert embed.footer.text == "This is not medical advice."


def test_render_respects_discord_limits():
    long_text = ("word " * 3000).strip()  # 14999 characters
    fields = tuple((f"name {i}" * 40, "value " * 300) for i in range(30))
    buttons = tuple(Button("x" * 120, f"faq:show:{i}") for i in range(30)) + (Button("too long", "x" * 101),)
    embeds, view = render(Reply(title="T" * 300, text=long_text, fields=fields, footer="F" * 3000,
                                sources=(Source("s", citation="c"),), buttons=buttons))
    assert 1 <= len(embeds) <= 10
    assert sum(len(e) for e in embeds) <= TOTAL_MAX
    for e in embeds:
        d = e.to_dict()
        assert len(d.get("title", "")) <= 256 and len(d.get("description", "")) <= 4096
        assert len(d.get("fields", [])) <= 25
        assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in d.get("fields", []))
        assert len(d.get("footer", {}).get("text", "")) <= 2048
    last = embeds[-1].to_dict()
    assert last["fields"][-1]["name"] == "Sources" and last["footer"]["text"]  # never dropped
    rows = view.to_components()
    assert len(rows) == 5 and all(len(r["components"]) <= 5 for r in rows)
    flat = [c for r in rows for c in r["components"]]
    assert len(flat) == 25 and all(len(c["label"]) <= 80 for c in flat)
    assert all(len(c["custom_id"]) <= 100 for c in flat)


def test_render_long_text_splits_into_several_embeds_without_losing_words():
    text = "\n".join(f"line {i} " + "x" * 60 for i in range(80))  # ~5.6k characters
    embeds, _ = render(Reply(title="Long", text=text))
    assert len(embeds) == 2 and embeds[0].title == "Long"
    joined = "\n".join(e.description for e in embeds)
    assert joined.replace("\n", "") == text.replace("\n", "")


def test_render_image_becomes_an_attachment():
    reply = Reply(text="chart", image=Image("poll results.png", b"\x89PNG..."))
    (embed,), _ = render(reply)
    assert embed.image.url == "attachment://poll_results.png"
    file = discord_client.image_file(reply)
    assert file is not None and file.filename == "poll_results.png"


def test_intents_and_menu_names(tmp_path: Path):
    cfg = make_config(tmp_path)
    intents = intents_for(cfg.discord)
    assert intents.guilds and not intents.guild_messages and not intents.message_content and not intents.members
    cfg.discord.message_content = True
    intents = intents_for(cfg.discord)
    assert intents.guilds and intents.guild_messages and intents.message_content and not intents.members
    assert menu_name("report") == "Report to moderators"
    assert menu_name("save-answer") == "Save Answer"


# -- start / stop against the fake gateway ----------------------------------------------------------------


async def test_start_syncs_commands_connects_and_stop_closes(running: Running):
    fake = running.fake
    identify = fake.identifies[-1]
    assert identify["token"] == fake.token
    assert identify["intents"] == discord.Intents(guilds=True).value  # no message content unless configured
    put = fake.find("PUT", rf"/applications/{fake.app_id}/guilds/{fake.guild_ids[0]}/commands")
    assert len(put) == 1
    registered = {c["name"]: c for c in put[0].json}
    assert {"faq", "faq-topics", "faq-reload", "faq-gaps", "suggest", "slow", "Bookmark"} <= set(registered)
    core = running.core
    assert core is not None
    for spec in core.commands:  # every core command is registered, message commands as context menus
        name = spec.name if spec.kind == "slash" else menu_name(spec.name)
        assert registered[name]["type"] == (1 if spec.kind == "slash" else 3)
    faq = registered["faq"]
    assert faq["type"] == 1 and faq["description"].startswith("Ask a question")
    assert faq["options"] == [{"type": 3, "name": "question", "description": "Your question, in your own words",
                               "required": False, "autocomplete": True}]
    assert registered["Bookmark"]["type"] == 3  # a message context menu
    assert registered["faq-reload"]["default_member_permissions"] is None  # the core enforces roles
    assert not fake.find("PUT", rf"/applications/{fake.app_id}/commands")  # guild sync only

    adapter = running.adapter
    assert adapter is not None and adapter.client.is_ready()
    await running.stop()
    assert adapter.client.is_closed()
    await fake.wait_until(lambda: not fake.connected)


async def test_global_sync_without_guild_ids(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake)
    cfg.discord.guild_ids = []
    cfg.discord.token = Secret(f"Bot {fake.token}")  # pasted with the prefix: still fine
    run = await Running(fake, cfg, Probe()).start()
    try:
        assert fake.find("PUT", rf"/applications/{fake.app_id}/commands")
        assert not fake.find("PUT", r"/applications/\d+/guilds/\d+/commands")
    finally:
        await run.stop()


async def test_a_rejected_token_is_a_startup_error_without_the_token(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake)
    cfg.discord.token = Secret("MTIz.wrong-token.secret-part")
    core = await make_core(cfg)
    try:
        adapter = DiscordAdapter(core, cfg.discord)
        with pytest.raises(StartupError) as err:
            await adapter.start()
        assert "Discord rejected discord.token" in str(err.value)
        assert "wrong-token" not in str(err.value) and "secret-part" not in str(err.value)
        assert fake.find("GET", "/users/@me") and not fake.identifies
        assert adapter.client.is_closed()
    finally:
        await core.close()


async def test_refused_command_registration_is_a_startup_error(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake)
    fake.status_overrides[("PUT", r"/applications/\d+/guilds/\d+/commands")] = (
        403, {"message": "Missing Access", "code": 50001})
    core = await make_core(cfg)
    try:
        adapter = DiscordAdapter(core, cfg.discord)
        with pytest.raises(StartupError, match="Missing Access.*applications.commands"):
            await adapter.start()
        assert adapter.client.is_closed() and not fake.identifies
        await adapter.stop()  # harmless after a failed start
        await adapter.close()
    finally:
        await core.close()


async def test_stop_without_start_is_harmless(tmp_path: Path, fake: FakeDiscord):
    core = await make_core(discord_config(tmp_path, fake))
    try:
        adapter = DiscordAdapter(core, discord_config(tmp_path, fake).discord)
        await adapter.stop()
        await adapter.close()
    finally:
        await core.close()


async def test_unreachable_discord_is_a_startup_error(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake)
    cfg.discord.api_url = "http://127.0.0.1:1/api/v10"
    core = await make_core(cfg)
    try:
        with pytest.raises(StartupError, match="could not reach Discord"):
            await DiscordAdapter(core, cfg.discord).start()
    finally:
        await core.close()


async def test_refused_message_content_intent_is_explained(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake, discord__message_content=True)
    fake.identify_close_code = 4014
    core = await make_core(cfg)
    try:
        with pytest.raises(StartupError, match="Message Content"):
            await DiscordAdapter(core, cfg.discord, guild_ready_timeout=0.05).start()
    finally:
        await core.close()


# -- slash commands, autocomplete, buttons ------------------------------------------------------------------


async def test_faq_answer_is_a_private_cited_embed_with_related_buttons(running: Running):
    fake = running.fake
    rec = await fake.interact(fake.slash("faq", {"question": "does the nasal spray work"}))
    body = rec.json
    assert body["type"] == 4
    data = body["data"]
    assert is_ephemeral(data)
    assert data["allowed_mentions"]["parse"] == []
    (embed,) = embeds_of(body)
    assert embed["title"] == "Ketamine nasal spray"
    assert embed["description"].startswith("Ketamine nasal spray is a prescription medicine")
    sources = [f for f in embed["fields"] if f["name"] == "Sources"]
    assert sources and "Practical Pain Management" in sources[0]["value"]
    assert DISCLAIMER in embed["footer"]["text"]
    ids = [b["custom_id"] for b in buttons_of(body)]
    assert "faq:show:compounding-pharmacy" in ids
    assert ids[-3:] == ["faq:share:nasal-spray", "faq:rate:nasal-spray:up", "faq:rate:nasal-spray:down"]


async def test_autocomplete_is_typo_tolerant(running: Running):
    fake = running.fake
    core = running.core
    assert core is not None
    rec = await fake.interact(fake.slash("faq", {"question": "ketamin nasel"}, focused="question"))
    assert rec.json["type"] == 8
    choices = rec.json["data"]["choices"]
    assert {"name": "Ketamine nasal spray", "value": "entry:nasal-spray"} in choices[:3]
    assert len(choices) <= 25 and all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    expected = await core.autocomplete("faq", "question", "ketamin nasel")  # passed through unchanged
    assert [(c["name"], c["value"]) for c in choices] == expected[:25]

    picked = await fake.interact(fake.slash("faq", {"question": "entry:nasal-spray"}))
    assert embeds_of(picked.json)[0]["title"] == "Ketamine nasal spray"


async def test_buttons_keep_working_after_a_restart(running: Running):
    fake = running.fake
    first = await fake.interact(fake.slash("faq", {"question": "nasal spray"}))
    message = fake.message_from(first)
    await running.restart()  # new core, adapter and client on the same database: nothing kept in memory

    pressed = await fake.interact(fake.button("faq:show:compounding-pharmacy", message))
    assert pressed.json["type"] == 4 and is_ephemeral(pressed.json["data"])
    assert embeds_of(pressed.json)[0]["title"] == "Getting a nasal spray from a compounding pharmacy"
    assert pressed.json["data"]["allowed_mentions"]["parse"] == []

    shared = await fake.interact(fake.button("faq:share:nasal-spray", message))
    assert shared.json["type"] == 4 and not is_ephemeral(shared.json["data"])
    assert embeds_of(shared.json)[0]["title"] == "Ketamine nasal spray"
    assert "faq:share:nasal-spray" not in [b["custom_id"] for b in buttons_of(shared.json)]


async def test_admin_commands_are_refused_politely_to_members(running: Running):
    fake = running.fake
    refused = await fake.interact(fake.slash("faq-reload", user_name="maria"))
    assert is_ephemeral(refused.json["data"])
    assert "only admins" in embeds_of(refused.json)[0]["description"]

    moderator = await fake.interact(fake.slash("faq-reload", user_name="mo", roles=[MOD_ROLE]))
    assert "only admins" in embeds_of(moderator.json)[0]["description"]

    done = await fake.interact(fake.slash("faq-reload", user_name="ada", roles=[MOD_ROLE, ADMIN_ROLE]))
    embed = embeds_of(done.json)[0]
    assert embed["title"] == "Knowledge base reloaded" and "Now serving" in embed["description"]


async def test_member_text_is_escaped_when_shown_back(running: Running):
    fake = running.fake
    await fake.interact(fake.slash("faq", {"question": "@everyone **x** zorblat quux"}))
    gaps = await fake.interact(fake.slash("faq-gaps", roles=[ADMIN_ROLE]))
    description = embeds_of(gaps.json)[0]["description"]
    assert "@\u200beveryone \\*\\*x\\*\\* zorblat quux" in description
    assert "@everyone" not in json.dumps(gaps.json, ensure_ascii=False)
    assert gaps.json["data"]["allowed_mentions"]["parse"] == []


async def test_command_with_a_form_opens_a_modal_and_dispatches_its_values(running: Running):
    fake = running.fake
    opened = await fake.interact(fake.slash("suggest"))
    assert opened.json["type"] == 9
    modal = opened.json["data"]
    assert modal["custom_id"] == "form:suggest" and modal["title"] == "Suggest an FAQ topic"
    (label,) = modal["components"]
    assert label["type"] == 18 and label["label"] == "What should the FAQ cover?"
    text_input = label["component"]
    assert text_input["custom_id"] == "idea" and text_input["style"] == 2  # paragraph
    assert text_input["required"] is True and text_input["max_length"] == 300
    assert text_input["placeholder"] == "e.g. driving after a nasal spray"

    # Submitted after a restart, too: forms are handled by their custom_id, not by an object in memory.
    await running.restart()
    submitted = await fake.interact(fake.modal_submit("form:suggest", {"idea": "driving **after** a spray"}))
    assert submitted.json["type"] == 4
    assert embeds_of(submitted.json)[0]["description"] == "Suggested: driving \\*\\*after\\*\\* a spray"
    assert running.probe.invocations[-1].args == {"idea": "driving **after** a spray"}

    direct = await fake.interact(fake.slash("suggest", {"idea": "cost of sprays"}))
    assert direct.json["type"] == 4 and "cost of sprays" in embeds_of(direct.json)[0]["description"]


async def test_a_form_is_refused_before_it_opens_to_a_member_who_may_not_run_the_command(tmp_path: Path,
                                                                                         fake: FakeDiscord):
    run = await Running(fake, discord_config(tmp_path, fake), GuardedProbe()).start()
    try:
        refused = await fake.interact(fake.slash("rename-topic", user_name="maria", roles=[MOD_ROLE]))
        assert refused.json["type"] == 4 and is_ephemeral(refused.json["data"])  # a message, not a modal
        assert embeds_of(refused.json)[0]["description"] == escape(denied_text(Role.ADMIN))
        assert run.probe.invocations == []

        opened = await fake.interact(fake.slash("rename-topic", user_name="ada", roles=[ADMIN_ROLE]))
        assert opened.json["type"] == 9 and opened.json["data"]["custom_id"] == "form:rename-topic"
    finally:
        await run.stop()


async def test_message_context_menu_passes_the_message_and_answers_privately(running: Running):
    fake = running.fake
    target = fake.user_message("see you at the meetup", user_id="1600000000000000009")
    rec = await fake.interact(fake.message_command("Bookmark", target, user_name="maria"))
    assert rec.json["type"] == 4 and is_ephemeral(rec.json["data"])  # even though the core said public
    inv = running.probe.invocations[-1]
    assert inv.name == "bookmark" and inv.member.id == "discord:1600000000000000001"
    assert inv.args == {
        "text": "see you at the meetup", "author": "discord:1600000000000000009", "channel": fake.channel_id,
        "message": target["id"],
        "link": f"https://discord.com/channels/{fake.guild_ids[0]}/{fake.channel_id}/{target['id']}",
    }
    assert inv.place == Place("discord", fake.channel_id, fake.guild_ids[0])


async def test_report_to_moderators_menu_reaches_the_core(running: Running):
    fake = running.fake
    core = running.core
    assert core is not None
    target = fake.user_message("cheap ketamine, DM me @everyone", user_id="1600000000000000009")
    rec = await fake.interact(fake.message_command("Report to moderators", target))
    assert rec.json["type"] == 4 and is_ephemeral(rec.json["data"])
    assert rec.json["data"]["allowed_mentions"]["parse"] == []
    assert embeds_of(rec.json)[0].get("description")


async def test_slow_work_is_acknowledged_then_followed_up(running: Running, monkeypatch):
    monkeypatch.setattr(discord_client, "DEFER_AFTER", 0.05)
    fake = running.fake
    payload = fake.slash("slow")
    rec = await fake.interact(payload)
    assert rec.json["type"] == 5 and is_ephemeral(rec.json["data"])  # "thinking…", privately
    edit = await fake.wait_for_request("PATCH", rf"/webhooks/{fake.app_id}/{payload['token']}/messages/@original")
    assert edit.json["embeds"][0]["description"] == "done slowly"
    assert edit.json["allowed_mentions"]["parse"] == []


async def test_stop_lets_in_flight_work_finish(running: Running):
    fake = running.fake
    payload = fake.slash("slow")
    start = len(fake.requests)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await asyncio.sleep(0.1)  # the handler is running
    adapter = running.adapter
    assert adapter is not None
    await adapter.stop()
    await adapter.close()
    answered = fake.find("POST", rf"/interactions/{payload['id']}/.+/callback")
    assert answered and answered[0].json["data"]["embeds"][0]["description"] == "done slowly"
    assert len(fake.requests) > start
    assert adapter.client.is_closed()


async def test_interactions_while_stopping_get_a_polite_note(running: Running):
    fake = running.fake
    adapter = running.adapter
    assert adapter is not None
    adapter._closing = True
    rec = await fake.interact(fake.slash("faq", {"question": "cost"}))
    assert is_ephemeral(rec.json["data"]) and "restarting" in embeds_of(rec.json)[0]["description"]
    adapter._closing = False


# -- messages, posting and moderation ---------------------------------------------------------------------


async def test_messages_reach_the_core_when_message_content_is_enabled(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake, discord__message_content=True)
    run = await Running(fake, cfg, Probe()).start()
    try:
        intents = discord.Intents(fake.identifies[-1]["intents"])
        assert intents.guilds and intents.guild_messages and intents.message_content
        joined = "2026-01-02T03:04:05+00:00"
        spam = fake.user_message("@everyone free ketamine <@&1700000000000000002>", mention_everyone=True,
                                 mention_roles=[MOD_ROLE], joined_at=joined)
        await fake.dispatch("MESSAGE_CREATE", spam)
        await fake.dispatch("MESSAGE_CREATE", fake.user_message("I am a bot", bot=True))
        await fake.wait_until(lambda: run.probe.messages)
        await asyncio.sleep(0.05)
        (seen,) = run.probe.messages
        assert seen.ref == MessageRef("discord", fake.channel_id, spam["id"])
        assert seen.author_id == "discord:1600000000000000002" and seen.author_name == "spammer"
        assert seen.text == spam["content"]
        assert seen.mass_mentions == 2
        assert seen.author_joined_ts == datetime.fromisoformat(joined).timestamp()
        assert seen.link.endswith(f"/{fake.channel_id}/{spam['id']}")
        assert abs(seen.ts - datetime.now(UTC).timestamp()) < 60
    finally:
        await run.stop()


async def test_post_update_delete_and_restrict(running: Running):
    fake = running.fake
    adapter = running.adapter
    assert adapter is not None
    place = Place("discord", fake.channel_id, fake.guild_ids[0])
    buttons = (Button("Nasal spray", "poll:1:vote:0", "primary"), Button("Close", "poll:1:close", "danger"))
    reply = Reply(title="Poll: best abortive?", text="Vote below @everyone", ephemeral=False, buttons=buttons)
    ref = await adapter.post(place, reply)
    posted = fake.find("POST", rf"/channels/{fake.channel_id}/messages")[-1]
    assert ref == MessageRef("discord", fake.channel_id, posted.headers["x-fake-message-id"])
    assert posted.json["allowed_mentions"]["parse"] == []
    assert posted.json["embeds"][0]["description"] == "Vote below @\u200beveryone"
    assert [(b["custom_id"], b["style"]) for b in posted.json["components"][0]["components"]] == [
        ("poll:1:vote:0", 1), ("poll:1:close", 4)]

    await adapter.update(ref, Reply(title="Poll closed", text="Results", image=Image("results.png", b"PNGDATA")))
    edited = fake.find("PATCH", rf"/channels/{fake.channel_id}/messages/{ref.message}")[-1]
    assert edited.json["embeds"][0]["title"] == "Poll closed"
    assert edited.json["embeds"][0]["image"]["url"] == "attachment://results.png"
    assert edited.json["components"] == [] and edited.json["allowed_mentions"]["parse"] == []
    assert [f[1] for f in edited.files.values()] == [b"PNGDATA"]

    await adapter.delete(ref)
    assert fake.find("DELETE", rf"/channels/{fake.channel_id}/messages/{ref.message}")

    done = await adapter.restrict("discord:1600000000000000002", place, 60)
    assert done == "timed out for 60 minutes"
    patch = fake.find("PATCH", rf"/guilds/{fake.guild_ids[0]}/members/1600000000000000002")[-1]
    until = datetime.fromisoformat(patch.json["communication_disabled_until"])
    assert 3500 < (until - datetime.now(UTC)).total_seconds() <= 3600


async def test_a_button_press_can_edit_its_own_message(running: Running):
    """A reply with replace_original edits the message the button is on (type 7), keeping no state."""
    fake = running.fake
    message = {**fake.user_message("x"), "author": fake.bot, "components": [
        {"type": 1, "components": [{"type": 2, "style": 2, "label": "Edit", "custom_id": "probe:edit"}]}]}
    rec = await fake.interact(fake.button("probe:edit", message, user_name="maria"))
    assert rec.json["type"] == 7
    assert embeds_of(rec.json)[0]["description"] == "pressed by maria"
    assert rec.json["data"]["components"] == [] and rec.json["data"]["allowed_mentions"]["parse"] == []


async def test_every_core_form_opens_a_valid_modal(running: Running):
    fake = running.fake
    core = running.core
    assert core is not None
    for spec in [s for s in core.commands if s.form is not None and s.kind == "slash"]:
        rec = await fake.interact(fake.slash(spec.name, roles=[ADMIN_ROLE]))
        assert rec.json["type"] == 9, spec.name
        modal = rec.json["data"]
        assert modal["custom_id"] == f"form:{spec.name}" and len(modal["title"]) <= 45
        assert 1 <= len(modal["components"]) <= 5
        for label, field in zip(modal["components"], spec.form.fields, strict=False):
            assert label["type"] == 18 and len(label["label"]) <= 45
            assert label["component"]["custom_id"] == field.name


async def test_a_poll_is_posted_and_voted_on_with_buttons(running: Running):
    fake = running.fake
    core = running.core
    assert core is not None
    posts = len(fake.find("POST", rf"/channels/{fake.channel_id}/messages"))
    rec = await fake.interact(fake.slash("poll", {"question": "Best abortive?", "choices": "Nasal spray|IV"}))
    assert rec.json["type"] == 4
    posted = await fake.wait_until(lambda: fake.find("POST", rf"/channels/{fake.channel_id}/messages")[posts:])
    message = fake.message_from(posted[0])
    assert posted[0].json["allowed_mentions"]["parse"] == []
    vote_ids = [b["custom_id"] for row in message["components"] for b in row["components"]
                if b["custom_id"].startswith("poll:")]
    assert vote_ids
    pressed = await fake.interact(fake.button(vote_ids[0], message, user_name="maria"))
    assert pressed.json["type"] in (4, 7)
    assert pressed.json["data"]["allowed_mentions"]["parse"] == []
    # The core then edits the poll message with the new tally, through adapter.update.
    edit = await fake.wait_for_request("PATCH", rf"/channels/{fake.channel_id}/messages/{message['id']}")
    assert edit.json["allowed_mentions"]["parse"] == [] and edit.json["embeds"]
    await asyncio.sleep(0.1)  # let the core's refresh task finish before the database closes


async def test_bot_run_serves_discord_until_told_to_stop(tmp_path: Path, fake: FakeDiscord):
    from bot.runner import serve

    cfg = discord_config(tmp_path, fake)
    stop = asyncio.Event()
    served = asyncio.create_task(serve(cfg, stop))
    await fake.wait_ready()
    rec = await fake.interact(fake.slash("faq", {"question": "how much does it cost"}))
    assert embeds_of(rec.json)[0]["title"]
    stop.set()
    assert await asyncio.wait_for(served, 10) == 0
    await fake.wait_until(lambda: not fake.connected)


async def test_a_crisis_message_gets_resources_by_direct_message_and_a_wellbeing_item(tmp_path: Path,
                                                                                     fake: FakeDiscord):
    """A channel message has no interaction to answer privately, so the member gets a direct message; the
    moderators' channel gets the wellbeing item; the member's message is left alone."""
    cfg = discord_config(tmp_path, fake, discord__message_content=True, discord__mod_channel_id=1800000000000000009)
    run = await Running(fake, cfg, Probe()).start()
    try:
        text = "honestly I can't keep living like this, my family would be better off if I wasn't around anymore"
        message = fake.user_message(text, user_id="1600000000000000077", user_name="sam")
        await fake.dispatch("MESSAGE_CREATE", message)
        await fake.wait_until(lambda: fake.dm_channels)
        [dm_channel] = fake.dm_channels
        assert fake.dm_channels[dm_channel] == "1600000000000000077"
        await fake.wait_until(lambda: fake.find("POST", rf"/channels/{dm_channel}/messages"))
        [sent] = fake.find("POST", rf"/channels/{dm_channel}/messages")
        assert "988" in json.dumps(sent.json)
        await fake.wait_until(lambda: fake.find("POST", r"/channels/1800000000000000009/messages"))
        [item] = fake.find("POST", r"/channels/1800000000000000009/messages")
        assert "Wellbeing check" in json.dumps(item.json) and "I'll reach out" in json.dumps(item.json)
        assert not fake.find("DELETE", rf"/channels/{fake.channel_id}/messages/.*")
    finally:
        await run.stop()
