"""Polls: create, vote by button, live tallies on every platform at once, timed closing that survives restarts.

One poll can be shown in several channels on Discord and Slack; every copy shows the one combined tally. A
member has one ballot per poll per platform identity, enforced by the database's primary key.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import re
import shlex
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.commands import Form, FormField, Option, action, command
from bot.core.contract import Feature
from bot.core.records import Action, Button, Image, Invocation, Member, MessageRef, Place, Reply, Role, error_reply
from bot.core.storage import Storage
from bot.core.yamlcheck import YamlFile
from bot.features.polls.charts import bar_chart_png

log = logging.getLogger(__name__)

MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_OPTION_LEN = 80
MAX_QUESTION_LEN = 250
MAX_DURATION = dt.timedelta(days=60)
BAR_WIDTH = 12


class PollError(ValueError):
    """Input a member can fix; the message is shown to them as is."""


@dataclass(frozen=True)
class PollSpec:
    """A poll as asked for, before it exists."""

    question: str
    options: tuple[str, ...]
    max_choices: int = 1
    anonymous: bool = True
    hide_results: bool = False
    closes_at: float | None = None
    post_to: tuple[Place, ...] = ()


@dataclass(frozen=True)
class Poll:
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
    counts: tuple[int, ...]
    voters: int  # distinct members who voted
    names: tuple[tuple[str, ...], ...] = field(default=())  # per option, for public polls

    @property
    def total(self) -> int:
        return sum(self.counts)


# -- input ----------------------------------------------------------------------------------------------------

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}


def clean_text(text: str) -> str:
    """NFKC, no control or invisible format characters, single spaces: what we store and show."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if unicodedata.category(c) in _INVISIBLE else c for c in text)
    return " ".join(text.split())


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$")


def parse_closes(text: str, now: float) -> float | None:
    """'30m', '2h', '3d', '1w', or a UTC time '2026-12-01 18:00'; empty means never."""
    text = text.strip().lower()
    if not text or text in ("never", "none", "no"):
        return None
    m = _DURATION.match(text)
    if m:
        amount, unit = float(m.group(1)), m.group(2)[0]
        seconds = amount * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        when = now + seconds
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("utc", "").strip())
        except ValueError:
            raise PollError(f"I couldn't read the closing time {text!r}. Use 30m, 2h, 3d or 2026-12-01 18:00 "
                            "(UTC).") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        when = parsed.timestamp()
    if when <= now + 30:
        raise PollError("The closing time must be at least a minute from now.")
    if when - now > MAX_DURATION.total_seconds():
        raise PollError("A poll can run for at most 60 days.")
    return when


def parse_places(text: str) -> tuple[Place, ...]:
    """'discord:123 slack:C456' -> places to post a copy of the poll."""
    places = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        platform, _, channel = item.partition(":")
        if platform not in ("discord", "slack", "console") or not channel:
            raise PollError(f"I don't understand the channel {item!r}: write it as discord:CHANNEL_ID or "
                            "slack:CHANNEL_ID.")
        places.append(Place(platform, channel.lstrip("#")))
    return tuple(dict.fromkeys(places))


def build_spec(question: str, options: list[str], *, max_choices: int = 1, anonymous: bool = True,
               hide_results: bool = False, closes: str = "", post_to: str = "", now: float | None = None) -> PollSpec:
    """Validate everything a member can get wrong, with one clear message for the first problem."""
    now = time.time() if now is None else now
    question = clean_text(question)
    if not question:
        raise PollError("Please give the poll a question.")
    if len(question) > MAX_QUESTION_LEN:
        raise PollError(f"The question is {len(question)} characters; please keep it under {MAX_QUESTION_LEN}.")
    cleaned = [clean_text(o) for o in options]
    if any(not o for o in cleaned):
        raise PollError("One of the options is empty. Every option needs some text.")
    if len(cleaned) < MIN_OPTIONS:
        raise PollError("A poll needs at least two options.")
    if len(cleaned) > MAX_OPTIONS:
        raise PollError(f"A poll can have at most {MAX_OPTIONS} options; this one has {len(cleaned)}.")
    for o in cleaned:
        if len(o) > MAX_OPTION_LEN:
            raise PollError(f"The option {o[:30]!r}… is {len(o)} characters; please keep options under "
                            f"{MAX_OPTION_LEN}.")
    folded = [o.casefold() for o in cleaned]
    duplicates = sorted({o for o in cleaned if folded.count(o.casefold()) > 1})
    if duplicates:
        raise PollError(f"The option {duplicates[0]!r} is listed twice.")
    if not 1 <= max_choices <= len(cleaned):
        raise PollError(f"Members can pick between 1 and {len(cleaned)} options, not {max_choices}.")
    return PollSpec(question, tuple(cleaned), max_choices, anonymous, hide_results, parse_closes(closes, now),
                    parse_places(post_to))


