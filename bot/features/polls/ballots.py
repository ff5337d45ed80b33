"""A poll and its ballots, free of storage: `Poll`, `Tally`, the rules of one press, who may vote, and counting
(plain counts, a rating's average, a ranked poll's instant runoff round by round).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.core.records import Member, Role
from bot.features.polls.spec import PollError


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
    kind: str = "choice"  # choice | ranked | rating
    min_choices: int = 1
    results: str = "always"  # always | voted | closed | moderators
    voter_roles: tuple[str, ...] = ()
    allow_add: bool = False
    opens_at: float | None = None
    community: str = ""  # where it was started: only that community's members and moderators reach it

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def not_yet_open(self, now: float | None = None) -> bool:
        """Scheduled to open later: shown, but no one can vote yet."""
        return self.opens_at is not None and (time.time() if now is None else now) < self.opens_at

    def may_vote(self, member: Member) -> bool:
        """Everyone, or only members holding one of the poll's roles ("moderators" / "admins" by staff role)."""
        if not self.voter_roles:
            return True
        named = {"moderators": Role.MODERATOR, "admins": Role.ADMIN}
        return bool(member.platform_roles & set(self.voter_roles)) or any(
            member.role >= named[r] for r in self.voter_roles if r in named)

    def may_see_results(self, member: Member | None, voted: bool) -> bool:
        """The poll's results setting applied to one member (None: the public poll message)."""
        staff = member is not None and (member.role >= Role.MODERATOR or member.id == self.creator)
        if self.results == "moderators":
            return staff
        if not self.is_open or self.results == "always":
            return True
        return self.results == "voted" and voted and member is not None


@dataclass(frozen=True)
class Tally:
    """The combined count of one poll over every place it was posted."""

    counts: tuple[int, ...]  # per option; a ranked poll's first choices
    voters: int  # members whose ballot counts (at least the poll's minimum of picks)
    names: tuple[tuple[str, ...], ...] = field(default=())  # per option, for public polls
    ballots: tuple[tuple[int, ...], ...] = ()  # ranked polls: each counted ballot, first choice first
    waiting: int = 0  # members who picked fewer than the minimum so far

    @property
    def total(self) -> int:
        return sum(self.counts)


def count(poll: Poll, rows: list[tuple[str, str, int, int]]) -> Tally:
    """A tally from the stored picks (voter, name, position, rank), in the order they were made."""
    picks: dict[str, list[tuple[int, int]]] = {}
    names: dict[str, str] = {}
    for voter, name, position, rank in rows:
        picks.setdefault(voter, []).append((rank, position))
        names[voter] = name
    counts = [0] * len(poll.options)
    voted: list[list[str]] = [[] for _ in poll.options]
    ballots = []
    waiting = 0
    for voter, ballot in picks.items():
        if len(ballot) < poll.min_choices:
            waiting += 1
            continue
        ordered = tuple(p for _, p in sorted(ballot))
        ballots.append(ordered)
        for position in ordered[:1] if poll.kind == "ranked" else ordered:
            counts[position] += 1
            voted[position].append(names[voter])
    return Tally(tuple(counts), len(ballots), tuple(tuple(n) for n in voted),
                 tuple(ballots) if poll.kind == "ranked" else (), waiting)


def press(poll: Poll, ballot: list[int], position: int) -> str | PollError:
    """One button press applied to one member's ballot (in place, in rank order): the rules of voting, in one
    place. A ranked ballot grows in the order options are pressed; pressing one again takes it off."""
    option = poll.options[position]
    if poll.kind == "ranked":
        if position in ballot:
            ballot.remove(position)
            said = f"“{option}” is off your ranking."
        else:
            ballot.append(position)
            said = f"“{option}” is your choice number {len(ballot)}."
        order = " > ".join(poll.options[p] for p in ballot) or "nothing ranked"
        return f"{said} Your ranking: {order}.{_short(poll, ballot)}"
    if position in ballot:
        ballot.remove(position)
        return f"Your vote for “{option}” is withdrawn.{_short(poll, ballot)}"
    if poll.max_choices == 1:
        ballot.clear()
    elif len(ballot) >= poll.max_choices:
        return PollError(f"You can pick up to {poll.max_choices} options. Press one of your choices again to "
                         "remove it first.")
    ballot.append(position)
    if len(ballot) < poll.min_choices:
        return f"“{option}” is picked.{_short(poll, ballot)}"
    return f"Your vote for “{option}” is counted."


def _short(poll: Poll, ballot: list[int]) -> str:
    missing = poll.min_choices - len(ballot)
    if not ballot or missing <= 0:
        return ""
    return f" Pick {missing} more for your vote to count (at least {poll.min_choices})."


@dataclass(frozen=True)
class Round:
    """One round of an instant runoff: each remaining option's votes, and who was out after it."""

    counts: dict[int, int]
    eliminated: tuple[int, ...]
    exhausted: int  # ballots with none of the remaining options left


def instant_runoff(ballots: tuple[tuple[int, ...], ...], options: int) -> tuple[list[Round], tuple[int, ...]]:
    """Rounds of an instant runoff and the winner(s): each round every ballot counts for its highest-ranked
    remaining option; an option with more than half of those wins, else the fewest are eliminated (all of the
    tied fewest at once, so the result never depends on an arbitrary pick). A tie between every remaining
    option ends it as a tie."""
    remaining = set(range(options))
    rounds: list[Round] = []
    while remaining:
        counts = dict.fromkeys(sorted(remaining), 0)
        exhausted = 0
        for ballot in ballots:
            top = next((p for p in ballot if p in remaining), None)
            if top is None:
                exhausted += 1
            else:
                counts[top] += 1
        active = sum(counts.values())
        best = max(counts.values())
        if active == 0:
            rounds.append(Round(counts, (), exhausted))
            return rounds, ()
        if best * 2 > active:
            rounds.append(Round(counts, (), exhausted))
            return rounds, tuple(p for p, c in counts.items() if c == best)
        fewest = min(counts.values())
        out = tuple(p for p, c in counts.items() if c == fewest)
        if len(out) == len(remaining):
            rounds.append(Round(counts, (), exhausted))
            return rounds, out
        rounds.append(Round(counts, out, exhausted))
        remaining -= set(out)
    return rounds, ()


def rating_average(tally: Tally) -> float:
    """The mean of a rating poll (option i is the number i + 1)."""
    votes = tally.total
    return sum((i + 1) * c for i, c in enumerate(tally.counts)) / votes if votes else 0.0
