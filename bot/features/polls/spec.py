"""What a member asks for, before a poll exists: the limits, `PollSpec`, parsing the one-line form, the form
and the template into one, closing times, places to post, poll numbers, and the admins' templates file.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bot.core.records import Place
from bot.core.yamlcheck import YamlFile

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
class Template:
    """A ready-made poll from the admins' templates file, started with `--template NAME`."""

    name: str
    question: str
    options: tuple[str, ...]
    max_choices: int = 1
    anonymous: bool = True
    hide_results: bool = False
    closes: str = ""


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
    """The one-line form: `"Question?" "A" "B" --multi 2 --public --hide-results --closes 2h --post place:ID`.

    Returns (spec, None), or (None, template name) for `--template NAME`.
    """
    straight = straight_quotes(line)
    at = unclosed_quote(straight)
    if at is not None:
        raise quote_error(line, at)
    try:
        words = shlex.split(straight)
    except ValueError:  # a trailing backslash: nothing left for it to escape
        raise PollError('I couldn\'t read that: check that every quote is closed, e.g. /poll "Question?" "Yes" '
                        '"No".') from None
    texts: list[str] = []
    max_choices, anonymous, hide_results, closes, post_to = 1, True, False, "", ""
    template = None
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word in ("--multi", "--choices"):
            number = parse_whole(nxt) if nxt is not None else None
            if number is None:
                raise PollError("--multi needs a number: how many options a member may pick.")
            max_choices, i = number, i + 2
            continue
        if word in ("--closes", "--close", "--duration", "--post", "--template"):
            if nxt is None:
                raise PollError(f"{word} needs a value.")
            if word == "--template":
                template = nxt
            elif word == "--post":
                post_to = nxt
            else:
                closes = nxt
            i += 2
            continue
        if word == "--public":
            anonymous = False
        elif word == "--anonymous":
            anonymous = True
        elif word in ("--hide-results", "--hidden"):
            hide_results = True
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
    spec = build_spec(texts[0], texts[1:], max_choices=max_choices, anonymous=anonymous, hide_results=hide_results,
                      closes=closes, post_to=post_to, now=now)
    return spec, None


def spec_from_args(args: dict[str, str], line: str, templates: dict[str, Template]) -> PollSpec:
    """The poll a `/poll` asks for, whichever way it was written: one line, a template, or the options and form."""
    template_name = args.get("template", "").strip()
    if not template_name and line and ("choices" not in args) and (line[0] in "\"'“‘" or "--" in line):
        spec, template_name_or_none = parse_line(line)
        if spec is not None:
            return spec
        template_name = template_name_or_none or ""
    if template_name:
        template = templates.get(template_name)
        if template is None:
            known = ", ".join(sorted(templates)) or "none"
            raise PollError(f"There is no poll template {template_name!r}. Templates: {known}.")
        return build_spec(template.question, list(template.options), max_choices=template.max_choices,
                          anonymous=template.anonymous, hide_results=template.hide_results,
                          closes=args.get("closes", template.closes), post_to=args.get("post_to", ""))
    if not line and "choices" not in args:
        raise PollError('Write the question and options, e.g. /poll "Question?" "Yes" "No", or use '
                        "/poll --template would-you-try.")
    if "choices" not in args:
        # Options in quotes after an unquoted question: a quote left open is the likelier mistake to point at.
        at = unclosed_quote(straight_quotes(line), '"')
        if at is not None:
            raise quote_error(line, at)
    choices = [c for c in re.split(r"\n|\|", args.get("choices", "")) if c.strip()]
    flags = args.get("flags", "").lower()
    max_choices = parse_whole(args.get("max_choices", "").strip() or "1")
    if max_choices is None:
        raise PollError("How many options a member may pick must be a number.")
    return build_spec(
        line, choices, max_choices=max_choices,
        anonymous=args.get("voters", "anonymous").lower() != "public" and "public" not in flags,
        hide_results=args.get("results", "always").lower() == "hidden" or "hidden" in flags,
        closes=args.get("closes", ""), post_to=args.get("post_to", ""))


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