def parse_line(line: str, now: float | None = None) -> tuple[PollSpec | None, str | None]:
    """The one-line form: `"Question?" "A" "B" --multi 2 --public --hide-results --closes 2h --post slack:C1`.

    Returns (spec, None), or (None, template name) for `--template NAME`.
    """
    try:
        words = shlex.split(line.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'"))
    except ValueError:
        raise PollError('I couldn\'t read that: check that every quote is closed, e.g. /poll "Question?" "Yes" '
                        '"No".') from None
    texts: list[str] = []
    opts = {"max_choices": 1, "anonymous": True, "hide_results": False, "closes": "", "post_to": ""}
    template = None
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word in ("--multi", "--choices"):
            if nxt is None or not nxt.isdigit():
                raise PollError("--multi needs a number: how many options a member may pick.")
            opts["max_choices"], i = int(nxt), i + 2
            continue
        if word in ("--closes", "--close", "--duration", "--post", "--template"):
            if nxt is None:
                raise PollError(f"{word} needs a value.")
            if word == "--template":
                template = nxt
            else:
                opts["post_to" if word == "--post" else "closes"] = nxt
            i += 2
            continue
        if word == "--public":
            opts["anonymous"] = False
        elif word == "--anonymous":
            opts["anonymous"] = True
        elif word in ("--hide-results", "--hidden"):
            opts["hide_results"] = True
        elif word.startswith("--"):
            raise PollError(f"Unknown option {word}. Known: --multi N, --public, --hide-results, --closes 2h, "
                            "--post discord:ID,slack:ID, --template NAME.")
        else:
            texts.append(word)
        i += 1
    if template is not None:
        return None, template
    if not texts:
        raise PollError('Write the question and the options in quotes, e.g. /poll "Question?" "Yes" "No".')
    spec = build_spec(texts[0], texts[1:], max_choices=int(opts["max_choices"]), anonymous=bool(opts["anonymous"]),
                      hide_results=bool(opts["hide_results"]), closes=str(opts["closes"]),
                      post_to=str(opts["post_to"]), now=now)
    return spec, None


# -- templates ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    name: str
    question: str
    options: tuple[str, ...]
    max_choices: int = 1
    anonymous: bool = True
    hide_results: bool = False
    closes: str = ""


def load_templates(path: Path) -> tuple[dict[str, Template], list[str]]:
    """Templates by name, and problems as file:line: message (a bad template is skipped, never fatal)."""
    if not path.is_file():
        return {}, []
    doc = YamlFile(path)
    out: dict[str, Template] = {}
    if doc.root is not None:
        top = doc.mapping(doc.root, "file")
        items = top.get("templates") if top else None
        if top is not None and items is None:
            doc.add(doc.root, "missing 'templates:' list")
        for node in getattr(items[1], "value", []) if items else []:
            raw = doc.value(node)
            if not isinstance(raw, dict) or not {"name", "question", "options"} <= raw.keys():
                doc.add(node, "a template needs name, question and options")
                continue
            unknown = set(raw) - {"name", "question", "options", "max_choices", "anonymous", "hide_results", "closes"}
            if unknown:
                doc.add(node, f"template '{raw['name']}': unknown key(s) {', '.join(sorted(unknown))}")
                continue
            try:
                build_spec(str(raw["question"]), [str(o) for o in raw["options"]],
                           max_choices=int(raw.get("max_choices", 1)))
            except (PollError, TypeError, ValueError) as exc:
                doc.add(node, f"template '{raw['name']}': {exc}")
                continue
            out[str(raw["name"])] = Template(
                str(raw["name"]), str(raw["question"]), tuple(str(o) for o in raw["options"]),
                int(raw.get("max_choices", 1)), bool(raw.get("anonymous", True)),
                bool(raw.get("hide_results", False)), str(raw.get("closes", "")))
    return out, [str(p) for p in doc.problems]


# -- rendering ------------------------------------------------------------------------------------------------


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


# -- the feature ----------------------------------------------------------------------------------------------


@dataclass
class _Vote:
    poll: Poll
    member: Member
    position: int
    future: asyncio.Future[str]


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


class Polls(Feature):
    """Community polls with buttons, on every platform at once."""

    name = "polls"

    def __init__(self, storage: Storage, templates: Path, debounce: float = 2.0) -> None:
        self.storage = storage
        self.debounce = debounce
        self.templates, problems = load_templates(templates)
        for problem in problems:
            log.warning("poll template skipped: %s", problem)
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._cache: dict[int, Poll] = {}
        self._votes: asyncio.Queue[_Vote] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Re-arm the timers of open timed polls: a poll due while the bot was down closes now."""
        rows = await self.storage.fetchall("SELECT id, closes_at FROM polls WHERE closed_at IS NULL AND "
                                           "closes_at IS NOT NULL")
        for row in rows:
            self._arm(row["id"], row["closes_at"])

    async def stop(self) -> None:
        if self._writer is not None:
            await self._writer  # votes already pressed are committed before the database closes
        for task in list(self._timers.values()):
            task.cancel()
        # Edits waiting out their debounce are flushed now, so the last votes reach the platforms.
        pending = dict(self._pending)
        for task in pending.values():
            task.cancel()
        await asyncio.gather(*pending.values(), return_exceptions=True)
        for poll_id in pending:
            try:
                await asyncio.wait_for(self._refresh(poll_id), timeout=5)
            except Exception:
                log.exception("could not flush poll %s on shutdown", poll_id)
        self._pending.clear()
        self._timers.clear()

    # -- storage ------------------------------------------------------------------------------------------

    async def create(self, spec: PollSpec, creator: Member) -> Poll:
        now = time.time()
        async with self.storage.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO polls(question, creator, creator_name, max_choices, anonymous, hide_results, closes_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.question, creator.id, creator.name, spec.max_choices, int(spec.anonymous),
                 int(spec.hide_results), spec.closes_at, now))
            poll_id = cursor.lastrowid
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
        outcome = await future
        self._schedule_refresh(poll_id)
        return outcome

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
                state = await db.execute_fetchall("SELECT closed_at FROM polls WHERE id = ?", (poll_id,))
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
        if by != "timer":
            await self.storage.audit(by, "poll.close", f"poll:{poll_id}")
        poll = await self.get(poll_id)
        assert poll is not None
        await self._announce_close(poll)
        return poll

    async def posts(self, poll_id: int) -> list[MessageRef]:
        rows = await self.storage.fetchall("SELECT ref FROM poll_posts WHERE poll_id = ?", (poll_id,))
        return [MessageRef.decode(r["ref"]) for r in rows]

    async def publish(self, poll: Poll, places: list[Place]) -> list[str]:
        """Post the poll in each place; returns problems (a platform that is not connected, say)."""
        problems = []
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
            await self.storage.execute("INSERT OR IGNORE INTO poll_posts(poll_id, ref) VALUES (?, ?)",
                                       (poll.id, ref.encode()))
        return problems

    # -- live updates and timers --------------------------------------------------------------------------

    def _schedule_refresh(self, poll_id: int) -> None:
        if poll_id in self._pending:
            return
        self._pending[poll_id] = asyncio.create_task(self._refresh_later(poll_id))

    async def _refresh_later(self, poll_id: int) -> None:
        # A burst of votes within the debounce window becomes one edit per copy: platforms rate-limit edits.
        await asyncio.sleep(self.debounce)
        try:
            await self._refresh(poll_id)
        finally:
            self._pending.pop(poll_id, None)

    async def _refresh(self, poll_id: int) -> None:
        poll = await self.get(poll_id)
        if poll is None:
            return
        reply = poll_reply(poll, await self.tally(poll))
        for ref in await self.posts(poll_id):
            try:
                await self.host.update(ref, reply)
            except Exception:
                log.exception("could not update poll %s message %s", poll_id, ref.encode())

    def _arm(self, poll_id: int, closes_at: float) -> None:
        old = self._timers.pop(poll_id, None)
        if old is not None:
            old.cancel()
        self._timers[poll_id] = asyncio.create_task(self._close_at(poll_id, closes_at))

    async def _close_at(self, poll_id: int, closes_at: float) -> None:
        await asyncio.sleep(max(0.0, closes_at - time.time()))
        try:
            await self.close(poll_id, "timer")
        except Exception:
            log.exception("timed close of poll %s failed", poll_id)

    async def _announce_close(self, poll: Poll) -> None:
        """Show final results in place on every copy, and post them with a chart in each channel."""
        pending = self._pending.pop(poll.id, None)
        if pending is not None:
            pending.cancel()
        tally = await self.tally(poll)
        await self._refresh(poll.id)
        final = results_reply(poll, tally)
        final = Reply(title=f"Poll #{poll.id} closed: {poll.question}"[:250], text=final.text, image=final.image,
                      footer=final.footer, ephemeral=False)
        seen: set[tuple[str, str]] = set()
        for ref in await self.posts(poll.id):
            if (ref.platform, ref.channel) in seen:
                continue
            seen.add((ref.platform, ref.channel))
            try:
                await self.host.post(Place(ref.platform, ref.channel), final)
            except Exception:
                log.exception("could not post final results of poll %s", poll.id)

    # -- commands -----------------------------------------------------------------------------------------

    @command("poll", options=(
        Option("question", 'The question, or the one-line form: "Question?" "Option A" "Option B" --multi 2',
               rest=True),
        Option("choices", "The options, separated by | (2 to 10)"),
        Option("max_choices", "How many options a member may pick (default 1)"),
        Option("voters", "anonymous (default) or public", choices=("anonymous", "public")),
        Option("closes", "When it closes: 30m, 2h, 3d or 2026-12-01 18:00 UTC (default: never)"),
        Option("results", "always (default) or hidden until it closes", choices=("always", "hidden")),
        Option("post_to", "Moderators: also post to discord:CHANNEL_ID slack:CHANNEL_ID"),
        Option("template", "Start from a saved poll, e.g. would-you-try"),
    ), form=Form("New poll", (
        FormField("question", "Question", max_length=MAX_QUESTION_LEN),
        FormField("choices", "Options, one per line (2 to 10)", long=True, max_length=900),
        FormField("max_choices", "How many may a member pick? (default 1)", required=False, max_length=2),
        FormField("closes", "Closes after (30m, 2h, 3d) or at (2026-12-01 18:00 UTC)", required=False,
                  max_length=40),
        FormField("flags", "More: public, hidden (results until close)", required=False, max_length=60),
    )))
    async def cmd_poll(self, inv: Invocation) -> Reply:
        """Start a poll members answer with buttons; `/poll results ID` and `/poll close ID` too."""
        args = inv.args
        line = args.get("question", "").strip()
        head, _, rest = line.partition(" ")
        if head in ("results", "close") and rest.strip().lstrip("#").isdigit() and "choices" not in args:
            poll_id = int(rest.strip().lstrip("#"))
            return await (self._results(poll_id, inv.member) if head == "results" else self._close(poll_id, inv.member))
        if head in ("templates", "help") and not rest:
            return self.help_reply()
        try:
            spec = await self._spec_from(args, line)
        except PollError as exc:
            return error_reply(str(exc))
        if spec.post_to and inv.member.role < Role.MODERATOR:
            return error_reply("Only moderators can post a poll to other channels. Nothing was created.")
        poll = await self.create(spec, inv.member)
        await self.storage.audit(inv.member.id, "poll.create", f"poll:{poll.id}", poll.question)
        places = list(spec.post_to) or [inv.place]
        problems = await self.publish(poll, places)
        note = f"Poll #{poll.id} is up." if not problems else (
            f"Poll #{poll.id} is up, but I couldn't post it to: {', '.join(problems)}.")
        if len(places) > 1 or places[0] != inv.place:
            note += " Copies: " + ", ".join(f"{p.platform}:{p.channel}" for p in places) + "; they share one tally."
        return Reply(text=note)

    async def _spec_from(self, args: dict[str, str], line: str) -> PollSpec:
        template_name = args.get("template", "").strip()
        if not template_name and line and ("choices" not in args) and (line[0] in "\"'“‘" or "--" in line):
            spec, template_name_or_none = parse_line(line)
            if spec is not None:
                return spec
            template_name = template_name_or_none or ""
        if template_name:
            template = self.templates.get(template_name)
            if template is None:
                known = ", ".join(sorted(self.templates)) or "none"
                raise PollError(f"There is no poll template {template_name!r}. Templates: {known}.")
            return build_spec(template.question, list(template.options), max_choices=template.max_choices,
                              anonymous=template.anonymous, hide_results=template.hide_results,
                              closes=args.get("closes", template.closes), post_to=args.get("post_to", ""))
        if not line and "choices" not in args:
            raise PollError('Write the question and options, e.g. /poll "Question?" "Yes" "No", or use '
                            "/poll --template would-you-try.")
        choices = [c for c in re.split(r"\n|\|", args.get("choices", "")) if c.strip()]
        flags = args.get("flags", "").lower()
        max_raw = args.get("max_choices", "").strip() or "1"
        if not max_raw.isdigit():
            raise PollError("How many options a member may pick must be a number.")
        return build_spec(
            line, choices, max_choices=int(max_raw),
            anonymous=args.get("voters", "anonymous").lower() != "public" and "public" not in flags,
            hide_results=args.get("results", "always").lower() == "hidden" or "hidden" in flags,
            closes=args.get("closes", ""), post_to=args.get("post_to", ""))

    def help_reply(self) -> Reply:
        names = "\n".join(f"• {t.name}: {t.question}" for t in self.templates.values()) or "none"
        return Reply(title="Polls", text=(
            'Start one: /poll "Question?" "Option A" "Option B" (2 to 10 options).\n'
            "Options: --multi N (pick up to N), --public (show who voted), --hide-results (until it closes), "
            "--closes 2h (or 3d, or 2026-12-01 18:00 UTC), --post discord:ID,slack:ID (moderators).\n"
            "Results: /poll results ID · close: /poll close ID.\n"
            f"Templates (/poll --template NAME):\n{names}"))

    @command("poll-results", options=(Option("poll_id", "The poll number", required=True, rest=True),))
    async def cmd_results(self, inv: Invocation) -> Reply:
        """See a poll's results (with a chart where the platform shows images) and your own vote."""
        raw = inv.args.get("poll_id", "").strip().lstrip("#")
        if not raw.isdigit():
            return error_reply("Which poll? Give its number, e.g. /poll-results 12.")
        return await self._results(int(raw), inv.member)

    @command("poll-close", options=(Option("poll_id", "The poll number", required=True, rest=True),))
    async def cmd_close(self, inv: Invocation) -> Reply:
        """Close a poll you started (moderators: any poll) and post its final results."""
        raw = inv.args.get("poll_id", "").strip().lstrip("#")
        if not raw.isdigit():
            return error_reply("Which poll? Give its number, e.g. /poll-close 12.")
        return await self._close(int(raw), inv.member)

    async def _results(self, poll_id: int, member: Member) -> Reply:
        poll = await self.get(poll_id)
        if poll is None:
            return error_reply(f"There is no poll #{poll_id}.")
        return results_reply(poll, await self.tally(poll), await self.ballot(poll_id, member.id))

    async def _close(self, poll_id: int, member: Member) -> Reply:
        poll = await self.get(poll_id)
        if poll is None:
            return error_reply(f"There is no poll #{poll_id}.")
        if poll.creator != member.id and member.role < Role.MODERATOR:
            return error_reply("Only the member who started this poll or a moderator can close it. Nothing was "
                               "changed.")
        closed = await self.close(poll_id, member.id)
        if closed is None:
            return error_reply(f"Poll #{poll_id} is already closed.")
        return Reply(text=f"Poll #{poll_id} is closed; the final results are posted.")

    @action("poll")
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        """poll:<id>:vote:<n> votes, poll:<id>:results shows results privately, poll:<id>:close closes."""
        if not parts or not parts[0].isdigit():
            return error_reply("That button is not valid any more.")
        poll_id = int(parts[0])
        verb = parts[1] if len(parts) > 1 else ""
        if verb == "vote" and len(parts) == 3 and parts[2].isdigit():
            try:
                outcome = await self.vote(poll_id, act.member, int(parts[2]))
            except PollError as exc:
                return error_reply(str(exc))
            return Reply(text=outcome)
        if verb == "results":
            return await self._results(poll_id, act.member)
        if verb == "close":
            return await self._close(poll_id, act.member)
        return error_reply("That button is not valid any more.")

    # -- export -------------------------------------------------------------------------------------------

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

    async def export_csv(self, poll_id: int) -> str:
        poll = await self.get(poll_id)
        if poll is None:
            raise PollError(f"There is no poll #{poll_id}.")
        tally = await self.tally(poll)
        out = io.StringIO()
        writer = csv.writer(out)
        header = ["poll_id", "question", "position", "option", "votes", "percent"]
        if not poll.anonymous:
            header.append("voters")
        writer.writerow(header)
        for i, option in enumerate(poll.options):
            share = 100 * tally.counts[i] / tally.total if tally.total else 0.0
            row = [poll.id, poll.question, i + 1, option, tally.counts[i], f"{share:.1f}"]
            if not poll.anonymous:
                row.append("; ".join(tally.names[i]))
            writer.writerow(row)
        return out.getvalue()
