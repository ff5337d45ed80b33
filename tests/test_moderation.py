"""The moderators' review queue through its public surface: console sessions, Core.dispatch / dispatch_action,
recording adapters for Discord and Slack, the `bot spam` CLI, and one end-to-end run against the local fake Slack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.core.contract import Adapter, IncomingMessage, SetupError, Staff
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, Role
from bot.features.moderation import Moderation
from bot.features.moderation.spam import RulesError, ScanMessage
from bot.runner import open_core
from tests.conftest import ROOT, ConsoleSession, make_config, serving_slack
from tests.fakes.slack_api import (
    FakeSlack,
    block_actions_payload,
    event_body,
    interactive_body,
)

SPAM = ("Ketamine for sale, pharmaceutical grade, discreet shipping worldwide. No prescription needed. "
        "Call +1 555 014 2231")
# The same campaign with another phone number: numbers are not part of the fingerprint.
SPAM_AGAIN = SPAM.replace("014 2231", "019 7788")
INNOCENT = [
    "I take 25 mg of ketamine nasal spray, prescribed at the Cleveland Clinic headache center. "
    "The study is here: https://pubmed.ncbi.nlm.nih.gov/12345678/",
    "My infusions cost about $300 each and insurance covered half. Dr. Patel at the Jefferson Headache Center "
    "is great, see https://www.nih.gov/news-events",
    "Anyone else get dizzy after the 0.5 mg/kg IV dose? DM me if you want to talk, it changed my life to share",
]
# Scores nothing under the bundled rules: only a moderator's removal makes it recognisable.
SNEAKY = "Check out MigraZen drops, they fixed my head. Ask for Lisa at their booth next Saturday"

ANA = Member("console:ana", "ana", Role.MODERATOR)
BOB = Member("console:bob", "bob", Role.MODERATOR)
ADA = Member("console:ada", "ada", Role.ADMIN)
MARIA = Member("console:maria", "maria", Role.MEMBER)
MOD_QUEUE = Place("console", "mod-queue")


class Recorder(Adapter):
    """A platform adapter that records what the core asked of it (Discord and Slack stand-ins)."""

    def __init__(self, platform: str, *, can_delete: bool = True, mod_channel: str = "") -> None:
        self.platform = platform
        setting = {"discord": "discord.mod_channel_id", "slack": "slack.mod_channel"}[platform]
        self.staff = Staff(Place(platform, mod_channel) if mod_channel else None, setting)
        self.can_delete = can_delete
        self.posts: list[tuple[Place, Reply, MessageRef]] = []
        self.updates: list[tuple[MessageRef, Reply]] = []
        self.deleted: list[MessageRef] = []
        self.restricted: list[tuple[str, Place, int]] = []
        self._ids = iter(range(1000, 10_000))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        ref = MessageRef(self.platform, place.channel, str(next(self._ids)))
        self.posts.append((place, reply, ref))
        return ref

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        self.updates.append((ref, reply))

    async def delete(self, ref: MessageRef) -> None:
        if not self.can_delete:
            raise RuntimeError(f"{self.platform} could not delete the message: cant_delete_message")
        self.deleted.append(ref)

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        if self.platform == "slack":
            return await super().restrict(member_id, place, minutes)  # NotImplementedError, like Slack
        self.restricted.append((member_id, place, minutes))
        return f"timed out for {minutes} minutes"


def buttons(out: str) -> dict[str, int]:
    """Label -> number of the buttons printed in a console output (the last one wins)."""
    return {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+\[(\d+)\] (.+)$", out, re.M)}


def message(platform: str, channel: str, msg_id: str, author: str, text: str, name: str = "someone",
            **kw: Any) -> IncomingMessage:
    return IncomingMessage(ref=MessageRef(platform, channel, msg_id), author_id=f"{platform}:{author}",
                           author_name=name, text=text, ts=time.time(), **kw)


async def items(core: Core) -> list[dict[str, Any]]:
    return [dict(r) for r in await core.storage.fetchall("SELECT * FROM mod_queue ORDER BY id")]


async def press(core: Core, item_id: int, verb: str, who: Member, ref: MessageRef | None = None,
                place: Place = MOD_QUEUE) -> Reply:
    return await core.dispatch_action(Action(f"queue:{item_id}:{verb}", who, place, ref))


async def platform_core(tmp_path: Path, **overrides: Any) -> tuple[Core, Recorder, Recorder]:
    cfg = make_config(tmp_path, discord__mod_channel_id=999, slack__mod_channel="C0MODS", **overrides)
    core = await open_core(cfg)
    await core.start()
    discord, slack = Recorder("discord", mod_channel="999"), Recorder("slack", mod_channel="C0MODS")
    core.attach(discord)
    core.attach(slack)
    return core, discord, slack


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spam.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- flagging and grouping ---------------------------------------------------------------------------------------


async def test_spam_typed_on_the_console_is_queued_once_with_score_and_reasons(core: Core, console: ConsoleSession):
    out = await console.say(SPAM)
    assert out.count("[#mod-queue, message") == 1
    assert "== Possible spam (score " in out and "/ threshold 1.00)" in out
    assert SPAM in out
    assert "Author: maria (console:maria)" in out and "Channel: #general (console)" in out
    assert 'drugs for sale: "ketamine for sale"' in out and "discreet shipping" in out
    why = out.split("Why:", 1)[1]
    assert re.match(r"\s+\+\d\.\d\d ", why)  # each reason with its weight, one per line
    assert set(buttons(out)) == {"Remove", "Remove + timeout…", "Not spam", "Ignore", "I'm on it"}
    [item] = await items(core)
    assert item["status"] == "open" and item["text"] == SPAM and item["author"] == "console:maria"
    assert item["score"] >= item["threshold"] and item["post_ref"] == "console|mod-queue|2"
    assert {r["rule"] for r in json.loads(item["reasons"])} >= {"drug-sale"}


async def test_a_near_duplicate_in_another_channel_joins_the_open_item(core: Core, console: ConsoleSession):
    await console.say(SPAM)
    await console.say("/channel random")
    out = await console.say(SPAM_AGAIN)
    assert "[#mod-queue, message" not in out  # no second post
    assert "updated]" in out and "seen 2 times in 2 channels" in out
    [item] = await items(core)
    assert item["seen_count"] == 2
    refs = await core.storage.fetchall("SELECT ref FROM mod_queue_messages WHERE item_id = ?", (item["id"],))
    assert {r["ref"].rsplit("|", 1)[0] for r in refs} == {"console|general", "console|random"}


async def test_a_reworded_copy_joins_the_open_item(core: Core, console: ConsoleSession):
    await console.say("Sick of migraines? Try MigraFree, all natural, no side effects, they mailed me a free trial "
                      "bottle. Look them up!")
    await console.say("/channel support")
    out = await console.say("Sick of migraines?? try MIGRAFREE all natural NO side effects, free trial bottle, "
                            "look them up")
    assert "[#mod-queue, message" not in out and "seen 2 times in 2 channels" in out
    assert len(await items(core)) == 1
    await console.say("/channel offtopic")
    different = await console.say("Crypto mentor here: DM me on telegram and earn $500 per day, guaranteed")
    assert "[#mod-queue, message" in different  # other spam is its own item
    assert len(await items(core)) == 2


async def test_a_duplicate_on_another_platform_joins_the_open_item(tmp_path: Path):
    core, discord, slack = await platform_core(tmp_path)
    try:
        await core.on_message(message("discord", "100", "1", "77", SPAM, "spammer"))
        await core.on_message(message("slack", "C0GENERAL", "1.1", "U0SPAM", SPAM_AGAIN, "spammer"))
        assert len(discord.posts) == 1 and slack.posts == []
        assert discord.posts[0][0] == Place("discord", "999")
        assert "seen 2 times in 2 channels" in discord.updates[-1][1].plain()
        [item] = await items(core)
        assert item["seen_count"] == 2
    finally:
        await core.close()


@pytest.mark.parametrize("text", INNOCENT)
async def test_members_talking_about_their_treatment_are_not_queued(core: Core, console: ConsoleSession, text: str):
    out = await console.say(text)
    assert out == ""
    assert await items(core) == []


# -- decisions -------------------------------------------------------------------------------------------------


async def test_a_member_cannot_decide(core: Core, console: ConsoleSession):
    out = await console.say(SPAM)
    denied = await console.say(str(buttons(out)["Remove"]))
    assert "only moderators can do that" in denied and "deleted" not in denied
    [item] = await items(core)
    assert item["status"] == "open" and item["decided_by"] is None
    assert await core.storage.fetchall("SELECT * FROM audit_log") == []


async def test_the_first_decision_wins_and_is_audited(core: Core, console: ConsoleSession):
    out = await console.say(SPAM)
    numbers = buttons(out)
    await console.say("/as ana moderator")
    decided = await console.say(str(numbers["Remove"]))
    assert "[message m1 deleted]" in decided  # the member's message
    assert "[message 2 updated]" in decided  # the queue message, edited in place
    assert "Decision: Removed by ana at " in decided and "deleted 1 of 1 message(s)" in decided
    assert "[1] Remove" not in decided.split("updated]", 1)[1]  # no more buttons
    await console.say("/as bob moderator")
    late = await console.say(str(numbers["Not spam"]))
    assert "Already decided by ana at " in late and "removed" in late and "Nothing was changed" in late
    [item] = await items(core)
    assert item["status"] == "removed" and item["decided_by"] == "console:ana"
    [audit] = await core.storage.fetchall("SELECT actor, action, subject, detail FROM audit_log")
    assert (audit["actor"], audit["action"], audit["subject"]) == ("console:ana", "queue.remove", f"queue:{item['id']}")
    detail = json.loads(audit["detail"])
    assert detail["message"] == "console|general|m1" and detail["score"] == round(item["score"], 3)
    assert {r["rule"] for r in detail["reasons"]} >= {"drug-sale"}


async def test_two_moderators_at_once_one_decision(core: Core, console: ConsoleSession):
    await console.say(SPAM)
    first, second = await asyncio.gather(press(core, 1, "remove", ANA), press(core, 1, "ham", BOB))
    texts = sorted([first.plain(), second.plain()])
    assert sum("Already decided by" in t for t in texts) == 1
    [item] = await items(core)
    assert item["status"] in ("removed", "not_spam")
    assert len(await core.storage.fetchall("SELECT * FROM audit_log")) == 1
    assert sum(core.get(Moderation).scanner.model.documents) == 1  # learned once


async def test_remove_and_timeout_where_the_platform_cannot(tmp_path: Path):
    core, discord, slack = await platform_core(tmp_path)
    slack.can_delete = False
    try:
        await core.on_message(message("slack", "C0GENERAL", "1.1", "U0SPAM", SPAM, "spammer"))
        [(place, _, posted)] = slack.posts
        assert place == Place("slack", "C0MODS")
        mod = Member("slack:U0MOD", "mo", Role.MODERATOR)
        reply = await press(core, 1, "timeout:3600", mod, posted, Place("slack", "C0MODS"))
        assert reply.replace_original and [b.label for b in reply.buttons] == ["Undo"]
        text = reply.plain()
        assert "Removed and timed out (1 hour) by mo" in text
        assert "cant_delete_message" in text and "cannot restrict members" in text
        [item] = await items(core)
        assert item["status"] == "timed_out"  # recorded although Slack refused both
        # On Discord both work, and the timeout is an hour.
        await core.on_message(message("discord", "100", "5", "77", SNEAKY + " " + SPAM, "spammer"))
        [(_, _, posted)] = discord.posts
        reply = await press(core, 2, "timeout:3600", Member("discord:1", "ana", Role.MODERATOR), posted,
                            Place("discord", "999", "G1"))
        assert discord.deleted == [MessageRef("discord", "100", "5")]
        assert discord.restricted == [("discord:77", Place("discord", "100", "G1"), 60)]
        assert "timed out for 60 minutes" in reply.plain()
    finally:
        await core.close()


async def test_ignore_closes_without_learning(core: Core, console: ConsoleSession):
    await console.say(SPAM)
    reply = await press(core, 1, "ignore", ANA)
    assert "Ignored by ana" in reply.plain()
    assert core.get(Moderation).scanner.model.documents == (0, 0)
    assert core.get(Moderation).scanner.known_spam_fingerprints() == []


HAM = "My clinic offers a free consultation in {}, the receptionist there is lovely"
SALES = ["Ketamine for sale, fast delivery", "Oxycodone for sale tonight, message me", "Xanax for sale, best price",
         "Cheap pills for sale, all kinds", "Nasal spray for sale without a script"]
LEARNING_RULES = """\
version: 1
threshold: 1.0
weights: {language_spam_max: 0, language_ham_max: 0}  # only what moderators teach counts here
phrases:
  promo-phrase:
    - {pattern: 'free consultation', weight: 1.1, label: free consultation}
  drug-sale:
    - {pattern: 'for sale', weight: 1.5, label: for sale}
