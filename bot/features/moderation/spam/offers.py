"""What a pitch asks people to act on: sites, messenger handles, invites, phone numbers and codes. A spammer rewords
the text from channel to channel, but the offer stays the same, so one author repeating it is strong evidence."""

from __future__ import annotations

import re

_DOMAIN = re.compile(r"\b(?:https?://)?(?:www\.)?([a-z0-9][a-z0-9-]{1,62}(?:\.[a-z0-9-]{2,63})*\.[a-z]{2,24})\b")
_HANDLE = re.compile(r"(?<![\w.])@([a-z0-9_.]{3,32})\b")
_INVITE = re.compile(r"\b(?:discord\.gg|discord(?:app)?\.com/invite|t\.me|chat\.whatsapp\.com|join\.slack\.com)"
                     r"/([a-z0-9_-]{2,64})")
_PHONE = re.compile(r"\+?\d[\d ().-]{7,18}\d")
# Codes: a word of capitals and digits with at least one of each, as people type promo codes (SAVE20, MIGRA15).
_CODE = re.compile(r"\b(?=[A-Z0-9]{4,16}\b)(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]+\b")
_NOT_DIGIT = re.compile(r"\D")
# What each kind cannot do without: most messages have none of them, and these checks run at C speed where the
# patterns above would try every position.
_DOTTED = re.compile(r"[a-z0-9-]\.[a-z0-9-]")
_DIGIT = re.compile(r"\d")
_COMMON_DOMAINS = frozenset({"gmail.com", "yahoo.com", "hotmail.com", "outlook.com"})
MAX_OFFERS = 12  # a message naming more is noise; the first dozen are plenty to recognise a repeat


def offers(original: str, normalised: str) -> frozenset[str]:
    """Tokens naming what the message offers: 'site:x.com', 'handle:x', 'invite:x', 'phone:123…', 'code:X1'."""
    found: list[str] = []
    if "/" in normalised:
        found += [f"invite:{m}" for m in _INVITE.findall(normalised)]
    if _DOTTED.search(normalised):
        found += [f"site:{d}" for d in _DOMAIN.findall(normalised) if d not in _COMMON_DOMAINS]
    if "@" in normalised:
        found += [f"handle:{h.strip('.')}" for h in _HANDLE.findall(normalised)]
    if _DIGIT.search(normalised):
        found += ["phone:" + _NOT_DIGIT.sub("", p)[-9:] for p in _PHONE.findall(normalised)]
    original = original[:5000]
    if _DIGIT.search(original):
        found += [f"code:{c}" for c in _CODE.findall(original)]
    return frozenset(found[:MAX_OFFERS])
