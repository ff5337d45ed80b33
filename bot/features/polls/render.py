"""How a poll is shown: the public poll message with its buttons, private and final results with text bars and
a chart, and the CSV export.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from bot.core.records import Button, Image, Reply
from bot.features.polls.charts import bar_chart_png
from bot.features.polls.store import Poll, Tally

BAR_WIDTH = 12
# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(…), =cmd|…, @SUM(…)).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def bar(share: float) -> str:
    filled = round(share * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def results_lines(poll: Poll, tally: Tally, *, with_names: bool = False) -> list[str]:
    lines = []
    for i, option in enumerate(poll.options):
        count = tally.counts[i]
        share = count / tally.total if tally.total else 0.0
        lines.append(f"{i + 1}. {option}")
        lines.append(f"   {bar(share)} {count} vote{'s' if count != 1 else ''} ({share:.0%})")
        if with_names and not poll.anonymous and tally.names and tally.names[i]:
            shown = ", ".join(tally.names[i][:20]) + (" …" if len(tally.names[i]) > 20 else "")
            lines.append(f"   {shown}")
    return lines


def poll_reply(poll: Poll, tally: Tally) -> Reply:
    """The public poll message: question, options with live bars, vote buttons while open."""
    show_results = not poll.hide_results or not poll.is_open
    if show_results:
        body = results_lines(poll, tally, with_names=True)
    else:
        body = [f"{i + 1}. {o}" for i, o in enumerate(poll.options)]
        body.append("")
        body.append("Results are shown when the poll closes.")
    facts = ["anonymous" if poll.anonymous else "public votes",
             "pick one" if poll.max_choices == 1 else f"pick up to {poll.max_choices}",
             f"{tally.voters} voter{'s' if tally.voters != 1 else ''}"]
    if poll.is_open and poll.closes_at:
        facts.append(f"closes {when(poll.closes_at)}")
    if not poll.is_open and poll.closed_at:
        facts.append(f"closed {when(poll.closed_at)}")
    buttons: tuple[Button, ...] = ()
    if poll.is_open:
        buttons = tuple(Button(f"{i + 1}. {o}"[:75], f"poll:{poll.id}:vote:{i}", "primary")
                        for i, o in enumerate(poll.options))
        buttons += (Button("My vote / results", f"poll:{poll.id}:results"),
                    Button("Close poll", f"poll:{poll.id}:close", "danger"))
    title = f"Poll #{poll.id}: {poll.question}" if poll.is_open else f"Poll #{poll.id} (closed): {poll.question}"
    return Reply(title=title[:250], text="\n".join(body),
                 footer=f"{' · '.join(facts)} · started by {poll.creator_name}",
                 buttons=buttons, ephemeral=False)


def results_reply(poll: Poll, tally: Tally, ballot: tuple[int, ...] = (), *, chart: bool = True) -> Reply:
    """Private results for one member: the tally (unless hidden), their own ballot, a chart where possible."""
    lines: list[str] = []
    if ballot:
        lines.append("Your vote: " + ", ".join(poll.options[i] for i in ballot))
    elif poll.is_open:
        lines.append("You haven't voted yet.")
    hidden = poll.hide_results and poll.is_open
    if hidden:
        lines.append("Results are hidden until the poll closes.")
    else:
        lines += results_lines(poll, tally, with_names=True)
    image = None
    if chart and not hidden and tally.total:
        image = Image(f"poll-{poll.id}.png", bar_chart_png(list(tally.counts)))
    return Reply(title=f"Results of poll #{poll.id}: {poll.question}"[:250], text="\n".join(lines), image=image,
                 footer=f"{tally.voters} voter{'s' if tally.voters != 1 else ''}")


def final_reply(poll: Poll, tally: Tally) -> Reply:
    """The final results of a closed poll, posted publicly with a chart in each channel that showed it."""
    final = results_reply(poll, tally)
    return Reply(title=f"Poll #{poll.id} closed: {poll.question}"[:250], text=final.text, image=final.image,
                 footer=final.footer, ephemeral=False)


def spreadsheet_text(text: str) -> str:
    """A member's text as a CSV cell a spreadsheet shows as text, never runs as a formula: as OWASP advises, a
    single quote before a cell that starts with =, +, -, @, tab or carriage return."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def results_csv(poll: Poll, tally: Tally) -> str:
    """One row per option with votes and percent, and who voted for it on public polls: for spreadsheets. Text
    members wrote (question, options, names) is neutralised so opening the file never runs a formula."""
    out = io.StringIO()
    # Every cell in double quotes (inner ones doubled): a ';' or ',' in a name cannot start a new cell, and so
    # a formula, in a spreadsheet that splits on another separator.
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    header = ["poll_id", "question", "position", "option", "votes", "percent"]
    if not poll.anonymous:
        header.append("voters")
    writer.writerow(header)
    for i, option in enumerate(poll.options):
        share = 100 * tally.counts[i] / tally.total if tally.total else 0.0
        row = [poll.id, spreadsheet_text(poll.question), i + 1, spreadsheet_text(option), tally.counts[i],
               f"{share:.1f}"]
        if not poll.anonymous:
            row.append(spreadsheet_text("; ".join(tally.names[i])))
        writer.writerow(row)
    return out.getvalue()
