"""What the moderators' buttons on a queue item do: decide (the first decision wins), claim ("I'm on it"), undo a
decision within a day. Each is written to the audit log, shown on the item's post, and announced in the item's
platform's audit channel when one is set."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from bot.core.contract import DEFAULT_COMMUNITY, Host
from bot.core.records import Action, Place, Reply, error_reply
from bot.features.moderation import actions, render
from bot.features.moderation.learning import Learning
from bot.features.moderation.modlog import newest_case
from bot.features.moderation.posts import QueuePosts, item_view
from bot.features.moderation.queue import DECISIONS, TIMEOUTS, UNDO_SECONDS, ModQueue, QueueItem

log = logging.getLogger(__name__)

LEARNS = ("remove", "timeout", "ham")  # decisions the scanner learns from ("ignore" teaches nothing)
SPAM_STATUSES = ("removed", "timed_out")


def teaches(item: QueueItem) -> bool:
    """Whether decisions on this item teach the scanner: mention spam is about behaviour, not the words."""
    return item.source != "mentions"


class Decisions:
    """The buttons of queue items, with what they change kept in one place."""

    def __init__(self, queue: ModQueue, learning: Learning, posts: QueuePosts,
                 audit_channels: dict[str, str] | None = None) -> None:
        self.queue = queue
        self.learning = learning
        self.posts = posts
        self.audit_channels = {p: c for p, c in (audit_channels or {}).items() if c}  # platform -> channel id

    async def press(self, host: Host, item: QueueItem, verb: str, extra: list[str], act: Action) -> Reply:
        """One press of a queue item's button (its verb and what follows it in the id)."""
        if verb == "show":
            return replace(await item_view(host, item), ephemeral=True)
        if verb == "claim":
            return await self.claim(host, item, act)
        if verb == "undo":
            return await self.undo(host, item, act)
        if verb == "timeout":
            if not item.is_open:
                return render.already_decided(item)
            if not extra:
                return render.timeout_choices(item)
            if len(extra) != 1 or extra[0] not in {str(s) for s in TIMEOUTS}:
                return error_reply("That timeout length is not one of the choices; nothing was changed.")
            return await self.decide(host, item, verb, act, int(extra[0]))
        return await self.decide(host, item, verb, act)

    async def decide(self, host: Host, item: QueueItem, verb: str, act: Action, timeout_seconds: int = 0) -> Reply:
        """Record the first decision on `item`, teach the scanner, and do what it means on the platforms."""
        _, label = DECISIONS[verb]
        learns = verb in LEARNS and teaches(item)
        spam = (verb != "ham") if learns else None
        won = await self.learning.record_decision(
            lambda db: self.queue.decide_once(db, item, verb, act.member, timeout_seconds), item, spam)
        if not won:
            return render.already_decided(await self.queue.item(item.id) or item)
        host.meter.count("decisions", decision=verb)
        host.meter.observe("decision_seconds", max(0.0, time.time() - item.created_at), decision=verb)
        notes = await actions.carry_out(host, self.queue, item, verb, act, timeout_seconds)
        if learns:
            notes.append("the scanner learned from this decision")
        if notes:
            await self.queue.add_outcome(item.id, "; ".join(notes))
        log.info("queue item #%d: %s by %s", item.id, label.lower(), act.member.id)
        return await self._shown(host, item.id, act)

    async def claim(self, host: Host, item: QueueItem, act: Action) -> Reply:
        """"I'm on it": the other moderators see who took the item and when; the first claim counts."""
        if not item.is_open:
            return render.already_decided(item)
        if not await self.queue.claim(item.id, act.member):
            latest = await self.queue.item(item.id) or item
            if latest.claimed_by == act.member.id:
                return error_reply("You are already on it.")
            if not latest.is_open:
                return render.already_decided(latest)
            return error_reply(f"{latest.claimed_by_name or latest.claimed_by} is already on it (since "
                               f"{render.when(latest.claimed_at)}). You can still decide; nothing was changed.")
        return await self._shown(host, item.id, act, announce=False)

    async def undo(self, host: Host, item: QueueItem, act: Action) -> Reply:
        """Reverse a decision made less than a day ago: removed messages come back as the bot's quotes, timeouts
        are lifted where the platform allows, the scanner unlearns it, and the item waits for a decision again."""
        if item.is_open:
            return error_reply("That item has no decision to undo (it may have been undone already); nothing was "
                               "changed.")
        if not item.undoable(time.time()):
            return error_reply(f"Decisions can be undone for {UNDO_SECONDS // 3600} hours; this one was made at "
                               f"{render.when(item.decided_at)}. Nothing was changed.")
        verb = next(v for v, (status, _) in DECISIONS.items() if status == item.status)
        learned = verb in LEARNS and teaches(item)
        won = await self.learning.record_decision(lambda db: self.queue.undo_once(db, item, act.member), item,
                                                  item.status in SPAM_STATUSES if learned else None, undo=True)
        if not won:
            latest = await self.queue.item(item.id) or item
            return error_reply(f"Already undone by {latest.undone_by_name or 'another moderator'} at "
                               f"{render.when(latest.undone_at)}. Nothing was changed.")
        notes = await actions.undo(host, self.queue, item, act)
        if learned:
            notes.append("the scanner unlearned the decision")
        if notes:
            await self.queue.add_outcome(item.id, "undo: " + "; ".join(notes))
        log.info("queue item #%d: %s undone by %s", item.id, item.status, act.member.id)
        return await self._shown(host, item.id, act)

    async def _shown(self, host: Host, item_id: int, act: Action, *, announce: bool = True) -> Reply:
        """After a change: the audit channel's line, and the item's post edited (in place when pressed on it)."""
        if announce:
            await self.announce(host, item_id)
        latest = await self.queue.item(item_id)
        assert latest is not None
        view = replace(await item_view(host, latest), replace_original=True)
        if act.message is not None and latest.post_ref == act.message.encode():
            await self.posts.settle()  # an edit already on its way (a grouped duplicate) lands before this one
            return view  # pressed on the queue message itself: the adapter edits it in place
        await self.posts.show(host, latest)
        return replace(view, ephemeral=True)

    async def announce(self, host: Host, item_id: int) -> None:
        """One line per decision in the audit channel of the item's platform (none when not configured)."""
        item = await self.queue.item(item_id)
        if item is None:
            return
        place = host.staff(item.platform, item.community).audit
        if place is None and item.community == DEFAULT_COMMUNITY and item.platform in self.audit_channels:
            place = Place(item.platform, self.audit_channels[item.platform])
        if place is None:
            return
        case = await newest_case(self.queue.storage, item_id)
        if case is None:
            return  # a claim: not a decision
        try:
            await host.post(place, Reply(text=case.line(), ephemeral=False))
        except Exception:
            log.exception("could not post case %d to the audit channel %s", case.id, place.channel)
