"""Routing of questions that must never get knowledge-base content: crisis first, then unsafe use.

Two judges, either of which routes a question: the admins' patterns in `faq/_safety.yaml` (precise, editable
without code, matched against the same folded, lexicon-rewritten text the search uses, so "special k" reads as
"ketamine"), and the trained risk model in `bot.language`, which recognises wordings nobody wrote a pattern for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.core.regex_engine import PatternSet
from bot.features.faq.knowledge import SafetyTexts
from bot.features.faq.search import FOLD_CHARS, WordRuns, fold
from bot.language.risk import RiskModel
from bot.language.scripts import INSIDE_WORDS

Safety = Literal["unsafe", "crisis"]

MAX_JUDGED = 8_000  # characters of one message the judges read (Slack allows 40,000); the gist is at the start
SENTENCE_END = re.compile(r"(?<=[.!?…\n])\s+")  # where a sentence ends: after . ! ? … or a line break
_WINDOW = 280  # a crisis line buried in a long post is judged on its own, not diluted by the rest
# How far the risk model must lean towards a crisis (misuse) for a `crisis_mentions` ("suicide", "want to die")
# (`unsafe_mentions`: "no prescription", "my ... with wine") word to count. Chosen by 5-fold cross-validation on
# the training corpus: as many crisis (unsafe) texts are above it as were above 0.1 before the risk model's
# regularisation was lowered (98% and 96%), and fewer look-alikes (41% and 20% of the hard ones).
# Measured again with fifteen rounds (5-fold CV, crisis model retrained per fold, patterns and phrases included):
# 0.1 for crisis mentions would miss 2 more of 3,395 crisis texts for 39 fewer false alarms among 9,177 labelled
# non-crisis ones (6.7% -> 6.2%); it stays at 0.03, as the bot leans towards noticing.
MENTION_BAR = 0.03


def _pattern_text(question: str, rewrite: Callable[[str], str]) -> str:
    folded = fold(question)
    # Both readings in one string, the rewritten one first: patterns anchored with ^(?=.*…) look only at the
    # first line, where the canonical words are; the others find a phrase as typed on either line.
    rewritten = rewrite(folded)
    return f" {rewritten} " if rewritten == folded else f" {rewritten} \n {folded} "


def _found(patterns: PatternSet, texts: list[str], whole_read: bool) -> bool:
    """Whether a pattern matches the whole text or one of its windows (`texts`, the whole first). A window's words
    are a run of the whole text's words, so an unanchored pattern found in one is found in the whole, unless the
    whole was cut short when folded; only the patterns anchored at the start need each window's start."""
    return (any(patterns.loose.search(t) for t in (texts[:1] if whole_read else texts))
            or any(p.search(t) for p in patterns.anchored for t in texts))


