"""The link signals: finding links in normalised text and judging each site (allowed, shortener, invite, imitating a
brand, throwaway-looking)."""

from __future__ import annotations

import re

from bot.features.moderation.spam.records import Reason, clip
from bot.features.moderation.spam.rules import HostVerdict, LinkRules, NewDomain, SpamRules

__all__ = ["link_reasons"]

_URL_HINT = re.compile(r"\.(?<=[a-z0-9]\.)[a-z]")
_URL = re.compile(
    r"(?<![\w@.-])(?:(?P<scheme>(?:https?|hxxps?|ftp)://)|(?P<www>www\d?\.))?"
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,24}|xn--[a-z0-9-]{2,30}))"
    r"(?![a-z0-9-])(?::\d{2,5})?(?P<path>[/?#][^\s<>\"'`]*)?"
)
_IP_URL = re.compile(r"(?:https?|hxxps?)://\d{1,3}(?:\.\d{1,3}){3}")
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "nhs"})
_VOWELS = frozenset("aeiouy")
_HOST_FOLD = str.maketrans("013457l", "oieasti")


def link_reasons(text: str, rules: SpamRules, reasons: list[Reason]) -> None:
    """Add the reasons the links in normalised text give, strongest first, together at most `links_max`."""
    if not _URL_HINT.search(text):
        return
    lr, w = rules.links, rules.weights
    invite: str | None = None
    found: dict[str, HostVerdict | None] = {}
    for m in _URL.finditer(text):
        host, tld, path = m["host"], m["tld"], m["path"] or ""
        if not (m["scheme"] or m["www"] or path or tld in lr.known_tlds):
            continue  # "e.g", "dr.smith": not a link
        if host.startswith("www"):
            host = re.sub(r"^www\d?\.", "", host)
        if rules.invite_re is not None and rules.invite_re.match(host + path):
            invite = invite or host + path
            continue
        if host not in found:
            found[host] = _classify_host(host, tld, rules)
    if _IP_URL.search(text):
        found["<ip>"] = ("link-ip-address", w.link_suspicious_tld, "link to a bare IP address")
    if invite is not None:
        reasons.append(Reason("invite-link", w.invite_link, f"invite link {clip(invite)}"))
    room = w.links_max
    for verdict in sorted((v for v in found.values() if v), key=lambda v: -v[1]):
        weight = min(verdict[1], room)
        if weight <= 0:
            break
        room -= weight
        reasons.append(Reason(verdict[0], weight, verdict[2]))


def _classify_host(host: str, tld: str, rules: SpamRules) -> HostVerdict | None:
    cache = rules.host_cache
    if host in cache:
        return cache[host]
    lr, w = rules.links, rules.weights
    parts = host.split(".")
    suffixes = {".".join(parts[i:]) for i in range(len(parts))}
    result: HostVerdict | None
    if suffixes & lr.allow_domains or any(".".join(parts[i:]) in lr.allow_suffixes for i in range(1, len(parts))):
        result = None
    elif host in lr.shorteners:
        result = ("link-shortener", w.link_shortener, f"link shortener {host}")
    else:
        label = parts[-3] if len(parts) >= 3 and parts[-2] in _SECOND_LEVEL else parts[-2]
        brand = None if suffixes & rules.official_domains else _lookalike(parts, lr)
        if brand is not None:
            result = ("link-lookalike", w.link_lookalike, f"site imitating {brand}: {host}")
        elif tld in lr.suspicious_tlds:
            result = ("link-suspicious-tld", w.link_suspicious_tld, f"throwaway-style ending .{tld}: {host}")
        elif _new_looking(label, lr.new_domain):
            result = ("link-new-domain", w.link_new_domain, f"throwaway-looking site name: {host}")
        else:
            result = ("link-unknown", w.link_unknown, f"link to {host}")
    if len(cache) > 10_000:
        cache.clear()
    cache[host] = result
    return result


def _lookalike(parts: list[str], lr: LinkRules) -> str | None:
    """The brand a host imitates, if any: contains it (after folding 1->i, 0->o, l->i ...) or is one typo away."""
    name = ".".join(parts[:-1]).translate(_HOST_FOLD).replace("rn", "m").replace("vv", "w")
    pieces = [p for p in re.split(r"[.\-0-9]+", name) if p]
    for brand in lr.brands:
        folded = brand.translate(_HOST_FOLD)
        if len(folded) >= 6:
            if folded in name or any(_one_edit(p, folded) for p in pieces):
                return brand
        elif folded in pieces:  # short brands ("steam") only as a whole word: "steamboat" is fine
            return brand
    return None


def _one_edit(a: str, b: str) -> bool:
    """True if a and b differ by exactly one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _new_looking(label: str, nd: NewDomain) -> bool:
    digits = sum(c.isdigit() for c in label)
    if digits >= nd.min_digits or label.count("-") >= nd.min_hyphens or len(label) >= nd.min_length:
        return True
    run = longest = 0
    for c in label:
        run = run + 1 if c.isalpha() and c not in _VOWELS else 0
        longest = max(longest, run)
    return longest >= nd.max_consonant_run
