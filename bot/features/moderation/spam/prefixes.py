"""Which strings every match of a regular expression starts with, worked out from the stdlib's regex parser, so
phrases can be filed by how they start and only tried where that start occurs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["first_words_and_stems", "prefixes"]

_MAX_WORD = 30  # a first word longer than this is not listed
_MIN_STEM = 3  # a shorter open-ended Latin start would select too many words (other scripts: any length)
_MAX_PREFIXES = 5000
_STOP = "\0"  # the string cannot grow: what follows it is not listable
_END = "\1"  # (first-word mode) the word ended here: a non-word character follows


class _Enum(NamedTuple):
    n: int  # stop growing strings at this length
    words: bool  # first-word mode: a non-word character ends the string
    sre: Any  # the stdlib's regex parser module


def first_words_and_stems(pattern: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """The whole first words a match of the pattern can start with, and the stems of those it can only start
    ("промокод\\w*": any word beginning "промокод"); None if neither is listable. Stems are how inflected languages
    are written: a word's ending is left open."""
    found = _enumerate(pattern, _Enum(_MAX_WORD + 1, True, None))
    if found is None:
        return None
    words, stems = set(), set()
    for s in found:
        if s.endswith(_END):
            s = s[:-1]
        elif s.endswith(_STOP) and (len(s) > _MIN_STEM or (len(s) > 1 and not s.isascii())):
            stems.add(s[:-1])
            continue
        elif s.endswith(_STOP) or len(s) > _MAX_WORD:
            return None  # the word goes on with something unlistable
        if not s:
            return None  # starts with punctuation ("$100", "@handle")
        words.add(s)
    return frozenset(words), frozenset(stems)


def prefixes(pattern: str, n: int) -> frozenset[str] | None:
    """Strings of up to n characters that every match of the pattern starts with; None if unknown or huge.

    Shorter strings appear where the pattern continues with something that cannot be listed ([^.], \\w ...).
    """
    found = _enumerate(pattern, _Enum(n, False, None))
    if found is None:
        return None
    out = frozenset(s.rstrip(_STOP) for s in found)
    return None if "" in out else out


def _enumerate(pattern: str, ctx: _Enum) -> set[str] | None:
    try:
        import re._parser as sre  # the stdlib's own parser: exact, and only used while loading rules
    except ImportError:  # pragma: no cover - other Python versions
        return None
    try:
        return _extend({""}, list(sre.parse(pattern)), ctx._replace(sre=sre))
    except Exception:
        return None


def _finished(s: str, ctx: _Enum) -> bool:
    return len(s) >= ctx.n or s.endswith((_STOP, _END))


def _extend(partials: set[str], items: list[Any], ctx: _Enum) -> set[str] | None:
    for op, av in items:
        if all(_finished(s, ctx) for s in partials):
            break
        partials = _extend_one(partials, op, av, ctx)
        if len(partials) > _MAX_PREFIXES:
            return None
    return partials


def _append(todo: set[str], chars: Iterable[str], ctx: _Enum) -> set[str]:
    if not ctx.words:
        return {s + c for s in todo for c in chars}
    return {s + (c if c.isalnum() or c == "_" else _END) for s in todo for c in chars}


def _extend_one(partials: set[str], op: Any, av: Any, ctx: _Enum) -> set[str]:
    sre = ctx.sre
    done = {s for s in partials if _finished(s, ctx)}
    todo = partials - done
    stopped = done | {s + _STOP for s in todo}
    if op is sre.ASSERT_NOT and ctx.words:
        ahead = _charset(av[1], sre, ctx)
        if ahead and "a" in ahead:
            return done | {s + _END for s in todo}  # "(?![a-z])" after a word (as in macros) ends it
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return partials  # zero-width
    if op is sre.LITERAL:
        return done | _append(todo, chr(av), ctx)
    if op is sre.IN:
        chars = _charset(av, sre, ctx)
        return stopped if chars is None else done | _append(todo, chars, ctx)
    if op is sre.SUBPATTERN:
        inner = _extend(todo, list(av[-1]), ctx)
        return stopped if inner is None else done | inner
    if op is sre.BRANCH:
        out = set(done)
        for branch in av[1]:
            inner = _extend(todo, list(branch), ctx)
            if inner is None:
                return stopped
            out |= inner
        return out
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
        low, high, item = av
        out = set(done)
        current = todo
        for count in range(min(high, ctx.n + 1) + 1):
            if count >= low or all(_finished(s, ctx) for s in current):
                out |= current
            if count == min(high, ctx.n + 1) or all(_finished(s, ctx) for s in current):
                break
            nxt = _extend(current, list(item), ctx)
            if nxt is None:
                return stopped
            current = nxt
        return out
    return stopped


def _charset(items: Any, sre: Any, ctx: _Enum) -> set[str] | None:
    if not isinstance(items, list):  # an assertion's sub-pattern: only a single character class is used
        items = list(items)
        if len(items) != 1 or items[0][0] not in (sre.IN, sre.LITERAL):
            return None
        op, av = items[0]
        return {chr(av)} if op is sre.LITERAL else _charset(av, sre, ctx)
    chars: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(chr(av))
        elif op is sre.RANGE and av[1] - av[0] <= 64:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:
            chars.update("0123456789")
        elif op is sre.CATEGORY and av is sre.CATEGORY_SPACE:
            chars.add(" ")  # normalised text has no other white space
        elif op is sre.CATEGORY and av is sre.CATEGORY_NOT_WORD and ctx.words:
            chars.add(" ")  # any non-word character ends the first word, which is all that matters here
        else:
            return None
    return chars