class Phrases:
    """Admins' plain crisis (or unsafe) phrases, found in a folded text as runs of whole words (`WordRuns`), or
    anywhere for the scripts found inside words (`INSIDE_WORDS`: no spaces between words, or Korean's particles)."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        runs: dict[tuple[str, ...], str] = {}
        inside: set[str] = set()
        for phrase in phrases:
            folded = fold(phrase)
            if INSIDE_WORDS.search(folded):
                inside.add(folded)
            elif len(folded.split()) >= 2:  # punctuation the loader counted as a word folds away: never one word
                runs[tuple(folded.split())] = phrase
        self.runs = WordRuns(runs)
        # One alternation, searched only in a text that has such a script: most texts have none, and a loop of
        # `in` tests over hundreds of phrases cost every English message ~30 us.
        self.inside = re.compile("|".join(map(re.escape, sorted(inside)))) if inside else None

    def found(self, texts: list[str]) -> bool:
        for text in texts:
            for line in text.split("\n"):  # a pattern text's two readings: a phrase never spans them
                words = line.split()
                if any(self.runs.longest_at(words, i)[0] for i in self.runs.starts(words)):
                    return True
                if self.inside is not None and INSIDE_WORDS.search(line) and self.inside.search(line):
                    return True
        return False


_built: dict[int, tuple[tuple[str, ...], Phrases]] = {}


def phrases(listed: tuple[str, ...]) -> Phrases:
    """The matcher for one knowledge base's phrase list, built once. Looked up by the tuple's identity: hashing a
    tuple of thousands of phrases, as a cache keyed on its value does, cost ~15 us on every question."""
    found = _built.get(id(listed))
    if found is None or found[0] is not listed:
        if len(_built) >= 64:  # reloads and other communities' lists: old ones go
            _built.clear()
        found = _built[id(listed)] = (listed, Phrases(listed))
    return found[1]


def windows(text: str) -> list[str]:
    """The text itself and, when it is long, runs of its sentences of about `_WINDOW` characters."""
    text = text[:MAX_JUDGED]
    if len(text) <= _WINDOW:
        return [text]
    out, current = [text], ""
    for sentence in SENTENCE_END.split(text):
        if current and len(current) + len(sentence) > _WINDOW:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out


@dataclass(frozen=True)
class Judgement:
    """The route for a question, and how sure the judges were."""

    safety: Safety | None
    leaning: float = 0.0  # the risk model's highest probability that it asks for misuse
    crisis: float = 0.0  # its highest probability of a crisis; 1.0 when an admin's crisis pattern matched


def classify(question: str, texts: SafetyTexts, rewrite: Callable[[str], str] = lambda s: s,
             risk: RiskModel | None = None, listed: bool = False) -> Safety | None:
    """'crisis' for thoughts of suicide or self-harm, 'unsafe' for misuse, else None. `listed`: the question is one
    the admins wrote into the KB, word for word, so the model's readings do not overrule them (a KB question such as
    "does the bladder damage go away if you stop" is not a plea); the admins' crisis and unsafe patterns still
    apply to it."""
    return judge(question, texts, rewrite, risk, listed).safety


def judge(question: str, texts: SafetyTexts, rewrite: Callable[[str], str] = lambda s: s,
          risk: RiskModel | None = None, listed: bool = False) -> Judgement:
    """`classify`'s answer with the risk model's probabilities (0 without a model, or for a listed question): a
    question below the unsafe threshold may still lean that way, and a crisis may be clear or only likely."""
    parts = windows(question)
    pattern_texts = [_pattern_text(p, rewrite) for p in parts]
    whole = len(parts[0]) <= FOLD_CHARS
    # No "not crisis" exceptions on purpose: an idiom next to a real plea ("it's killing me, I want to end
    # it") must still reach the crisis reply, so the patterns themselves are written narrowly.
    said = pattern_texts[:1] if whole else pattern_texts  # a phrase in a window is in the whole text too
    if _found(texts.crisis_any, pattern_texts, whole) or phrases(texts.crisis_phrases).found(said):
        return Judgement("crisis", crisis=1.0)

    def mentioned() -> bool:
        return (_found(texts.crisis_mentions_any, pattern_texts, whole)
                or phrases(texts.crisis_mention_phrases).found(said))

    if risk is None and mentioned():
        return Judgement("crisis", crisis=1.0)  # nothing to weigh the mention with: err on the side of care
    assessed = [risk.assess(p) for p in parts] if risk is not None and not listed else []
    leaning = max((r.unsafe for r in assessed), default=0.0)
    crisis = max((r.crisis for r in assessed), default=0.0)
    # The mention patterns are searched only where the model's reading lets them count: they are the slowest
    # patterns to search, and most questions lean nowhere near either bar.
    if any(r.is_crisis for r in assessed) or (
            crisis >= MENTION_BAR and mentioned()):
        return Judgement("crisis", leaning, crisis)
    if (any(r.is_unsafe for r in assessed) or _found(texts.unsafe_any, pattern_texts, whole)
            or phrases(texts.unsafe_phrases).found(said)):
        return Judgement("unsafe", leaning, crisis)
    if (risk is None or leaning >= MENTION_BAR) and (_found(texts.unsafe_mentions_any, pattern_texts, whole)
                                                     or phrases(texts.unsafe_mention_phrases).found(said)):
        return Judgement("unsafe", leaning, crisis)
    return Judgement(None, leaning, crisis)
