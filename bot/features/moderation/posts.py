"""Each queue item's message in its platform's moderators' channel: posted once, then edited in place whenever
the item changes, through the feature's host, with its channels named as each platform names them."""

from __future__ import annotations

import asyncio
import logging

from bot.core.contract import Host
from bot.core.records import MessageRef, Place, Reply
from bot.features.moderation.queue import ModQueue, QueueItem
from bot.features.moderation.render import item_channels, item_reply

log = logging.getLogger(__name__)


async def item_view(host: Host, item: QueueItem) -> Reply:
    """The item's post, each channel shown by its name (the adapter's lookup; the id when that fails)."""
    names: dict[str, str] = {}
    for channel in item_channels(item):
        platform, _, channel_id = channel.partition(":")
        names[channel] = await host.channel_name(Place(platform, channel_id))
    return item_reply(item, names)


class QueuePosts:
    """Posts and edits of queue messages, one at a time so they never overtake each other."""

    def __init__(self, queue: ModQueue) -> None:
        self.queue = queue
        self._lock = asyncio.Lock()

    async def post_new(self, host: Host, item_id: int) -> None:
        """Post a new item to the moderators' channel of its platform (only logged when there is none)."""
        async with self._lock:
            item = await self.queue.item(item_id)
            if item is None:
                return
            staff = host.staff(item.platform, item.community)
            if staff.place is None:
                log.warning("no moderators' channel is configured for %s: queue item #%d is only listed by "
                            "/modqueue (set %s)", item.platform, item.id, staff.setting)
                return
            place = staff.place
            try:
                posted = await host.post(place, await item_view(host, item))
            except Exception:
                log.exception("could not post queue item #%d to the moderators' channel %s", item.id, place.channel)
                return
            if posted is None:
                return
            await self.queue.set_post(item.id, posted)
            latest = await self.queue.item(item_id)
            if latest is not None and item_reply(latest) != item_reply(item):
                await self._edit(host, latest)  # grouped into while the post was on its way

    async def refresh(self, host: Host, item_id: int) -> None:
        """Show the item's current state in its post."""
        async with self._lock:
            item = await self.queue.item(item_id)
            if item is not None:
                await self._edit(host, item)

    async def show(self, host: Host, item: QueueItem) -> None:
        """Show `item` as given in its post."""
        async with self._lock:
            await self._edit(host, item)

    async def settle(self) -> None:
        """Wait until a post or edit already on its way has landed."""
        async with self._lock:
            pass

    async def _edit(self, host: Host, item: QueueItem) -> None:
        if item.post_ref is None:
            return
        ref = MessageRef.decode(item.post_ref)
        try:
            await host.update(ref, await item_view(host, item))
        except Exception:
            log.exception("could not update queue message of item #%d", item.id)
