"""Polls: create, vote by button, live tallies on every platform at once, timed closing that survives restarts.

One poll can be shown in several channels on several platforms; every copy shows the one combined tally. A
member has one ballot per poll per platform identity, enforced by the database's primary key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from bot.core.commands import Form, FormField, Option, action, command
from bot.core.contract import DEFAULT_COMMUNITY, Feature
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, Role, error_reply
from bot.core.storage import Storage
from bot.features.polls.form import spec_from_args
from bot.features.polls.opening import Openings
from bot.features.polls.render import creator_reply, final_reply, poll_reply, results_csv, results_reply
from bot.features.polls.spec import (
    KINDS,
    MAX_QUESTION_LEN,
    VISIBILITY,
    PollError,
    PollSpec,
    has_mass_mention,
    parse_poll_id,
    parse_whole,
)
from bot.features.polls.store import BY_TIMER, Poll, PollStore, Tally
from bot.features.polls.templates import load_templates

log = logging.getLogger(__name__)


class Polls(Feature):
    """Community polls with buttons, on every platform at once."""

    name = "polls"

    def __init__(self, storage: Storage, templates: Path, debounce: float = 2.0) -> None:
        self.storage = storage
        self.debounce = debounce
        self.templates, problems = load_templates(templates)
        for problem in problems:
            log.warning("poll template skipped: %s", problem)
        self.store = PollStore(storage, on_due=self._due)
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._stale: set[int] = set()
        self.openings = Openings(storage, on_open=self._opened)

    async def start(self) -> None:
        """Re-arm the timers of open timed polls: a poll due while the bot was down closes now."""
        await self.store.resume()
        await self.openings.resume()

    async def stop(self) -> None:
        await self.openings.stop()
        await self.store.stop()  # votes already pressed are committed before the database closes
        # Edits waiting out their debounce are flushed now, so the last votes reach the platforms.
        pending = dict(self._pending)
        for task in pending.values():
            task.cancel()
        await asyncio.gather(*pending.values(), return_exceptions=True)
        for poll_id in pending:
            try:
                await asyncio.wait_for(self._refresh(poll_id, force=True), timeout=5)
            except Exception:
                log.exception("could not flush poll %s on shutdown", poll_id)
        self._pending.clear()

    # -- polls, for commands, tests and tools ------------------------------------------------------------

    async def create(self, spec: PollSpec, creator: Member, community: str = DEFAULT_COMMUNITY) -> Poll:
        poll = await self.store.create(spec, creator, community)
        if poll.opens_at is not None:
            self.openings.arm(poll.id, poll.opens_at)
        return poll

    async def get(self, poll_id: int) -> Poll | None:
        return await self.store.get(poll_id)

    async def reachable(self, poll_id: int, place: Place) -> Poll | None:
        """The poll, if it belongs to the community of `place`: another community's polls do not exist there."""
        poll = await self.store.get(poll_id)
        return poll if poll is not None and poll.community == self.host.community(place) else None

    async def tally(self, poll: Poll) -> Tally:
        return await self.store.tally(poll)

    async def ballot(self, poll_id: int, voter: str) -> tuple[int, ...]:
        return await self.store.ballot(poll_id, voter)

    async def posts(self, poll_id: int) -> list[MessageRef]:
        return await self.store.posts(poll_id)

    async def vote(self, poll_id: int, member: Member, position: int) -> str:
        """Press on an option (see `PollStore.vote`); every copy of the poll shows the new tally shortly after."""
        outcome = await self.store.vote(poll_id, member, position)
        self.host.meter.count("votes")
        self._schedule_refresh(poll_id)
        return outcome

    async def close(self, poll_id: int, by: str) -> Poll | None:
        """Close once and announce the final results; None when it was already closed (or doesn't exist)."""
        poll = await self.store.close(poll_id, by)
        if poll is not None:
            await self._announce_close(poll)
        return poll

    async def _due(self, poll_id: int) -> None:
        """A timed poll's closing time came, or the bot restarted before a close's results were all out."""
        poll = await self.store.close(poll_id, BY_TIMER)
        if poll is None and "done" not in await self.store.announced(poll_id):
            poll = await self.get(poll_id)
        if poll is not None and not poll.is_open:
            await self._announce_close(poll)

    async def recent(self, limit: int = 50) -> list[tuple[Poll, int]]:
        """The newest polls with how many members voted in each."""
        return await self.store.recent(limit)

    async def export_csv(self, poll_id: int) -> str:
        poll = await self.get(poll_id)
        if poll is None:
            raise PollError(f"There is no poll #{poll_id}.")
        return results_csv(poll, await self.tally(poll))

    # -- showing polls on the platforms -------------------------------------------------------------------

    async def publish(self, poll: Poll, places: list[Place]) -> list[str]:
        """Post the poll in each place; returns problems (a platform that is not connected, say)."""
        problems = []
        version = await self.store.version(poll.id)  # before the tally: a copy never claims more than it shows
        reply = poll_reply(poll, await self.tally(poll))
        for place in places:
            try:
                ref = await self.host.post(place, reply)
            except Exception as exc:
                log.exception("could not post poll %s to %s", poll.id, place)
                problems.append(f"{place.platform}:{place.channel} ({exc.__class__.__name__})")
                continue
            if ref is None:
                problems.append(f"{place.platform}:{place.channel} (that platform is not connected)")
                continue
            try:
                await self.store.add_post(poll.id, ref, version)
            except Exception as exc:
                # A copy the database does not know would never be updated or closed: take it down again.
                log.error("could not record poll %s's copy %s, so it is removed: %s", poll.id, ref.encode(), exc)
                with contextlib.suppress(Exception):
                    await self.host.delete(ref)
                problems.append(f"{place.platform}:{place.channel} (it could not be saved)")
        # A vote pressed (in any process) before a copy was recorded did not edit it; this does, and else nothing.
        await self._refresh(poll.id)
        return problems

    def _schedule_refresh(self, poll_id: int) -> None:
        if poll_id in self._pending:
            self._stale.add(poll_id)  # a vote while an edit is being made: that edit may have read the tally before it
            return
        self._pending[poll_id] = asyncio.create_task(self._refresh_later(poll_id))

    async def _refresh_later(self, poll_id: int) -> None:
        # A burst of votes within the debounce window becomes one edit per copy: platforms rate-limit edits.
        try:
            while True:
                await asyncio.sleep(self.debounce)
                self._stale.discard(poll_id)
                if await self._refresh(poll_id):  # a newer version, maybe from another process's vote
                    self._stale.add(poll_id)
                if poll_id not in self._stale:
                    break
        finally:
            self._pending.pop(poll_id, None)
            self._stale.discard(poll_id)

    async def _opened(self, poll_id: int) -> None:
        await self.store.bump(poll_id)  # the buttons appear: a change that no vote recorded
        await self._refresh(poll_id)

    async def _refresh(self, poll_id: int, force: bool = False) -> bool:
        """Edit each copy showing an older tally version than the database's; True if a newer one came meanwhile.

        Several processes may edit one message, and edits can land out of order. Each edit first claims its version
        for the copy in the database, so no copy is edited back to an older one; an edit that a newer claim may have
        overtaken on its way is made again with the latest tally. So the edit that lands last shows the latest.
        `force` also edits copies whose latest version was claimed by an edit that may never have landed (one
        cancelled by a close or shutdown, or a close announced again after the process announcing it was killed)."""
        redo: set[MessageRef] = set()
        while True:
            snapshot = await self.store.snapshot(poll_id)
            if snapshot is None:
                return False
            version, poll, tally = snapshot
            reply = poll_reply(poll, tally)
            for ref in await self.posts(poll_id):
                again = force or ref in redo
                redo.discard(ref)
                if not await self.store.claim_render(poll_id, ref, version, again=again):
                    continue  # that version or a newer one is being shown by another edit
                try:
                    await self.host.update(ref, reply)
                except Exception:
                    log.exception("could not update poll %s message %s", poll_id, ref.encode())
                    continue
                if await self.store.rendered(poll_id, ref) > version:
                    redo.add(ref)
            if not redo:
                return await self.store.version(poll_id) > version
            force = False

    async def _announce_close(self, poll: Poll) -> None:
        """Show final results in place on every copy, and post them with a chart in each channel."""
        pending = self._pending.pop(poll.id, None)
        if pending is not None:
            pending.cancel()
        tally = await self.tally(poll)
        await self._refresh(poll.id, force=True)
        final = final_reply(poll, tally)
        announced = await self.store.announced(poll.id)
        for ref in await self.posts(poll.id):
            where = f"{ref.platform}:{ref.channel}"
            if where in announced:
                continue
            announced.add(where)
            # Marked before posting: a process killed mid-post may miss this one message (the copies above
            # already show the final results), but a restart never posts it twice.
            await self.store.mark_announced(poll.id, where)
            try:
                await self.host.post(Place(ref.platform, ref.channel), final)
            except Exception:
                log.exception("could not post final results of poll %s", poll.id)
        if "creator" not in announced:
            await self.store.mark_announced(poll.id, "creator")  # as above: never twice, even across a restart
            await self._tell_creator(poll, tally)
        await self.store.mark_announced(poll.id, "done")

    async def _tell_creator(self, poll: Poll, tally: Tally) -> None:
        """The final results privately to the member who started the poll, on their platform: next to a copy of
        the poll there (Slack shows it only in a channel), else as the platform's private message allows."""
        platform = poll.creator.split(":", 1)[0]
        channel = next((r.channel for r in await self.posts(poll.id) if r.platform == platform), "")
        try:
            reply = await asyncio.to_thread(creator_reply, poll, tally)
            await self.host.whisper(Place(platform, channel), poll.creator, reply)
        except Exception:
            log.exception("could not send poll %s's final results to its creator", poll.id)

    # -- commands -----------------------------------------------------------------------------------------

    @command("poll", options=(
        Option("question", 'The question, or the one-line form: "Question?" "Option A" "Option B" --multi 2',
               rest=True),
        Option("choices", "The options, separated by | (2 to 10)"),
        Option("max_choices", "How many options a member may pick (default 1)"),
        Option("voters", "anonymous (default) or public", choices=("anonymous", "public")),
        Option("closes", "When it closes: 30m, 2h, 3d or 2026-12-01 18:00 UTC (default: never)"),
        Option("results", "Who sees results: always (default), voted, closed (after close), moderators",
               choices=VISIBILITY),
        Option("post_to", "Moderators: also post to discord:CHANNEL_ID slack:CHANNEL_ID"),
        Option("template", "Start from a saved poll, e.g. would-you-try"),
        Option("min_choices", "The fewest options a member must pick for the vote to count (default 1)"),
        Option("kind", "choice (default), ranked (order the options) or rating (1 to scale)", choices=KINDS),
        Option("scale", "Rating polls: the top of the scale, 2 to 10"),
        Option("roles", "Only members with one of these roles may vote (role ids or @roles)"),
        Option("add_options", "Let members add options (default no)", choices=("no", "yes")),
        Option("opens", "Open later: in 2h, 1d or at 2026-12-01 18:00 UTC (default: now)"),
    ), form=Form("New poll", (
        FormField("question", "Question", max_length=MAX_QUESTION_LEN),
        FormField("choices", "Options, one per line (none for --rating)", long=True, required=False,
                  max_length=900),
        FormField("max_choices", "How many may a member pick? (default 1)", required=False, max_length=2),
        FormField("closes", "Closes after (30m, 2h, 3d) or at (2026-12-01 18:00 UTC)", required=False,
                  max_length=40),
        FormField("flags", "More (public, hidden, --ranked, --min 2 …)", required=False, max_length=300,
                  placeholder="--results voted --roles 1234 --allow-add --opens 1d --rating 5"),
    )))
    async def cmd_poll(self, inv: Invocation) -> Reply:
        """Start a poll members answer with buttons; `/poll results ID` and `/poll close ID` too."""
        args = inv.args
        line = args.get("question", "").strip()
        head, _, rest = line.partition(" ")
        # `/poll results 12`: one word after results or close can only mean a poll number, never a new poll.
        if head in ("results", "close", "reopen") and "choices" not in args and len(rest.split()) <= 1 \
                and "--" not in rest:
            poll_id = parse_poll_id(rest)
            if poll_id is None:
                return error_reply(f"Which poll? Give its number, e.g. /poll {head} 12.")
            if head == "reopen":
                return await self._reopen(poll_id, inv.member, inv.place)
            if head == "results":
                return await self._results(poll_id, inv.member, inv.place)
            return await self._close(poll_id, inv.member, inv.place)
        if head == "add" and "choices" not in args and (not rest or rest.split(" ", 1)[0].lstrip("#").isdecimal()):
            number, _, text = rest.partition(" ")
            poll_id = parse_poll_id(number)
            if poll_id is None:
                return error_reply("Which poll? Give its number and your option, e.g. /poll add 12 Oat milk.")
            text = text.strip().strip("\"“”'")
            if not text:
                return error_reply(f"Write your option after the poll number, e.g. /poll add {poll_id} Oat milk.")
            return await self._add_option(poll_id, inv.member, text, inv.place)
        if head in ("templates", "help") and not rest:
            return self.help_reply()
        try:
            spec = spec_from_args(args, line, self.templates)
        except PollError as exc:
            return error_reply(str(exc))
        if spec.post_to and inv.member.role < Role.MODERATOR:
            return error_reply("Only moderators can post a poll to other channels. Nothing was created.")
        community = self.host.community(inv.place)
        places = [await self.host.locate(p) for p in spec.post_to] or [inv.place]
        # Where the platform cannot say which server or workspace a channel is in, a deployment with communities
        # refuses rather than risk posting into another community.
        unknown = [p for p in places if p.guild is None and p != inv.place and self.host.has_communities(p.platform)]
        if unknown:
            return error_reply("I couldn't tell which server or workspace "
                               + ", ".join(f"{p.platform}:{p.channel}" for p in unknown[:3])
                               + " is in (is the bot in that channel?). Nothing was created.")
        elsewhere = [p for p in places if self.host.community(p) != community]
        if elsewhere:
            return error_reply("A poll can only be posted to channels of this community's own server or workspace ("
                               + ", ".join(f"{p.platform}:{p.channel}" for p in elsewhere[:3])
                               + " is not). Nothing was created.")
        poll = await self.create(spec, inv.member, community)  # audited in the same commit
        problems = await self.publish(poll, places)
        note = f"Poll #{poll.id} is up." if not problems else (
            f"Poll #{poll.id} is up, but I couldn't post it to: {', '.join(problems)}.")
        if len(places) > 1 or places[0] != inv.place:
            note += " Copies: " + ", ".join(f"{p.platform}:{p.channel}" for p in places) + "; they share one tally."
        return Reply(text=note)

    def help_reply(self) -> Reply:
        names = "\n".join(f"• {t.name}: {t.question}" for t in self.templates.values()) or "none"
        return Reply(title="Polls", text=(
            'Start one: /poll "Question?" "Option A" "Option B" (2 to 10 options).\n'
            "Options: --multi N (pick up to N), --public (show who voted), --hide-results (until it closes), "
            "--closes 2h (or 3d, or 2026-12-01 18:00 UTC), --post discord:ID,slack:ID (moderators).\n"
            "More: --min N (fewest picks), --ranked (order the options), --rating 5 (a 1-5 scale, no options), "
            "--results always|voted|closed|moderators, --roles ID,ID (who may vote), --allow-add (members add "
            "options), --opens 1d (open later).\n"
            "Results: /poll results ID · close: /poll close ID · reopen: /poll reopen ID · "
            "add an option: /poll add ID Text.\n"
            f"Templates (/poll --template NAME):\n{names}"))

    @command("poll-results", options=(Option("poll_id", "The poll number", required=True, rest=True),))
    async def cmd_results(self, inv: Invocation) -> Reply:
        """See a poll's results (with a chart where the platform shows images) and your own vote."""
        poll_id = parse_poll_id(inv.args.get("poll_id", ""))
        if poll_id is None:
            return error_reply("Which poll? Give its number, e.g. /poll-results 12.")
        return await self._results(poll_id, inv.member, inv.place)

    @command("poll-close", options=(Option("poll_id", "The poll number", required=True, rest=True),))
    async def cmd_close(self, inv: Invocation) -> Reply:
        """Close a poll you started (moderators: any poll) and post its final results."""
        poll_id = parse_poll_id(inv.args.get("poll_id", ""))
        if poll_id is None:
            return error_reply("Which poll? Give its number, e.g. /poll-close 12.")
        return await self._close(poll_id, inv.member, inv.place)

    async def _results(self, poll_id: int, member: Member, place: Place) -> Reply:
        poll = await self.reachable(poll_id, place)
        if poll is None:
            return error_reply(f"There is no poll #{poll_id}.")
        tally, ballot = await self.tally(poll), await self.ballot(poll_id, member.id)
        # The chart takes tens of milliseconds to draw: off the event loop, so other members' presses don't wait.
        return await asyncio.to_thread(results_reply, poll, tally, ballot, viewer=member)

    async def _refused(self, poll_id: int, member: Member, verb: str, place: Place) -> Reply | None:
        """Why `member` may not close or reopen the poll (it is missing, or theirs or a moderator's to do), or None."""
        poll = await self.reachable(poll_id, place)
        if poll is None:
            return error_reply(f"There is no poll #{poll_id}.")
        if poll.creator != member.id and member.role < Role.MODERATOR:
            return error_reply(f"Only the member who started this poll or a moderator can {verb} it. Nothing was "
                               "changed.")
        return None

    async def _reopen(self, poll_id: int, member: Member, place: Place) -> Reply:
        if refused := await self._refused(poll_id, member, "reopen", place):
            return refused
        reopened = await self.store.reopen(poll_id, member.id)
        if reopened is None:
            return error_reply(f"Poll #{poll_id} is already open.")
        await self._refresh(poll_id)
        return Reply(text=f"Poll #{poll_id} is open again; the votes so far are kept.")

    async def _add_option(self, poll_id: int, member: Member, text: str, place: Place) -> Reply:
        poll = await self.reachable(poll_id, place)
        if poll is None:
            return error_reply(f"There is no poll #{poll_id}.")
        if has_mass_mention(text):
            return error_reply("Options can't mention @everyone, @here or the channel. Nothing was changed.")
        if not poll.may_vote(member):
            return error_reply("This poll is only for members with certain roles, so you can't add options to it. "
                               "Nothing was changed.")
        try:
            added = await self.store.add_option(poll_id, text, member)
        except PollError as exc:
            return error_reply(str(exc))
        await self._refresh(poll_id)
        return Reply(text=f"Added “{added.options[-1]}” as option {len(added.options)} of poll #{poll_id}.")

    async def _close(self, poll_id: int, member: Member, place: Place) -> Reply:
        if refused := await self._refused(poll_id, member, "close", place):
            return refused
        closed = await self.close(poll_id, member.id)
        if closed is None:
            return error_reply(f"Poll #{poll_id} is already closed.")
        return Reply(text=f"Poll #{poll_id} is closed; the final results are posted.")

    @action("poll")
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        """poll:<id>:vote:<n> votes, poll:<id>:results shows results privately, poll:<id>:close closes,
        poll:<id>:reopen reopens, poll:<id>:add says how to add an option."""
        poll_id = parse_poll_id(parts[0]) if parts else None
        if poll_id is None:
            return error_reply("That button is not valid any more.")
        if await self.reachable(poll_id, act.place) is None:
            return error_reply("That poll doesn't exist any more.")
        verb = parts[1] if len(parts) > 1 else ""
        position = parse_whole(parts[2]) if verb == "vote" and len(parts) == 3 else None
        if position is not None:
            try:
                outcome = await self.vote(poll_id, act.member, position)
            except PollError as exc:
                return error_reply(str(exc))
            return Reply(text=outcome)
        if verb == "results":
            return await self._results(poll_id, act.member, act.place)
        if verb == "close":
            return await self._close(poll_id, act.member, act.place)
        if verb == "reopen":
            return await self._reopen(poll_id, act.member, act.place)
        if verb == "add":
            return Reply(text=f"To add an option, type /poll add {poll_id} and your option, e.g. "
                              f"/poll add {poll_id} Oat milk.")
        return error_reply("That button is not valid any more.")
