"""Polls in the database: `Poll`, `Tally`, the rules of a ballot, votes through one group-commit writer, closing,
and the timers that close timed polls (re-armed from the database after a restart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.core.records import Member, MessageRef
from bot.core.storage import Storage
from bot.features.polls.spec import PollError, PollSpec

log = logging.getLogger(__name__)

BY_TIMER = "timer"  # who closed a poll whose closing time came; not audited, as no one decided it


@dataclass(frozen=True)
class Poll:
    """A poll as stored; closed once `closed_at` is set."""

    id: int
    question: str
    options: tuple[str, ...]
    creator: str
    creator_name: str
    max_choices: int
    anonymous: bool
    hide_results: bool
    closes_at: float | None
    closed_at: float | None
    closed_by: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Tally:
    """The combined count of one poll over every place it was posted."""

    counts: tuple[int, ...]
    voters: int  # distinct members who voted
    names: tuple[tuple[str, ...], ...] = field(default=())  # per option, for public polls

    @property
    def total(self) -> int:
        return sum(self.counts)


def _press(poll: Poll, ballot: set[int], position: int) -> str | PollError:
    """One button press applied to one member's ballot (in place): the rules of voting, in one place."""
    option = poll.options[position]
    if position in ballot:
        ballot.discard(position)
        return f"Your vote for “{option}” is withdrawn."
    if poll.max_choices == 1:
        ballot.clear()
    elif len(ballot) >= poll.max_choices:
        return PollError(f"You can pick up to {poll.max_choices} options. Press one of your choices again to "
                         "remove it first.")
    ballot.add(position)
    return f"Your vote for “{option}” is counted."


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
        """Re-arm the timers of open timed polls: a poll due while the bot was down closes now."""
        rows = await self.storage.fetchall("SELECT id, closes_at FROM polls WHERE closed_at IS NULL AND "
                                           "closes_at IS NOT NULL")
        for row in rows:
            self._arm(row["id"], row["closes_at"])

    async def stop(self) -> None:
        """Commit the votes already pressed and drop the timers, before the database closes."""
        if self._writer is not None:
            await self._writer
        for task in list(self._timers.values()):
            task.cancel()
        self._timers.clear()

    # -- polls --------------------------------------------------------------------------------------------

    async def create(self, spec: PollSpec, creator: Member) -> Poll:
        now = time.time()
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO polls(question, creator, creator_name, max_choices, anonymous, hide_results, closes_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.question, creator.id, creator.name, spec.max_choices, int(spec.anonymous),
                 int(spec.hide_results), spec.closes_at, now))
            poll_id = cursor.lastrowid
            assert poll_id is not None
            await db.executemany("INSERT INTO poll_options(poll_id, position, text) VALUES (?, ?, ?)",
                                 [(poll_id, i, o) for i, o in enumerate(spec.options)])
        poll = await self.get(poll_id)
        assert poll is not None
        if poll.closes_at:
            self._arm(poll.id, poll.closes_at)
        return poll

    async def get(self, poll_id: int) -> Poll | None:
        cached = self._cache.get(poll_id)
        if cached is not None:
            return cached
        row = await self.storage.fetchone("SELECT * FROM polls WHERE id = ?", (poll_id,))
        if row is None:
            return None
        options = await self.storage.fetchall("SELECT text FROM poll_options WHERE poll_id = ? ORDER BY position",
                                              (poll_id,))
        poll = Poll(row["id"], row["question"], tuple(o["text"] for o in options), row["creator"],
                    row["creator_name"], row["max_choices"], bool(row["anonymous"]), bool(row["hide_results"]),
                    row["closes_at"], row["closed_at"], row["closed_by"])
        self._cache[poll_id] = poll
        return poll

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

    async def add_post(self, poll_id: int, ref: MessageRef) -> None:
        await self.storage.execute("INSERT OR IGNORE INTO poll_posts(poll_id, ref) VALUES (?, ?)",
                                   (poll_id, ref.encode()))

    # -- votes --------------------------------------------------------------------------------------------

    async def tally(self, poll: Poll) -> Tally:
        rows = await self.storage.fetchall(
            "SELECT position, voter_name FROM poll_votes WHERE poll_id = ? ORDER BY voted_at", (poll.id,))
        counts = [0] * len(poll.options)
        names: list[list[str]] = [[] for _ in poll.options]
        for r in rows:
            counts[r["position"]] += 1
            names[r["position"]].append(r["voter_name"])
        voters = await self.storage.fetchone("SELECT COUNT(DISTINCT voter) FROM poll_votes WHERE poll_id = ?",
                                             (poll.id,))
        return Tally(tuple(counts), voters[0] if voters else 0, tuple(tuple(n) for n in names))

    async def ballot(self, poll_id: int, voter: str) -> tuple[int, ...]:
        rows = await self.storage.fetchall(
            "SELECT position FROM poll_votes WHERE poll_id = ? AND voter = ? ORDER BY position", (poll_id, voter))
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
        outcomes: list[tuple[_Vote, str | PollError]] = []
        async with self.storage.transaction() as db:
            added: list[tuple[int, str, str, int, float]] = []
            removed: list[tuple[int, str, int]] = []
            for poll_id in {v.poll.id for v in batch}:
                votes = [v for v in batch if v.poll.id == poll_id]
                # Read inside the transaction: a close that committed a moment ago wins over these votes.
                state = list(await db.execute_fetchall("SELECT closed_at FROM polls WHERE id = ?", (poll_id,)))
                if not state or state[0][0] is not None:
                    self._cache.pop(poll_id, None)
                    outcomes += [(v, PollError("This poll is closed, so votes can't change any more."))
                                 for v in votes]
                    continue
                voters = list({v.member.id for v in votes})
                ballots: dict[str, set[int]] = {voter: set() for voter in voters}
                for start in range(0, len(voters), 500):
                    chunk = voters[start:start + 500]
                    rows = await db.execute_fetchall(
                        f"SELECT voter, position FROM poll_votes WHERE poll_id = ? AND voter IN "
                        f"({','.join('?' * len(chunk))})", (poll_id, *chunk))
                    for voter, pos in rows:
                        ballots[voter].add(pos)
                before = {voter: set(b) for voter, b in ballots.items()}
                names: dict[str, str] = {}
                for v in votes:
                    outcomes.append((v, _press(v.poll, ballots[v.member.id], v.position)))
                    names[v.member.id] = v.member.name[:80]
                now = time.time()
                for voter, after in ballots.items():
                    removed += [(poll_id, voter, p) for p in before[voter] - after]
                    added += [(poll_id, voter, names[voter], p, now) for p in after - before[voter]]
            if removed:
                await db.executemany("DELETE FROM poll_votes WHERE poll_id = ? AND voter = ? AND position = ?",
                                     removed)
            if added:
                await db.executemany("INSERT INTO poll_votes(poll_id, voter, voter_name, position, voted_at) "
                                     "VALUES (?, ?, ?, ?, ?)", added)
        for vote, outcome in outcomes:  # only now: "counted" must mean committed
            if vote.future.done():
                continue
            if isinstance(outcome, PollError):
                vote.future.set_exception(outcome)
            else:
                vote.future.set_result(outcome)

    # -- closing ------------------------------------------------------------------------------------------

    async def close(self, poll_id: int, by: str) -> Poll | None:
        """Close once; returns the closed poll, or None when it was already closed (or doesn't exist)."""
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "UPDATE polls SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
                (time.time(), by, poll_id))
            changed = cursor.rowcount
        self._cache.pop(poll_id, None)
        timer = self._timers.pop(poll_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if not changed:
            return None
        if by != BY_TIMER:
            await self.storage.audit(by, "poll.close", f"poll:{poll_id}")
        poll = await self.get(poll_id)
        assert poll is not None
        return poll

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
