"""How a poll is shown: the public poll message with its buttons, private and final results with text bars and
a chart, the creator's private copy of the final results, and the CSV export.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from bot.core.records import Button, Image, Member, Reply
from bot.features.polls.ballots import Poll, Tally
from bot.features.polls.charts import results_chart_png
from bot.features.polls.summary import plural, results_lines, shares

# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(…), =cmd|…, @SUM(…)).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HIDDEN = {
    "closed": "Results are hidden until the poll closes.",
    "voted": "Results are shown to each member once they have voted: vote, then press “My vote / results”.",
    "moderators": "Results of this poll are shown only to moderators and the member who started it.",
}


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def how_to_vote(poll: Poll) -> str:
    if poll.kind == "ranked":
        return "ranked: press options in order of preference"
    if poll.kind == "rating":
        return f"rate 1 to {len(poll.options)}"
    if poll.min_choices > 1 and poll.min_choices == poll.max_choices:
        return f"pick {poll.min_choices}"
    if poll.min_choices > 1:
        return f"pick {poll.min_choices} to {poll.max_choices}"
    return "pick one" if poll.max_choices == 1 else f"pick up to {poll.max_choices}"


def poll_reply(poll: Poll, tally: Tally) -> Reply:
    """The public poll message: question, options with live bars (if everyone may see them), buttons."""
    if poll.may_see_results(None, voted=False):
        body = results_lines(poll, tally, with_names=True)
    else:
        body = [f"{i + 1}. {o}" for i, o in enumerate(poll.options)]
        body += ["", HIDDEN[poll.results]]
    facts = ["anonymous" if poll.anonymous else "public votes", how_to_vote(poll), plural(tally.voters, "voter")]
    if poll.voter_roles:
        facts.append("only some roles may vote")
    if poll.allow_add and poll.is_open:
        facts.append("members can add options")
    waiting = poll.is_open and poll.not_yet_open()
    if waiting and poll.opens_at:
        facts.append(f"opens {when(poll.opens_at)}")
    if poll.is_open and poll.closes_at:
        facts.append(f"closes {when(poll.closes_at)}")
    if not poll.is_open and poll.closed_at:
        facts.append(f"closed {when(poll.closed_at)}")
    buttons: tuple[Button, ...] = ()
    if poll.is_open and not waiting:
        buttons = tuple(Button(f"{i + 1}. {o}"[:75] if poll.kind != "rating" else o, f"poll:{poll.id}:vote:{i}",
                               "primary") for i, o in enumerate(poll.options))
    if poll.is_open:
        buttons += (Button("My vote / results", f"poll:{poll.id}:results"),)
        if poll.allow_add and not waiting:
            buttons += (Button("Add an option", f"poll:{poll.id}:add"),)
        buttons += (Button("Close poll", f"poll:{poll.id}:close", "danger"),)
    else:
        if poll.results == "moderators":
            buttons += (Button("Results (moderators)", f"poll:{poll.id}:results"),)
        buttons += (Button("Reopen poll", f"poll:{poll.id}:reopen"),)
    title = f"Poll #{poll.id}: {poll.question}" if poll.is_open else f"Poll #{poll.id} (closed): {poll.question}"
    return Reply(title=title[:250], text="\n".join(body),
                 footer=f"{' · '.join(facts)} · started by {poll.creator_name}",
                 buttons=buttons, ephemeral=False)


def chart(poll: Poll, tally: Tally) -> Image | None:
    """The results chart: readable on its own (question, every option, counts, percentages)."""
    if not tally.voters:
        return None
    found = shares(poll, tally)
    return Image(f"poll-{poll.id}.png", results_chart_png(poll.question, poll.options, found.counts, found.base,
                                                           found.note))


def results_reply(poll: Poll, tally: Tally, ballot: tuple[int, ...] = (), *, chart_too: bool = True,
                  viewer: Member | None = None) -> Reply:
    """Private results for one member: the tally (if the poll's results setting lets them see it), their own
    ballot, a chart where possible. Without a viewer, as everyone would see them."""
    lines: list[str] = []
    if ballot:
        joiner = " > " if poll.kind == "ranked" else ", "
        lines.append("Your vote: " + joiner.join(poll.options[i] for i in ballot))
        if len(ballot) < poll.min_choices and poll.is_open:
            lines.append(f"Pick {poll.min_choices - len(ballot)} more for your vote to count.")
    elif poll.is_open:
        lines.append("You haven't voted yet.")
    shown = poll.may_see_results(viewer, voted=len(ballot) >= poll.min_choices)
    if shown:
        lines += results_lines(poll, tally, with_names=True)
    else:
        lines.append(HIDDEN.get(poll.results, HIDDEN["closed"]))
    image = chart(poll, tally) if chart_too and shown else None
    return Reply(title=f"Results of poll #{poll.id}: {poll.question}"[:250], text="\n".join(lines), image=image,
                 footer=plural(tally.voters, "voter"))


def final_reply(poll: Poll, tally: Tally) -> Reply:
    """The final results of a closed poll, posted publicly with a chart in each channel that showed it."""
    final = results_reply(poll, tally)
    return Reply(title=f"Poll #{poll.id} closed: {poll.question}"[:250], text=final.text, image=final.image,
                 footer=final.footer, ephemeral=False)


def creator_reply(poll: Poll, tally: Tally) -> Reply:
    """The final results for the member who started the poll, privately (Polly's "results to creator")."""
    lines = [f"Your poll #{poll.id} has closed. The final results:"] + results_lines(poll, tally, with_names=True)
    return Reply(title=f"Your poll closed: {poll.question}"[:250], text="\n".join(lines), image=chart(poll, tally),
                 footer=plural(tally.voters, "voter"))


def spreadsheet_text(text: str) -> str:
    """A member's text as a CSV cell a spreadsheet shows as text, never runs as a formula: as OWASP advises, a
    single quote before a cell that starts with =, +, -, @, tab or carriage return."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def results_csv(poll: Poll, tally: Tally) -> str:
    """One row per option with votes, percent and what it is of, and who voted for it on public polls. Text
    members wrote (question, options, names) is neutralised so opening the file never runs a formula."""
    out = io.StringIO()
    # Every cell in double quotes (inner ones doubled): a ';' or ',' in a name cannot start a new cell, and so
    # a formula, in a spreadsheet that splits on another separator.
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    header = ["poll_id", "question", "position", "option", "votes", "percent", "percent_of"]
    if not poll.anonymous:
        header.append("voters")
    writer.writerow(header)
    # What a percentage is of, as the messages say it: voters on multiple choice, first choices on ranked polls.
    found = shares(poll, tally)
    base, of = (tally.total, "first choices") if poll.kind == "ranked" else (found.base, found.of)
    for i, option in enumerate(poll.options):
        share = 100 * tally.counts[i] / base if base else 0.0
        row = [poll.id, spreadsheet_text(poll.question), i + 1, spreadsheet_text(option), tally.counts[i],
               f"{share:.1f}", of]
        if not poll.anonymous:
            row.append(spreadsheet_text("; ".join(tally.names[i])))
        writer.writerow(row)
    return out.getvalue()
