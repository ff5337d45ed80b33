"""Routing of questions that must never get knowledge-base content: crisis first, then unsafe use.

The patterns and the replies live in `faq/_safety.yaml`, so admins can widen them without touching code. They
are matched against the same folded, lexicon-rewritten text the search uses ("special k" reads as "ketamine").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from bot.features.faq.knowledge import SafetyTexts
from bot.features.faq.search import fold

Safety = Literal["unsafe", "crisis"]


def classify(question: str, texts: SafetyTexts, rewrite: Callable[[str], str] = lambda s: s) -> Safety | None:
    """'crisis' for thoughts of suicide or self-harm, 'unsafe' for misuse, else None."""
    folded = fold(question)
    # Both readings in one string, the rewritten one first: patterns anchored with ^(?=.*…) look only at the
    # first line, where the canonical words are; the others find a phrase as typed on either line.
    rewritten = rewrite(folded)
    text = f" {rewritten} " if rewritten == folded else f" {rewritten} \n {folded} "
    # No "not crisis" exceptions on purpose: an idiom next to a real plea ("it's killing me, I want to end
    # it") must still reach the crisis reply, so the patterns themselves are written narrowly.
    if texts.crisis_any.search(text):
        return "crisis"
    if texts.unsafe_any.search(text):
        return "unsafe"
    return None
