"""Spam flagging and the moderators' review queue.

Every message the bot can read is scored by the spam scanner (`bot.features.moderation.spam`). Likely spam becomes
a queue item that is posted once to the moderators' channel of the message's platform, with the score and every
reason. Near-duplicates of an open item (the same or nearly the same words, any platform) are grouped into it
instead of posted again.
Members can report a message into the same queue, and a member mentioning many people at once (the mention
limit) lands there too. Moderators claim items and decide with the buttons; the first decision wins, is written to
the audit log (read back by /modlog), and teaches the scanner (learned model + known-spam fingerprints, both
persisted in SQLite so nothing is lost on restart); a decision can be undone for a day. Bots never decide: with
`auto_threshold` set in the rules, very high scores are hidden at once but still wait for a moderator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.core.commands import Option, action, command
from bot.core.contract import DEFAULT_COMMUNITY, Feature, IncomingMessage, SetupError
from bot.core.records import Action, Invocation, MessageRef, Place, Reply, Role, error_reply, reload_refused
from bot.core.storage import Storage
from bot.features.moderation import actions, render
from bot.features.moderation.decisions import Decisions
from bot.features.moderation.learning import Learning
from bot.features.moderation.mentions import MentionLimit
from bot.features.moderation.modlog import FILTER_MAX, member_filter, modlog_reply, read_cases
from bot.features.moderation.posts import QueuePosts
from bot.features.moderation.queue import (
    DECISIONS,
    REPORT_RULE,
    Candidate,
    ModQueue,
    report_key,
    stored_reasons,
)
from bot.features.moderation.spam import RulesError, ScanMessage, Scanner, SpamRules, Verdict
from bot.language.promotion import shared_promotion_model

log = logging.getLogger(__name__)

LONG_MESSAGE = 2_000  # characters from which a scan leaves the event loop
AUTHORS_SAVE_EVERY = 50  # messages between saves of the per-author memory
AUTHORS_SAVE_SECONDS = 30.0

QUEUE_LIST_MAX = 15


class SpamRulesStartupError(RulesError, SetupError):
    """The rules file is broken at start-up. Still a `RulesError` (with `.problems`, each "file:line: ..."); also
    a `SetupError`, so `bot run` / `bot console` print the problems and exit instead of showing a traceback."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(problems)
        self.args = (f"the spam rules ({path}) have {len(problems)} problem(s); fix them or set "
                     "spam.enabled: false:\n" + "\n".join(problems),)


