"""Many communities in one deployment: each server / workspace configured on its own has its moderators, their
channel, optionally its own knowledge base, and keeps its polls, queue items, wellbeing items, gaps and FAQ counts
apart. A moderator of one community never acts on another's (the item does not exist for them)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.adapters.discord import DiscordAdapter
from bot.config import ConfigError, DiscordServerConfig, SlackWorkspaceConfig, load_config
from bot.core.contract import Staff
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, Place, Role
from bot.features.faq import Faq
from bot.features.polls import Polls
from bot.runner import open_core
from tests.conftest import ROOT, ConsoleSession, make_config

SPAM = ("Ketamine for sale, pharmaceutical grade, discreet shipping worldwide. No prescription needed. "
        "Call +1 555 014 2231")
CRISIS = "honestly I can't keep living like this, my family would be better off if I wasn't around anymore"
NORTH = {"north": Staff(place=Place("console", "mods-north", "north"), setting="test", community="console:north")}


def buttons(out: str) -> dict[str, int]:
    return {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+\[(\d+)\] (.+)$", out, re.M)}


@pytest.fixture
async def north(core: Core) -> tuple[ConsoleSession, ConsoleSession]:
    """Two console sessions on one core: a moderator in the default server, a member in server "north"."""
    home = ConsoleSession(core, user="hana", role=Role.MODERATOR, communities=NORTH)
    away = ConsoleSession(core, user="nils", role=Role.MEMBER, communities=NORTH)
    core.attach(away.adapter)  # the last attached console serves posts; both print to their own buffers
    await away.say("/server north")
    return home, away


async def test_spam_in_a_community_goes_to_its_own_moderators_and_queue(core: Core, north):
    home, away = north
    out = await away.say(SPAM)
    assert "[#mods-north, message" in out and "[#mod-queue" not in out
    [item] = await core.storage.fetchall("SELECT id, community, status FROM mod_queue")
    assert item["community"] == "console:north"
    # The default community's moderators neither see it listed nor can decide it, even by its button id.
    assert "Nothing is waiting for review." in await home.say("/modqueue")
    refused = await core.dispatch_action(
        Action(f"queue:{item['id']}:remove",
                                                                   home.adapter.member, home.adapter.place))
    assert "no longer exists" in refused.text
    assert (await core.storage.fetchone("SELECT status FROM mod_queue"))["status"] == "open"
    # The same spam in the default server is its own item, not grouped into north's.
    await home.say("/as spammer member")
    await home.say(SPAM)
    rows = await core.storage.fetchall("SELECT community FROM mod_queue ORDER BY id")
    assert [r["community"] for r in rows] == ["console:north", ""]


async def test_north_moderators_decide_north_items_and_only_their_log_shows_it(core: Core, north):
    home, away = north
    await away.say(SPAM)
    await away.say("/as nora moderator")
    listed = await away.say("/modqueue")
    assert "nils" in listed
    out = await away.say("/modqueue")
    pressed = await core.dispatch_action(
        Action("queue:1:ham", away.adapter.member,
                                                                   away.adapter.place))
    assert "Marked not spam" in pressed.plain(), out
    assert "nora" in await away.say("/modlog")
    assert "nora" not in await home.say("/modlog")


async def test_polls_of_one_community_cannot_be_seen_voted_or_closed_from_another(core: Core, north):
    home, away = north
    out = await away.say('/poll "North picnic?" "Yes" "No"')
    assert "Poll #1 is up" in out
    assert (await core.get(Polls).get(1)).community == "console:north"
    assert "There is no poll #1" in await home.say("/poll results 1")
    assert "There is no poll #1" in await home.say("/poll close 1")
    assert "There is no poll #1" in await home.say("/poll-results 1")
    vote = await core.dispatch_action(
        Action("poll:1:vote:0", home.adapter.member,
                                                                   home.adapter.place))
    assert "doesn't exist" in vote.text
    assert await core.get(Polls).ballot(1, home.adapter.member.id) == ()
    assert (await core.get(Polls).get(1)).is_open
    # In its own community it works as ever.
    assert "== Results of poll #1: North picnic? ==" in await away.say("/poll results 1")


async def test_wellbeing_items_go_to_the_community_moderators_and_stay_theirs(core: Core, north):
    home, away = north
    out = await away.say(CRISIS)
    assert "[only nils sees this]" in out and "[#mods-north, message" in out
    [item] = await core.storage.fetchall("SELECT id, community, status FROM wellbeing_items")
    assert item["community"] == "console:north"
    assert "No open wellbeing items" in await home.say("/wellbeing")
    refused = await core.dispatch_action(
        Action("wellbeing:1:handled", home.adapter.member,
                                                                   home.adapter.place))
    assert "There is no wellbeing item #1" in refused.text
    assert (await core.storage.fetchone("SELECT status FROM wellbeing_items"))["status"] == "open"


async def test_gaps_and_answer_counts_are_kept_per_community(core: Core, north):
    home, away = north
    await away.say("/faq what time does the north picnic start")
    await home.say("/as ada admin")
    assert "north picnic" not in await home.say("/faq-gaps")
    await away.say("/as nadia admin")
    assert "north picnic" in await away.say("/faq-gaps")


def _server_config(tmp_path: Path, faq: Path) -> object:
    return make_config(tmp_path, discord__servers=[DiscordServerConfig(
        guild_id=4242, mod_channel_id=77, moderator_role_ids=[11], admin_role_ids=[12], faq_path=str(faq))])


async def test_a_server_with_its_own_knowledge_base_answers_from_it_and_reloads_alone(tmp_path: Path):
    own = tmp_path / "north-faq"
    shutil.copytree(ROOT / "faq", own)
    (own / "local.yaml").write_text(
        "entries:\n  - id: north-meetup\n    title: The north meetup\n"
        "    questions: [when is the north meetup]\n"
        "    answer: The north group meets on the first Sunday of each month, online.\n"
        "    sources:\n      - title: North group notes\n        citation: North group notes, 2026\n",
        encoding="utf-8")
    core = await open_core(_server_config(tmp_path, own))
    core.attach(DiscordAdapter(core, _server_config(tmp_path, own).discord))
    try:
        there, elsewhere = Place("discord", "5", "4242"), Place("discord", "5", "999")
        member = Member("discord:1", "m")
        answer = await core.dispatch(Invocation("faq", member, there, {"question": "when is the north meetup"}))
        assert answer.title == "The north meetup"
        other = await core.dispatch(Invocation("faq", member, elsewhere, {"question": "when is the north meetup"}))
        assert other.title != "The north meetup"
        # An admin of that server (role 12 there) may reload it; the same role id elsewhere is nobody special.
        admin_there = core.member("discord", "2", "a", ids=["12"], guild="4242")
        admin_elsewhere = core.member("discord", "2", "a", ids=["12"], guild="999")
        assert admin_there.role is Role.ADMIN and admin_elsewhere.role is Role.MEMBER
        (own / "local.yaml").write_text("entries:\n  - id: [broken\n", encoding="utf-8")
        refused = await core.dispatch(Invocation("faq-reload", admin_there, there))
        assert "Reload refused" in (refused.title or "") and "local.yaml:" in refused.text
        assert (await core.dispatch(Invocation("faq", member, there, {"question": "when is the north meetup"}))
                ).title == "The north meetup"
        denied = await core.dispatch(Invocation("faq-reload", admin_elsewhere, elsewhere))
        assert "only admins" in denied.text
        assert len(core.get(Faq).library("discord:4242").kb.entries) == len(core.get(Faq).kb.entries) + 1
    finally:
        await core.close()


def config_problems(path: Path, text: str) -> str:
    """What loading a config file with `text` reports."""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_communities_are_configured_per_server_and_workspace_with_clear_errors(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "discord:\n  servers:\n    - guild_id: 4242\n      mod_channel_id: 77\n      moderator_role_ids: [11]\n"
        "slack:\n  workspaces:\n    - team_id: T0NORTH\n      mod_channel: C0MODS\n      admin_ids: [U1]\n"
        "      faq_path: ./north-faq\n", encoding="utf-8")
    cfg = load_config(good)
    assert cfg.discord.servers == [DiscordServerConfig(guild_id=4242, mod_channel_id=77, moderator_role_ids=[11])]
    assert cfg.slack.workspaces == [SlackWorkspaceConfig(team_id="T0NORTH", mod_channel="C0MODS", admin_ids=["U1"],
                                                         faq_path="./north-faq")]
    assert cfg.community_faq_paths() == {"slack:T0NORTH": tmp_path / "north-faq"}
    bad = tmp_path / "bad.yaml"
    text = config_problems(bad, "discord:\n  servers:\n    - guild_id: 4242\n      mod_channel_id: 77\n"
                                "    - guild_id: 4242\n      moderator_role_ids: [x]\n      colour: red\n"
                                "slack:\n  workspaces:\n    - team_id: north\n")
    assert f"{bad}:6: discord.servers[1].moderator_role_ids: must be a whole number" in text
    assert f"{bad}:7: unknown key 'discord.servers[1].colour'" in text
    text = config_problems(bad, "discord:\n  servers:\n    - guild_id: 4242\n      mod_channel_id: 77\n"
                                "    - guild_id: 4242\nslack:\n  workspaces:\n    - team_id: north\n")
    assert f"{bad}:5: discord.servers[1]: mod_channel_id is missing" in text
    assert "discord.servers: 4242 listed more than once" in text
    assert f"{bad}:8: slack.workspaces[0]: team_id 'north' is not a Slack team id" in text
