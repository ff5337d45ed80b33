"""What a member asks for, before a poll exists: the limits, `PollSpec`, the checks of everything a member can
get wrong, the one-line form's words and -- options, closing and opening times, roles, places, poll numbers.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import time
import unicodedata
from dataclasses import dataclass

from bot.core.records import Place

MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_OPTION_LEN = 80
MAX_QUESTION_LEN = 250
MAX_DURATION = dt.timedelta(days=60)
# No poll number or count is ever this long, and it stays below SQLite's largest integer (2**63 - 1): longer
# numbers are refused without converting them (int() on thousands of digits is slow, then refused).
MAX_DIGITS = 18
MAX_MARKS = 3  # combining marks kept on one letter: enough for every script, far too few for "zalgo" stacks


class PollError(ValueError):
    """Input a member can fix; the message is shown to them as is."""


KINDS = ("choice", "ranked", "rating")
# Who sees the counts while a poll is open: everyone, members who voted, no one until it closes, or only
# moderators and the creator (also after it closes), as Discourse's "always / on vote / on close / staff only".
VISIBILITY = ("always", "voted", "closed", "moderators")
_VISIBILITY_WORDS = {"always": "always", "voted": "voted", "vote": "voted", "on-vote": "voted",
                     "after-vote": "voted", "closed": "closed", "close": "closed", "on-close": "closed",
                     "hidden": "closed", "moderators": "moderators", "mods": "moderators", "staff": "moderators"}
MIN_SCALE, MAX_SCALE = 2, 10
MAX_ROLES = 10
# Members may add options up to what every platform can show as buttons on one message: Discord's 25 buttons
# (Slack's actions blocks hold as many) less the results, close and add buttons.
BUTTON_LIMIT = 25
MAX_ADDED_OPTIONS = BUTTON_LIMIT - 3
_ROLE_ID = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_MASS_MENTIONS = ("everyone", "here", "channel")


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
    kind: str = "choice"
    min_choices: int = 1
    results: str = "always"
    voter_roles: tuple[str, ...] = ()
    allow_add: bool = False
    opens_at: float | None = None


_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
_MARKS = {"Mn", "Me"}


def clean_text(text: str) -> str:
    """NFKC, no control or invisible format characters, no stacks of combining marks ("zalgo"), single spaces:
    what we store and show. Marks go before any length is measured, so they never count against a limit."""
    kept: list[str] = []
    marks = MAX_MARKS  # marks with no letter before them (at the start, after a space) are dropped
    for c in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(c)
        if category in _MARKS:
            marks += 1
            if marks <= MAX_MARKS:
                kept.append(c)
            continue
        invisible = category in _INVISIBLE or c.isspace()
        marks = MAX_MARKS if invisible else 0
        kept.append(" " if invisible else c)
    return " ".join("".join(kept).split())


def parse_whole(text: str) -> int | None:
    """A whole number as typed ('12', ' 007 '); None when it is not one or has more than MAX_DIGITS digits."""
    raw = text.strip()
    # isdecimal, not isdigit: '²' is a digit that int() refuses.
    if not raw.isdecimal():
        return None
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_DIGITS else None


def parse_poll_id(text: str) -> int | None:
    """'12', '#12' or ' 12 ' as typed in a command or carried by a button; None when it is not a poll number
    (or is longer than any poll number can be)."""
    return parse_whole(text.strip().lstrip("#"))


def straight_quotes(text: str) -> str:
    """Curly quotes as typed on phones become straight ones, character for character."""
    return text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")


def unclosed_quote(text: str, quotes: str = "\"'") -> int | None:
    """Where the first quote that is never closed starts, by the one-line form's (POSIX shell) rules: a backslash
    escapes outside quotes and before \\ or \" inside double quotes; None when every quote is closed."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in quotes:
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if c == '"' and text[j] == "\\" and text[j + 1:j + 2] in ('"', "\\") else 1
            if j >= len(text):
                return i
            i = j
        i += 1
    return None


def quote_error(line: str, at: int) -> PollError:
    """The unclosed quote at `at`, shown to the member with the text that follows it."""
    shown = line[at:at + 20] + ("…" if len(line) > at + 20 else "")
    return PollError(f"I couldn't read that: the quote at character {at + 1} ({shown}) is never closed. Check that "
                     'every quote is closed, e.g. /poll "Question?" "Yes" "No".')


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$")


def parse_closes(text: str, now: float, what: str = "closing") -> float | None:
    """'30m', '2h', '3d', '1w', or a UTC time '2026-12-01 18:00'; empty means never."""
    text = text.strip().lower()
    if not text or text in ("never", "none", "no", "now"):
        return None
    m = _DURATION.match(text)
    if m:
        amount, unit = float(m.group(1)), m.group(2)[0]
        seconds = amount * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        when = now + min(seconds, 2 * MAX_DURATION.total_seconds())  # huge amounts are refused below, not overflowed
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("utc", "").strip())
        except ValueError:
            raise PollError(f"I couldn't read the {what} time {text!r}. Use 30m, 2h, 3d or 2026-12-01 18:00 "
                            "(UTC).") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        when = parsed.timestamp()
    if when <= now + 30:
        raise PollError(f"The {what} time must be at least a minute from now"
                        + (" (and after the opening time)." if what == "closing" else "."))
    if when - now > MAX_DURATION.total_seconds():
        raise PollError("A poll can run for at most 60 days." if what == "closing" else
                        "A poll can be scheduled at most 60 days ahead.")
    return when


