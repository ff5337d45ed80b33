"""Typo-tolerant ranking of knowledge-base entries for what members actually type.

Pipeline for a query: normalise (NFKC, casefold, accents off) -> rewrite slang and other-language phrases to
canonical words (lexicon) -> tokens -> correct typos against the KB's own vocabulary (bounded edit distance) ->
light stemming. Entries are ranked with field-weighted BM25 over title, questions, tags and answer; the few best are
re-scored by fuzzy similarity to their questions. The confidence (0-1) mixes how much of the query's information
the entry covers with how close the query is to one of the entry's questions.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.features.faq.knowledge import Entry
from bot.features.faq.lexicon import Lexicon
from bot.language.scripts import INSIDE_WORDS

_NON_WORD = re.compile(r"[^\w]+")
_VOWELS = frozenset("aeiouy")
_CURRENCY = re.compile(r"[$€£¥]+")
# Letters that are not a base letter plus an accent, so NFD leaves them: typed without them on most keyboards
# ("glowy" for Polish "głowy", "agrisi" for Turkish "ağrısı"), and a lexicon variant must meet both spellings.
_UNACCENTED = str.maketrans({"ł": "l", "ı": "i", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe",
                             "ħ": "h", "ŀ": "l"})
_FIELD_WEIGHTS = {"title": 3.0, "questions": 2.0, "tags": 2.0, "answer": 0.6}
_K1 = 1.2
_B = 0.5
_RESCORE = 6
# How much a query word counts as covered by where the entry has it: title and tags say what the entry is
# about, its questions how members ask, its answer may mention anything in passing.
_COVER = {"title": 1.0, "tags": 1.0, "questions": 0.8, "answer": 0.6}
# Mix of the confidence signals; tuned on tests/data/faq_queries_dev.yaml only.
# Information a word the KB has never seen carries, as a share of the rarest KB word's: it may be the topic
# ("pizza") or filler the stop-word list lacks ("anyway").
_UNKNOWN = 1.0
_SORT_SHARE = 0.3
# Questions of one candidate entry scored by fuzzy similarity: those sharing the most of the query's information.
# The closest question is nearly always among them, and an entry with hundreds of questions (the decline class)
# no longer costs hundreds of fuzzy comparisons per query.
_FUZZY_PER_ENTRY = 8
# The least information (in units of a word found in a quarter of the entries) a query needs for full confidence.
_MIN_SPECIFIC = 1.0
_W_COVERAGE, _W_SIMILARITY, _W_RELATIVE = 0.4, 0.5, 0.1


FOLD_CHARS = 2_000  # how much of a text `fold` reads


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Casefolded, accent-free, punctuation-free text with single spaces (of the first `FOLD_CHARS` characters)."""
    text = _CURRENCY.sub(" money ", unicodedata.normalize("NFKC", text[:FOLD_CHARS])).casefold()
    if not text.isascii():  # most questions are plain ASCII: no accents to strip, no per-character loop
        # Spacing marks (Mc) go too: Devanagari's and Bengali's vowel signs are not word characters to `\w`, and
        # left in they split every Hindi word into pieces.
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) not in ("Mn", "Mc"))
        # Composed again, now without accents: NFD splits each Korean syllable into its letters (jamo).
        text = unicodedata.normalize("NFC", text.translate(_UNACCENTED))
    return " ".join(_NON_WORD.sub(" ", text).replace("_", " ").split())


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """A deliberately small English suffix stripper: enough to meet 'infusions'/'infusion', 'costs'/'cost'."""
    if len(token) <= 4 or token.isdigit():
        return token
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            if suffix == "s" and token.endswith(("ss", "us", "is")):
                return token
            if suffix == "es" and not token.endswith(("sses", "shes", "ches", "xes")):
                continue
            return token[: len(token) - len(suffix)] + repl
    return token


@dataclass(frozen=True)
class Hit:
    entry: Entry
    confidence: float


@dataclass(frozen=True)
class Analysed:
    """A query after normalisation: the folded text and its content terms (stemmed)."""

    text: str
    terms: tuple[str, ...]
    unknown: tuple[str, ...]  # words the KB does not know at all, even allowing typos


