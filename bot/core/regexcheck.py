"""Refusing admin regular expressions that can take exponential or polynomial time ("catastrophic backtracking").

Python's `re` backtracks: `(a+)+$` on forty "a"s and a "b" runs for hours. Admins write patterns for the spam rules
and the safety routing, and one such pattern would let any member freeze the bot with one message. The shapes that
cause most often are refused at validation, with the reason: a repeated group that itself contains an unbounded
repeat (nested quantifiers). As a second line of defence the scanner bounds what it reads per message.
"""

from __future__ import annotations

# The parser `re` itself uses (Python 3.11+): there is no public API for a pattern's structure.
import re._constants as sre_constants
import re._parser as sre_parse
from typing import Any

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None)}
_UNBOUNDED = 20  # a repeat allowing more than this many copies counts as unbounded for backtracking purposes


def _unbounded_repeat_inside(items: Any) -> bool:
    for op, av in items:
        if op in _REPEATS and op != getattr(sre_constants, "POSSESSIVE_REPEAT", None):
            low, high, body = av
            if high is sre_constants.MAXREPEAT or high > _UNBOUNDED:
                return True
            if _unbounded_repeat_inside(body):
                return True
        elif op is sre_constants.SUBPATTERN:
            if _unbounded_repeat_inside(av[-1]):
                return True
        elif op is sre_constants.BRANCH and any(_unbounded_repeat_inside(branch) for branch in av[1]):
            return True
    return False


def _literal_prefix(items: Any) -> tuple[tuple[int, ...], bool]:
    """The literal characters an alternative starts with, and whether that is all of it."""
    chars: list[int] = []
    for op, av in items:
        if op is not sre_constants.LITERAL:
            return tuple(chars), False
        chars.append(av)
    return tuple(chars), True


def _ambiguous_branch(items: Any) -> bool:
    """A branch (directly, or in a group) with two alternatives where one, entirely literal, is the start of another
    (or equal to it): inside a repeat, the engine can then split the same text in exponentially many ways."""
    for op, av in items:
        if op is sre_constants.SUBPATTERN:
            if _ambiguous_branch(av[-1]):
                return True
        elif op is sre_constants.BRANCH:
            prefixes = [_literal_prefix(branch) for branch in av[1]]
            for i, (short, whole) in enumerate(prefixes):
                if not whole:
                    continue
                for j, (other, _) in enumerate(prefixes):
                    if i != j and other[: len(short)] == short and (len(other) > len(short) or i < j):
                        return True
    return False


def _catastrophic(items: Any) -> str | None:
    for op, av in items:
        if op in _REPEATS and op != getattr(sre_constants, "POSSESSIVE_REPEAT", None):
            low, high, body = av
            unbounded = high is sre_constants.MAXREPEAT or high > _UNBOUNDED
            if unbounded and _unbounded_repeat_inside(body):
                return "a repeated group contains another unbounded repeat (nested quantifiers, like (a+)+)"
            if unbounded and _ambiguous_branch(body):
                return "a repeated alternation whose choices can match the same text (like (a|a)+ or (x|xy|y)*)"
            found = _catastrophic(body)
            if found:
                return found
        elif op is sre_constants.SUBPATTERN:
            found = _catastrophic(av[-1])
            if found:
                return found
        elif op is sre_constants.BRANCH:
            for branch in av[1]:
                found = _catastrophic(branch)
                if found:
                    return found
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            found = _catastrophic(av[1])
            if found:
                return found
    return None


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` may take super-linear time, or None when it has none of the known dangerous shapes."""
    try:
        parsed = sre_parse.parse(pattern)
    except Exception:  # re.compile reports syntax errors itself
        return None
    return _catastrophic(parsed)
