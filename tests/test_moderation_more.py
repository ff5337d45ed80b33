"""The moderators' queue, continued (issue #11): channel names in queue posts, the timeout length a moderator picks,
the mention-spam limit, claiming and undoing, and the mod log with its audit channel. Through the console, the
core with recording adapters, and the real Discord and Slack adapters against the local fakes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord import DiscordAdapter
from bot.adapters.slack.inbound import mentioned
from bot.config import Config, Secret, load_config
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Role
from bot.features.moderation import Moderation
from bot.runner import open_core
from tests.conftest import ConsoleSession, make_config, serving_slack
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord
from tests.fakes.slack_api import (
    FakeSlack,
    block_actions_payload,
    event_body,
    interactive_body,
    slash_body,
)
from tests.test_moderation import (
    ANA,
    BOB,
    MARIA,
    MOD_QUEUE,
    SPAM,
    Recorder,
    buttons,
    items,
    message,
    platform_core,
    press,
)

MOD_ROLE = "1700000000000000002"


class Named(Recorder):
    """A recording adapter whose platform names its channels (and cannot look one of them up)."""

    names = {"100": "general", "200": "off-topic", "999": "mod-queue"}

    async def channel_name(self, channel: str) -> str:
        if channel == "404":
            raise RuntimeError("Missing Access")
        return self.names.get(channel, channel)


async def named_core(tmp_path: Path, **overrides: Any) -> tuple[Core, Named, Recorder]:
    cfg = make_config(tmp_path, discord__mod_channel_id=999, slack__mod_channel="C0MODS", **overrides)
    core = await open_core(cfg)
    await core.start()
    discord, slack = Named("discord", mod_channel="999"), Recorder("slack", mod_channel="C0MODS")
    core.attach(discord)
    core.attach(slack)
    return core, discord, slack


def mentions(n: int, start: int = 0) -> frozenset[str]:
    return frozenset(f"user:{i}" for i in range(start, start + n))


async def audit(core: Core, action: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await core.storage.fetchall("SELECT * FROM audit_log WHERE action = ? ORDER BY id",
                                                         (action,))]


# -- 1. channel names ---------------------------------------------------------------------------------------------


async def test_queue_posts_name_channels_and_fall_back_to_the_id(tmp_path: Path):
    core, discord, _ = await named_core(tmp_path)
    try:
        await core.on_message(message("discord", "100", "1", "77", SPAM, "spammer"))
        await core.on_message(message("discord", "404", "2", "78", SPAM.replace("014 2231", "019 7788"), "other"))
        first = discord.posts[0][1]
        assert dict(first.fields)["Channel"] == "#general (discord)"
        latest = discord.updates[-1][1]  # the copy joined the item: both channels, the unknown one by its id
        assert dict(latest.fields)["Channels"] == "#general (discord), #404 (discord)"
    finally:
        await core.close()


async def test_console_channel_names_are_the_ids(core: Core, console: ConsoleSession):
    out = await console.say(SPAM)
    assert "Channel: #general (console)" in out


# -- 2. the timeout length ----------------------------------------------------------------------------------------


async def test_the_moderator_picks_the_timeout_length_on_the_console(core: Core, console: ConsoleSession):
    posted = await console.say(SPAM)
    await console.say("/as ana moderator")
    out = await console.say(str(buttons(posted)["Remove + timeout…"]))
    choices = buttons(out)
    assert list(choices) == ["60 s", "5 min", "10 min", "1 hour", "1 day", "1 week"]
    out = await console.say(str(choices["1 day"]))
    assert "[console:maria timed out for 1440 minutes]" in out
    assert "Decision: Removed and timed out (1 day) by ana" in out
    [item] = await items(core)
    assert item["status"] == "timed_out" and item["timeout_seconds"] == 86_400


async def test_timeout_lengths_on_discord_and_slack_and_bad_lengths(tmp_path: Path):
    core, discord, slack = await platform_core(tmp_path)
    try:
        await core.on_message(message("discord", "100", "5", "77", SPAM, "spammer"))
        mod = Member("discord:1", "ana", Role.MODERATOR)
        picker = await press(core, 1, "timeout", mod, place=Place("discord", "999", "G1"))
        assert [b.action_id for b in picker.buttons][0] == "queue:1:timeout:60" and picker.ephemeral
        for bad in ("timeout:999999999999999999999", "timeout:-60", "timeout:61", "timeout:60:1"):
            refused = await press(core, 1, bad, mod)
            assert refused.ephemeral and ("nothing was changed" in refused.text or "not valid" in refused.text)
        assert (await items(core))[0]["status"] == "open"
        await press(core, 1, "timeout:60", mod, place=Place("discord", "999", "G1"))
        assert discord.restricted == [("discord:77", Place("discord", "100", "G1"), 1)]
        await press(core, 1, "timeout:604800", mod)  # the first decision counts
        assert len(discord.restricted) == 1
        # Slack has no timeout: the decision is recorded and the Result line says so.
        await core.on_message(message("slack", "C0GENERAL", "1.1", "U0SPAM", SPAM + " again and again", "sp"))
        reply = await press(core, 2, "timeout:300", Member("slack:U0MOD", "mo", Role.MODERATOR))
        assert "Removed and timed out (5 min) by mo" in reply.plain()
        assert "not timed out: slack cannot restrict members" in reply.plain()
    finally:
        await core.close()


# -- 3. the mention limit -----------------------------------------------------------------------------------------


async def test_many_mentions_in_one_message_or_a_short_window_are_queued(tmp_path: Path):
    core, discord, _ = await named_core(tmp_path, spam__mention_limit=5, spam__mention_window_seconds=60.0)
    try:
        await core.on_message(message("discord", "100", "1", "77", "hi all", "pinger", mentions=mentions(4)))
        assert discord.posts == []  # four is under the limit
        await core.on_message(message("discord", "100", "2", "77", "hey", "pinger", mentions=mentions(3, 3)))
        [(place, post, _)] = discord.posts  # six distinct across the window
        assert place == Place("discord", "999")
        assert post.title == "Mention spam (6 mentions / limit 5)"
        assert "mention spam (6 mentions)" in dict(post.fields)["Why"]
        # Another burst joins the same item instead of a new post.
        await core.on_message(message("discord", "200", "3", "77", "yo", "pinger", mentions=mentions(9)))
        assert len(discord.posts) == 1
        [item] = await items(core)
        assert item["source"] == "mentions" and item["seen_count"] == 2 and item["score"] == 9
        # Deciding does not teach the text scanner: mention spam is about behaviour.
        await press(core, 1, "remove", Member("discord:1", "ana", Role.MODERATOR))
        assert core.get(Moderation).scanner.model.documents == (0, 0)
        assert len(discord.deleted) == 2
    finally:
        await core.close()


async def test_the_mention_limit_spares_moderators_exempt_channels_and_can_be_off(tmp_path: Path):
    core, discord, _ = await named_core(tmp_path, spam__mention_limit=3, spam__exempt_channels=["discord:200"])
    try:
        many = mentions(10)
        await core.on_message(message("discord", "100", "1", "5", "team", "mo", mentions=many,
                                      author_role=Role.MODERATOR))
        await core.on_message(message("discord", "200", "2", "6", "raid", "x", mentions=many))
        await core.on_message(message("discord", "100", "3", "7", "one", "y", mentions=mentions(1)))
        assert discord.posts == []
    finally:
        await core.close()
    core, discord, _ = await named_core(tmp_path / "off", spam__mention_limit=0)
    try:
        await core.on_message(message("discord", "100", "1", "6", "raid", "x", mentions=mentions(50)))
        assert discord.posts == []
    finally:
        await core.close()


async def test_console_and_slack_count_distinct_mentions(core: Core):
    session = ConsoleSession(core)
    out = await session.say(" ".join(f"@m{i}" for i in range(12)) + " @m1 look")
    assert "== Mention spam (12 mentions / limit 10) ==" in out
    assert mentioned("<@U01> <@U02|bob> <@U01> <!subteam^S0MODS|mods> <!here> &lt;@U09&gt;") == {
        "U01", "U02", "S0MODS"}


def test_the_mention_settings_are_checked(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("spam:\n  mention_limit: 5000\nmoderation:\n  audit_channel:\n    slack: C0AUDIT\n",
                    encoding="utf-8")
    with pytest.raises(Exception, match=r"config.yaml:2: spam.mention_limit: must be between 0 and 1000"):
        load_config(path)
    path.write_text("spam:\n  mention_limit: 4\nmoderation:\n  audit_channel:\n    slack: C0AUDIT\n",
                    encoding="utf-8")
    cfg = load_config(path)
    assert cfg.spam.mention_limit == 4 and cfg.moderation.audit_channel.slack == "C0AUDIT"


# -- 4. claim and undo --------------------------------------------------------------------------------------------


async def test_claim_is_shown_to_the_other_moderators_and_the_first_counts(core: Core, console: ConsoleSession):
    await console.say(SPAM)
    posted = MessageRef("console", "mod-queue", "2")
    reply = await press(core, 1, "claim", ANA, posted)
    assert reply.replace_original
    assert "Claimed: ana is on it (since " in reply.plain()
    assert "I'm on it" not in [b.label for b in reply.buttons]
    other = await press(core, 1, "claim", BOB, posted)
    assert other.ephemeral and "ana is already on it" in other.text and "nothing was changed" in other.text
    again = await press(core, 1, "claim", ANA, posted)
    assert again.text == "You are already on it."
    [item] = await items(core)
    assert item["claimed_by"] == "console:ana" and item["status"] == "open"
    assert len(await audit(core, "queue.claim")) == 1
    listing = await core.dispatch(Invocation("modqueue", BOB, MOD_QUEUE))
    assert listing.text.startswith("#1 · maria · ") and " · ana is on it" in listing.text
    decided = await press(core, 1, "remove", BOB, posted)
    assert "Removed by bob" in decided.plain() and "Claimed" not in decided.plain()


async def test_undo_a_removal_reposts_the_quote_lifts_the_timeout_and_unlearns(tmp_path: Path):
    core, discord, slack = await platform_core(tmp_path)
    try:
        await core.on_message(message("discord", "100", "5", "77", SPAM, "spammer"))
        mod = Member("discord:1", "ana", Role.MODERATOR)
        [(_, _, post)] = discord.posts
        await press(core, 1, "timeout:3600", mod, post, Place("discord", "999", "G1"))
        moderation = core.get(Moderation)
        assert moderation.scanner.model.documents == (0, 1) and moderation.scanner.known_spam_fingerprints()
        undone = await press(core, 1, "undo", Member("discord:2", "bo", Role.MODERATOR), post,
                             Place("discord", "999", "G1"))
        text = undone.plain()
        assert "Undone: Removed and timed out by ana was undone by bo at " in text
        assert "posted 1 of 1 removed message(s) again as a quote" in text
        assert "spammer: timed out for 0 minutes" in text  # what the recording adapter answers to a lift
        assert discord.restricted[-1] == ("discord:77", Place("discord", "100", "G1"), 0)
        quote_place, quote, quote_ref = discord.posts[-1]
        assert quote_place == Place("discord", "100")
        assert quote.text.startswith("A moderator restored this message by spammer in #100:\n> Ketamine for sale")
        assert moderation.scanner.model.documents == (0, 0) and not moderation.scanner.known_spam_fingerprints()
        [item] = await items(core)
        assert item["status"] == "open" and item["undone_by_name"] == "bo" and item["decided_by"] is None
        [entry] = await audit(core, "queue.undo")
        assert entry["actor"] == "discord:2" and json.loads(entry["detail"])["undid"] == "timed_out"
        # Open again: removing it again deletes the bot's quote, which stands for the message now.
        await press(core, 1, "remove", mod)
        assert discord.deleted[-1] == quote_ref
        # On Slack there is no timeout to lift, and the Result line says so.
        await core.on_message(message("slack", "C0GENERAL", "1.1", "U0SPAM", SPAM + " again", "sp"))
        slack_mod = Member("slack:U0MOD", "mo", Role.MODERATOR)
        await press(core, 2, "timeout:60", slack_mod)
        undone = await press(core, 2, "undo", slack_mod)
        assert "no timeout to lift: slack cannot restrict members" in undone.plain()
    finally:
        await core.close()


async def test_undo_only_once_only_within_a_day_and_after_a_restart(tmp_path: Path):
    cfg = make_config(tmp_path)
    core = await open_core(cfg)
    await core.start()
    console = ConsoleSession(core)
    await console.say(SPAM)
    assert "Marked not spam by ana" in (await press(core, 1, "ham", ANA)).plain()
    await core.close()
    core = await open_core(cfg)  # decisions and what they taught survive a restart, and so does undo
    await core.start()
    try:
        assert core.get(Moderation).scanner.model.documents == (1, 0)
        assert "Undone: Marked not spam by ana was undone by bob" in (await press(core, 1, "undo", BOB)).plain()
        assert core.get(Moderation).scanner.model.documents == (0, 0)
        second = await press(core, 1, "undo", ANA)
        assert second.ephemeral and "no decision to undo" in second.text
        await press(core, 1, "ignore", ANA)
        await core.storage.execute("UPDATE mod_queue SET decided_at = ? WHERE id = 1", (time.time() - 90_000,))
        late = await press(core, 1, "undo", ANA)
        assert "can be undone for 24 hours" in late.text and "Nothing was changed" in late.text
        [item] = await items(core)
        assert item["status"] == "ignored"
        assert "Undo" not in [b.label for b in (await press(core, 1, "show", ANA)).buttons]
    finally:
        await core.close()


async def test_members_pressing_moderator_buttons_or_modlog_change_nothing(core: Core, console: ConsoleSession):
    await console.say(SPAM)
    await press(core, 1, "remove", ANA)
    before = [dict(r) for r in await core.storage.fetchall("SELECT * FROM audit_log ORDER BY id")]
    for verb in ("claim", "undo", "timeout", "timeout:60", "show"):
        reply = await press(core, 1, verb, MARIA)
        assert reply.ephemeral and "only moderators" in reply.text and "Nothing was changed" in reply.text
    denied = await core.dispatch(Invocation("modlog", MARIA, Place("console", "general")))
    assert "only moderators" in denied.text
    paged = await core.dispatch_action(Action("modlog:10", MARIA, Place("console", "general")))
    assert "only moderators" in paged.text
    [item] = await items(core)
    assert item["status"] == "removed"
    assert [dict(r) for r in await core.storage.fetchall("SELECT * FROM audit_log ORDER BY id")] == before


# -- 5. the mod log and the audit channel -------------------------------------------------------------------------


async def test_modlog_lists_decisions_newest_first_by_member_and_in_pages(tmp_path: Path):
    cfg = make_config(tmp_path)
    cfg.moderation.audit_channel.console = "mod-log"
    core = await open_core(cfg)
    await core.start()
    console = ConsoleSession(core)
    try:
        for n in range(12):  # twelve members over the mention limit: twelve items
            await core.on_message(message("console", "general", f"m{n}", f"s{n}", "hello all",
                                          f"**spammer{n}** @everyone", mentions=mentions(20)))
        rows = await items(core)
        for row in rows:
            await press(core, row["id"], "timeout:300" if row["id"] == rows[-1]["id"] else "ignore", ANA)
        await press(core, rows[0]["id"], "undo", BOB)
        log = await core.dispatch(Invocation("modlog", ANA, MOD_QUEUE))
        lines = log.text.splitlines()
        assert log.ephemeral and log.title == "Mod log: decisions 1–10, newest first" and len(lines) == 10
        assert lines[0].startswith("Case ") and "Undid ignored" in lines[0] and "by bob" in lines[0]
        assert "Removed and timed out (5 min)" in lines[1] and "by ana" in lines[1] and " UTC · " in lines[1]
        assert "why: " in lines[1] and "**spammer" in lines[1]  # plain text: adapters escape it
        [older] = log.buttons
        assert older.action_id == "modlog:10"
        page = await core.dispatch_action(Action(older.action_id, ANA, MOD_QUEUE))
        assert page.title == "Mod log: decisions 11–13, newest first" and not page.buttons
        author = rows[3]["author"]
        mine = await core.dispatch(Invocation("modlog", ANA, MOD_QUEUE, {"member": author.split(":")[1]}))
        assert len(mine.text.splitlines()) == 1 and f"({author})" in mine.text
        none = await core.dispatch(Invocation("modlog", ANA, MOD_QUEUE, {"member": "nobody"}))
        assert none.text == "No moderator decisions about nobody yet."
        long = await core.dispatch(Invocation("modlog", ANA, MOD_QUEUE, {"member": "x" * 5000}))
        assert "at most 60 characters" in long.text
        # Every decision and the undo got one line in the console's audit channel.
        assert console.buffer.getvalue().count("[#mod-log, message") == 13
    finally:
        await core.close()


async def test_audit_channel_gets_one_line_per_decision(tmp_path: Path):
    cfg = make_config(tmp_path, discord__mod_channel_id=999, slack__mod_channel="C0MODS")
    cfg.moderation.audit_channel.discord = "555"
    core = await open_core(cfg)
    await core.start()
    discord, slack = Recorder("discord", mod_channel="999"), Recorder("slack", mod_channel="C0MODS")
    core.attach(discord)
    core.attach(slack)
    try:
        await core.on_message(message("discord", "100", "5", "77", SPAM, "spammer"))
        await core.on_message(message("slack", "C0GENERAL", "1.1", "U0SPAM", "hi", "sp", mentions=mentions(20)))
        mod = Member("discord:1", "ana", Role.MODERATOR)
        await press(core, 1, "claim", mod)
        await press(core, 1, "remove", mod)
        await press(core, 1, "undo", mod)
        await press(core, 2, "ignore", mod)  # Slack has no audit channel here: no line
        lines = [(p, r) for p, r, _ in discord.posts if p.channel == "555"]
        assert [p for p, _ in lines] == [Place("discord", "555")] * 2
        assert " · Removed · spammer (discord:77) · by ana · queue item #1 · why: " in lines[0][1].text
        assert " · Undid removed · " in lines[1][1].text and not lines[1][1].ephemeral
        assert not [p for p, _, _ in slack.posts if p.channel != "C0MODS"]
    finally:
        await core.close()


# -- end to end: Discord and Slack against the fakes --------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_discord_end_to_end(tmp_path: Path):
    async with FakeDiscord(roles={MOD_ROLE: "Moderators"}) as fake:
        cfg = make_config(tmp_path, discord__mod_channel_id=1800000000000000009, spam__mention_limit=5)
        d = cfg.discord
        d.enabled, d.api_url, d.token, d.message_content = True, fake.url, Secret(fake.token), True
        d.guild_ids, d.moderator_role_ids = [int(g) for g in fake.guild_ids], [int(MOD_ROLE)]
        cfg.moderation.audit_channel.discord = "1800000000000000010"
        core = await open_core(cfg)
        adapter = DiscordAdapter(core, cfg.discord, guild_ready_timeout=0.05)
        core.attach(adapter)
        await adapter.start()
        await core.start()
        try:
            assert await adapter.channel_name(fake.channel_id) == "general"
            fake.status_overrides[("GET", r"/channels/1800000000000000077")] = (
                403, {"message": "Missing Access", "code": 50001})
            assert await core.channel_name(Place("discord", "1800000000000000077")) == "1800000000000000077"
            pings = " ".join(f"<@16000000000000001{i:02d}>" for i in range(6))
            await fake.dispatch("MESSAGE_CREATE", fake.user_message(f"{pings} look"))
            queue_path = r"/channels/1800000000000000009/messages"
            await fake.wait_until(lambda: fake.find("POST", queue_path))
            [posted] = fake.find("POST", queue_path)
            embed = posted.json["embeds"][0]
            assert embed["title"] == "Mention spam (6 mentions / limit 5)"
            fields = {f["name"]: f["value"] for f in embed["fields"]}
            assert fields["Channel"] == "\\#general (discord)"  # the guild channel's name, markdown escaped
            queue_message = fake.message_from(posted)
            who = {"user_id": "1600000000000000005", "user_name": "mo", "roles": [MOD_ROLE],
                   "channel_id": "1800000000000000009"}
            refused = await fake.interact(fake.button("queue:1:claim", queue_message, user_name="maria"))
            assert refused.json["data"]["flags"] & EPHEMERAL
            assert "only moderators" in refused.json["data"]["embeds"][0]["description"]
            picker = await fake.interact(fake.button("queue:1:timeout", queue_message, **who))
            ids = [c["custom_id"] for row in picker.json["data"]["components"] for c in row["components"]]
            assert ids[3] == "queue:1:timeout:3600" and len(ids) == 6
            start = len(fake.requests)
            await fake.interact(fake.button("queue:1:timeout:300", fake.message_from(picker), **who))
            member_path = rf"/guilds/{fake.guild_ids[0]}/members/1600000000000000002"
            patch = await fake.wait_for_request("PATCH", member_path, after=start)
            assert patch.json["communication_disabled_until"]
            await fake.wait_until(lambda: fake.find("POST", r"/channels/1800000000000000010/messages"))
            start = len(fake.requests)
            await fake.interact(fake.button("queue:1:undo", fake.messages[queue_message["id"]], **who))
            lifted = await fake.wait_for_request("PATCH", member_path, after=start)
            assert lifted.json["communication_disabled_until"] is None
            reposts = fake.find("POST", rf"/channels/{fake.channel_id}/messages")
            assert "A moderator restored this message by spammer in" in json.dumps(reposts[-1].json)
            log = await fake.interact(fake.slash("modlog", **who))
            text = log.json["data"]["embeds"][0]["description"]
            assert "Undid removed and timed out" in text and "Removed and timed out (5 min)" in text
            assert "modlog" in {c["name"] for c in fake.commands[fake.guild_ids[0]]}
        finally:
            await adapter.stop()
            await core.close()
            await adapter.close()


@pytest.mark.timeout(30)
async def test_slack_end_to_end(tmp_path: Path):
    fake = await FakeSlack(users={"U0SPAM": "Spammy"}, channels={"C0GENERAL": "general"}).start()
    cfg: Config = make_config(tmp_path, spam__mention_limit=3)
    cfg.slack.moderator_ids, cfg.slack.mod_channel = ["U0MOD"], "C0MODS"
    cfg.moderation.audit_channel.slack = "C0AUDIT"
    async with serving_slack(cfg, fake) as serving:
        send = serving.send
        for n, channel in enumerate(("C0GENERAL", "C0SECRET")):
            event = {"type": "message", "channel": channel, "channel_type": "channel", "user": "U0SPAM",
                     "text": f"<@U01> <@U02> <@U03> <@U04> hello {n}", "ts": f"1700000100.00020{n}"}
            await send(event_body(event), "application/json")
        await fake.wait_call("chat.postMessage")
        await fake.wait_call("chat.update")
        [posted] = [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C0MODS"]
        assert posted["blocks"][0]["text"]["text"] == "Mention spam (4 mentions / limit 3)"
        shown = json.dumps(fake.calls_to("chat.update")[-1]["blocks"])
        assert "#general (slack), #C0SECRET (slack)" in shown  # a channel Slack won't name keeps its id
        assert len(fake.calls_to("conversations.info")) <= 3  # names are cached (misses are asked again)
        queue_ts = fake.answers_to("chat.postMessage")[0]["ts"]

        await send(interactive_body(block_actions_payload(
            "queue:1:claim", user="U0MARIA", channel="C0MODS", message_ts=queue_ts, ephemeral=False,
            response_url=fake.response_url("deny"))))
        [denied] = await fake.wait_response("deny")
        assert "only moderators" in denied["text"]
        await send(interactive_body(block_actions_payload(
            "queue:1:claim", user="U0MOD", channel="C0MODS", message_ts=queue_ts, ephemeral=False,
            response_url=fake.response_url("claim"))))
        await fake.wait_for(lambda: "is on it" in json.dumps(fake.calls_to("chat.update")[-1]["blocks"]))
        await send(interactive_body(block_actions_payload(
            "queue:1:timeout:600", user="U0MOD", channel="C0MODS", message_ts=queue_ts, ephemeral=False,
            response_url=fake.response_url("decide"))))
        # The audit line and the queue item's update are separate calls that may land in either order.
        await fake.wait_for(lambda: [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C0AUDIT"]
                            and "Removed" in json.dumps(fake.calls_to("chat.update")[-1]["blocks"]))
        decided = json.dumps(fake.calls_to("chat.update")[-1]["blocks"])
        assert "Removed and timed out (10 min)" in decided
        assert "not timed out: Slack does not let apps time out members" in decided
        [line] = [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C0AUDIT"]
        assert "Removed and timed out (10 min)" in line["text"] and "by " in line["text"]

        await send(slash_body("/modlog", "Spammy", user="U0MOD", response_url=fake.response_url("log")))
        [log] = await fake.wait_response("log")
        assert "Removed and timed out (10 min)" in json.dumps(log)

        await send(interactive_body(block_actions_payload(
            "queue:1:undo", user="U0MOD", channel="C0MODS", message_ts=queue_ts, ephemeral=False,
            response_url=fake.response_url("undo"))))
        await fake.wait_for(lambda: "was undone by" in json.dumps(fake.calls_to("chat.update")[-1]["blocks"]))
        undone = json.dumps(fake.calls_to("chat.update")[-1]["blocks"])
        assert "no timeout to lift" in undone and "posted 2 of 2 removed message(s) again as a quote" in undone
        quotes = [c for c in fake.calls_to("chat.postMessage") if c["channel"] in ("C0GENERAL", "C0SECRET")]
        assert len(quotes) == 2 and "A moderator restored this message by Spammy in #general" in quotes[0]["text"]

