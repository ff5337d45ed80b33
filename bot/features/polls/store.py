"""Polls in the database: `Poll`, `Tally`, the rules of a ballot, votes through one group-commit writer, closing,
and the timers that close timed polls (re-armed from the database after a restart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.records import Member, MessageRef
from bot.core.storage import Connection, Read, Script, Storage, WriteMany
from bot.features.polls.ballots import Poll, Tally, count, press
from bot.features.polls.spec import MAX_ADDED_OPTIONS, PollError, PollSpec, check_option

log = logging.getLogger(__name__)

BY_TIMER = "timer"  # who closed a poll whose closing time came; not audited, as no one decided it
# The announcement of a close, kept in audit_log as an outbox (no schema change): "due" commits with the close, each
# "platform:channel" before its final post, "done" at the end. A process killed mid-way finishes on restart, and
# never posts the final results to one channel twice.
ANNOUNCE = "poll.announce"


def enumerate_ranks(ballot: list[int], ranked: bool) -> list[tuple[int, int]]:
    """(position, rank) of each pick; the order matters only on ranked polls, where it is stored (else 0)."""
    return [(p, r if ranked else 0) for r, p in enumerate(ballot)]


@dataclass
class _Vote:
    poll: Poll
    member: Member
    position: int
    future: asyncio.Future[str]


class PollStore:
    """The polls tables, a cache of polls, the vote writer and the closing timers.

    `on_due(poll_id)` is called when a timed poll's closing time comes; it is expected to close the poll
    (through `close`, by `BY_TIMER`) and announce it.
    """

    def __init__(self, storage: Storage, on_due: Callable[[int], Awaitable[object]]) -> None:
        self.storage = storage
        self._on_due = on_due
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._cache: dict[int, Poll] = {}
        self._votes: asyncio.Queue[_Vote] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def resume(self) -> None:
        """Re-arm the timers of open timed polls: a poll due while the bot was down closes now, and a close whose
        results were not all out when the bot stopped is announced now."""
        rows = await self.storage.fetchall("SELECT id, closes_at FROM polls WHERE closed_at IS NULL AND "
                                           "closes_at IS NOT NULL")
        for row in rows:
            self._arm(row["id"], row["closes_at"])
        for poll_id in await self.unannounced():
            self._arm(poll_id, 0.0)

    async def stop(self) -> None:
        """Commit the votes already pressed and drop the timers, before the database closes."""
        if self._writer is not None:
            await self._writer
        for task in list(self._timers.values()):
            task.cancel()
        self._timers.clear()

    # -- polls --------------------------------------------------------------------------------------------

    async def create(self, spec: PollSpec, creator: Member, community: str = "") -> Poll:
        now = time.time()
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO polls(question, creator, creator_name, max_choices, anonymous, hide_results, closes_at,"
                " created_at, kind, min_choices, results, voter_roles, allow_add, opens_at, community)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.question, creator.id, creator.name, spec.max_choices, int(spec.anonymous),
                 int(spec.hide_results), spec.closes_at, now, spec.kind, spec.min_choices, spec.results,
                 " ".join(spec.voter_roles), int(spec.allow_add), spec.opens_at, community))
            poll_id = cursor.lastrowid
            assert poll_id is not None
            await db.executemany("INSERT INTO poll_options(poll_id, position, text) VALUES (?, ?, ?)",
                                 [(poll_id, i, o) for i, o in enumerate(spec.options)])
            # In the same commit: on a full disk a poll is made with its audit row or not at all.
            await db.execute("INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
                             (creator.id, "poll.create", f"poll:{poll_id}", spec.question))
        poll = await self.get(poll_id)
        assert poll is not None
        if poll.closes_at:
            self._arm(poll.id, poll.closes_at)
        return poll

    async def get(self, poll_id: int) -> Poll | None:
        cached = self._cache.get(poll_id)
        if cached is not None:
            return cached
        loaded = await self._load(poll_id)
        return loaded[1] if loaded is not None else None

    async def _load(self, poll_id: int) -> tuple[int, Poll] | None:
        """The poll as stored now with its tally version (read in the same statement), cached for `get`."""
        row = await self.storage.fetchone("SELECT * FROM polls WHERE id = ?", (poll_id,))
        if row is None:
            return None
        options = await self.storage.fetchall("SELECT text FROM poll_options WHERE poll_id = ? ORDER BY position",
                                              (poll_id,))
        poll = Poll(row["id"], row["question"], tuple(o["text"] for o in options), row["creator"],
                    row["creator_name"], row["max_choices"], bool(row["anonymous"]), bool(row["hide_results"]),
                    row["closes_at"], row["closed_at"], row["closed_by"], row["kind"], row["min_choices"],
                    row["results"], tuple(row["voter_roles"].split()), bool(row["allow_add"]), row["opens_at"],
                    row["community"])
        self._cache[poll_id] = poll
        return row["tally_version"], poll

    async def recent(self, limit: int = 50) -> list[tuple[Poll, int]]:
        """The newest polls with how many members voted in each."""
        rows = await self.storage.fetchall(
            "SELECT p.id, COUNT(DISTINCT v.voter) AS voters FROM polls p LEFT JOIN poll_votes v ON v.poll_id = p.id "
            "GROUP BY p.id ORDER BY p.id DESC LIMIT ?", (limit,))
        found = []
        for r in rows:
            poll = await self.get(r["id"])
            if poll is not None:
                found.append((poll, r["voters"]))
        return found

    async def posts(self, poll_id: int) -> list[MessageRef]:
        """Every copy of the poll the bot posted, on any platform."""
        rows = await self.storage.fetchall("SELECT ref FROM poll_posts WHERE poll_id = ?", (poll_id,))
        return [MessageRef.decode(r["ref"]) for r in rows]

    async def add_post(self, poll_id: int, ref: MessageRef, version: int = 0) -> None:
        """Record a copy of the poll, posted showing tally `version`."""
        await self.storage.execute("INSERT INTO poll_posts(poll_id, ref, rendered_version) VALUES (?, ?, ?) "
                                   "ON CONFLICT (poll_id, ref) DO NOTHING", (poll_id, ref.encode(), version))

    # -- which version each copy shows: edits from several processes converge on the latest -----------------

    async def snapshot(self, poll_id: int) -> tuple[int, Poll, Tally] | None:
        """The tally version, then the poll and its tally as fresh as it or fresher (another process may have
        closed the poll or added an option since this one cached it), for an edit that claims that version."""
        loaded = await self._load(poll_id)
        if loaded is None:
            return None
        version, poll = loaded
        return version, poll, await self.tally(poll)

    async def version(self, poll_id: int) -> int:
        row = await self.storage.fetchone("SELECT tally_version FROM polls WHERE id = ?", (poll_id,))
        return row[0] if row is not None else 0

    async def bump(self, poll_id: int) -> None:
        """A change the poll message shows that no other write records (the poll opening at its time)."""
        async with self.storage.transaction() as db:
            await _bump(db, [poll_id])

    async def claim_render(self, poll_id: int, ref: MessageRef, version: int, again: bool = False) -> bool:
        """Claim the edit of one copy to `version` (compare-and-set): False when that version or a newer one was
        already claimed, whose edit then shows the same or newer. `again` re-claims an edit that a newer claim may
        have overtaken on its way to the platform."""
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "UPDATE poll_posts SET rendered_version = ? WHERE poll_id = ? AND ref = ? AND rendered_version "
                + ("<= ?" if again else "< ?"), (version, poll_id, ref.encode(), version))
            return cursor.rowcount > 0

    async def rendered(self, poll_id: int, ref: MessageRef) -> int:
        """The newest version claimed for one copy."""
        row = await self.storage.fetchone("SELECT rendered_version FROM poll_posts WHERE poll_id = ? AND ref = ?",
                                          (poll_id, ref.encode()))
        return row[0] if row is not None else 0

    # -- votes --------------------------------------------------------------------------------------------

    async def tally(self, poll: Poll) -> Tally:
        rows = await self.storage.fetchall(
            "SELECT voter, voter_name, position, preference FROM poll_votes WHERE poll_id = ? "
            "ORDER BY voted_at, preference",
            (poll.id,))
        return count(poll, [(r["voter"], r["voter_name"], r["position"], r["preference"]) for r in rows])

    async def ballot(self, poll_id: int, voter: str) -> tuple[int, ...]:
        """A member's picks, a ranked ballot's first choice first."""
        rows = await self.storage.fetchall(
            "SELECT position FROM poll_votes WHERE poll_id = ? AND voter = ? ORDER BY preference, position",
            (poll_id, voter))
        return tuple(r["position"] for r in rows)

    async def vote(self, poll_id: int, member: Member, position: int) -> str:
        """Press on an option: vote, change the vote, or withdraw it. Returns what happened, for the member.

        Returns only after the vote is committed. Votes that arrive together are applied in one transaction
        (group commit): a burst of a thousand presses costs a few statements, not thousands of commits.
        """
        poll = await self.get(poll_id)
        if poll is None:
            raise PollError("That poll doesn't exist any more.")
        if not 0 <= position < len(poll.options):
            raise PollError("That option isn't part of this poll.")
        if poll.not_yet_open():
            raise PollError("This poll isn't open yet, so your vote wasn't counted. It opens "
                            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(poll.opens_at))}.")
        if not poll.may_vote(member):
            raise PollError("This poll is only for members with certain roles, so your vote wasn't counted. "
                            "Nothing was changed.")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._votes.put_nowait(_Vote(poll, member, position, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_votes())
        return await future

    async def _write_votes(self) -> None:
        while not self._votes.empty():
            batch = [self._votes.get_nowait() for _ in range(min(self._votes.qsize(), 2000))]
            try:
                await self._apply(batch)
            except Exception as exc:
                log.exception("could not record %d vote(s)", len(batch))
                for vote in batch:
                    if not vote.future.done():
                        vote.future.set_exception(exc)

    async def _apply(self, batch: list[_Vote]) -> None:
        """Apply votes in arrival order against the ballots as stored, in one transaction."""
        outcomes, closed = await self.storage.run_script(lambda: _vote_script(batch))
        for poll_id in closed:
            self._cache.pop(poll_id, None)
        for vote, outcome in zip(batch, outcomes, strict=True):  # only now: "counted" must mean committed
            if vote.future.done():
                continue
            if isinstance(outcome, PollError):
                vote.future.set_exception(outcome)
            else:
                vote.future.set_result(outcome)

    # -- after creation: members' options, reopening ------------------------------------------------------

    async def add_option(self, poll_id: int, text: str, by: Member) -> Poll:
        """Add a member's option to an open poll that allows it; PollError (nothing changed) when it can't be."""
        async with self.storage.transaction() as db:
            rows = list(await db.execute_fetchall(
                "SELECT closed_at, allow_add FROM polls WHERE id = ?", (poll_id,)))
            if not rows:
                raise PollError(f"There is no poll #{poll_id}.")
            if rows[0][0] is not None:
                raise PollError("This poll is closed, so options can't be added. Nothing was changed.")
            if not rows[0][1]:
                raise PollError("The creator of this poll didn't allow members to add options. Nothing was changed.")
            taken = tuple(r[0] for r in await db.execute_fetchall(
                "SELECT text FROM poll_options WHERE poll_id = ? ORDER BY position", (poll_id,)))
            if len(taken) >= MAX_ADDED_OPTIONS:
                raise PollError(f"This poll already has {len(taken)} options, as many as fit as buttons on every "
                                "platform. Nothing was changed.")
            option = check_option(text, taken)
            await db.execute("INSERT INTO poll_options(poll_id, position, text, added_by) VALUES (?, ?, ?, ?)",
                             (poll_id, len(taken), option, by.id))
            await _bump(db, [poll_id])
            await db.execute("INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
                             (by.id, "poll.add_option", f"poll:{poll_id}", option))
        self._cache.pop(poll_id, None)
        poll = await self.get(poll_id)
        assert poll is not None
        return poll

    async def reopen(self, poll_id: int, by: str) -> Poll | None:
        """Open a closed poll again, keeping its votes and a closing time still ahead; None when it was open."""
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "UPDATE polls SET closed_at = NULL, closed_by = NULL, "
                "closes_at = CASE WHEN closes_at > ? THEN closes_at ELSE NULL END "
                "WHERE id = ? AND closed_at IS NOT NULL", (time.time() + 60, poll_id))
            changed = cursor.rowcount
            if changed:
                await _bump(db, [poll_id])
                # The last close's announcement is finished history: a later close announces afresh.
                await db.execute("UPDATE audit_log SET action = ? WHERE action = ? AND subject = ?",
                                 (ANNOUNCE + "d", ANNOUNCE, f"poll:{poll_id}"))
                await db.execute("INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)",
                                 (by, "poll.reopen", f"poll:{poll_id}", ""))
        self._cache.pop(poll_id, None)
        if not changed:
            return None
        poll = await self.get(poll_id)
        assert poll is not None
        if poll.closes_at:
            self._arm(poll.id, poll.closes_at)
        return poll

    # -- closing ------------------------------------------------------------------------------------------

    async def close(self, poll_id: int, by: str) -> Poll | None:
        """Close once; returns the closed poll, or None when it was already closed (or doesn't exist)."""
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "UPDATE polls SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
                (time.time(), by, poll_id))
            changed = cursor.rowcount
            if changed:  # in the same commit, so a close is never without its audit row and its announcement
                await _bump(db, [poll_id])
                audit = "INSERT INTO audit_log(actor, action, subject, detail) VALUES (?, ?, ?, ?)"
                if by != BY_TIMER:
                    await db.execute(audit, (by, "poll.close", f"poll:{poll_id}", ""))
                await db.execute(audit, ("bot", ANNOUNCE, f"poll:{poll_id}", "due"))
        self._cache.pop(poll_id, None)
        timer = self._timers.pop(poll_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if not changed:
            return None
        poll = await self.get(poll_id)
        assert poll is not None
        return poll

    async def unannounced(self) -> list[int]:
        """Closed polls whose final results were not all out when the bot stopped."""
        rows = await self.storage.fetchall(
            "SELECT subject FROM audit_log WHERE action = ? GROUP BY subject "
            "HAVING SUM(CASE WHEN detail = 'done' THEN 1 ELSE 0 END) = 0", (ANNOUNCE,))
        return [int(r["subject"].removeprefix("poll:")) for r in rows]

    async def announced(self, poll_id: int) -> set[str]:
        """The steps of a close's announcement already taken: "due", "platform:channel" of each final post, "done"."""
        rows = await self.storage.fetchall("SELECT detail FROM audit_log WHERE action = ? AND subject = ?",
                                           (ANNOUNCE, f"poll:{poll_id}"))
        return {r["detail"] for r in rows}

    async def mark_announced(self, poll_id: int, step: str) -> None:
        await self.storage.audit("bot", ANNOUNCE, f"poll:{poll_id}", step)

    def _arm(self, poll_id: int, closes_at: float) -> None:
        old = self._timers.pop(poll_id, None)
        if old is not None:
            old.cancel()
        self._timers[poll_id] = asyncio.create_task(self._close_at(poll_id, closes_at))

    async def _close_at(self, poll_id: int, closes_at: float) -> None:
        await asyncio.sleep(max(0.0, closes_at - time.time()))
        try:
            await self._on_due(poll_id)
        except Exception:
            log.exception("timed close of poll %s failed", poll_id)


def _vote_script(batch: list[_Vote]) -> Script[tuple[list[str | PollError], list[int]]]:
    """The votes of a batch as one transaction script: each vote's outcome (in the batch's order) and the polls
    found closed. Reads inside the transaction: a close that committed a moment ago wins over these votes."""
    outcomes: dict[int, str | PollError] = {}  # by position in the batch
    closed: list[int] = []
    added: list[tuple[int, str, str, int, int, float]] = []
    removed: list[tuple[int, str, int]] = []
    changed: list[int] = []
    for poll_id in dict.fromkeys(v.poll.id for v in batch):
        votes = [(n, v) for n, v in enumerate(batch) if v.poll.id == poll_id]
        # The poll's state comes with the ballots in one query: the write lock is held across each.
        voters = list(dict.fromkeys(v.member.id for _, v in votes))
        ballots: dict[str, list[int]] = {voter: [] for voter in voters}
        is_closed = False
        for start in range(0, len(voters), 500):
            chunk = voters[start:start + 500]
            rows = yield Read(
                f"SELECT p.closed_at, v.voter, v.position FROM polls AS p LEFT JOIN poll_votes AS v "
                f"ON v.poll_id = p.id AND v.voter IN ({','.join('?' * len(chunk))}) WHERE p.id = ? "
                "ORDER BY v.preference, v.position", (*chunk, poll_id))
            if not rows or rows[0][0] is not None:
                is_closed = True
                break
            for _, voter, pos in rows:
                if voter is not None:
                    ballots[voter].append(pos)
        if is_closed:
            closed.append(poll_id)
            for n, _ in votes:
                outcomes[n] = PollError("This poll is closed, so votes can't change any more.")
            continue
        # (position, rank) pairs: a ranked option that moves up is deleted and written again.
        ranked = votes[0][1].poll.kind == "ranked"
        before = {voter: set(enumerate_ranks(b, ranked)) for voter, b in ballots.items()}
        names: dict[str, str] = {}
        for n, v in votes:
            outcomes[n] = press(v.poll, ballots[v.member.id], v.position)
            names[v.member.id] = v.member.name[:80]
        if any(not isinstance(outcomes[n], PollError) for n, _ in votes):
            changed.append(poll_id)
        now = time.time()
        for voter, ballot in ballots.items():
            after = set(enumerate_ranks(ballot, ranked))
            removed += [(poll_id, voter, p) for p, _ in before[voter] - after]
            added += [(poll_id, voter, names[voter], p, r, now) for p, r in after - before[voter]]
    yield WriteMany("DELETE FROM poll_votes WHERE poll_id = ? AND voter = ? AND position = ?", removed)
    yield WriteMany("INSERT INTO poll_votes(poll_id, voter, voter_name, position, preference, voted_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", added)
    yield WriteMany("UPDATE polls SET tally_version = tally_version + 1 WHERE id = ?", [(p,) for p in changed])
    return [outcomes[n] for n in range(len(batch))], closed


async def _bump(db: Connection, poll_ids: list[int]) -> None:
    """In the transaction making the change: a newer tally version, so every copy is edited to show it."""
    if poll_ids:
        await db.executemany("UPDATE polls SET tally_version = tally_version + 1 WHERE id = ?",
                             [(p,) for p in poll_ids])
