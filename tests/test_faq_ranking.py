"""How the FAQ ranks and declines: one-word questions, where the word ranking alone used to answer chit-chat."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.features.faq import Faq
from bot.features.faq.knowledge import load_knowledge_base
from bot.features.faq.search import Hit, SearchIndex, fold
from bot.features.faq.topics import DECLINE, answerable, mix
from bot.language.corpus import bundled

ROOT = Path(__file__).resolve().parent.parent

# One content word each, and a word some member used in a question about an entry ("lol so my doc is basically
# prescribing me special k"): the word ranking alone answered every one of them with confidence above 0.7.
CHIT_CHAT = ["lol", "how old are you", "who made you", "botox"]
TOPIC_WORDS = [("insurance", "insurance"), ("Kosten", "cost"), ("troches", "oral-tablets-troches"),
               ("bladder", "bladder-problems")]


@pytest.fixture(scope="module")
def faq() -> Faq:
    return Faq(None, ROOT / "faq")


def test_one_word_mix_keeps_the_word_order_and_scales_by_the_model(faq: Faq):
    cost, insurance = faq.kb.get("cost"), faq.kb.get("insurance")
    assert cost is not None and insurance is not None
    hits = [Hit(cost, 0.8), Hit(insurance, 0.6)]
    # The model prefers "insurance", but one word is too little for it to pick the entry: only the scale changes.
    mixed = mix(hits, {"insurance": 0.1, "cost": 0.0, DECLINE: 0.9}, faq.index.by_id, one_word=True)
    assert [h.entry.id for h in mixed] == ["cost", "insurance"]
    assert [h.confidence for h in mixed] == pytest.approx([0.08, 0.06])
    # The pseudo-entry of questions to decline keeps its own confidence and can now come first.
    decline = Hit(replace(cost, id=DECLINE), 0.5)
    assert mix([*hits, decline], {DECLINE: 0.9}, faq.index.by_id, one_word=True)[0].entry.id == DECLINE
    # Questions of more than one word mix as before.
    assert mix(hits, {"insurance": 1.0, "cost": 0.0, DECLINE: 0.0}, faq.index.by_id)[0].entry.id == "insurance"


def test_the_shipped_model_tells_chit_chat_from_topic_words(faq: Faq):
    assert faq.topic_model is not None
    for text in CHIT_CHAT:
        assert answerable(faq.topic_model.probabilities(faq.index.rewrite(text.casefold()))) < 0.2, text
    for text, _ in TOPIC_WORDS:
        assert answerable(faq.topic_model.probabilities(faq.index.rewrite(text.casefold()))) > 0.8, text


# Faq.find passes one-word questions through mix(..., one_word=True): the topic model cannot tell which entry one
# word means, but it can tell chit-chat from a topic word.
@pytest.mark.parametrize("query", CHIT_CHAT)
def test_one_word_chit_chat_is_not_answered_from_the_knowledge_base(faq: Faq, query: str):
    answer = faq.find(query)
    assert answer.entry is None and answer.safety is None


@pytest.mark.parametrize("query, expected", TOPIC_WORDS)
def test_one_topic_word_is_still_answered(faq: Faq, query: str, expected: str):
    answer = faq.find(query)
    assert answer.entry is not None and answer.entry.id == expected


@pytest.mark.parametrize("query", ["k" * 5000, "@everyone lol", "**lol**", "l\u0301o\u0301l\u0301" * 300, "🙂"])
def test_odd_one_word_input_gets_a_polite_not_sure(faq: Faq, query: str):
    answer = faq.find(query)
    assert answer.safety is None
    reply = faq.answer_reply(answer)
    if answer.entry is None:
        assert reply.title == "I'm not sure I understood"


def test_the_lexicon_rewrite_reads_as_one_longest_first_alternation_would() -> None:
    """The word walk gives what the plain definition gives: every variant, longest first, as whole words."""
    kb = load_knowledge_base(ROOT / "faq")
    mapping = {fold(v): fold(c) for c, vs in kb.lexicon.synonyms.items() for v in vs if fold(v) and fold(v) != fold(c)}
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)) + r")\b")
    rewrite = SearchIndex(kb.entries, kb.lexicon).rewrite
    texts = [fold(r["text"]) for name in ("faq", "faq_examples", "unsafe", "crisis") for r in bundled(name)]
    texts += ["", "k", "special k k special", "iv drip iv", "nasal spray nasal sprays", "bol glowy i bol glowy"]
    changed = 0
    for text in texts:
        expected = pattern.sub(lambda m: mapping[m.group(1)], text)
        assert rewrite(text) == expected, text
        changed += expected != text
    assert changed > 500
