"""Many communities in one deployment, end to end on the real adapters against the local fakes (issue 12, item 3):
a Discord server listed in discord.servers and a Slack workspace listed in slack.workspaces get their own
moderators' channel and moderators; a moderator of one community is an ordinary member in every other, and a
poll is only posted to channels of its own community (the channel's server found through the platform's API).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.config import Config, DiscordServerConfig, Secret, SlackWorkspaceConfig, load_config, missing_settings
from bot.core.core import Core
from bot.core.records import MessageRef, Reply
from tests.conftest import SlackServing, make_config, serving_slack
from tests.fakes.discord_api import GUILD_ID, FakeDiscord, Recorded
from tests.fakes.slack_api import (
    BOT_TOKEN,
    TEAM_ID,
    FakeSlack,
    block_actions_payload,
    event_body,
    interactive_body,
    slash_fields,
)
from tests.test_discord import MOD_ROLE, Probe, Running, discord_config, embeds_of, is_ephemeral
from tests.test_moderation import SPAM

pytestmark = pytest.mark.timeout(30)

# Discord: the fake's first guild is the default community; NORTH is a server configured on its own.
NORTH = "1200000000000000002"
NORTH_MOD_ROLE = "1700000000000000042"  # a moderator role of NORTH only
DEFAULT_MODS = "1800000000000000009"  # discord.mod_channel_id
NORTH_MODS = "1800000000000000021"  # discord.servers[0].mod_channel_id
NORTH_GENERAL = "1800000000000000022"
NORTH_EVENTS = "1800000000000000023"
NORTH_AUDIT = "1800000000000000024"  # discord.servers[0].audit_channel_id
DEFAULT_AUDIT = "1800000000000000010"  # moderation.audit_channel.discord
HOME_EVENTS = "1800000000000000031"  # another channel of the default guild, not in the gateway's cache
HOME_MOD = {"user_id": "1600000000000000005", "user_name": "mo", "roles": [MOD_ROLE]}
NORTH_MOD = {"user_id": "1600000000000000006", "user_name": "nell", "roles": [NORTH_MOD_ROLE]}

# Slack: TEAM_ID (the fake's own) is the default community; T0NORTH a workspace configured on its own.
T_NORTH = "T0NORTH"


async def queue_rows(core: Core) -> list[dict[str, Any]]:
    return [dict(r) for r in await core.storage.fetchall(
        "SELECT id, status, community, decided_by FROM mod_queue ORDER BY id")]


# -- Discord -----------------------------------------------------------------------------------------------------


@pytest.fixture
async def discord_run(tmp_path: Path) -> AsyncIterator[Running]:
    """The bot in two guilds: the default one (moderator role MOD_ROLE) and NORTH with its own channel and role."""
    async with FakeDiscord(guild_ids=(GUILD_ID, NORTH),
                           roles={MOD_ROLE: "Moderators", NORTH_MOD_ROLE: "North moderators"}) as fake:
        fake.channel_guilds.update({NORTH_MODS: NORTH, NORTH_GENERAL: NORTH, NORTH_EVENTS: NORTH,
                                    HOME_EVENTS: GUILD_ID})
        cfg = discord_config(tmp_path, fake, discord__message_content=True, discord__mod_channel_id=int(DEFAULT_MODS))
        cfg.discord.servers = [DiscordServerConfig(guild_id=int(NORTH), mod_channel_id=int(NORTH_MODS),
                                                   moderator_role_ids=[int(NORTH_MOD_ROLE)],
                                                   audit_channel_id=int(NORTH_AUDIT))]
        cfg.moderation.audit_channel.discord = DEFAULT_AUDIT
        run = await Running(fake, cfg, Probe()).start()
        try:
            yield run
        finally:
            await run.stop()


def said(recorded: Recorded) -> str:
    return embeds_of(recorded.json)[0]["description"]


async def test_discord_spam_in_a_server_of_its_own_goes_to_its_moderators_and_only_they_decide(discord_run: Running):
    fake, core = discord_run.fake, discord_run.core
    assert core is not None
    spam = fake.user_message(SPAM, guild_id=NORTH, channel_id=NORTH_GENERAL)
    await fake.dispatch("MESSAGE_CREATE", spam)
    posted = await fake.wait_for_request("POST", rf"/channels/{NORTH_MODS}/messages")
    assert not fake.find("POST", rf"/channels/{DEFAULT_MODS}/messages")
    assert "Possible spam" in json.dumps(posted.json)
    [item] = await queue_rows(core)
    assert (item["status"], item["community"]) == ("open", f"discord:{NORTH}")
    queue_message = fake.message_from(posted)
    remove = f"queue:{item['id']}:remove"

    # NORTH's moderator role counts in NORTH only: pressed from the default server, its holder is a member there.
    refused = await fake.interact(fake.button(remove, queue_message, **NORTH_MOD, guild_id=GUILD_ID))
    assert is_ephemeral(refused.json["data"]) and "only moderators" in said(refused)
    # The default server's moderators are members in NORTH ...
    refused = await fake.interact(fake.button(remove, queue_message, **HOME_MOD, guild_id=NORTH,
                                              channel_id=NORTH_MODS))
    assert "only moderators" in said(refused)
    # ... and NORTH's items do not exist for them in their own server.
    refused = await fake.interact(fake.button(remove, queue_message, **HOME_MOD, guild_id=GUILD_ID))
    assert "no longer exists" in said(refused)
    assert not fake.find("DELETE", r"/channels/.*")
    assert [(r["status"], r["decided_by"]) for r in await queue_rows(core)] == [("open", None)]

    # NORTH's moderator in NORTH decides it: the spam is deleted where it was posted.
    await fake.interact(fake.button(remove, queue_message, **NORTH_MOD, guild_id=NORTH, channel_id=NORTH_MODS))
    await fake.wait_for_request("DELETE", rf"/channels/{NORTH_GENERAL}/messages/{spam['id']}")
    [item] = await queue_rows(core)
    assert (item["status"], item["decided_by"]) == ("removed", f"discord:{NORTH_MOD['user_id']}")
    # The decision's audit line goes to NORTH's audit channel, not the default one.
    await fake.wait_for_request("POST", rf"/channels/{NORTH_AUDIT}/messages")
    assert not fake.find("POST", rf"/channels/{DEFAULT_AUDIT}/messages")


async def test_discord_a_server_of_its_own_times_out_in_that_server_and_gets_its_wellbeing_items(
        discord_run: Running):
    fake, core = discord_run.fake, discord_run.core
    assert core is not None
    await fake.dispatch("MESSAGE_CREATE", fake.user_message(SPAM, guild_id=NORTH, channel_id=NORTH_GENERAL,
                                                            user_id="1600000000000000002"))
    posted = await fake.wait_for_request("POST", rf"/channels/{NORTH_MODS}/messages")
    north_mod = {**NORTH_MOD, "guild_id": NORTH, "channel_id": NORTH_MODS}
    picker = await fake.interact(fake.button("queue:1:timeout", fake.message_from(posted), **north_mod))
    await fake.interact(fake.button("queue:1:timeout:300", fake.message_from(picker), **north_mod))
    patch = await fake.wait_for_request("PATCH", rf"/guilds/{NORTH}/members/1600000000000000002")
    assert patch.json["communication_disabled_until"]
    assert not fake.find("PATCH", rf"/guilds/{GUILD_ID}/members/.*")

    crisis = "honestly I can't keep living like this, my family would be better off if I wasn't around anymore"
    await fake.dispatch("MESSAGE_CREATE", fake.user_message(crisis, guild_id=NORTH, channel_id=NORTH_GENERAL,
                                                            user_id="1600000000000000077", user_name="sam"))
    await fake.wait_until(lambda: [r for r in fake.find("POST", rf"/channels/{NORTH_MODS}/messages")
                                   if "Wellbeing check" in json.dumps(r.json)])
    assert not fake.find("POST", rf"/channels/{DEFAULT_MODS}/messages")
    [row] = await core.storage.fetchall("SELECT community FROM wellbeing_items")
    assert row["community"] == f"discord:{NORTH}"


async def test_discord_a_poll_is_only_posted_to_channels_of_its_own_server(discord_run: Running):
    fake, core = discord_run.fake, discord_run.core
    assert core is not None

    async def poll(where: str, **who: Any) -> str:
        question = f'"Picnic on Sunday?" "Yes" "No" --post discord:{where}'
        return said(await fake.interact(fake.slash("poll", {"question": question}, **who)))

    # A moderator of the default server posting into NORTH: the channel's server is asked of Discord, and refused.
    refused = await poll(NORTH_EVENTS, **HOME_MOD)
    assert "Nothing was created" in refused and f"discord:{NORTH_EVENTS}" in refused
    assert fake.find("GET", rf"/channels/{NORTH_EVENTS}")
    # NORTH's moderator posting from NORTH into the default server: refused the same way.
    refused = await poll(HOME_EVENTS, **NORTH_MOD, guild_id=NORTH, channel_id=NORTH_GENERAL)
    assert "Nothing was created" in refused
    assert await core.storage.fetchall("SELECT id FROM polls") == []
    assert not fake.find("POST", rf"/channels/({NORTH_EVENTS}|{HOME_EVENTS})/messages")

    # Within its own server it is posted, and the poll is NORTH's.
    assert "Poll #1 is up" in await poll(NORTH_EVENTS, **NORTH_MOD, guild_id=NORTH, channel_id=NORTH_GENERAL)
    await fake.wait_until(lambda: fake.find("POST", rf"/channels/{NORTH_EVENTS}/messages"))
    [row] = await core.storage.fetchall("SELECT id, community FROM polls")
    assert row["community"] == f"discord:{NORTH}"
    # And the default server's moderator can still post within the default server.
    assert "Poll #2 is up" in await poll(HOME_EVENTS, **HOME_MOD)
    await fake.wait_until(lambda: fake.find("POST", rf"/channels/{HOME_EVENTS}/messages"))
    assert [r["community"] for r in await core.storage.fetchall("SELECT community FROM polls ORDER BY id")] == [
        f"discord:{NORTH}", ""]


# -- Slack -------------------------------------------------------------------------------------------------------


@dataclass
class SlackRun:
    fake: FakeSlack
    serving: SlackServing

    @property
    def core(self) -> Core:
        return self.serving.core

    async def send(self, body: str, content_type: str = "application/x-www-form-urlencoded") -> None:
        await self.serving.send(body, content_type)

    async def message(self, team: str, channel: str, user: str, text: str, ts: str) -> None:
        body = json.loads(event_body({"type": "message", "channel": channel, "channel_type": "channel",
                                      "user": user, "text": text, "ts": ts, "team": team}))
        body["team_id"] = team
        body["authorizations"][0]["team_id"] = team
        await self.send(json.dumps(body), "application/json")

    async def press(self, value: str, *, team: str, user: str, channel: str, message_ts: str, key: str) -> None:
        payload = block_actions_payload(value, user=user, channel=channel, message_ts=message_ts, ephemeral=False,
                                        response_url=self.fake.response_url(key))
        payload["team"]["id"] = payload["user"]["team_id"] = team
        await self.send(interactive_body(payload))

    async def command(self, command: str, text: str, *, team: str, user: str, channel: str, key: str) -> str:
        fields = slash_fields(command, text, user=user, channel=channel, response_url=self.fake.response_url(key))
        fields["team_id"] = team
        await self.send(urlencode(fields))
        [answer] = await self.fake.wait_response(key)
        return json.dumps(answer)


@pytest.fixture
async def slack_run(tmp_path: Path) -> AsyncIterator[SlackRun]:
    """The bot in the default workspace (moderator U0MOD, channel C0MODS) and T0NORTH (U0NMOD, C0NMODS)."""
    fake = await FakeSlack(users={"U0SPAM": "Spammy"},
                           channels={"C0GENERAL": "general", "C0NGEN": "north-general", "C0NEVENTS": "north-events"},
                           channel_teams={"C0GENERAL": TEAM_ID, "C0NGEN": T_NORTH, "C0NEVENTS": T_NORTH}).start()
    cfg: Config = make_config(tmp_path)
    cfg.slack.moderator_ids, cfg.slack.mod_channel = ["U0MOD"], "C0MODS"
    cfg.slack.workspaces = [SlackWorkspaceConfig(team_id=T_NORTH, mod_channel="C0NMODS", moderator_ids=["U0NMOD"])]
    async with serving_slack(cfg, fake) as serving:
        yield SlackRun(fake, serving)


async def test_slack_spam_in_a_workspace_of_its_own_goes_to_its_moderators_and_only_they_decide(slack_run: SlackRun):
    fake, core = slack_run.fake, slack_run.core
    await slack_run.message(T_NORTH, "C0NGEN", "U0SPAM", SPAM, "1700000100.000200")
    [posted] = await fake.wait_call("chat.postMessage")
    assert posted["channel"] == "C0NMODS"
    [item] = await queue_rows(core)
    assert (item["status"], item["community"]) == ("open", f"slack:{T_NORTH}")
    queue_ts = fake.answers_to("chat.postMessage")[0]["ts"]
    remove = f"queue:{item['id']}:remove"

    # T0NORTH's moderator pressing from another workspace is a member there.
    await slack_run.press(remove, team=TEAM_ID, user="U0NMOD", channel="C0NMODS", message_ts=queue_ts, key="away")
    [denied] = await fake.wait_response("away")
    assert "only moderators" in denied["text"] and denied["response_type"] == "ephemeral"
    # The default workspace's moderator is a member in T0NORTH.
    await slack_run.press(remove, team=T_NORTH, user="U0MOD", channel="C0NMODS", message_ts=queue_ts, key="home")
    [denied] = await fake.wait_response("home")
    assert "only moderators" in denied["text"]
    # ... and T0NORTH's items do not exist for them in their own workspace.
    await slack_run.press(remove, team=TEAM_ID, user="U0MOD", channel="C0MODS", message_ts=queue_ts, key="own")
    [denied] = await fake.wait_response("own")
    assert "no longer exists" in denied["text"]
    assert fake.calls_to("chat.update") == [] and fake.calls_to("chat.delete") == []
    assert [r["status"] for r in await queue_rows(core)] == ["open"]
    assert [c["channel"] for c in fake.calls_to("chat.postMessage")] == ["C0NMODS"]

    # In its own workspace, T0NORTH's moderator decides it.
    await slack_run.press(remove, team=T_NORTH, user="U0NMOD", channel="C0NMODS", message_ts=queue_ts, key="mod")
    [updated] = await fake.wait_call("chat.update")
    assert updated["channel"] == "C0NMODS" and "Removed by" in json.dumps(updated["blocks"])
    await fake.wait_call("chat.delete")
    assert fake.calls_to("chat.delete") == [{"channel": "C0NGEN", "ts": "1700000100.000200"}]
    [item] = await queue_rows(core)
    assert (item["status"], item["decided_by"]) == ("removed", "slack:U0NMOD")


async def test_slack_a_poll_is_only_posted_to_channels_of_its_own_workspace(slack_run: SlackRun):
    fake, core = slack_run.fake, slack_run.core
    refused = await slack_run.command("/poll", '"Picnic?" "Yes" "No" --post slack:C0GENERAL', team=T_NORTH,
                                      user="U0NMOD", channel="C0NGEN", key="away")
    assert "Nothing was created" in refused
    assert await core.storage.fetchall("SELECT id FROM polls") == []
    assert not [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C0GENERAL"]
    up = await slack_run.command("/poll", '"Picnic?" "Yes" "No" --post slack:C0NEVENTS', team=T_NORTH,
                                 user="U0NMOD", channel="C0NGEN", key="home")
    assert "Poll #1 is up" in up
    await fake.wait_for(lambda: [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C0NEVENTS"])
    [row] = await core.storage.fetchall("SELECT community FROM polls")
    assert row["community"] == f"slack:{T_NORTH}"


async def test_slack_a_poll_is_not_posted_where_the_workspace_cannot_be_told(slack_run: SlackRun):
    """A channel conversations.info won't describe (a private one without groups:read) could be another
    workspace's: with communities configured, --post refuses rather than guess."""
    fake, core = slack_run.fake, slack_run.core
    refused = await slack_run.command("/poll", '"Picnic?" "Yes" "No" --post slack:C0NPRIV', team=TEAM_ID, user="U0MOD",
                                      channel="C0GENERAL", key="unknown")
    assert "couldn't tell which server or workspace" in refused and "Nothing was created" in refused
    assert await core.storage.fetchall("SELECT id FROM polls") == []
    assert not [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C0NPRIV"]


NORTH_TOKEN = "xoxb-fake-north-TOKEN"


def tokens_of(fake: FakeSlack, method: str, channel: str) -> list[str | None]:
    return [c.token for c in fake.calls if c.method == method and c.args.get("channel") == channel]


async def test_slack_a_workspace_installed_on_its_own_is_served_with_its_own_token(tmp_path: Path):
    """slack.workspaces[].bot_token: the app installed in a workspace on its own (not org-wide). Everything that
    workspace's requests and items need is asked with its token; the default workspace keeps the app's."""
    fake = await FakeSlack(users={"U0SPAM": "Spammy"},
                           channels={"C0GENERAL": "general", "C0NGEN": "north-general", "C0NEVENTS": "north-events",
                                     "C0NMODS": "north-mods", "C0MODS": "mods"},
                           channel_teams={"C0NGEN": T_NORTH, "C0NEVENTS": T_NORTH, "C0NMODS": T_NORTH},
                           token_teams={NORTH_TOKEN: T_NORTH}).start()
    cfg: Config = make_config(tmp_path)
    cfg.slack.moderator_ids, cfg.slack.mod_channel = ["U0MOD"], "C0MODS"
    cfg.slack.workspaces = [SlackWorkspaceConfig(team_id=T_NORTH, bot_token=Secret(NORTH_TOKEN),
                                                 mod_channel="C0NMODS", moderator_ids=["U0NMOD"])]
    async with serving_slack(cfg, fake) as serving:
        run = SlackRun(fake, serving)
        assert {c.token for c in fake.calls if c.method == "auth.test"} >= {NORTH_TOKEN}
        await run.message(T_NORTH, "C0NGEN", "U0SPAM", SPAM, "1700000100.000200")
        await fake.wait_call("chat.postMessage")
        assert tokens_of(fake, "chat.postMessage", "C0NMODS") == [NORTH_TOKEN]
        queue_ts = fake.answers_to("chat.postMessage")[0]["ts"]
        await run.press("queue:1:remove", team=T_NORTH, user="U0NMOD", channel="C0NMODS", message_ts=queue_ts,
                        key="mod")
        await fake.wait_call("chat.delete")
        assert tokens_of(fake, "chat.delete", "C0NGEN") == [NORTH_TOKEN]
        assert set(tokens_of(fake, "chat.update", "C0NMODS")) == {NORTH_TOKEN}
        # The default workspace still speaks with the app's token.
        await run.message(TEAM_ID, "C0GENERAL", "U0SPAM", SPAM.replace("014", "015"), "1700000200.000200")
        await fake.wait_for(lambda: tokens_of(fake, "chat.postMessage", "C0MODS"))
        assert tokens_of(fake, "chat.postMessage", "C0MODS") == [BOT_TOKEN]
        # A message met for the first time since a start (a poll's copy, say) finds its workspace's token.
        await serving.adapter.update(MessageRef("slack", "C0NEVENTS", "1700000300.000100"), Reply(text="edited"))
        assert tokens_of(fake, "chat.update", "C0NEVENTS") == [NORTH_TOKEN]


def test_a_workspace_token_from_an_unset_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NORTH_SLACK_TOKEN", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text("slack:\n  enabled: true\n  bot_token: xoxb-1\n  app_token: xapp-1\n  workspaces:\n"
                      "    - team_id: T0NORTH\n      mod_channel: C0NMODS\n      bot_token: ${NORTH_SLACK_TOKEN}\n",
                      encoding="utf-8")
    problems = missing_settings(load_config(config))
    assert any("slack.workspaces[0].bot_token is not set" in p and "NORTH_SLACK_TOKEN" in p for p in problems)
