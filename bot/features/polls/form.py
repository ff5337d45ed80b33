"""A `/poll` however it was written: the one-line form, a template, or the Discord options and the form."""

from __future__ import annotations

import re

from bot.features.polls.spec import (
    KINDS,
    Flags,
    PollError,
    PollSpec,
    build_spec,
    parse_line,
    parse_whole,
    parse_words,
    quote_error,
    spec_from_flags,
    split_line,
    straight_quotes,
    unclosed_quote,
)
from bot.features.polls.templates import Template


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
    flags = form_flags(args)
    if not line and "choices" not in args and flags.kind != "rating":
        raise PollError('Write the question and options, e.g. /poll "Question?" "Yes" "No", or use '
                        "/poll --template would-you-try.")
    if "choices" not in args and flags.kind != "rating":
        # Options in quotes after an unquoted question: a quote left open is the likelier mistake to point at.
        at = unclosed_quote(straight_quotes(line), '"')
        if at is not None:
            raise quote_error(line, at)
    choices = [c for c in re.split(r"\n|\|", args.get("choices", "")) if c.strip()]
    return spec_from_flags(line, choices, flags)


def _number(args: dict[str, str], key: str, what: str) -> int | None:
    raw = args.get(key, "").strip()
    if not raw:
        return None
    number = parse_whole(raw)
    if number is None:
        raise PollError(f"{what} must be a number.")
    return number


def form_flags(args: dict[str, str]) -> Flags:
    """The options of the Discord command and of the form, as one-line flags. The form's "More" field takes
    the old words (public, hidden) or any one-line option (--ranked --min 2 …)."""
    more = args.get("flags", "")
    if "--" in more:
        extra, flags = parse_words(split_line(more))
        if extra:
            raise PollError(f"I don't understand {extra[0][:30]!r} in More: use options like --public or --min 2.")
    else:
        words = more.lower()
        flags = Flags(anonymous="public" not in words, results="closed" if "hidden" in words else "")
    most = _number(args, "max_choices", "How many options a member may pick")
    least = _number(args, "min_choices", "The minimum number of picks")
    flags.max_choices = flags.max_choices if most is None else most
    flags.min_choices = flags.min_choices if least is None else least
    if args.get("voters", "").lower() == "public":
        flags.anonymous = False
    if args.get("results"):
        flags.results = args["results"]
    kind = args.get("kind", "").strip().lower()
    if kind:
        if kind not in KINDS:
            raise PollError(f"A poll is choice, ranked or rating, not {kind[:20]!r}.")
        flags.kind = kind
    scale = _number(args, "scale", "The rating scale")
    if scale is not None:
        flags.kind, flags.scale = "rating", scale
    for key in ("closes", "opens", "post_to", "roles"):
        if args.get(key):
            setattr(flags, key, args[key])
    if args.get("add_options", "").lower() in ("yes", "true", "allowed"):
        flags.allow_add = True
    return flags