"""


async def test_not_spam_decisions_teach_the_model(tmp_path: Path):
    # Own rules, so the false alarm is just over the threshold however the bundled rules get tuned.
    cfg = make_config(tmp_path, spam__rules=str(write_rules(tmp_path, LEARNING_RULES)))
    core = await open_core(cfg)
    await core.start()
    console = ConsoleSession(core)
    try:
        for n, text in enumerate(SALES):  # the model needs examples of both kinds before it speaks
            await console.say(f"/as seller{n}")
            await console.say(text)
            [item] = [i for i in await items(core) if i["status"] == "open"]
            assert "Removed by" in (await press(core, item["id"], "remove", ANA)).plain()
        for n, city in enumerate(["Denver", "Austin", "Boston", "Seattle", "Chicago"]):
            await console.say(f"/as member{n}")
            out = await console.say(HAM.format(city))
            assert "Possible spam" in out, "each false alarm reaches the queue until the model has learned"
            [item] = [i for i in await items(core) if i["status"] == "open"]
            assert "Marked not spam by ana" in (await press(core, item["id"], "ham", ANA)).plain()
        assert core.get(Moderation).scanner.model.documents == (5, 5)
        await console.say("/as newcomer")
        assert await console.say(HAM.format("Portland")) == ""  # no longer flagged
        assert len(await items(core)) == 10
        # ... while the spam it learned from is still caught.
        assert "Possible spam" in await console.say("Percocet for sale, fast delivery")
    finally:
        await core.close()


async def test_spam_removed_on_discord_is_recognised_on_slack(tmp_path: Path):
    core, discord, slack = await platform_core(tmp_path)
    try:
        await core.on_message(message("discord", "100", "1", "77", SNEAKY, "sneaky"))
        assert await items(core) == []  # nothing looks wrong with it on its own
        reporter = Member("discord:55", "maria", Role.MEMBER)
        args = {"text": SNEAKY, "author": "discord:77", "channel": "100", "message": "1",
                "link": "https://discord.com/channels/1/100/1"}
        thanks = await core.dispatch(Invocation("report", reporter, Place("discord", "100", "G1"), args))
        assert thanks.text == "Thanks, the moderators will take a look." and thanks.ephemeral
        [(_, _, posted)] = discord.posts
        await press(core, 1, "remove", Member("discord:1", "ana", Role.MODERATOR), posted, Place("discord", "999"))
        assert discord.deleted == [MessageRef("discord", "100", "1")]
        # The same text from another account on Slack is now flagged, with the reason.
        await core.on_message(message("slack", "C0GENERAL", "1.1", "U0OTHER", SNEAKY, "other"))
        [(place, reply, _)] = slack.posts
        assert place == Place("slack", "C0MODS")
        assert "matches spam removed before" in dict(reply.fields)["Why"]
    finally:
        await core.close()


async def test_auto_removal_and_restoring_a_false_alarm(tmp_path: Path):
    rules = (ROOT / "rules" / "spam.yaml").read_text(encoding="utf-8")
    assert "auto_threshold: null" in rules
    path = write_rules(tmp_path, rules.replace("auto_threshold: null", "auto_threshold: 2.0"))
    core = await open_core(make_config(tmp_path, spam__rules=str(path)))
    await core.start()
    console = ConsoleSession(core)
    try:
        out = await console.say(SPAM)
        assert "[message m1 deleted]" in out  # hidden at once ...
        assert "Auto-removed: yes" in out and "Possible spam" in out  # ... and still waits for a moderator
        [audit] = await core.storage.fetchall("SELECT actor, action FROM audit_log")
        assert tuple(audit) == ("bot", "queue.auto_remove")
        await console.say("/as ana moderator")
        out = await console.say(str(buttons(out)["Not spam"]))
        assert "[#general, message" in out and f"Restored message from maria: {SPAM}" in out
        assert "Marked not spam by ana" in out
    finally:
        await core.close()


# -- persistence -------------------------------------------------------------------------------------------------


async def test_learning_and_the_queue_survive_a_restart(tmp_path: Path):
    cfg = make_config(tmp_path)
    core = await open_core(cfg)
    await core.start()
    console = ConsoleSession(core)
    await console.say(SNEAKY + " " + SPAM)
    await press(core, 1, "remove", ANA)
    await console.say("/as bob")
    await console.say("/channel random")
    await console.say(SPAM)  # stays open over the restart
    learned = core.get(Moderation).scanner.model.to_state()
    known = sorted(core.get(Moderation).scanner.known_spam_fingerprints())
    assert known and learned["docs"]["spam"] == 1
    await core.close()

    core = await open_core(cfg)  # same database file
    try:
        await core.start()
        assert core.get(Moderation).scanner.model.to_state() == learned
        assert sorted(core.get(Moderation).scanner.known_spam_fingerprints()) == known
        listing = await core.dispatch(Invocation("modqueue", ANA, MOD_QUEUE))
        assert "Review queue: 1 waiting" in listing.title and "#2 · bob" in listing.text
        console = ConsoleSession(core)
        await console.say("/as carl")
        out = await console.say(SNEAKY + " " + SPAM)
        assert "matches spam removed before" in out  # the fingerprint came back from SQLite
        # A button pressed after the restart still finds its item.
        assert "Removed by bob" in (await press(core, 2, "remove", BOB)).plain()
    finally:
        await core.close()


# -- member reports -----------------------------------------------------------------------------------------------


async def test_report_puts_a_message_in_the_queue_once_per_member(core: Core, console: ConsoleSession):
    out = await console.say(f"/report {SNEAKY}")
    assert "Thanks, the moderators will take a look." in out and "(only you can see this)" in out
    assert "== Reported message (score" in out and "Why: reported by maria" in out
    again = await console.say(f"/report {SNEAKY}")
    assert "already reported" in again and "[#mod-queue" not in again
    # A message picked on a platform (Discord context menu / Slack shortcut) passes the message along.
    args = {"text": SPAM, "author": "console:spammer", "channel": "general", "message": "m9", "link": ""}
    for member in (MARIA, Member("console:jo", "jo", Role.MEMBER), MARIA):
        await core.dispatch(Invocation("report", member, Place("console", "general"), args))
    reported = [i for i in await items(core) if i["message_ref"] == "console|general|m9"]
    assert len(reported) == 1 and reported[0]["report_count"] == 2  # maria's second report changed nothing
    reasons = [r["detail"] for r in json.loads(reported[0]["reasons"])]
    assert "reported by maria" in reasons and "reported by jo" in reasons
    assert any("for sale" in r for r in reasons)  # the scanner's reasons for the text too


async def test_reports_group_with_a_flagged_message(core: Core, console: ConsoleSession):
    await console.say(SPAM)
    args = {"text": SPAM, "author": "console:maria", "channel": "general", "message": "m1", "link": ""}
    await core.dispatch(Invocation("report", Member("console:jo", "jo", Role.MEMBER), Place("console", "general"),
                                   args))
    [item] = await items(core)
    assert item["report_count"] == 1 and item["seen_count"] == 1
    assert json.loads(item["reasons"])[0]["detail"] == "reported by jo"


# -- listing, figures, reload -------------------------------------------------------------------------------------


async def test_modqueue_and_modstats(core: Core, console: ConsoleSession):
    empty = await core.dispatch(Invocation("modqueue", ANA, MOD_QUEUE))
    assert "Nothing is waiting" in empty.text
    await console.say(SPAM)
    await console.say("/as jo")
    await console.say("Join my trading group, I made $5000 in 3 days, no experience needed, whatsapp +1 555 210 3344")
    await console.say(f"/report {SNEAKY}")
    assert "only moderators" in (await core.dispatch(Invocation("modqueue", MARIA, MOD_QUEUE))).text
    listing = await core.dispatch(Invocation("modqueue", ANA, MOD_QUEUE))
    lines = listing.text.splitlines()
    assert listing.title == "Review queue: 3 waiting" and len(lines) == 3
    assert lines[0].startswith("#3 · ") and lines[2].startswith("#1 · maria · score ")  # newest first
    top = max(json.loads((await items(core))[0]["reasons"]), key=lambda r: r["weight"])  # the strongest reason
    assert f"{top['rule']}: {top['detail']}" in lines[2] and " ago" in lines[2]
    assert [b.action_id for b in listing.buttons] == ["queue:3:show", "queue:2:show", "queue:1:show"]
    shown = await press(core, 1, "show", ANA)
    assert shown.ephemeral and len(shown.buttons) == 5  # four decisions and "I'm on it"
    await press(core, 1, "remove", ANA)
    await press(core, 2, "ham", BOB)
    stats = await core.dispatch(Invocation("modstats", ANA, MOD_QUEUE))
    fields = dict(stats.fields)
    assert "3 in all (1 from member reports)" in fields["Items"]
    assert "waiting 1" in fields["Items"] and "removed 1" in fields["Items"] and "not spam 1" in fields["Items"]
    assert "2 decided" in fields["Response time"]
    per_rule = fields["Per rule (decided spam / not spam)"]
    assert "drug-sale: 1 spam / 0 not spam (100% precision)" in per_rule
    assert "money-scam: 0 spam / 1 not spam (0% precision)" in per_rule
    assert "1 spam and 1 not-spam decisions" in fields["Learning"]
    assert fields["Scanning"].startswith("on: ")


async def test_spam_reload_keeps_the_previous_rules_when_broken(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "rules" / "spam.yaml", path)
    core = await open_core(make_config(tmp_path, spam__rules=str(path)))
    await core.start()
    console = ConsoleSession(core)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        line = next(n for n, text in enumerate(lines, 1) if text.startswith("threshold:"))
        lines[line - 1] = "threshold: banana"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert "only admins" in await console.say("/spam-reload")
        await console.say("/as ada admin")
        out = await console.say("/spam-reload")
        assert "Reload refused" in out and f"{path}:{line}: threshold must be a number" in out
        assert "Still using the previous rules" in out
        assert core.get(Moderation).scanner.rules.threshold == 1.0
        await console.say("/as maria")  # staff messages are not scanned: a member posts it
        assert "Possible spam" in await console.say(SPAM)  # still scanning with the old rules
        await console.say("/as ada admin")
        lines[line - 1] = "threshold: 5.0"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert "Spam rules reloaded" in await console.say("/spam-reload")
        assert core.get(Moderation).scanner.rules.threshold == 5.0
        audit = await core.storage.fetchall("SELECT actor, action, detail FROM audit_log ORDER BY id")
        assert [tuple(r) for r in audit] == [("console:ada", "spam.reload", "1 problem(s)"),
                                             ("console:ada", "spam.reload", "ok")]
    finally:
        await core.close()


async def test_broken_rules_stop_start_up_with_file_and_line(tmp_path: Path):
    path = write_rules(tmp_path, "threshold: 1.0\nphrases:\n  x:\n    - {pattern: '(unclosed', weight: 1}\n")
    with pytest.raises(RulesError) as caught:
        await open_core(make_config(tmp_path, spam__rules=str(path)))
    assert f"{path}:4:" in str(caught.value) and "bad regular expression" in str(caught.value)
    assert isinstance(caught.value, SetupError)  # so `bot run` / `bot console` print it and exit 2


async def test_scanning_off_still_takes_reports(tmp_path: Path):
    core = await open_core(make_config(tmp_path, spam__enabled=False))
    await core.start()
    console = ConsoleSession(core)
    try:
        assert await console.say(SPAM) == ""
        assert "Thanks" in await console.say(f"/report {SPAM}")
        assert len(await items(core)) == 1
        stats = await core.dispatch(Invocation("modstats", ANA, MOD_QUEUE))
        assert dict(stats.fields)["Scanning"].startswith("off")
    finally:
        await core.close()


async def test_without_a_moderators_channel_items_are_kept_for_modqueue(tmp_path: Path, caplog):
    core = await open_core(make_config(tmp_path))
    await core.start()
    discord = Recorder("discord")
    core.attach(discord)
    try:
        with caplog.at_level(logging.WARNING):
            await core.on_message(message("discord", "100", "1", "77", SPAM, "spammer"))
        assert discord.posts == []
        assert "discord.mod_channel_id" in caplog.text
        listing = await core.dispatch(Invocation("modqueue", ANA, MOD_QUEUE))
        assert "#1 · spammer" in listing.text
    finally:
        await core.close()


# -- the CLI -------------------------------------------------------------------------------------------------------


def run_bot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ}, timeout=60)


def write_config(tmp_path: Path, rules: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {ROOT / 'faq'}\n"
                      f"polls:\n  templates: {ROOT / 'polls' / 'templates.yaml'}\nspam:\n  rules: {rules}\n",
                      encoding="utf-8")
    return config


def test_cli_scan_json_lines(tmp_path: Path):
    pitch = "Join my group, I made $5000 in 3 days"
    lines = [
        {"id": "a1", "author": "u1", "channel": "general", "text": SPAM, "ts": 1000},
        {"id": "a2", "author": "u2", "channel": "general", "text": INNOCENT[0], "ts": 1001},
        {"id": 3, "author": "u3", "channel": "general", "text": pitch, "ts": 1002},
        {"id": "a4", "author": "u3", "channel": "random", "text": pitch, "ts": 1010},
        {"id": "a5", "author": "u3", "channel": "offtopic", "text": pitch.replace("5000", "7000"), "ts": 1020},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    config = write_config(tmp_path, ROOT / "rules" / "spam.yaml")
    result = run_bot("spam", "scan", "--json", "--config", str(config), stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a1", "a2", "3", "a4", "a5", None]
    assert set(out[0]) == {"id", "flagged", "score", "threshold", "reasons"}
    assert out[0]["flagged"] and not out[1]["flagged"]
    # The same text from one author in a second and a third channel: the state carries across lines.
    details = [[r["detail"] for r in o["reasons"] if r["rule"] == "duplicate-across-channels"] for o in out[3:5]]
    assert out[3]["flagged"] and details[0] == ["same message (or reworded) in 2 channels within 15 min"]
    assert out[4]["flagged"] and details[1] == ["same message (or reworded) in 3 channels within 15 min"]
    assert "not valid JSON" in out[5]["error"]
    human = run_bot("spam", "scan", "--config", str(config), "-", stdin=stdin)
    assert human.returncode == 0 and human.stdout.splitlines()[0].startswith("a1: SPAM  score ")


def test_cli_validate_and_broken_rules(tmp_path: Path):
    ok = run_bot("spam", "validate", str(ROOT / "rules" / "spam.yaml"))
    assert ok.returncode == 0 and "no problems" in ok.stdout
    broken = write_rules(tmp_path, "threshold: -1\nweights:\n  nonsense: 1\n")
    bad = run_bot("spam", "validate", str(broken))
    assert bad.returncode == 1
    assert f"{broken}:1: threshold must be greater than 0" in bad.stdout
    assert f"{broken}:3: unknown key 'weights.nonsense'" in bad.stdout
    scan = run_bot("spam", "scan", "--config", str(write_config(tmp_path, broken)), stdin="{}\n")
    assert scan.returncode == 1 and f"{broken}:1:" in scan.stdout
    console = run_bot("console", "--config", str(write_config(tmp_path, broken)), stdin="/quit\n")
    assert console.returncode == 2 and f"{broken}:1:" in console.stderr and "Traceback" not in console.stderr


# -- Slack, end to end ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_slack_spam_reaches_the_mod_channel_and_a_moderator_removes_it(tmp_path: Path):
    fake = await FakeSlack(users={"U0SPAM": "Spammy McSpam"}).start()
    cfg: Config = make_config(tmp_path)
    cfg.slack.moderator_ids, cfg.slack.mod_channel = ["U0MOD"], "C0MODS"
    async with serving_slack(cfg, fake) as serving:
        core, send = serving.core, serving.send
        event = {"type": "message", "channel": "C0GENERAL", "channel_type": "channel", "user": "U0SPAM",
                 "text": SPAM, "ts": "1700000100.000200"}
        await send(event_body(event), "application/json")
        [posted] = await fake.wait_call("chat.postMessage")
        assert posted["channel"] == "C0MODS"
        assert posted["blocks"][0]["text"]["text"].startswith("Possible spam (score ")
        values = [e["value"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert values == ["queue:1:remove", "queue:1:timeout", "queue:1:ham", "queue:1:ignore", "queue:1:claim"]
        queue_ts = fake.answers_to("chat.postMessage")[0]["ts"]

        # A member pressing Remove is politely refused; nothing is deleted or edited.
        await send(interactive_body(block_actions_payload(
            "queue:1:remove", user="U0MARIA", channel="C0MODS", message_ts=queue_ts, ephemeral=False,
            response_url=fake.response_url("deny"))), "application/x-www-form-urlencoded")
        [denied] = await fake.wait_response("deny")
        assert "only moderators" in denied["text"] and denied["response_type"] == "ephemeral"
        assert fake.calls_to("chat.update") == [] and fake.calls_to("chat.delete") == []

        # The moderator's press edits the queue message in place and deletes the spam.
        await send(interactive_body(block_actions_payload(
            "queue:1:remove", user="U0MOD", channel="C0MODS", message_ts=queue_ts, ephemeral=False,
            response_url=fake.response_url("mod"))), "application/x-www-form-urlencoded")
        [updated] = await fake.wait_call("chat.update")
        assert updated["channel"] == "C0MODS" and updated["ts"] == queue_ts
        assert "Removed by" in json.dumps(updated["blocks"])
        values = [e["value"] for b in updated["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert values == ["queue:1:undo"]  # the decision buttons are gone; it can be undone for a day
        assert fake.calls_to("chat.delete") == [{"channel": "C0GENERAL", "ts": "1700000100.000200"}]
        await asyncio.sleep(0.05)
        [item] = await items(core)
        assert item["status"] == "removed" and item["decided_by"] == "slack:U0MOD"


async def test_per_author_memory_survives_a_restart(tmp_path: Path):
    """A spammer who posted in one channel before the restart and rewords the pitch in another after it is still
    recognised by the same offer (site, handle, code) across channels."""
    cfg = make_config(tmp_path)
    first = "Hey all, been using the MigraCalm patch for a month. Use code CALM25 at migracalm-store.shop"
    second = "Honestly nothing else helped my attacks like this patch did, check migracalm-store.shop (CALM25)"
    core = await open_core(cfg)
    await core.start()
    await core.on_message(message("discord", "100", "1", "77", first, "seller"))
    await core.close()  # a graceful stop keeps the memory
    core = await open_core(cfg)
    await core.start()
    try:
        verdict = core.get(Moderation).scanner.scan(ScanMessage(
            id="2", author="discord:77", channel="discord:200", text=second, ts=time.time()))
        assert any(r.rule == "same-offer-across-channels" for r in verdict.reasons), verdict.reasons
    finally:
        await core.close()


DECIDER = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.conftest import make_config
from bot.runner import open_core
from bot.core.contract import IncomingMessage
from bot.core.records import Action, Member, MessageRef, Place, Role
SPAM = {spam!r}
async def main():
    core = await open_core(make_config(Path({tmp!r})))
    await core.start()
    mod = Member("console:ana", "ana", Role.MODERATOR)
    n = 0
    while True:
        ref = MessageRef("console", "general", f"m{{n}}")
        await core.on_message(IncomingMessage(ref=ref, author_id=f"console:s{{n}}", author_name="s",
                                              text=SPAM + f" offer {{n}}", ts=time.time()))
        row = await core.storage.fetchone("SELECT id FROM mod_queue WHERE status = 'open' ORDER BY id DESC")
        reply = await core.dispatch_action(Action(f"queue:{{row['id']}}:remove", mod, Place("console", "mod-queue")))
        assert "Removed by" in reply.plain(), reply.plain()
        print(row["id"], flush=True)
        n += 1
asyncio.run(main())
"""


