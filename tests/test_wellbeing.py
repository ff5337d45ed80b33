"""Crisis care wherever the bot listens: a member's crisis message in a channel or in /faq gets resources privately,
the moderators get a wellbeing item with "I'll reach out" and "Handled", and the message itself is left alone."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from bot.core.contract import IncomingMessage
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Role
from bot.runner import open_core
from tests.conftest import ConsoleSession, make_config
from tests.test_moderation import Recorder, buttons

CRISIS = "honestly I can't keep living like this, my family would be better off if I wasn't around anymore"
ORDINARY = "this migraine is killing me lol, third day in a row. anyone tried the spray for it?"
MOD = Member("console:ana", "ana", Role.MODERATOR)
MEMBER = Member("console:maria", "maria", Role.MEMBER)


async def audit(core) -> list[dict]:
    return [dict(r) for r in await core.storage.fetchall("SELECT * FROM audit_log ORDER BY id")]


async def test_a_crisis_message_in_a_channel_gets_private_resources_and_a_wellbeing_item(core):
    member = ConsoleSession(core, user="maria")
    out = await member.say(CRISIS)
    assert "[only maria sees this]" in out and "988" in out  # the resources, privately
    assert "[#mod-queue" in out and "Wellbeing check" in out and "maria wrote in #general" in out
    labels = buttons(out)
    assert "I'll reach out" in labels and "Handled" in labels
    items = await core.storage.fetchall("SELECT * FROM wellbeing_items")
    assert len(items) == 1 and items[0]["status"] == "open" and len(items[0]["excerpt"]) <= 300
    assert not await core.storage.fetchall("SELECT * FROM mod_queue")  # not treated as spam, nothing hidden


async def test_a_crisis_phrase_in_another_language_reaches_the_moderators_too(core):
    # Greek: "I wrote goodbye letters to my mother; on Saturday I won't be here any more". No regular expression
    # covers Greek; the bundled crisis phrases do.
    member = ConsoleSession(core, user="eleni")
    out = await member.say("Έγραψα γράμματα αποχαιρετισμού στη μητέρα μου. Δεν θέλω να ζω άλλο.")
    assert "[only eleni sees this]" in out and "Wellbeing check" in out
    assert len(await core.storage.fetchall("SELECT * FROM wellbeing_items")) == 1


async def test_moderators_reach_out_and_close_it_and_the_audit_log_says_who(core):
    member = ConsoleSession(core, user="maria")
    await member.say(CRISIS)
    item = (await core.storage.fetchall("SELECT id FROM wellbeing_items"))[0]["id"]
    refused = await core.dispatch_action(Action(f"wellbeing:{item}:reach", MEMBER, Place("console", "general")))
    assert "only moderators" in refused.text
    reach = await core.dispatch_action(Action(f"wellbeing:{item}:reach", MOD, Place("console", "mod-queue")))
    assert "ana is reaching out" in reach.plain()
    done = await core.dispatch_action(Action(f"wellbeing:{item}:handled", MOD, Place("console", "mod-queue")))
    assert "Handled by ana" in done.plain() and not done.buttons
    again = await core.dispatch_action(Action(f"wellbeing:{item}:handled", MOD, Place("console", "mod-queue")))
    assert again.text.startswith("Already handled")
    actions = [(a["actor"], a["action"]) for a in await audit(core)]
    assert ("console:ana", "wellbeing.reach") in actions and ("console:ana", "wellbeing.handled") in actions
    listing = await core.dispatch(Invocation("wellbeing", MOD, Place("console", "mod-queue")))
    assert "No open wellbeing items" in listing.text


async def test_repeated_messages_join_one_item_instead_of_flooding_the_moderators(core):
    member = ConsoleSession(core, user="maria")
    await member.say(CRISIS)
    out = await member.say("I wrote letters to my kids just in case. I don't want to be here anymore")
    assert "(2 messages)" in out
    assert len(await core.storage.fetchall("SELECT * FROM wellbeing_items")) == 1


async def test_an_ordinary_pain_idiom_raises_nothing(core):
    member = ConsoleSession(core, user="maria")
    out = await member.say(ORDINARY)
    assert "only maria sees this" not in out
    assert not await core.storage.fetchall("SELECT * FROM wellbeing_items")


async def test_a_crisis_question_to_the_faq_also_tells_the_moderators(core):
    reply = await core.dispatch(Invocation("faq", MEMBER, Place("console", "general"), {"question": CRISIS}))
    assert reply.ephemeral and "988" in reply.text
    rows = await core.storage.fetchall("SELECT * FROM wellbeing_items")
    assert len(rows) == 1 and rows[0]["source"] == "faq" and rows[0]["member"] == "console:maria"


async def test_platform_messages_reach_that_platforms_moderators_privately(tmp_path: Path):
    core = await open_core(make_config(tmp_path))
    await core.start()
    slack = Recorder("slack", mod_channel="C0MODS")
    whispered: list = []

    async def whisper(place, member_id, reply):
        whispered.append((place, member_id, reply))

    slack.whisper = whisper  # type: ignore[method-assign]
    core.attach(slack)
    try:
        await core.on_message(IncomingMessage(ref=MessageRef("slack", "C0GEN", "1.1"), author_id="slack:U1",
                                              author_name="sam", text=CRISIS, ts=time.time()))
        assert whispered and whispered[0][0] == Place("slack", "C0GEN") and whispered[0][1] == "slack:U1"
        assert [p.channel for p, _, _ in slack.posts] == ["C0MODS"]
        assert slack.deleted == []  # never hidden
    finally:
        await core.close()


async def test_wellbeing_can_be_switched_off(tmp_path: Path):
    core = await open_core(make_config(tmp_path, wellbeing__enabled=False))
    await core.start()
    try:
        member = ConsoleSession(core, user="maria")
        out = await member.say(CRISIS)
        assert "only maria sees this" not in out
        assert not await core.storage.fetchall("SELECT * FROM wellbeing_items")
        # /faq still answers with the resources: only the moderators' items and channel watching are off.
        reply = await core.dispatch(Invocation("faq", MEMBER, Place("console", "general"), {"question": CRISIS}))
        assert "988" in reply.text
    finally:
        await core.close()


async def test_a_bad_button_id_changes_nothing(core):
    for bad in ("wellbeing:x:reach", "wellbeing:99999999999999999999:reach", "wellbeing:1:explode", "wellbeing:1"):
        reply = await core.dispatch_action(Action(bad, MOD, Place("console", "mod-queue")))
        assert reply.ephemeral and re.search(r"not valid|no wellbeing item", reply.text)
    assert json.dumps([a["action"] for a in await audit(core)]).count("wellbeing") == 0
