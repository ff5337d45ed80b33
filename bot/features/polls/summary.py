"""Results as words, for every kind of poll: counts with what each percentage is of, a rating's average and
spread, a ranked poll's instant runoff round by round. Shared by the messages, the chart and the CSV.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.features.polls.ballots import Poll, Tally, instant_runoff, rating_average

BAR_WIDTH = 12


def bar(share: float) -> str:
    filled = round(share * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Shares:
    """What the bars and percentages of one poll's results are: per option a count, out of `base` `of`."""

    counts: tuple[int, ...]
    base: int
    of: str  # "votes", "voters", "ballots in the final round"
    note: str  # one plain sentence saying what the percentages are of, for the chart and the message


def shares(poll: Poll, tally: Tally) -> Shares:
    """The counts to draw and what their percentages are of, in one place for text, chart and CSV."""
    if poll.kind == "ranked":
        rounds, _ = instant_runoff(tally.ballots, len(poll.options))
        last = rounds[-1].counts if rounds else {}
        counts = tuple(last.get(i, 0) for i in range(len(poll.options)))
        base = sum(counts)
        return Shares(counts, base, "votes", f"Final round of the instant runoff: {plural(base, 'ballot')} "
                                             f"still counting; percentages are of those.")
    if poll.kind == "rating":
        return Shares(tally.counts, tally.total, "ratings",
                      f"Average {rating_average(tally):.1f} of {len(poll.options)} from {plural(tally.total, 'rating')}"
                      "; percentages are of the ratings.")
    if poll.max_choices > 1:
        return Shares(tally.counts, tally.voters, "voters",
                      f"Percentages are of the {plural(tally.voters, 'voter')}, who could each pick up to "
                      f"{poll.max_choices}: {plural(tally.total, 'vote')} in all.")
    return Shares(tally.counts, tally.total, "votes", f"{plural(tally.total, 'vote')}; percentages are of the votes.")


def count_line(poll: Poll, count: int, base: int) -> str:
    share = count / base if base else 0.0
    if poll.kind == "choice" and poll.max_choices > 1:
        return f"{bar(share)} {plural(count, 'vote')} ({share:.0%} of voters)"
    return f"{bar(share)} {plural(count, 'vote')} ({share:.0%})"


def results_lines(poll: Poll, tally: Tally, *, with_names: bool = False) -> list[str]:
    """Every option with its bar, count and percentage, then what the numbers mean for this kind of poll."""
    lines: list[str] = []
    first = poll.kind == "ranked"
    if first:
        lines.append("First choices:")
    base = tally.total if first else shares(poll, tally).base
    for i, option in enumerate(poll.options):
        lines.append(f"{i + 1}. {option}")
        lines.append(f"   {count_line(poll, tally.counts[i], base)}")
        if with_names and not poll.anonymous and tally.names and tally.names[i]:
            shown = ", ".join(tally.names[i][:20]) + (" …" if len(tally.names[i]) > 20 else "")
            lines.append(f"   {shown}")
    if poll.kind == "choice" and poll.max_choices > 1:
        lines.append(shares(poll, tally).note)
    if poll.kind == "rating":
        lines.append(f"Average: {rating_average(tally):.1f} out of {len(poll.options)} "
                     f"({plural(tally.total, 'rating')}).")
    if poll.kind == "ranked":
        lines += runoff_lines(poll, tally)
    if tally.waiting:
        lines.append(f"{plural(tally.waiting, 'member')} picked fewer than {poll.min_choices} so far; their votes "
                     "count once they pick enough.")
    return lines


def runoff_lines(poll: Poll, tally: Tally) -> list[str]:
    """The instant runoff, one line per round, as Discourse shows it."""
    if not tally.ballots:
        return []
    rounds, winners = instant_runoff(tally.ballots, len(poll.options))
    lines = ["Instant runoff:"]
    for n, rnd in enumerate(rounds, start=1):
        standing = ", ".join(f"{poll.options[p]} {c}" for p, c in sorted(rnd.counts.items(), key=lambda pc: -pc[1]))
        line = f"Round {n}: {standing}"
        if rnd.eliminated:
            line += " → out: " + ", ".join(poll.options[p] for p in rnd.eliminated)
        if rnd.exhausted:
            line += f" ({plural(rnd.exhausted, 'ballot')} with no choice left)"
        lines.append(line)
    if len(winners) == 1:
        lines.append(f"Winner: {poll.options[winners[0]]}")
    elif winners:
        lines.append("Tie: " + ", ".join(poll.options[p] for p in winners))
    return lines