def parse_results(text: str) -> str:
    """'always', 'voted', 'closed' (or 'hidden') or 'moderators', as a member may write them."""
    found = _VISIBILITY_WORDS.get(text.strip().lower())
    if found is None:
        raise PollError(f"Results can be shown always, voted (after you vote), closed (after it closes) or "
                        f"moderators (only to moderators and you), not {text.strip()[:30]!r}.")
    return found


def parse_roles(text: str) -> tuple[str, ...]:
    """Role ids (Discord role ids or <@&id> mentions, Slack user-group or user ids, or moderators / admins)."""
    roles = []
    for item in re.split(r"[\s,]+", text.strip()):
        bare = item.removeprefix("<!subteam^").rstrip(">").split("|")[0].lstrip("<@!&")
        if not item:
            continue
        if bare.lower() in _MASS_MENTIONS:
            raise PollError("--roles takes the ids of the roles that may vote; leave it out to let everyone vote.")
        if not _ROLE_ID.fullmatch(bare):
            raise PollError(f"I don't understand the role {item[:30]!r}: give role ids, e.g. --roles 1234,5678 "
                            "or --roles moderators.")
        roles.append(bare)
    if len(roles) > MAX_ROLES:
        raise PollError(f"A poll can be limited to at most {MAX_ROLES} roles.")
    return tuple(dict.fromkeys(roles))


def has_mass_mention(text: str) -> bool:
    """@everyone / @here / <!channel>: shown harmlessly, but refused where a member adds text to another's poll."""
    lowered = text.lower()
    return any(f"@{w}" in lowered or f"<!{w}" in lowered for w in _MASS_MENTIONS)


# Any platform the bot may be connected to: whether it is connected is only known when the poll is posted.
_PLATFORM = re.compile(r"[a-z][a-z0-9_]*")


def parse_places(text: str) -> tuple[Place, ...]:
    """'platform:channel other:channel' (comma or space separated) -> places to post a copy of the poll."""
    places = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        platform, _, channel = item.partition(":")
        if not _PLATFORM.fullmatch(platform) or not channel:
            raise PollError(f"I don't understand the channel {item!r}: write it as discord:CHANNEL_ID or "
                            "slack:CHANNEL_ID.")
        places.append(Place(platform, channel.lstrip("#")))
    return tuple(dict.fromkeys(places))


def check_option(text: str, taken: tuple[str, ...] = ()) -> str:
    """One option cleaned, or a PollError saying what is wrong with it."""
    option = clean_text(text)
    if not option:
        raise PollError("One of the options is empty. Every option needs some text.")
    if len(option) > MAX_OPTION_LEN:
        raise PollError(f"The option {option[:30]!r}… is {len(option)} characters; please keep options under "
                        f"{MAX_OPTION_LEN}.")
    if option.casefold() in {t.casefold() for t in taken}:
        raise PollError(f"The option {option!r} is listed twice.")
    return option


def build_spec(question: str, options: list[str], *, max_choices: int | None = 1, anonymous: bool = True,
               hide_results: bool = False, closes: str = "", post_to: str = "", now: float | None = None,
               kind: str = "choice", min_choices: int | None = None, results: str = "", roles: str = "",
               allow_add: bool = False, opens: str = "", scale: int | None = None) -> PollSpec:
    """Validate everything a member can get wrong, with one clear message for the first problem."""
    now = time.time() if now is None else now
    question = clean_text(question)
    if not question:
        raise PollError("Please give the poll a question.")
    if len(question) > MAX_QUESTION_LEN:
        raise PollError(f"The question is {len(question)} characters; please keep it under {MAX_QUESTION_LEN}.")
    if kind == "rating":
        if options:
            raise PollError("A rating poll needs no options: members pick a number from 1 to the scale.")
        if scale is None or not MIN_SCALE <= scale <= MAX_SCALE:
            raise PollError(f"A rating scale runs from 1 to a number between {MIN_SCALE} and {MAX_SCALE}.")
        if allow_add:
            raise PollError("Members can't add options to a rating poll.")
        options = [str(n) for n in range(1, scale + 1)]
    if any(not clean_text(o) for o in options):
        raise PollError("One of the options is empty. Every option needs some text.")
    if len(options) < MIN_OPTIONS:
        raise PollError("A poll needs at least two options.")
    if len(options) > MAX_OPTIONS:
        raise PollError(f"A poll can have at most {MAX_OPTIONS} options; this one has {len(options)}.")
    cleaned: list[str] = []
    for o in options:
        cleaned.append(check_option(o, tuple(cleaned)))
    lowest = 1 if min_choices is None else min_choices
    if kind == "ranked":
        # A ranking may list every option; the minimum is how many a ballot must rank to count.
        max_choices = len(cleaned)
    elif max_choices is None:
        max_choices = len(cleaned) if lowest > 1 else 1
    if kind == "rating" and (max_choices != 1 or lowest != 1):
        raise PollError("A rating poll takes one number from each member; leave out --multi and --min.")
    if not 1 <= max_choices <= len(cleaned):
        raise PollError(f"Members can pick between 1 and {len(cleaned)} options, not {max_choices}.")
    if not 1 <= lowest <= len(cleaned):
        raise PollError(f"The minimum number of picks must be between 1 and {len(cleaned)}, not {lowest}.")
    if lowest > max_choices:
        raise PollError(f"The minimum number of picks ({lowest}) can't be more than the maximum ({max_choices}).")
    visibility = parse_results(results) if results else ("closed" if hide_results else "always")
    opens_at = parse_closes(opens, now, "opening")
    closes_at = parse_closes(closes, opens_at or now)
    return PollSpec(question, tuple(cleaned), max_choices, anonymous, visibility != "always", closes_at,
                    parse_places(post_to), kind, lowest, visibility, parse_roles(roles), allow_add, opens_at)


