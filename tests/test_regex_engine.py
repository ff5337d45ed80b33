"""The admins' patterns give the same answers on RE2 as on Python's `re`, whatever the text."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.regex_engine import Alternation
from bot.features.faq.knowledge import load_knowledge_base
from bot.features.faq.safety import _pattern_text
from bot.features.faq.search import SearchIndex
from bot.language.corpus import bundled

ROOT = Path(__file__).resolve().parent.parent


def python_alternation(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def test_the_bundled_safety_patterns_match_the_same_texts_on_re2_as_on_re() -> None:
    kb = load_knowledge_base(ROOT / "faq")
    rewrite = SearchIndex(kb.entries, kb.lexicon).rewrite
    texts = [row["text"] for name in ("crisis", "unsafe", "risk_extra") for row in bundled(name)]
    # As the judges read them (folded, rewritten) and raw, plus the characters where the engines read apart.
    texts = [_pattern_text(t, rewrite) for t in texts] + texts
    texts += [f"{t}\v" for t in texts[:200]] + [f"{t}\n" for t in texts[:200]] + ["", "\n", "é"]
    for name in ("crisis_patterns", "crisis_mentions", "unsafe_patterns", "unsafe_mentions"):
        loose = [p.pattern for p in getattr(kb.safety, name) if not p.pattern.startswith("^")]
        fast, slow = Alternation(loose), python_alternation(loose)
        assert fast.on_re2 > 0, name
        matched = 0
        for text in texts:
            assert fast.search(text) == bool(slow.search(text)), (name, text)
            matched += fast.search(text)
        assert matched > 20, name  # the comparison saw both answers many times


def test_a_pattern_re2_cannot_read_is_searched_by_re_beside_the_others() -> None:
    patterns = [r"\bkill(ing)? myself\b", r"\bend it(?! all for today)\b", r"(\w+) \1 \1"]
    found = Alternation(patterns)
    assert found.on_re2 == 1  # the lookahead and the backreference stay with `re`
    assert found.search(" i want to kill myself ")
    assert found.search(" i want to end it ")
    assert not found.search(" i want to end it all for today ")
    assert found.search(" no no no ")
    assert not found.search(" nothing here ")
    assert not Alternation([]).search("anything")


def test_word_boundaries_in_other_scripts_read_as_python_reads_them() -> None:
    # RE2's \b is ASCII-only: between "é" and "t" it would see a boundary that Python does not.
    found = Alternation([r"\bte\b"])
    assert found.search(" te ")
    assert not found.search(" éte ") and not re.search(r"\bte\b", " éte ")
    # Python's \s is a vertical tab too; RE2's is not.
    assert Alternation([r"a\sb"]).search("a\vb")
