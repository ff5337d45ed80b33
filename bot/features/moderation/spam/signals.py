"""The signals in a message's own words: phrase groups, phone numbers and e-mail addresses, mass mentions."""

from __future__ import annotations

import re

from bot.features.moderation.spam.records import Reason, clip
from bot.features.moderation.spam.rules import SpamRules

__all__ = ["contact_reasons", "mention_reasons", "phrase_reasons"]

_PHONE_HINT = re.compile(r"\d[\d ().-]{6}")
_PHONE = re.compile(r"(?<![\w$€£.,/+-])\+?\(?\d[\d ().-]{6,24}\d(?![\w%€$£])")
_PHONE_GROUPS = re.compile(r"\d+")
# Starts only where a run of address characters starts, and takes it possessively: otherwise "@" after a long
# word is tried from every position of the word (quadratic).
_EMAIL = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]*+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")


def phrase_reasons(text: str, tokens: set[str], rules: SpamRules, reasons: list[Reason]) -> None:
    """Add a reason for each phrase found, heaviest first; a group adds at most `phrase_group_max` either way."""
    hits = rules.phrase_index.find(text, tokens)
    if not hits:
        return
    phrases = rules.phrases
    cap = rules.weights.phrase_group_max
    used: dict[str, float] = {}
    for i in sorted(hits, key=lambda i: -phrases[i].weight):
        p = phrases[i]
        if p.weight < 0:
            weight = max(p.weight, -cap - used.get(p.group, 0.0))
        else:
            weight = min(p.weight, cap - used.get(p.group, 0.0))
        if not weight or (weight < 0) != (p.weight < 0):
            continue
        used[p.group] = used.get(p.group, 0.0) + weight
        reasons.append(Reason(p.group, weight, f'{p.label}: "{clip(hits[i])}"'))


def contact_reasons(text: str, rules: SpamRules, reasons: list[Reason]) -> None:
    """Add a reason for the first phone number and the first e-mail address in normalised text."""
    w, c = rules.weights, rules.contact
    for m in _PHONE.finditer(text) if _PHONE_HINT.search(text) else ():
        groups = _PHONE_GROUPS.findall(m.group())
        digits = sum(len(g) for g in groups)
        if c.phone_min_digits <= digits <= c.phone_max_digits and max(map(len, groups)) >= 3 and len(groups) <= 7:
            reasons.append(Reason("contact-offsite", w.phone_number, f"phone number {clip(m.group())}"))
            break
    if "@" in text:
        email = _EMAIL.search(text)
        if email is not None:
            reasons.append(Reason("contact-offsite", w.email_address, f"e-mail address {clip(email.group())}"))


def mention_reasons(text: str, resolved: int, rules: SpamRules, reasons: list[Reason]) -> None:
    """Add one reason for all mass mentions: those in the text and the `resolved` ones the platform counted."""
    found: list[str] = []
    if rules.mention_re is not None and ("@" in text or "<!" in text):
        found = rules.mention_re.findall(text)
    extra = resolved if isinstance(resolved, int) and resolved > 0 else 0
    total = len(found) + extra
    if total:
        w = rules.weights
        weight = min(w.mass_mention_max, w.mass_mention + w.mass_mention_extra * (total - 1))
        what = ", ".join(sorted(set(found))) or "resolved by the platform"
        reasons.append(Reason("mass-mention", weight, f"{total} mass mention(s): {what}"))
