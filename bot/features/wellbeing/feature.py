"""The wellbeing feature: notices crisis in channel messages and private /faq questions, answers the member with
resources only they see, and gives the moderators an item to act on ("I'll reach out", "Handled")."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace

from bot.core.commands import action, command
from bot.core.contract import Feature, IncomingMessage
from bot.core.records import Action, Invocation, Member, Place, Reply, Role, error_reply
from bot.core.storage import Storage
from bot.features.wellbeing.render import item_reply, listing, status_line
from bot.features.wellbeing.store import WellbeingStore

log = logging.getLogger(__name__)

RESOURCES_TITLE = "You're not alone"


class Wellbeing(Feature):
    """Crisis care wherever the bot listens. The member's message is never hidden, deleted or scored for spam."""

    name = "wellbeing"

    def __init__(self, storage: Storage, detect: Callable[[str, str], bool], resources: Callable[[str], str], *,
                 enabled: bool = True) -> None:
        self.store = WellbeingStore(storage)
        self.storage = storage
        # Injected by the assembly: the FAQ's crisis judgement and resources text of a community (text, community),
        # one rule for both places.
        self.detect = detect
        self.resources = resources
        self.enabled = enabled

    # -- noticing ---------------------------------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        """A channel message that reads as crisis: resources to the author privately, an item to the moderators."""
        if not self.enabled:
            return
        place = message.place
        community = self.host.community(place)
        if not self.detect(message.text, community):
            return
        mods = self.host.staff(place.platform, community).place
        if mods is not None and mods.channel == place.channel:
            return  # moderators discussing a case among themselves
        try:
            await self.host.whisper(place, message.author_id,
                                    Reply(title=RESOURCES_TITLE, text=self.resources(community), ephemeral=True))
        except Exception:
            log.exception("could not send crisis resources privately to %s", message.author_id)
        await self._raise(platform=place.platform, member=message.author_id, member_name=message.author_name,
                          channel=place.channel, source="message", text=message.text, link=message.link,
                          community=community)

    async def from_faq(self, member: Member, place: Place, question: str) -> None:
        """The FAQ answered a crisis question with resources; tell the moderators too."""
        if self.enabled:
            await self._raise(platform=place.platform, member=member.id, member_name=member.name, channel="",
                              source="faq", text=question, link="", community=self.host.community(place))

    async def _raise(self, *, platform: str, member: str, member_name: str, channel: str, source: str, text: str,
                     link: str, community: str) -> None:
        item_id, created = await self.store.raise_or_join(platform=platform, member=member, member_name=member_name,
                                                          channel=channel, source=source, text=text, link=link,
                                                          community=community)
        await self.storage.audit("bot", "wellbeing.raise" if created else "wellbeing.repeat", f"wellbeing:{item_id}",
                                 json.dumps({"member": member, "source": source}))
        item = await self.store.get(item_id)
        if item is None:
            return
        if item.post_ref is not None:
            await self.host.update(item.post_ref, item_reply(item))
            return
        staff = self.host.staff(platform, community)
        if staff.place is None:
            log.warning("no moderators' channel is configured for %s: wellbeing item #%d is only listed by "
                        "/wellbeing (set %s)", platform, item_id, staff.setting)
            return
        ref = await self.host.post(staff.place, item_reply(item))
        if ref is not None:
            await self.store.set_post(item_id, ref)

    # -- the moderators ---------------------------------------------------------------------------------------

    @command("wellbeing", role=Role.MODERATOR)
    async def cmd_list(self, inv: Invocation) -> Reply:
        """Members who may be struggling and are not looked after yet (moderators)."""
        return listing(await self.store.open_items(self.host.community(inv.place)))

    @action("wellbeing", role=Role.MODERATOR)
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 12:
            return error_reply("That button is not valid any more.")
        item_id, verb = int(parts[0]), parts[1]
        item = await self.store.get(item_id)
        if item is None or item.community != self.host.community(act.place):
            # Another community's item is none of this moderator's business: it does not exist for them.
            return error_reply(f"There is no wellbeing item #{item_id}.")
        if verb == "show":
            return item_reply(item)
        if verb not in ("reach", "handled"):
            return error_reply("That button is not valid any more.")
        change = self.store.reaching_out if verb == "reach" else self.store.handled
        if not await change(item_id, act.member.id, act.member.name):
            return error_reply(f"Already handled: {status_line(item)}.")
        await self.storage.audit(act.member.id, f"wellbeing.{verb}", f"wellbeing:{item_id}", act.member.name)
        updated = await self.store.get(item_id)
        assert updated is not None
        view = item_reply(updated)
        if act.message is not None and updated.post_ref == act.message:
            return replace(view, replace_original=True)
        if updated.post_ref is not None:
            await self.host.update(updated.post_ref, view)
        return replace(view, ephemeral=True)