_KNOWN = ("Known: --multi N, --min N, --ranked, --rating N, --public, --results always|voted|closed|moderators, "
          "--closes 2h, --opens 1d, --roles ID,ID, --allow-add, --post discord:ID,slack:ID, --template NAME.")


@dataclass
class Flags:
    """The -- options of the one-line form (also accepted in the form's "More" field)."""

    max_choices: int | None = None
    min_choices: int | None = None
    anonymous: bool = True
    results: str = ""
    closes: str = ""
    opens: str = ""
    post_to: str = ""
    kind: str = "choice"
    scale: int | None = None
    roles: str = ""
    allow_add: bool = False
    template: str | None = None


def parse_words(words: list[str]) -> tuple[list[str], Flags]:
    """The question and options of a one-line poll, and its -- options."""
    texts: list[str] = []
    flags = Flags()
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word in ("--multi", "--choices", "--min", "--rating", "--scale"):
            number = parse_whole(nxt) if nxt is not None else None
            if number is None:
                raise PollError(f"{word} needs a number" + (
                    ": how many options a member may pick." if word in ("--multi", "--choices") else "."))
            if word in ("--rating", "--scale"):
                flags.kind, flags.scale = "rating", number
            elif word == "--min":
                flags.min_choices = number
            else:
                flags.max_choices = number
            i += 2
            continue
        if word in ("--closes", "--close", "--duration", "--post", "--template", "--opens", "--open", "--results",
                    "--roles", "--role"):
            if nxt is None:
                raise PollError(f"{word} needs a value.")
            if word == "--template":
                flags.template = nxt
            elif word == "--post":
                flags.post_to = nxt
            elif word in ("--opens", "--open"):
                flags.opens = nxt
            elif word == "--results":
                flags.results = nxt
            elif word in ("--roles", "--role"):
                flags.roles = nxt
            else:
                flags.closes = nxt
            i += 2
            continue
        if word == "--public":
            flags.anonymous = False
        elif word == "--anonymous":
            flags.anonymous = True
        elif word in ("--hide-results", "--hidden"):
            flags.results = "closed"
        elif word == "--ranked":
            flags.kind = "ranked"
        elif word in ("--allow-add", "--add"):
            flags.allow_add = True
        elif word.startswith("--"):
            raise PollError(f"Unknown option {word}. {_KNOWN}")
        else:
            texts.append(word)
        i += 1
    return texts, flags


def split_line(line: str) -> list[str]:
    """The one-line form's words, by the shell's quoting rules (phones' curly quotes read as straight ones)."""
    straight = straight_quotes(line)
    at = unclosed_quote(straight)
    if at is not None:
        raise quote_error(line, at)
    try:
        return shlex.split(straight)
    except ValueError:  # a trailing backslash: nothing left for it to escape
        raise PollError('I couldn\'t read that: check that every quote is closed, e.g. /poll "Question?" "Yes" '
                        '"No".') from None


def spec_from_flags(question: str, options: list[str], flags: Flags, now: float | None = None) -> PollSpec:
    return build_spec(question, options, max_choices=flags.max_choices, anonymous=flags.anonymous,
                      closes=flags.closes, post_to=flags.post_to, now=now, kind=flags.kind,
                      min_choices=flags.min_choices, results=flags.results, roles=flags.roles,
                      allow_add=flags.allow_add, opens=flags.opens, scale=flags.scale)


def parse_line(line: str, now: float | None = None) -> tuple[PollSpec | None, str | None]:
    """The one-line form: `"Question?" "A" "B" --multi 2 --public --hide-results --closes 2h --post place:ID`.

    Returns (spec, None), or (None, template name) for `--template NAME`.
    """
    texts, flags = parse_words(split_line(line))
    if flags.template is not None:
        return None, flags.template
    if not texts:
        raise PollError('Write the question and the options in quotes, e.g. /poll "Question?" "Yes" "No".')
    return spec_from_flags(texts[0], texts[1:], flags, now), None
