"""One knowledge base ready to search: its entries, their word index, the topic model that knows them and the
KB's own questions. A deployment has one per community that has its own faq folder, plus the shared one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bot.features.faq.knowledge import KnowledgeBase, load_knowledge_base
from bot.features.faq.search import SearchIndex, fold
from bot.features.faq.topics import DECLINE, TopicModel, topic_model_for
from bot.language.corpus import bundled

DECLINE_ID = DECLINE
EXAMPLE_WORDS = 60


def build_index(kb: KnowledgeBase) -> SearchIndex:
    """The KB's entries, each also findable by the bundled labelled questions members asked about it, and a
    pseudo-entry of questions the KB should decline (other treatments, chit-chat, ketamine for pets)."""
    examples: dict[str | None, list[str]] = {}
    for row in bundled("faq_examples"):
        examples.setdefault(row.get("entry"), []).append(row["text"])
    for row in bundled("faq"):
        if row.get("expect"):
            examples.setdefault(row["expect"][0], []).append(row["text"])
        elif row.get("label") == "off_topic":
            examples.setdefault(None, []).append(row["text"])
    # Long stories carry many words beside the question ("botox copays" in a question about cost): only the short
    # examples sharpen the index, the long ones would blur it.
    examples = {k: [t for t in v if len(t.split()) <= EXAMPLE_WORDS] for k, v in examples.items()}
    entries = [replace(e, questions=(*e.questions, *examples.get(e.id, ()))) for e in kb.entries]
    if examples.get(None) and kb.entries:
        entries.append(replace(kb.entries[0], id=DECLINE_ID, title="(not in the knowledge base)", answer="",
                               questions=tuple(examples[None]), tags=(), related=()))
    return SearchIndex(entries, kb.lexicon)


def own_questions(kb: KnowledgeBase, index: SearchIndex) -> frozenset[str]:
    """The KB's own titles and questions as the search reads them."""
    return frozenset(index.rewrite(fold(q)) for e in kb.entries for q in (e.title, *e.questions))


@dataclass
class Library:
    """A loaded knowledge base and what searching it needs, swapped as a whole on reload (a reader never sees a
    new KB with an old index)."""

    path: Path
    kb: KnowledgeBase
    index: SearchIndex
    topic_model: TopicModel | None
    own_questions: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> Library:
        """Read and index a folder; raises KnowledgeBaseError listing every problem (file:line: what)."""
        kb = load_knowledge_base(path)
        index = build_index(kb)
        return cls(path, kb, index, topic_model_for(kb), own_questions(kb, index))
