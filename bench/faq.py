"""FAQ benchmark: KB load time, and query latency at the bundled size and at 1,000 entries, against a baseline.

Run from the repository root: `python bench/faq.py`. Two query sets: generated ones (KB questions with typos, word
soups, chit-chat: short) and members' questions as they were written for the labelled corpus (2,000 of
`faq_more.jsonl`: long, rambling, other languages), which cost more per query. The baseline is what a hand-rolled
bot would do: one rapidfuzz WRatio match of the query against every question string. Both run in the same process
on the same queries, so the ratio holds on a noisy shared machine even when the absolute numbers wobble.
Last line: `faq p99_us_1000=<n> load_ms=<n>`, the p99 over both sets at 1,000 entries.
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.features.faq.feature import Faq  # noqa: E402
from bot.features.faq.knowledge import load_knowledge_base  # noqa: E402
from bot.features.faq.search import SearchIndex  # noqa: E402
from bot.language.corpus import bundled  # noqa: E402

_VOCABULARY = """
ketamine migraine infusion nasal spray tablet troche clinic doctor neurologist specialist insurance cost price dose
study trial patients relief pain chronic cluster headache bladder liver heart blood pressure memory fog dissociation
hallucination addiction opioid schedule legal history anesthesia nmda glutamate pharmacy compounding prescription
booster inpatient outpatient hospital abortive preventive side effects risk safety evidence research depression
bipolar epilepsy cancer phantom limb spinal cord nerve block botox triptan magnesium sleep diet trigger aura vertigo
nausea light sound sensitivity
"""
WORDS = tuple(_VOCABULARY.split())


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return rng.choice([word[:i] + word[i + 1:], word[:i] + word[i] + word[i:], word[:i] + "e" + word[i + 1:]])


def make_queries(kb_questions: list[str], n: int, rng: random.Random) -> list[str]:
    queries = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.5:
            words = rng.choice(kb_questions).lower().split()
            queries.append(" ".join(typo(w, rng) if rng.random() < 0.3 else w for w in words))
        elif kind < 0.8:
            queries.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 7))))
        else:
            queries.append(" ".join(rng.choice(["how", "do", "i", "pizza", "router", "weather", "football",
                                                "my", "cat", "asdf", "tomorrow"]) for _ in range(rng.randint(2, 6))))
    return queries


def generate_kb(directory: Path, n: int, rng: random.Random) -> None:
    shutil.copy(ROOT / "faq" / "_safety.yaml", directory / "_safety.yaml")
    for lexicon in (ROOT / "faq").glob("_lexicon*.yaml"):  # _lexicon.yaml and the _lexicon-<name>.yaml files
        shutil.copy(lexicon, directory / lexicon.name)
    for f in range(n // 50):
        entries = []
        for i in range(50):
            k = f * 50 + i

            def phrase(lo: int, hi: int) -> str:
                return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

            entries.append({
                "id": f"entry-{k}", "title": f"{phrase(2, 5)} {k}"[:70],
                "questions": [f"{phrase(3, 9)} q{k}-{j}?" for j in range(5)],
                "answer": " ".join(phrase(8, 15) + "." for _ in range(5)),
                "sources": [{"title": "Generated", "citation": "bench"}], "tags": [rng.choice(WORDS)],
            })
        (directory / f"gen{f:03}.yaml").write_text(yaml.safe_dump({"entries": entries}, sort_keys=False))


def timed(fn, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def report(name: str, ours: list[float], base: list[float]) -> None:
    print(f"{name}: median {statistics.median(ours):.0f} us, p99 {pct(ours, 0.99):.0f} us | baseline median "
          f"{statistics.median(base):.0f} us, p99 {pct(base, 0.99):.0f} us | p99 ratio ours/baseline "
          f"{pct(ours, 0.99) / pct(base, 0.99):.2f}")


def main() -> None:
    rng = random.Random(7)
    loads = []
    for _ in range(5):
        t = time.perf_counter()
        kb = load_knowledge_base(ROOT / "faq")
        SearchIndex(kb.entries, kb.lexicon)
        loads.append((time.perf_counter() - t) * 1000)
    load_ms = statistics.median(loads)
    print(f"bundled KB: {len(kb.entries)} entries, load+index median {load_ms:.1f} ms")

    members = rng.sample([r["text"] for r in bundled("faq_more")], 2_000)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate_kb(Path(tmp), 1000, rng)
        t = time.perf_counter()
        big = Faq(None, tmp)
        print(f"generated KB: {len(big.kb.entries)} entries, load+index {(time.perf_counter() - t) * 1000:.0f} ms")
        for name, faq in (("bundled", Faq(None, ROOT / "faq")), ("1000", big)):
            questions = [q for e in faq.kb.entries for q in e.questions]
            both: list[float] = []
            for kind, queries in (("generated", make_queries(questions, 10_000, rng)), ("members'", members)):
                for q in queries[:200]:  # warm caches the way a running bot has them
                    faq.find(q)
                ours = timed(faq.find, queries)
                base = timed(lambda q, qs=questions: process.extractOne(q, qs, scorer=fuzz.WRatio), queries)
                report(f"{name} ({len(faq.kb.entries)} entries, {len(queries):,} {kind} queries)", ours, base)
                both += ours
            results[name] = pct(both, 0.99)
    print(f"faq p99_us_1000={results['1000']:.0f} load_ms={load_ms:.0f}")


if __name__ == "__main__":
    main()
