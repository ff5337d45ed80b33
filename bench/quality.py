"""How well the bot understands members, on sets written by people who never saw its rules, patterns or knowledge base.

    python bench/quality.py            # the sealed sets (tests/data/sealed): report these, never tune on them
    python bench/quality.py --dev      # the training half (bot/language/data), for development
    python bench/quality.py --sets DIR # a new blind round (faq/unsafe/crisis/stream.jsonl), scored before it joins
                                       # the training half: what a new community would see

FAQ: in-scope questions reach an expected entry; off-topic ones are declined; unsafe ones never get an entry;
harmless look-alikes are not refused. Crisis: recall on crisis messages (asked with /faq or posted in a channel)
and false alarms on hard look-alikes. Spam: precision and recall over a stream of channel messages in order.
The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.features.faq import Faq  # noqa: E402
from bot.features.moderation.spam import ScanMessage, Scanner, SpamRules  # noqa: E402
from bot.language.promotion import shared_promotion_model  # noqa: E402


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def optional(path: Path) -> list[dict]:
    return rows(path) if path.exists() else []


def pct(n: int, d: int) -> float:
    return 100.0 * n / d if d else 0.0


def faq_figures(faq: Faq, items: list[dict], unsafe: list[dict]) -> dict[str, float]:
    right = total_in = declined = total_off = uncovered_declined = total_uncovered = 0
    misses: Counter[str] = Counter()
    for item in items:
        answer = faq.find(item["text"])
        got = answer.entry.id if answer.entry else None
        if item["label"] == "off_topic":
            total_off += 1
            declined += got is None and answer.safety is None
        elif item["expect"]:
            total_in += 1
            ok = got in item["expect"]
            right += ok
            if not ok:
                misses["declined" if got is None else "wrong entry"] += 1
        else:
            total_uncovered += 1
            uncovered_declined += got is None
    unsafe_answered = refused = beside = total_safe = total_unsafe = 0
    for item in unsafe:
        answer = faq.find(item["text"])
        if item["unsafe"]:
            total_unsafe += 1
            unsafe_answered += answer.entry is not None
        else:
            total_safe += 1
            refused += answer.safety is not None
            beside += answer.safety is not None and answer.entry is not None
    print(f"FAQ in scope      {right}/{total_in} reach an expected entry ({pct(right, total_in):.1f}%); "
          f"misses: {dict(misses)}")
    print(f"FAQ off topic     {declined}/{total_off} declined ({pct(declined, total_off):.1f}%)")
    print(f"FAQ not covered   {uncovered_declined}/{total_uncovered} in-scope questions the KB has no entry for "
          "were declined rather than answered from a neighbour")
    print(f"Unsafe            {unsafe_answered}/{total_unsafe} unsafe questions got knowledge-base content")
    print(f"Harmless          {refused}/{total_safe} harmless look-alikes refused ({pct(refused, total_safe):.1f}%); "
          f"{beside} of them still got the answer, after the crisis resources")
    return {"faq_right": pct(right, total_in), "faq_declined": pct(declined, total_off),
            "unsafe_answered": unsafe_answered, "false_refusals": pct(refused, total_safe)}


def crisis_figures(faq: Faq, items: list[dict]) -> dict[str, float]:
    found = {"faq": [0, 0], "channel": [0, 0]}
    false = total_neg = 0
    for item in items:
        # /faq questions go through the FAQ's routing; channel messages through what the wellbeing feature uses.
        hit = (faq.find(item["text"]).safety == "crisis") if item["where"] == "faq" else faq.is_crisis(item["text"])
        if item["crisis"]:
            found[item["where"]][0] += hit
            found[item["where"]][1] += 1
        else:
            total_neg += 1
            false += hit
    tp = found["faq"][0] + found["channel"][0]
    total = found["faq"][1] + found["channel"][1]
    for where, (n, d) in found.items():
        print(f"Crisis ({where:7}) {n}/{d} recognised ({pct(n, d):.1f}%)")
    print(f"Crisis false      {false}/{total_neg} hard look-alikes flagged ({pct(false, total_neg):.1f}%)")
    return {"crisis_recall": pct(tp, total), "crisis_false": pct(false, total_neg)}


def spam_figures(scanner: Scanner, items: list[dict]) -> dict[str, float]:
    tp = fp = fn = 0
    missed: Counter[str] = Counter()
    false_kinds: Counter[str] = Counter()
    queued: set[int] = set()  # flagged, or an earlier copy a flagged message gave away (grouped into its item)
    t0 = time.time()
    for i, item in enumerate(items):
        verdict = scanner.scan(ScanMessage(id=str(i), author=item["author"], channel=item["channel"],
                                           text=item["text"], ts=t0 + item["ts"]))
        if verdict.flagged:
            queued.add(i)
            queued.update(int(message_id) for message_id, _ in verdict.echoes)
        if item["spam"]:
            tp += verdict.flagged
            fn += not verdict.flagged
            if not verdict.flagged:
                missed[item["kind"]] += 1
        elif verdict.flagged:
            fp += 1
            false_kinds[item["kind"]] += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    print(f"Spam              precision {precision:.3f} ({fp} false alarms in {sum(not i['spam'] for i in items)} "
          f"ordinary messages), recall {recall:.3f} ({fn} of {tp + fn} missed)")
    if missed:
        print(f"  missed by kind: {dict(missed.most_common())}")
    if false_kinds:
        print(f"  false alarms by kind: {dict(false_kinds.most_common())}")
    q_tp = sum(1 for i in queued if items[i]["spam"])
    q_fp = len(queued) - q_tp
    total_spam = sum(1 for item in items if item["spam"])
    print(f"Spam queued       precision {q_tp / max(len(queued), 1):.3f}, recall {q_tp / max(total_spam, 1):.3f}: "
          "counting the earlier copies a later flagged copy brings into the moderators' queue "
          f"({q_tp - tp} spam, {q_fp - fp} ordinary); the figures above and below count each message as scanned")
    return {"spam_precision": precision, "spam_recall": recall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", action="store_true", help="score the training half instead of the sealed sets")
    parser.add_argument("--sets", type=Path, help="score the sets in this folder (any of faq.jsonl, unsafe.jsonl, "
                                                   "crisis.jsonl, stream.jsonl)")
    args = parser.parse_args()
    folder = args.sets.resolve() if args.sets else ROOT / ("bot/language/data" if args.dev else "tests/data/sealed")
    print(f"sets: {folder}")
    faq = Faq(None, ROOT / "faq")
    figures: dict[str, float] = {}
    figures |= faq_figures(faq, optional(folder / "faq.jsonl"), optional(folder / "unsafe.jsonl"))
    if (folder / "crisis.jsonl").exists():
        figures |= crisis_figures(faq, rows(folder / "crisis.jsonl"))
    stream = folder / "stream.jsonl"
    if stream.exists():
        scanner = Scanner(SpamRules.load(ROOT / "rules" / "spam.yaml"), language=shared_promotion_model().probability)
        figures |= spam_figures(scanner, rows(stream))
    print("quality " + " ".join(
        f"{k}={figures[k]:.{3 if k.startswith('spam') else 1}f}" if k != "unsafe_answered" else f"{k}={int(figures[k])}"
        for k in ("faq_right", "faq_declined", "unsafe_answered", "crisis_recall", "crisis_false", "spam_precision",
                  "spam_recall") if k in figures))


if __name__ == "__main__":
    main()
