"""What a moderator's decision (or its undoing) does on the platforms, through the feature's host: delete the
messages, time out their authors or lift it, post removed messages again. Each returns notes for the item's result
line."""

from __future__ import annotations

import logging

from bot.core.contract import Host, PlatformUnavailable
from bot.core.records import Action, MessageRef, Place, Reply
from bot.features.moderation.queue import ModQueue, QueuedMessage, QueueItem

log = logging.getLogger(__name__)


async def carry_out(host: Host, queue: ModQueue, item: QueueItem, verb: str, act: Action,
                    timeout_seconds: int = 0) -> list[str]:
    """Do what the decision `verb` means on the platforms; returns what happened."""
    notes: list[str] = []
    if verb in ("remove", "timeout"):
        notes += await delete_all(host, queue, item)
    if verb == "timeout":
        notes += await timeout_authors(host, item, act, max(1, timeout_seconds // 60))
    if verb == "ham" and item.auto_removed:
        notes += await restore_messages(host, queue, item)
    return notes


async def undo(host: Host, queue: ModQueue, item: QueueItem, act: Action) -> list[str]:
    """Reverse what the decision on `item` (as it was before the undo) did on the platforms."""
    notes: list[str] = []
    if item.status in ("removed", "timed_out"):
        notes += await repost_removed(host, queue, item)
    if item.status == "timed_out":
        notes += await timeout_authors(host, item, act, 0)
    if item.status == "not_spam" and item.auto_removed:
        notes.append("the restored message(s) stay in their channel")
    return notes


async def delete_message(host: Host, ref: MessageRef) -> tuple[bool, str]:
    """Delete one message; returns (done, why not)."""
    try:
        await host.delete(ref)
    except PlatformUnavailable:
        return False, f"{ref.platform} is not connected, so its message was not deleted"
    except (NotImplementedError, RuntimeError) as exc:
        return False, str(exc) or f"{ref.platform} cannot delete messages"
    except Exception:
        log.exception("deleting %s failed", ref.encode())
        return False, f"{ref.platform} failed to delete the message"
    return True, ""


async def delete_all(host: Host, queue: ModQueue, item: QueueItem) -> list[str]:
    if not item.messages:
        return ["nothing to delete: the report came without a message link"]
    targets = [m for m in item.messages if not m.deleted]
    if not targets:
        return ["the message(s) were already removed automatically"]
    done, problems = 0, []
    for m in targets:
        ok, why = await delete_message(host, m.ref)
        if ok:
            done += 1
            await queue.set_deleted(item.id, m.ref, True)
        elif why not in problems:
            problems.append(why)
    return [f"deleted {done} of {len(targets)} message(s)", *problems]


async def timeout_authors(host: Host, item: QueueItem, act: Action, minutes: int) -> list[str]:
    """Time every author of the item out for `minutes`; 0 lifts their timeout."""
    notes: list[str] = []
    seen: set[str] = set()
    targets = [(m.author, m.author_name, m.ref.platform, m.ref.channel) for m in item.messages]
    if not targets and item.author:
        targets = [(item.author, item.author_name, item.platform, item.channel.split(":", 1)[-1])]
    for author, name, platform, channel in targets:
        if not author or author in seen or not author.startswith(f"{platform}:"):
            continue
        seen.add(author)
        # The server the message was posted in (a default community may span several), else the moderator's.
        place = await host.locate(Place(platform, channel))
        if place.guild is None and act.place.platform == platform:
            place = Place(platform, channel, act.place.guild)
        try:
            result = await host.restrict(author, place, minutes)
        except PlatformUnavailable:
            result = f"{'timeout not lifted' if not minutes else 'not timed out'}, {platform} is not connected"
        except NotImplementedError as exc:
            result = f"{'no timeout to lift' if not minutes else 'not timed out'}: {exc}"
        except Exception:
            log.exception("restricting %s failed", author)
            result = f"{'timeout not lifted' if not minutes else 'not timed out'}: the platform reported an error"
        notes.append(f"{name}: {result}")
    return notes or ["nobody to time out: the author is unknown"]


async def restore_messages(host: Host, queue: ModQueue, item: QueueItem) -> list[str]:
    """Not spam after an auto-removal: repost the hidden messages in their channel, with attribution."""
    restored = 0
    for m in item.messages:
        if not m.deleted:
            continue
        posted = await _post_back(host, m, f"Restored message from {m.author_name}: {m.text}")
        if posted is not None:
            restored += 1
            await queue.set_deleted(item.id, m.ref, False)
    return [f"restored {restored} auto-removed message(s) in their channel"]


async def repost_removed(host: Host, queue: ModQueue, item: QueueItem) -> list[str]:
    """A removal undone: the bot posts each removed message again as a quote (author, channel, text). The repost
    stands for the message from then on, so removing the item again deletes the bot's quote."""
    targets = [m for m in item.messages if m.deleted]
    if not targets:
        return ["nothing was removed, so nothing to post again"]
    done = 0
    for m in targets:
        posted = await _post_back(host, m, await quote(host, m))
        if posted is not None:
            done += 1
            await queue.replace_message(item.id, m.ref, posted)
    return [f"posted {done} of {len(targets)} removed message(s) again as a quote"]


async def _post_back(host: Host, m: QueuedMessage, text: str) -> MessageRef | None:
    """Post `text` in the channel a removed message was in; None (logged) when the platform refuses."""
    try:
        return await host.post(Place(m.ref.platform, m.ref.channel), Reply(text=text, ephemeral=False))
    except Exception:
        log.exception("could not post %s again", m.ref.encode())
        return None


async def quote(host: Host, m: QueuedMessage) -> str:
    """A removed message as the bot posts it again: who wrote it, where, and what (plain text)."""
    channel = await host.channel_name(Place(m.ref.platform, m.ref.channel))
    lines = "\n".join(f"> {line}" for line in m.text.splitlines() or [""])
    return f"A moderator restored this message by {m.author_name} in #{channel}:\n{lines}"
