"""The `Scanner`: scores a message by every signal, remembers recent messages per author and the spam moderators
removed, and explains each score with its reasons."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from bot.features.moderation.spam.fingerprints import (
    TOKEN,
    content_words,
    is_fingerprint,
    shingles,
    sketch,
    sketch_from_hex,
    sketch_hex,
    text_words,
    token_hash,
)
from bot.features.moderation.spam.known_spam import KnownSpam
from bot.features.moderation.spam.links import link_reasons
from bot.features.moderation.spam.model import BayesModel
from bot.features.moderation.spam.normalise import disguise_names, normalise_with_disguise
from bot.features.moderation.spam.offers import offers
from bot.features.moderation.spam.records import Reason, ScanMessage, Verdict
from bot.features.moderation.spam.rules import SpamRules
from bot.features.moderation.spam.signals import contact_reasons, mention_reasons, phrase_reasons

__all__ = ["Scanner"]


# The language model's reading counts from this probability and in full from _PITCH_FULL (cross-validated: starting
# at 0.4 rather than 0.5 caught 0.816 of spam instead of 0.789 with the same two false alarms; 0.45 since the model
# is less regularised, which keeps the old false alarms: 70 in 5-fold CV over both training streams).
_PITCH_FROM, _PITCH_FULL = 0.45, 0.9

class _Seen(NamedTuple):
    ts: float
    channel: str
    shingles: frozenset[str]
    fingerprint: str
    offers: frozenset[str] = frozenset()
    id: str = ""  # the message's id (its platform reference), so an earlier copy can be queued with a later one


# Per remembered message at most this many words are kept (the same hash-smallest sample for every message, so
# near-duplicates still compare: exact for chat-sized messages, an unbiased estimate for long ones) ...
WORDS_PER_MESSAGE = 64
# ... and at most this many across all authors: about 64 MB with Python's per-string overhead, whatever the
# message sizes. The least recently active authors are forgotten first.
MAX_REMEMBERED_WORDS = 1_000_000


def remembered_sample(words: frozenset[str]) -> frozenset[str]:
    if len(words) <= WORDS_PER_MESSAGE:
        return words
    return frozenset(sorted(words, key=token_hash)[:WORDS_PER_MESSAGE])


class Scanner:
    """Scores messages. Stateful: remembers recent messages per author, bounded by the rules' windows."""

    def __init__(self, rules: SpamRules, model: BayesModel | None = None,
                 language: Callable[[str], float] | None = None) -> None:
        self.rules = rules  # replace at any time to hot-reload
        self.model = model if model is not None else BayesModel()
        self.language = language  # P(spam) from the classifier trained on the bundled corpus, if any
        self._authors: OrderedDict[str, deque[_Seen]] = OrderedDict()
        self._remembered_words = 0  # across all authors: what bounds this memory in bytes, not message count
        self._clock = 0.0
        self._known = KnownSpam()

    # -- known spam -----------------------------------------------------------------------------------

    def remember_spam(self, text: str) -> None:
        """Moderators removed this as spam: near-same text anywhere (any platform) is now a strong signal."""
        words = shingles(text_words(normalise_with_disguise(text, self.rules.max_text_chars)[0]))
        if len(words) >= self.rules.fingerprints.min_words:
            self._known.add(sketch(words), self.rules.fingerprints.max_known)

    def forget_spam(self, text: str) -> None:
        """A removal was reversed: drop every stored fingerprint that this text would match."""
        hashes = sketch(shingles(text_words(normalise_with_disguise(text, self.rules.max_text_chars)[0])))
        self._known.drop(sketch_hex(hashes))
        for fp, _similarity in self._known.matches(hashes, self.rules.fingerprints.min_similarity):
            self._known.drop(fp)

    def known_spam_fingerprints(self) -> list[str]:
        return self._known.fingerprints()

    def load_fingerprints(self, fingerprints: Iterable[str]) -> None:
        """Add stored fingerprints (from `known_spam_fingerprints`); malformed entries are skipped."""
        for fp in fingerprints:
            if isinstance(fp, str) and fp and is_fingerprint(fp):
                self._known.add(sketch_from_hex(fp), self.rules.fingerprints.max_known)

    # -- per-author memory, kept across restarts ------------------------------------------------------

    def authors_state(self) -> dict[str, list[list[object]]]:
        """Recent messages per author as plain data (fingerprints, word shingles and offers; never the text)."""
        return {author: [[seen.ts, seen.channel, seen.fingerprint, sorted(seen.shingles), sorted(seen.offers),
                          seen.id] for seen in history]
                for author, history in self._authors.items() if history}

    def load_authors_state(self, state: object) -> None:
        """Restore `authors_state`; anything malformed is skipped (a restart must never be stopped by it)."""
        if not isinstance(state, dict):
            return
        win = self.rules.windows
        for author, rows in list(state.items())[-win.max_authors:]:
            if not isinstance(author, str) or not isinstance(rows, list):
                continue
            history: deque[_Seen] = deque(maxlen=None)
            for row in rows[-win.author_history:]:
                try:
                    ts, channel, fp, words, offered, *rest = row  # the id was added later: older rows have none
                    seen = _Seen(float(ts), str(channel), remembered_sample(frozenset(map(str, words))), str(fp),
                                 frozenset(map(str, offered)), str(rest[0]) if rest else "")
                    history.append(seen)
                    self._remembered_words += len(seen.shingles)
                except (TypeError, ValueError):
                    continue
            if history:
                self._authors[author] = history
                self._clock = max(self._clock, history[-1].ts)

    # -- scanning -------------------------------------------------------------------------------------

    def scan(self, msg: ScanMessage) -> Verdict:
        """Score one message and remember it for the per-author checks."""
        rules = self.rules
        w = rules.weights
        ts = msg.ts if isinstance(msg.ts, (int, float)) and msg.ts > 0 and math.isfinite(msg.ts) else 0.0
        if ts <= 0:
            ts = self._clock + 1.0  # unknown time: one second after the latest message keeps the order
        self._clock = max(self._clock, ts)
        text, disguise = normalise_with_disguise(msg.text, rules.max_text_chars)
        tokens = set(TOKEN.findall(text))
        reasons: list[Reason] = []

        phrase_reasons(text, tokens, rules, reasons)
        link_reasons(text, rules, reasons)
        contact_reasons(text, rules, reasons)
        mention_reasons(text, msg.mention_count, rules, reasons)
        if disguise:
            kinds = disguise_names(disguise)
            reasons.append(
                Reason(
                    "disguised-text",
                    min(w.disguised_text_max, w.disguised_text * len(kinds)),
                    "disguised text: " + ", ".join(kinds),
                )
            )

        words = content_words(tokens)
        shingled = shingles(words)
        hashes = sketch(shingled)
        fp = sketch_hex(hashes)
        offered = offers(msg.text if isinstance(msg.text, str) else "", text)
        echoes = self._behaviour_reasons(msg, ts, shingled, fp, offered, rules, reasons)
        if self.language is not None:
            self._language_reason(text, rules, reasons)

        if self._known and len(shingled) >= rules.fingerprints.min_words:
            matches = self._known.matches(hashes, rules.fingerprints.min_similarity)
            if matches:
                best = max(s for _, s in matches)
                reasons.append(
                    Reason("known-spam-fingerprint", w.known_spam, f"matches spam removed before ({best:.0%} similar)")
                )

        lo = self.model.log_odds(words)
        if lo is not None:
            learned = self._learned_weight(lo, rules)
            if learned:
                p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, lo))))
                reasons.append(Reason("learned-model", learned, f"learned from moderators: spam probability {p:.2f}"))

        joined = msg.author_joined_ts
        if (
            joined is not None
            and isinstance(joined, (int, float))
            and ts - joined < rules.windows.new_member_hours * 3600
        ):
            others = sum(r.weight for r in reasons if r.weight > 0)
            if others > 0:
                hours = max(0.0, (ts - joined) / 3600)
                reasons.append(Reason("new-member", min(w.new_member, others), f"author joined {hours:.0f} h ago"))

        score = max(0.0, sum(r.weight for r in reasons)) if reasons else 0.0
        if len(reasons) > 1:
            reasons.sort(key=lambda r: -r.weight)
        auto = rules.auto_threshold
        return Verdict(
            message_id=str(msg.id),
            score=score,
            threshold=rules.threshold,
            flagged=score >= rules.threshold,
            auto_action=auto is not None and score >= auto,
            reasons=tuple(reasons),
            normalised=text,
            fingerprint=fp,
            echoes=echoes,
        )

    def _language_reason(self, text: str, rules: SpamRules, reasons: list[Reason]) -> None:
        assert self.language is not None
        p = self.language(text)
        w = rules.weights
        if p >= _PITCH_FROM:
            weight = w.language_spam_max * min(1.0, (p - _PITCH_FROM) / (_PITCH_FULL - _PITCH_FROM))
            if weight >= 0.01:
                reasons.append(Reason("language-model", round(weight, 3), f"reads like a sales pitch ({p:.2f})"))
        elif p < 0.1 and w.language_ham_max:
            weight = -w.language_ham_max * (0.1 - p) / 0.1
            if weight <= -0.01:
                reasons.append(Reason("language-model", round(weight, 3), f"reads like a member's post ({p:.2f})"))

    @staticmethod
    def _learned_weight(lo: float, rules: SpamRules) -> float:
        dz, full = rules.model.dead_zone, rules.model.full_at
        strength = min(1.0, (abs(lo) - dz) / (full - dz)) if abs(lo) > dz else 0.0
        if not strength:
            return 0.0
        return strength * (rules.weights.learned_spam_max if lo > 0 else -rules.weights.learned_ham_max)

    def _behaviour_reasons(
        self, msg: ScanMessage, ts: float, shingled: frozenset[str], fp: str, offered: frozenset[str],
        rules: SpamRules, reasons: list[Reason]
    ) -> tuple[tuple[str, float], ...]:
        """Add the per-author reasons; returns the earlier copies in other channels this message matched."""
        win, w = rules.windows, rules.weights
        authors = self._authors
        history = authors.get(msg.author)
        if history is None:
            history = authors[msg.author] = deque()
            while len(authors) > win.max_authors:
                self._forget_author()
        else:
            authors.move_to_end(msg.author)
        horizon = ts - max(win.duplicate_seconds, win.burst_seconds, win.offer_seconds)
        while history and history[0].ts < horizon:
            self._remembered_words -= len(history.popleft().shingles)

        echoes: dict[str, float] = {}
        recent = sum(1 for seen in history if 0 <= ts - seen.ts <= win.burst_seconds) + 1
        if recent >= win.burst_count:
            reasons.append(Reason("burst", w.burst, f"{recent} messages within {win.burst_seconds:g} s"))

        if len(shingled) >= win.duplicate_min_words:
            channels = {msg.channel}
            near = 1
            for seen in history:
                if ts - seen.ts > win.duplicate_seconds or len(seen.shingles) < win.duplicate_min_words:
                    continue
                if seen.fingerprint == fp:
                    channels.add(seen.channel)
                    near += 1  # repeating oneself word for word, in any channel
                elif seen.channel != msg.channel and _alike(shingled, seen.shingles, win.duplicate_similarity):
                    channels.add(seen.channel)  # the same pitch reworded for another channel
                else:
                    continue
                if seen.channel != msg.channel and seen.id:
                    echoes[seen.id] = seen.ts
            minutes = win.duplicate_seconds / 60
            if len(channels) >= 3:
                weight = w.duplicate_more_channels
                reasons.append(
                    Reason(
                        "duplicate-across-channels",
                        weight,
                        f"same message (or reworded) in {len(channels)} channels within {minutes:g} min",
                    )
                )
            elif len(channels) == 2:
                reasons.append(
                    Reason(
                        "duplicate-across-channels",
                        w.duplicate_two_channels,
                        f"same message (or reworded) in 2 channels within {minutes:g} min",
                    )
                )
            if near >= 3 and len(channels) < 3:
                reasons.append(
                    Reason("repeated-message", w.repeated_message, f"same text {near} times within {minutes:g} min")
                )

        if offered:
            matched = [seen for seen in history
                       if seen.channel != msg.channel and ts - seen.ts <= win.offer_seconds and seen.offers & offered]
            echoes.update((seen.id, seen.ts) for seen in matched if seen.id)
            elsewhere = {seen.channel for seen in matched}
            if elsewhere:
                shared = sorted({o for seen in history if seen.channel in elsewhere for o in seen.offers & offered})
                reasons.append(Reason("same-offer-across-channels", w.same_offer_channels,
                                      f"same {', '.join(shared[:3])} posted in {len(elsewhere) + 1} channels"))

        kept = remembered_sample(shingled)
        history.append(_Seen(ts, msg.channel, kept, fp, offered, str(msg.id)))
        self._remembered_words += len(kept)
        while len(history) > win.author_history:
            self._remembered_words -= len(history.popleft().shingles)
        while self._remembered_words > MAX_REMEMBERED_WORDS and len(authors) > 1:
            self._forget_author()
        return tuple(echoes.items())

    def remembered_words(self) -> int:
        """How many words the per-author memory holds (what bounds its size in bytes)."""
        return self._remembered_words

    def _forget_author(self) -> None:
        """Drop the least recently active author's memory."""
        _, history = self._authors.popitem(last=False)
        self._remembered_words -= sum(len(seen.shingles) for seen in history)


def _alike(a: frozenset[str], b: frozenset[str], bar: float) -> bool:
    """Whether two messages say the same thing, reworded: the share of the shorter one's words (by their first
    STEM letters, so "selling"/"sells" and "infusion"/"infusions" agree) that the other has too. Spammers
    paraphrase their pitch from channel to channel; a word-set Jaccard misses that, the overlap keeps it."""
    sa, sb = {w[:STEM] for w in a}, {w[:STEM] for w in b}
    shared = len(sa & sb)
    return shared >= 2 and shared >= bar * min(len(sa), len(sb))


STEM = 5
