"""Retrain the bundled models from the corpus and write their weights: `python -m bot.language.train [faq/]`.

The knowledge base's own questions join the corpus as ordinary examples (a snapshot, so the shipped weights
stay reproducible until the next run)."""

from __future__ import annotations

import json
import sys
import time
from importlib import resources
from pathlib import Path

import yaml

from bot.language import promotion, risk


def snapshot_kb_questions(folder: Path) -> int:
    """The knowledge base's own titles and questions, as ordinary examples: what members legitimately ask."""
    rows = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in doc.get("entries", []):
            for text in (entry.get("title", ""), *entry.get("questions", [])):
                rows.append({"text": text, "entry": entry.get("id")})
    out = Path(str(resources.files("bot.language").joinpath("data", "kb_questions.jsonl")))
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def main() -> None:
    started = time.perf_counter()
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("faq")
    print(f"{snapshot_kb_questions(folder)} knowledge-base questions from {folder}")
    for module in (risk, promotion):
        print(module.retrain())
    # The FAQ's topic model reads questions as the FAQ does (the KB's lexicon rewrites slang), so it is trained
    # from the knowledge base itself; imported here only, so the language package stays below the features.
    from bot.features.faq.knowledge import load_knowledge_base
    from bot.features.faq.search import SearchIndex, fold
    from bot.features.faq.topics import retrain as retrain_topics

    kb = load_knowledge_base(folder)
    index = SearchIndex(kb.entries, kb.lexicon)
    print(retrain_topics(kb.entries, lambda text: index.rewrite(fold(text))))
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