async def test_a_process_killed_mid_decisions_loses_no_acknowledged_decision_and_doubles_none(tmp_path: Path):
    import signal

    core = await open_core(make_config(tmp_path))  # create the database first
    await core.close()
    proc = subprocess.Popen([sys.executable, "-c", DECIDER.format(root=str(ROOT), tmp=str(tmp_path), spam=SPAM)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    acknowledged: list[int] = []
    deadline = time.time() + 40
    while len(acknowledged) < 40 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)  # wherever it is: between a scan, a queue write and a decision
    proc.wait()
    assert len(acknowledged) >= 40, proc.stderr.read()[-2000:]
    core = await open_core(make_config(tmp_path))
    try:
        assert await core.storage.integrity_check() == "ok"
        rows = {r["id"]: r["status"] for r in await core.storage.fetchall("SELECT id, status FROM mod_queue")}
        assert all(rows[i] == "removed" for i in acknowledged)  # every decision reported is kept
        audits = await core.storage.fetchall(
            "SELECT subject, COUNT(*) AS n FROM audit_log WHERE action = 'queue.remove' GROUP BY subject")
        assert all(a["n"] == 1 for a in audits)  # and none was made twice
    finally:
        await core.close()


async def test_a_merged_item_reads_right_every_author_and_channel_the_newest_text_and_the_highest_score(
        tmp_path: Path):
    core, discord, slack = await platform_core(tmp_path)
    try:
        await core.on_message(message("discord", "100", "1", "77", SPAM, "first-seller"))
        louder = SPAM_AGAIN + " DM @ketplug24 on telegram"
        await core.on_message(message("discord", "200", "2", "78", louder, "second-seller"))
        [item] = await items(core)
        post = (discord.updates[-1][1] if discord.updates else discord.posts[-1][1]).plain()
        assert item["seen_count"] == 2, item
        assert "first-seller" in post and "second-seller" in post and "other account" not in post
        assert "#100" in post and "#200" in post and "seen 2 times in 2 channels" in post
        assert "ketplug24" in post  # the newest copy's text
        assert f"score {item['score']:.2f}" in post and item["score"] > 0
        first_alone = core.get(Moderation).scanner.scan(ScanMessage(id="p", author="probe", channel="c",
                                                                    text=SPAM, ts=time.time()))
        assert item["score"] >= first_alone.score  # the strongest copy speaks for the item
    finally:
        await core.close()


async def test_staff_messages_and_exempt_channels_are_not_scanned(tmp_path: Path):
    core = await open_core(make_config(tmp_path, spam__exempt_channels=["console:announcements"]))
    await core.start()
    try:
        mod = ConsoleSession(core, user="ana", role=Role.MODERATOR)
        out = await mod.say(f'Rules reminder: posts like "{SPAM}" are removed, no promo codes or selling.')
        assert "Possible spam" not in out
        member = ConsoleSession(core, user="maria")
        await member.say("/channel announcements")
        assert "Possible spam" not in await member.say(SPAM)
        await member.say("/channel general")
        assert "Possible spam" in await member.say(SPAM)  # members elsewhere are still scanned
    finally:
        await core.close()
    core = await open_core(make_config(tmp_path, spam__scan_staff=True))
    await core.start()
    try:
        mod = ConsoleSession(core, user="ana", role=Role.MODERATOR)
        assert "Possible spam" in await mod.say(SPAM + " again")
    finally:
        await core.close()