class SearchIndex:
    """An immutable index of one knowledge base; building a new one is how a reload swaps content."""

    def __init__(self, entries: Iterable[Entry], lexicon: Lexicon) -> None:
        self.entries = tuple(entries)
        self.by_id = {e.id: e for e in self.entries}
        self.stopwords = lexicon.stopwords
        self.rewrite = _phrase_rewriter(lexicon)
        postings: dict[str, list[tuple[int, float, float]]] = {}
        self._questions: list[list[str]] = []  # per entry: its title and questions, folded and rewritten
        self._sorted: list[list[str]] = []
        raw_vocab: Counter[str] = Counter()
        lengths: list[float] = []
        per_entry: list[defaultdict[str, float]] = []
        self._cover: list[dict[str, float]] = []
        for entry in self.entries:
            weighted: defaultdict[str, float] = defaultdict(float)
            cover: dict[str, float] = {}
            # Each question and tag on its own: joined, the end of one and the start of the next could form a
            # lexicon phrase ("nasal" + "spray" read as the single word "nasal").
            fields = {
                "title": [entry.title],
                "questions": entry.questions,
                "tags": entry.tags,
                "answer": [entry.answer],
            }
            for name, texts in fields.items():
                words = [w for text in texts for w in self._words(text)]
                raw_vocab.update(words)
                for w in words:
                    if w not in self.stopwords:
                        weighted[stem(w)] += _FIELD_WEIGHTS[name]
                        cover[stem(w)] = max(cover.get(stem(w), 0.0), _COVER[name])
            per_entry.append(weighted)
            self._cover.append(cover)
            lengths.append(sum(weighted.values()))
            self._questions.append([self.rewrite(fold(q)) for q in (entry.title, *entry.questions)])
            # token_sort_ratio(a, b) is ratio(sorted(a), sorted(b)): sorting the questions once saves it per query.
            self._sorted.append([" ".join(sorted(q.split())) for q in self._questions[-1]])
        # Per term, which questions (numbered across all entries) have it: to pick each candidate's questions.
        self._first_question = np.cumsum([0] + [len(qs) for qs in self._questions]).tolist()
        question_postings: dict[str, list[int]] = {}
        number = 0
        for qs in self._questions:
            for q in qs:
                for term in {stem(w) for w in q.split() if w not in self.stopwords}:
                    question_postings.setdefault(term, []).append(number)
                number += 1
        self._question_postings = {t: np.array(ids, dtype=np.int32) for t, ids in question_postings.items()}
        avg = sum(lengths) / len(lengths) if lengths else 1.0
        n = len(self.entries)
        df: Counter[str] = Counter()
        for weighted in per_entry:
            df.update(weighted.keys())
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._max_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        self._idf_quarter = math.log(1 + (0.75 * n + 0.5) / (0.25 * n + 0.5))  # a word in a quarter of entries
        for i, weighted in enumerate(per_entry):
            norm = _K1 * (1 - _B + _B * lengths[i] / avg)
            for term, tf in weighted.items():
                score = self._idf[term] * tf * (_K1 + 1) / (tf + norm)
                postings.setdefault(term, []).append((i, score, self._idf[term] * self._cover[i][term]))
        # Per term: which entries have it, its BM25 contribution there, and the information it covers there.
        # Arrays, because a common word ("ketamine") touches every entry and a Python loop over 1,000 is slow.
        self._postings: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
            term: (np.array([p[0] for p in rows], dtype=np.int32), np.array([p[1] for p in rows]),
                   np.array([p[2] for p in rows]))
            for term, rows in postings.items()
        }
        # A typo may be closest to a lexicon variant ("nasel" -> German "nase"); it then stands for the canonical.
        self._variant_of: dict[str, tuple[str, ...]] = {}
        for canonical, variants in lexicon.synonyms.items():
            for v in variants:
                words = fold(v).split()
                raw_vocab.update(words)
                if len(words) == 1:
                    self._variant_of.setdefault(words[0], tuple(fold(canonical).split()))
        raw_vocab.update(self.stopwords)
        self._vocab = set(raw_vocab)
        # Candidates for typo correction, bucketed by length so a lookup only compares similar-length words.
        self._by_length: dict[int, dict[str, list[str]]] = {}
        for w in sorted(self._vocab, key=lambda w: -raw_vocab[w]):
            if len(w) >= 3 and not w.isdigit():
                key = w[0] if w[0] not in _VOWELS else "*"
                self._by_length.setdefault(len(w), {}).setdefault(key, []).append(w)
        self._corrections: dict[str, str | None] = {}

    def _words(self, text: str) -> list[str]:
        return self.rewrite(fold(text)).split()

    def correct(self, word: str) -> str | None:
        """The KB word this one is a typo of, or None when nothing is close enough."""
        if word in self._vocab:
            return word
        if word in self._corrections:
            return self._corrections[word]
        best: str | None = None
        if len(word) >= 4 and not word.isdigit():
            max_edits = 1 if len(word) <= 7 else 2
            best_distance = max_edits + 1
            # Typos rarely change the first letter, except one vowel for another ("affects"/"effects"); this
            # keeps real words the KB lacks ("killing") from being read as KB words ("filling").
            first = word[0]
            for length in range(len(word) - max_edits, len(word) + max_edits + 1):
                bucket = self._by_length.get(length)
                candidates = bucket.get(first if first not in _VOWELS else "*", []) if bucket else []
                if not candidates:
                    continue
                found = process.extractOne(word, candidates, scorer=Levenshtein.distance,
                                           score_cutoff=best_distance - 1)
                if found is not None and found[1] < best_distance:
                    best, best_distance = found[0], found[1]
        if len(self._corrections) < 100_000:
            self._corrections[word] = best
        return best

    def analyse(self, query: str) -> Analysed:
        text = self.rewrite(fold(query))
        terms: list[str] = []
        unknown: list[str] = []
        for word in text.split():
            if word in self.stopwords:
                continue
            fixed = self.correct(word)
            if fixed is None:
                if len(word) > 3:  # stray letters, particles and short fillers say little about the topic
                    unknown.append(word)
                continue
            if fixed in self.stopwords:
                continue
            if fixed != word and fixed in self._variant_of:
                terms.extend(stem(w) for w in self._variant_of[fixed] if w not in self.stopwords)
                continue
            terms.append(stem(fixed))
        return Analysed(text=text, terms=tuple(dict.fromkeys(terms)), unknown=tuple(dict.fromkeys(unknown)))

    def search(self, query: str, limit: int = 4, analysed: Analysed | None = None) -> list[Hit]:
        """The best entries for `query`, most confident first (`analysed`: `analyse(query)`, if already known)."""
        q = analysed or self.analyse(query)
        if not q.terms:
            return []
        postings = [self._postings[t] for t in q.terms if t in self._postings]
        if not postings:
            return []
        # One bincount over all the query's postings at once: per-term numpy calls cost more than the sums.
        ids = np.concatenate([p[0] for p in postings])
        scores = np.bincount(ids, weights=np.concatenate([p[1] for p in postings]), minlength=len(self.entries))
        matched = np.bincount(ids, weights=np.concatenate([p[2] for p in postings]), minlength=len(self.entries))
        # Unknown words count as highly informative: a query mostly about something the KB never mentions
        # ("best pizza near me") must not be answered from the one word it shares with an entry.
        unknown_info = self._max_idf * _UNKNOWN * len(q.unknown)
        total_info = sum(self._idf.get(t, self._max_idf) for t in q.terms) + unknown_info
        k = min(_RESCORE, len(scores))
        top_k = np.argpartition(-scores, k - 1)[:k]
        best = [int(i) for i in top_k[np.argsort(-scores[top_k])] if scores[i] > 0]
        top_score = float(scores[best[0]])
        picked = self._closest_questions(best, q.terms)
        # One C call scores the query against the picked questions of every candidate entry.
        texts = [self._questions[i][j] for i, js in zip(best, picked, strict=True) for j in js]
        ordered = [self._sorted[i][j] for i, js in zip(best, picked, strict=True) for j in js]
        # token_set_ratio forgives extra words but scores 100 for any question that merely contains the query's
        # words; token_sort_ratio breaks those ties in favour of the question closest as a whole.
        q_sorted = " ".join(sorted(q.text.split()))
        sims = (process.cdist([q.text], texts, scorer=fuzz.token_set_ratio, dtype=np.float32)[0] * (1 - _SORT_SHARE)
                + process.cdist([q_sorted], ordered, scorer=fuzz.ratio, dtype=np.float32)[0] * _SORT_SHARE)
        offsets = np.cumsum([0] + [len(js) for js in picked[:-1]])
        best_sim = np.maximum.reduceat(sims, offsets)
        hits = []
        # Similarity is damped by the share of the query's information the KB has never heard of, so
        # "is caffeine bad for headaches" does not ride on its resemblance to "is ketamine bad for headaches".
        known_share = len(q.terms) / (len(q.terms) + _UNKNOWN * len(q.unknown))
        # A query made only of words most entries use ("help", "ketamine") says too little to pick one entry.
        specificity = min(1.0, sum(self._idf.get(t, 0.0) for t in q.terms) / (_MIN_SPECIFIC * self._idf_quarter))
        for rank, i in enumerate(best):
            coverage = float(matched[i]) / total_info if total_info else 0.0
            similarity = known_share * float(best_sim[rank]) / 100.0
            relative = float(scores[i]) / top_score
            # Closeness to one of the entry's own questions still counts in full: "what is ketamine" is specific
            # as a whole even though "ketamine" is not.
            confidence = (specificity * (_W_COVERAGE * coverage + _W_RELATIVE * relative)
                          + _W_SIMILARITY * similarity * max(specificity, similarity))
            hits.append(Hit(self.entries[i], round(min(confidence, 1.0), 4)))
        hits.sort(key=lambda h: h.confidence, reverse=True)
        return hits[:limit]

    def _closest_questions(self, best: list[int], terms: tuple[str, ...]) -> list[list[int]]:
        """For each candidate entry, its questions (by position) sharing the most of the query's information."""
        # Only an entry with more questions than get the fuzzy match needs them ranked by shared information.
        many = any(self._first_question[i + 1] - self._first_question[i] > _FUZZY_PER_ENTRY for i in best)
        found = [(self._question_postings[t], self._idf.get(t, 0.0)) for t in terms
                 if t in self._question_postings] if many else []
        shared = np.bincount(np.concatenate([ids for ids, _ in found]),
                             weights=np.concatenate([np.full(len(ids), idf) for ids, idf in found]),
                             minlength=self._first_question[-1]) if found else None
        picked = []
        for i in best:
            start, end = self._first_question[i], self._first_question[i + 1]
            if end - start <= _FUZZY_PER_ENTRY or shared is None:
                picked.append(list(range(end - start)))
                continue
            top = np.argpartition(-shared[start:end], _FUZZY_PER_ENTRY - 1)[:_FUZZY_PER_ENTRY]
            picked.append(sorted(int(j) for j in top))
        return picked

    def complete(self, prefix: str, limit: int = 25) -> list[Entry]:
        """Entries for an autocomplete box: by search when the member typed words, else in KB order."""
        if not fold(prefix):
            return list(self.entries[:limit])
        return [h.entry for h in self.search(prefix, limit=limit)]


