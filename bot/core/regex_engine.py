"""Admins' patterns searched with RE2 where RE2 reads them exactly as Python's `re` does, else with `re`.

Python's `re` tries every alternative of a long alternation at every position of the text: the safety patterns,
joined into one, cost a third of a long question's answer time. RE2 (google-re2) scans the text once in a DFA,
five to eight times faster on them, and in time linear in the text.

The engines agree on ASCII patterns RE2 accepts, for ASCII text. RE2's `\\b`, `\\w` and `\\d` are ASCII-only and
`re`'s are Unicode, so a text with other characters goes to `re`; so does one where `\\s` or `$` would read
differently (a vertical tab or an information separator, which `re` counts as space; a final line break, before
which `re`'s `$` also matches). RE2 refuses lookarounds and backreferences: a pattern using them stays with `re`.
The admins' `^(?=.*a)(?=.*b)` patterns stay with `re` too: split into parts for RE2 they were no faster, as each
part then scans the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # a compiled wheel: if a platform has none, everything still works on `re`, only slower
    import re2
except ImportError:  # pragma: no cover - google-re2 is a declared dependency
    re2 = None

_READ_APART = re.compile(r"[\v\x1c-\x1f]|\n\Z")  # where RE2 would read an ASCII text apart from `re`


def _re2(pattern: str) -> Any:
    if re2 is None or not pattern.isascii():
        return None
    options = re2.Options()
    options.log_errors = False  # a refused pattern is expected (lookarounds): it falls back to `re` silently
    options.never_capture = True  # only whether it matches is asked
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None


class Alternation:
    """Several patterns searched as one (`search(text)`: is any found?). The ones RE2 reads go in one RE2
    alternation, the rest in one `re` alternation, so one lookaround does not slow down all the others."""

    def __init__(self, patterns: list[str]) -> None:
        fast: list[str] = []
        slow: list[str] = []
        for p in patterns:
            (fast if _re2(p) is not None else slow).append(p)
        self.on_re2 = len(fast)  # how many of them RE2 searches (in ASCII text)
        self._python = self._joined(patterns, re.compile)
        self._fast = self._joined(fast, _re2)
        self._slow = self._joined(slow, re.compile)

    @staticmethod
    def _joined(patterns: list[str], compile_: Callable[[str], Any]) -> Any:
        return compile_("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def search(self, text: str) -> bool:
        if not text.isascii() or _READ_APART.search(text):
            return self._python is not None and self._python.search(text) is not None
        return ((self._fast is not None and self._fast.search(text) is not None)
                or (self._slow is not None and self._slow.search(text) is not None))


@dataclass(frozen=True)
class PatternSet:
    """Admins' patterns searched as one: the unanchored ones in one alternation (one scan of the text), the ones
    anchored at the start (`^(?=.*a)(?=.*b)`) each on its own, because inside an alternation the engine would try
    them again at every position of the text."""

    loose: Alternation
    anchored: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, patterns: tuple[re.Pattern[str], ...]) -> PatternSet:
        return cls(Alternation([p.pattern for p in patterns if not p.pattern.startswith("^")]),
                   tuple(p for p in patterns if p.pattern.startswith("^")))