class Moderation(Feature):
    """Scans messages, queues likely spam for moderators, records their decisions."""

    name = "moderation"

    def __init__(self, storage: Storage, rules_path: Path, *, enabled: bool = True, scan_staff: bool = False,
                 exempt_channels: frozenset[str] = frozenset(), mention_limit: int = 0,
                 mention_window_seconds: float = 60.0, audit_channels: dict[str, str] | None = None) -> None:
        self.storage = storage
        self.rules_path = rules_path
        self.enabled = enabled
        self.scan_staff = scan_staff
        self.exempt_channels = exempt_channels  # "platform:channel id"
        self.rules_problem: str | None = None  # why scanning is off although spam.enabled is true
        self.learning = Learning(storage, Scanner(self._initial_rules(), language=shared_promotion_model().probability))
        self.queue = ModQueue(storage)
        self.posts = QueuePosts(self.queue)
        self.mentions = MentionLimit(mention_limit, mention_window_seconds)
        self.decisions = Decisions(self.queue, self.learning, self.posts, audit_channels)
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._scan_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.learning.ensure_loaded()

    async def stop(self) -> None:
        if self.scanning:
            await self.learning.save_authors()

    @property
    def scanner(self) -> Scanner:
        """The live scanner: the current rules and what moderators taught it."""
        return self.learning.scanner

    # -- rules ------------------------------------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        """Whether every message is scanned (spam.enabled, and the rules file was found)."""
        return self.enabled and self.rules_problem is None

    def _initial_rules(self) -> SpamRules:
        path = self.rules_path
        try:
            return SpamRules.load(path)
        except RulesError as exc:
            if not self.enabled:
                log.warning("spam scanning is off (spam.enabled: false); the rules file %s has problems:\n%s",
                            path, exc)
                return SpamRules()
            if not path.exists():
                # A missing file is a deployment without rules, not a half-edited file: run without scanning (and
                # say so everywhere) rather than refuse to start. /spam-reload picks the file up once it exists.
                self.rules_problem = f"the rules file {path} does not exist"
                log.error("spam scanning is OFF: %s (set spam.rules in the config, then /spam-reload)",
                          self.rules_problem)
                return SpamRules()
            raise SpamRulesStartupError(path, exc.problems) from None

    def reload(self) -> list[str]:
        """Re-read the rules file. On any problem keep the current rules and return the problems."""
        try:
            rules = SpamRules.load(self.rules_path)
        except RulesError as exc:
            return list(exc.problems)
        self.scanner.rules = rules  # the scanner reads `rules` afresh for every message
        self.rules_problem = None
        return []

    # -- messages ---------------------------------------------------------------------------------------

    def mod_place(self, platform: str, community: str = DEFAULT_COMMUNITY) -> Place | None:
        """The moderators' channel of a community on one platform, or None if its settings name none."""
        return self.host.staff(platform, community).place

    def watched(self, msg: IncomingMessage, community: str) -> bool:
        """Whether a message is checked at all (scanning and the mention limit alike)."""
        mod = self.mod_place(msg.ref.platform, community)
        if mod is not None and mod.channel == msg.ref.channel:
            return False  # moderators quoting spam to each other
        if msg.author_role >= Role.MODERATOR and not self.scan_staff:
            return False  # moderators and admins quote spam in rules and warnings; they are not its source
        return f"{msg.ref.platform}:{msg.ref.channel}" not in self.exempt_channels

    async def on_message(self, msg: IncomingMessage) -> None:
        """Score a member's message; queue it for the moderators if it looks like spam or mentions too many."""
        community = self.host.community(msg.place)
        if not self.watched(msg, community):
            return
        if await self._mention_spam(msg, community) or not self.scanning:
            return
        await self.learning.ensure_loaded()
        self.host.meter.count("messages_scanned", platform=msg.ref.platform)
        self._unsaved += 1
        if self._unsaved >= AUTHORS_SAVE_EVERY or time.monotonic() - self._saved_at > AUTHORS_SAVE_SECONDS:
            # Written every so often, and at stop: a crash loses at most the last few messages' memory.
            self._unsaved, self._saved_at = 0, time.monotonic()
            await self.learning.save_authors()
        scan = ScanMessage(
            id=msg.ref.encode(), author=msg.author_id, channel=f"{msg.ref.platform}:{msg.ref.channel}",
            text=msg.text, ts=msg.ts, author_joined_ts=msg.author_joined_ts, mention_count=msg.mass_mentions,
        )
        if len(msg.text) > LONG_MESSAGE:
            # A long message is scanned in a worker thread, one at a time (the scanner keeps per-author state), so
            # the event loop keeps answering commands and button presses meanwhile.
            async with self._scan_lock:
                verdict = await asyncio.to_thread(self.scanner.scan, scan)
        else:
            async with self._scan_lock:
                verdict = self.scanner.scan(scan)
        if not verdict.flagged:
            return
        candidate = Candidate(msg.ref.platform, msg.author_id, msg.author_name, msg.ref.channel, msg.ref, msg.link,
                              msg.text, community)
        deleted, auto_note = False, ""
        if verdict.auto_action:
            deleted, why = await actions.delete_message(self.host, msg.ref)
            if not deleted:
                auto_note = f"auto-remove failed: {why}"
                log.warning("could not auto-remove %s: %s", msg.ref.encode(), why)
        earlier = self._earlier_copies(msg, verdict)
        # A copy of a message already waiting for the moderators joins its item rather than making a second one.
        key = await self.queue.open_group_of([ref for ref, _ in earlier], community) if earlier else None
        item_id = await self._enqueue(candidate, verdict, stored_reasons(verdict), source="scan", deleted=deleted,
                                      note=auto_note, key=key)
        if item_id is not None and earlier and await self.queue.add_earlier_copies(
                item_id, earlier, msg.author_id, msg.author_name):
            await self.posts.refresh(self.host, item_id)
        if deleted and item_id is not None:
            await self.storage.audit("bot", "queue.auto_remove", f"queue:{item_id}", json.dumps(
                {"message": msg.ref.encode(), "score": round(verdict.score, 3),
                 "reasons": stored_reasons(verdict)}, ensure_ascii=False))

    @staticmethod
    def _earlier_copies(msg: IncomingMessage, verdict: Verdict) -> list[tuple[MessageRef, float]]:
        """The author's earlier copies in other channels that this flagged message matched (they passed on their
        own; this one gives them away)."""
        copies = []
        for message_id, seen_at in verdict.echoes:
            try:
                ref = MessageRef.decode(message_id)
            except ValueError:
                continue
            if ref.platform == msg.ref.platform:
                copies.append((ref, seen_at))
        return copies

    async def _mention_spam(self, msg: IncomingMessage, community: str) -> bool:
        """Queue the message when its author reached the mention limit; returns whether it was queued."""
        found = self.mentions.check(msg.author_id, msg.ts, msg.mentions)
        if found is None:
            return False
        verdict = found.verdict(msg.ref.encode(), msg.text)
        candidate = Candidate(msg.ref.platform, msg.author_id, msg.author_name, msg.ref.channel, msg.ref, msg.link,
                              msg.text, community)
        # One open item per member: further mentions within the window join it instead of posting again.
        await self._enqueue(candidate, verdict, stored_reasons(verdict), source="mentions",
                            key=f"mentions:{msg.author_id}")
        return True

    async def _enqueue(self, cand: Candidate, verdict: Verdict, reasons: list[dict[str, Any]], *, source: str,
                       deleted: bool = False, note: str = "", report: tuple[str, str] | None = None,
                       key: str | None = None) -> int | None:
        """Queue the message and show it to the moderators; None for a report the member already made."""
        item_id, created = await self.queue.add(
            cand, verdict, reasons, source=source, min_similarity=self.scanner.rules.fingerprints.min_similarity,
            deleted=deleted, note=note, report=report, key=key)
        if item_id is None:
            return None
        self.host.meter.count("flags", source=source)
        if created:
            await self.posts.post_new(self.host, item_id)
        else:
            await self.posts.refresh(self.host, item_id)
        return item_id

    # -- decisions ----------------------------------------------------------------------------------------

    @action("queue", role=Role.MODERATOR)
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        """queue:<id>:remove|timeout[:<seconds>]|ham|ignore decides an item (first press wins); queue:<id>:claim
        claims it, queue:<id>:undo undoes its decision, queue:<id>:show shows it."""
        verbs = (*DECISIONS, "show", "claim", "undo")
        if len(parts) < 2 or not parts[0].isdigit() or len(parts[0]) > 12 or parts[1] not in verbs or (
                len(parts) > 2 and parts[1] != "timeout"):
            return error_reply("That button is not valid any more.")
        await self.learning.ensure_loaded()
        item = await self.queue.item(int(parts[0]))
        if item is None or item.community != self.host.community(act.place):
            # Another community's item is none of this moderator's business: it does not exist for them.
            return error_reply("That queue item no longer exists.")
        return await self.decisions.press(self.host, item, parts[1], parts[2:], act)

    # -- commands -----------------------------------------------------------------------------------------

    @command("report", kind="message",
             options=(Option("text", "The message to report (console: /report TEXT)", rest=True),))
    async def cmd_report(self, inv: Invocation) -> Reply:
        """Send this message to the moderators' review queue, privately."""
        text = inv.args.get("text", "").strip()
        if not text:
            return error_reply("There is nothing to report: pick a message (or on the console type /report and "
                               "the text).")
        await self.learning.ensure_loaded()
        platform = inv.place.platform
        channel = inv.args.get("channel") or inv.place.channel
        message = inv.args.get("message", "")
        ref = MessageRef(platform, channel, message) if message else None
        author = inv.args.get("author", "")
        verdict = self._probe(text, author, f"{platform}:{channel}")
        reasons = [{"rule": REPORT_RULE, "weight": 0.0, "detail": f"reported by {inv.member.name}"},
                   *stored_reasons(verdict)]
        candidate = Candidate(platform, author, author or "unknown", channel, ref, inv.args.get("link", ""), text,
                              self.host.community(inv.place))
        item_id = await self._enqueue(candidate, verdict, reasons, source="report",
                                      report=(inv.member.id, report_key(platform, channel, ref, text)))
        if item_id is None:
            return Reply(text="You already reported this message; the moderators have it.", ephemeral=True)
        return Reply(text="Thanks, the moderators will take a look.", ephemeral=True)

    def _probe(self, text: str, author: str, channel: str) -> Verdict:
        """Score a reported text without touching the live scanner's per-author memory."""
        probe = Scanner(self.scanner.rules, self.scanner.model, self.scanner.language)
        probe.load_fingerprints(self.scanner.known_spam_fingerprints())
        return probe.scan(ScanMessage(id="report", author=author or "unknown", channel=channel, text=text,
                                      ts=time.time()))

    @command("modqueue", role=Role.MODERATOR)
    async def cmd_queue(self, inv: Invocation) -> Reply:
        """Moderators: show the review queue of flagged and reported messages."""
        total, waiting = await self.queue.waiting(QUEUE_LIST_MAX, self.host.community(inv.place))
        return render.queue_list(total, waiting)

    async def gauges(self) -> dict[str, float]:
        return {"queue_size": float(await self.queue.open_count())}

    @command("modlog", role=Role.MODERATOR,
             options=(Option("member", "Only decisions about this member (name or id)", rest=True),))
    async def cmd_modlog(self, inv: Invocation) -> Reply:
        """Moderators: the moderators' decisions (who, what, when, why), newest first."""
        member = member_filter(inv.args.get("member", ""))
        if len(member) > FILTER_MAX:
            return error_reply(f"That is longer than any member name I know (at most {FILTER_MAX} characters). "
                               "Try their name or id.")
        cases, more = await read_cases(self.storage, member, community=self.host.community(inv.place))
        return replace(modlog_reply(cases, more, member, 0), ephemeral=True)

    @action("modlog", role=Role.MODERATOR)
    async def on_modlog_page(self, act: Action, parts: list[str]) -> Reply:
        """modlog:<offset>[:<member>] shows an older page of the mod log."""
        if not parts or not parts[0].isdigit() or len(parts[0]) > 9:
            return error_reply("That button is not valid any more.")
        offset, member = int(parts[0]), ":".join(parts[1:])[:FILTER_MAX]
        cases, more = await read_cases(self.storage, member, offset=offset, community=self.host.community(act.place))
        return replace(modlog_reply(cases, more, member, offset), ephemeral=True)

    @command("modstats", role=Role.MODERATOR)
    async def cmd_stats(self, inv: Invocation) -> Reply:
        """Moderators: figures on flagged messages, decisions and response times."""
        await self.learning.ensure_loaded()
        history = await self.queue.history(self.host.community(inv.place))
        state = render.scanning_state(self.scanner.rules, scanning=self.scanning, enabled=self.enabled,
                                      problem=self.rules_problem)
        return render.stats_reply(history, self.scanner, state)

    @command("spam-reload", role=Role.ADMIN)
    async def cmd_reload(self, inv: Invocation) -> Reply:
        """Admins: re-read the spam rules file; on errors the current rules stay in place."""
        problems = self.reload()
        await self.storage.audit(inv.member.id, "spam.reload", str(self.rules_path),
                                 "ok" if not problems else f"{len(problems)} problem(s)")
        if problems:
            return reload_refused("the spam rules", f"Still using the previous rules ({self.scanner.rules.source}).",
                                  problems)
        rules = self.scanner.rules
        return Reply(title="Spam rules reloaded",
                     text=f"Now using {rules.source}: threshold {rules.threshold:g}, {len(rules.phrases)} phrases.")