class WordRuns:
    """Phrases as runs of whole words of a folded text, each with a value: at a word, the longest phrase starting
    there is found with dictionary lookups, whatever the number of phrases (a regular expression alternating
    thousands of them costs ~180 us per question, as `re` tries each alternative at every position)."""

    def __init__(self, values: dict[tuple[str, ...], str]) -> None:
        self.values = values
        self.longest: dict[str, int] = {}  # first word -> the most words a phrase starting with it has
        for words in values:
            self.longest[words[0]] = max(self.longest.get(words[0], 0), len(words))

    def starts(self, words: list[str]) -> list[int]:
        """Where a phrase may start (most texts have no such word: one set operation in C says so)."""
        if self.longest.keys().isdisjoint(words):
            return []
        return [i for i, word in enumerate(words) if word in self.longest]

    def longest_at(self, words: list[str], i: int) -> tuple[int, str | None]:
        """How many words the longest phrase starting at `i` has, and its value; (0, None) if none starts there."""
        for size in range(min(self.longest.get(words[i], 0), len(words) - i), 0, -1):
            value = self.values.get(tuple(words[i:i + size]))
            if value is not None:
                return size, value
        return 0, None


def _phrase_rewriter(lexicon: Lexicon):
    """Rewrites every variant (a word or a phrase) in a folded text to its canonical word: at each word, the longest
    variant starting there, then on after it. A variant in a script written without spaces (`INSIDE_WORDS`) is
    first found wherever it stands inside the words, longest first, and set apart as its canonical word."""
    mapping: dict[tuple[str, ...], str] = {}
    inside: dict[str, str] = {}
    for canonical, variants in lexicon.synonyms.items():
        canon = fold(canonical)
        for v in variants:
            key = fold(v)
            if not key or key == canon:
                continue
            if " " not in key and INSIDE_WORDS.search(key):
                inside.setdefault(key, canon)
            else:
                mapping[tuple(key.split())] = canon
    runs = WordRuns(mapping)
    # One alternation, longest first so that "偏头痛" wins over "头痛"; it runs only on texts in those scripts.
    found_inside = re.compile("|".join(re.escape(k) for k in sorted(inside, key=len, reverse=True))) \
        if inside else None

    @lru_cache(maxsize=65536)
    def rewrite(text: str) -> str:
        if found_inside is not None and INSIDE_WORDS.search(text):
            marked = found_inside.sub(lambda m: f" {inside[m.group(0)]} ", text)
            if marked != text:
                # What is left of a run beside a variant is often one character of grammar (Chinese 的, a Korean
                # particle such as 을): read as an unknown word, it would count against every entry alike.
                text = " ".join(w for w in marked.split() if len(w) > 1 or not INSIDE_WORDS.match(w))
        words = text.split()
        if not runs.starts(words):
            return text
        out: list[str] = []
        i = 0
        while i < len(words):
            size, canon = runs.longest_at(words, i)
            if canon is not None:
                out.append(canon)
                i += size
            else:
                out.append(words[i])
                i += 1
        return " ".join(out)

    return rewrite
