"""The FAQ through its public surface: validation, search quality, safety routing, reload, gaps."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.core.contract import DEFAULT_COMMUNITY
from bot.core.records import Invocation, Member, Place, Role
from bot.features.faq import Faq, feature
from bot.features.faq.knowledge import KnowledgeBaseError, load_knowledge_base
from bot.features.faq.safety import classify
from bot.features.faq.search import Hit
from bot.features.faq.topics import DECLINE, SHARE, mix
from bot.language.corpus import bundled
from bot.language.risk import Risk

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


class Reading:
    """A stand-in risk model that reads every text the same way, to test the rules around its readings."""

    def __init__(self, crisis: float = 0.0, unsafe: float = 0.0) -> None:
        self.risk = Risk(crisis=crisis, unsafe=unsafe)

    def assess(self, text: str) -> Risk:
        return self.risk


@pytest.fixture(scope="module")
def faq() -> Faq:
    return Faq(None, ROOT / "faq")


def label(faq: Faq, query: str) -> str | None:
    answer = faq.find(query)
    return answer.safety or (answer.entry.id if answer.entry else None)


def accuracy(faq: Faq, name: str) -> tuple[float, list[str]]:
    items = yaml.safe_load((DATA / f"faq_queries_{name}.yaml").read_text(encoding="utf-8"))
    wrong = []
    for item in items:
        got = label(faq, item["query"])
        if got != item["expect"]:
            wrong.append(f"{item['query']!r}: expected {item['expect']}, got {got}")
    return 1 - len(wrong) / len(items), wrong


# -- the bundled knowledge base ---------------------------------------------------------------------------


def test_bundled_kb_is_valid_and_every_entry_is_cited(faq: Faq):
    kb = load_knowledge_base(ROOT / "faq")
    assert len(kb.entries) >= 25
    for entry in kb.entries:
        assert entry.sources, entry.id
        assert 100 < len(entry.answer) <= 2400
    assert "not medical advice" in kb.safety.disclaimer.lower()


def test_required_topics_are_covered(faq: Faq):
    ids = {e.id for e in faq.kb.entries}
    for required in ("what-is-ketamine", "how-ketamine-works", "iv-infusion", "nasal-spray", "oral-tablets-troches",
                     "intramuscular-injection", "intranasal-study", "iv-pain-score-study", "sewell-247-patient-study",
                     "cost", "insurance", "side-effects-overview", "addiction-risk", "finding-headache-specialist",
                     "inpatient-vs-outpatient", "compounding-pharmacy", "legal-status", "history", "other-conditions",
                     "is-it-right-for-me"):
        assert required in ids


def test_study_figures_come_from_the_article(faq: Faq):
    text = " ".join(e.answer for e in faq.kb.entries)
    for figure in ("11", "25 mg", "64 mg", "159", "2.5", "247", "162", "150", "39", "26", "$300", "$1,000",
                   "1962", "Schedule III"):
        assert figure in text, figure


# -- search quality ---------------------------------------------------------------------------------------


def test_dev_queries_reach_the_right_entry(faq: Faq):
    score, wrong = accuracy(faq, "dev")
    assert score >= 0.85, "\n".join(wrong)


def test_holdout_queries_never_tuned_on(faq: Faq):
    # Held out: written with the dev set but never used for tuning. A looser bar, as any unseen set deserves.
    score, wrong = accuracy(faq, "holdout")
    assert score >= 0.78, "\n".join(wrong)


@pytest.mark.parametrize("query, expected", [
    ("ketamin nasel spray", "nasal-spray"),
    ("special k cost?", "cost"),
    ("side affects", "side-effects-overview"),
    ("INSURENCE cover ketamine infushuns??", "insurance"),
    ("is ket adictive like opiods", "addiction-risk"),
    ("when was ketamine discoverd", "history"),
    ("spray?", "nasal-spray"),
    ("bladder", "bladder-problems"),
    ("insurance", "insurance"),
])
def test_typos_and_slang(faq: Faq, query: str, expected: str):
    assert label(faq, query) == expected


@pytest.mark.parametrize("query", [
    "best pizza in chicago", "how do I reset my router", "what's the weather like tomorrow",
    "who won the football game", "asdfghjkl", "🙂🙂🙂", "",
])
def test_off_topic_gets_not_sure(faq: Faq, query: str):
    answer = faq.find(query)
    assert answer.entry is None and answer.safety is None


LONG_POST = ("long day, long week. my head has been at a 7 since monday and the triptans do nothing anymore. my doc "
             "and I talked about the nasal spray today and I'm trying to understand it before the next visit. does "
             "it make you feel spaced out or see things?")


def test_a_long_post_is_answered_from_the_sentence_that_asks(faq: Faq, monkeypatch: pytest.MonkeyPatch):
    """The whole post's words blur the ranking; its question sentence alone does not."""
    assert label(faq, LONG_POST) == "dissociation-and-hallucinations"
    answer = faq.find(LONG_POST)
    assert answer.query == LONG_POST  # the member's post, not the sentence, is what the answer is to
    monkeypatch.setattr(feature, "LONG_POST_WORDS", 10**6)
    assert faq.find(LONG_POST).entry is None  # read whole, it finds nothing confident


def test_a_long_post_asking_for_misuse_gets_no_content_from_its_sentences(faq: Faq):
    post = ("it's been a rough month, my insurer dropped the botox and my neuro is away. the spray I was prescribed "
            "works but runs out too fast. can I just take two sprays instead of one when it's really bad tonight?")
    answer = faq.find(post)
    assert answer.entry is None and answer.safety == "unsafe"


def test_question_parts_are_the_asking_sentences_or_the_last_one():
    assert feature.question_parts("I have a GP. Can she prescribe it? Thanks.") == ["Can she prescribe it?"]
    last = "wondering if she can prescribe it"
    assert feature.question_parts(f"I have a GP. {last}") == [last]
    assert feature.question_parts("one sentence only?") == []


def test_not_sure_offers_at_most_three_suggestions(faq: Faq):
    answer = faq.find("ketamine and my job interview next week")
    assert answer.entry is None or answer.confidence >= faq.min_confidence
    assert len(answer.suggestions) <= 3


def test_huge_and_odd_input_is_answered_politely(faq: Faq):
    for query in ("ketamine " * 50_000, "\u202e\u200b\u0000 ketamine\ufeff cost", "k\u0301e\u0301t" * 1000,
                  "<@&123> @everyone **bold** ketamine cost"):
        answer = faq.find(query)
        assert answer.query is not None
    assert label(faq, "<@&123> @everyone **bold** ketamine cost") == "cost"


# -- safety -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "how much ket to get high", "where can i buy ketamine online", "can i drink alcohol after my infusion",
    "best way to hit the k hole", "can I mix ketamine with xanax", "ketamine without a prescription?",
    "my cousin has leftover ketamine spray can i use it", "quiero comprar ketamina",
    "can I take more than 2 sprays if the migraine is bad", "is it ok to double my lozenge tonight",
    "can I have a glass of wine tonight after my spray",
])
def test_unsafe_questions_get_the_fixed_safety_reply(faq: Faq, query: str):
    answer = faq.find(query)
    assert answer.safety == "unsafe"
    assert answer.entry is None
    assert answer.safety_text == faq.kb.safety.unsafe_reply
    assert "doctor" in answer.safety_text and "pharmacist" in answer.safety_text


@pytest.mark.parametrize("query", [
    "i want to kill myself", "I don't want to live anymore", "everyone would be better off without me",
    "thinking about suicide", "quiero morir",
])
def test_crisis_messages_get_crisis_resources(faq: Faq, query: str):
    answer = faq.find(query)
    assert answer.safety == "crisis"
    assert "988" in (answer.safety_text or "")


@pytest.mark.parametrize("query", [
    "this headache is killing me, does ketamine help migraine", "dying to know if insurance covers infusions",
    "what is the k hole", "what dose of ketamine was used in the studies",
    "my doctor increased my dose, is that normal", "why is alcohol dangerous with ketamine",
    # "how many ... needed to" is also how "how many pills to not wake up" is asked
    "cuántas infusiones de ketamina hacen falta para notar mejoría", "quantas sessões precisa pra sentir diferença",
])
def test_idioms_and_information_questions_are_not_safety_cases(faq: Faq, query: str):
    assert faq.find(query).safety is None


@pytest.mark.parametrize(("text", "crisis"), [
    ("cette crise va me tuer, sérieux", False),  # "it will kill me": about the pain
    ("je vais me tuer ce soir", True),
    ("the insurance company can go jump off a cliff", False),
    ("i keep thinking about jumping off the bridge near work", True),
])
def test_the_admins_patterns_tell_an_idiom_from_intent(faq: Faq, text: str, crisis: bool):
    """The patterns alone, as for sharing below."""
    assert (classify(text, faq.kb.safety, faq.libraries[DEFAULT_COMMUNITY].index.rewrite) == "crisis") is crisis


@pytest.mark.parametrize(("query", "routed"), [
    ("can my sister try one of my troches for her migraine", True),
    ("is it fine to use my dad's old ketamine spray", True),
    ("my wife ran out of her spray, can she use mine until her refill", True),
    ("my cousin has leftover ketamine spray can i use it", True),
    # someone beside the member while they use their own medicine is not sharing it
    ("is it ok to use the spray at home with my boyfriend around to keep an eye on me", False),
    ("should my roommate stay nearby the first time I use my prescribed troches", False),
])
def test_the_admins_patterns_tell_sharing_a_medicine_from_company_while_using_it(faq: Faq, query: str, routed: bool):
    """The patterns alone (the trained model weighs in separately, see bench/quality.py for the figures)."""
    assert (classify(query, faq.kb.safety, faq.libraries[DEFAULT_COMMUNITY].index.rewrite) == "unsafe") is routed


def test_a_general_question_about_mixing_gets_the_cited_entry(faq: Faq):
    answer = faq.find("why is alcohol dangerous with ketamine")
    assert answer.entry is not None and answer.entry.id == "alcohol-and-other-drugs"
    assert any("reference 6" in (s.citation or "") for s in answer.entry.sources)


# -- validation -------------------------------------------------------------------------------------------


def write_kb(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "faq"
    directory.mkdir()
    # The bundled safety file without its list of bundled entries kept from crisis replies: these have others.
    safety = (ROOT / "faq" / "_safety.yaml").read_text(encoding="utf-8")
    kept = re.search(r"^never_beside_crisis:\n(?:  - .*\n)+", safety, re.M)
    assert kept is not None
    (directory / "_safety.yaml").write_text(safety.replace(kept.group(0), ""), encoding="utf-8")
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


GOOD_ENTRY = """\
  - id: {id}
    title: A title for {id}
    questions: ["{q}"]
    answer: An answer long enough to be a real answer for members who ask about {id}.
    sources:
      - title: The article
        citation: Ketamine for Migraine Management
"""


def test_every_problem_is_reported_with_file_and_line(tmp_path: Path):
    broken = (
        "entries:\n"
        + GOOD_ENTRY.format(id="alpha", q="first question")
        + "  - id: alpha\n"                          # line 9: duplicate id
        "    title: Duplicate\n"
        "    questions: [\"first question\"]\n"
        "    answer: text\n"
        "    sources: [{title: x, url: 'not a url'}]\n"  # line 13: bad url
        "    colour: blue\n"                         # line 14: unknown key
        "  - id: beta\n"                             # line 15: missing answer
        "    title: Beta\n"
        "    questions: [\"b?\"]\n"
        "    sources: [{title: x, citation: y}]\n"
        "  - id: gamma\n"
        "    title: Gamma\n"
        "    questions: [\"g?\"]\n"
        "    answer: " + "x" * 2500 + "\n"           # line 22: too long
        "    sources: [{title: x, citation: y}]\n"
        "    related: [nowhere]\n"                   # line 24: dangling related
    )
    directory = write_kb(tmp_path, {"broken.yaml": broken})
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(directory)
    text = str(err.value)
    assert "broken.yaml:9: duplicate id 'alpha'" in text
    assert "broken.yaml:13:" in text and "not a valid http(s) address" in text
    assert "broken.yaml:14:" in text and "unknown key 'colour'" in text
    assert "broken.yaml:15:" in text and "missing required key 'answer'" in text
    assert "broken.yaml:22:" in text and "limit is 2400" in text


def test_dangling_related_and_duplicate_questions_across_files(tmp_path: Path):
    a = "entries:\n" + GOOD_ENTRY.format(id="alpha", q="Same question?") + "    related: [nowhere]\n"
    b = "entries:\n" + GOOD_ENTRY.format(id="beta", q="same  QUESTION?")
    directory = write_kb(tmp_path, {"a.yaml": a, "b.yaml": b})
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(directory)
    text = str(err.value)
    assert "a.yaml:9: entry 'alpha': related id 'nowhere' does not exist" in text
    assert "b.yaml:4: question 'same  QUESTION?' is already asked in entry 'alpha'" in text


def test_words_yaml_would_read_as_booleans_or_numbers_stay_as_the_admin_wrote_them(tmp_path: Path):
    entry = GOOD_ENTRY.format(id="alpha", q="first question") + "    tags: [yes, on, 1e3]\n"
    directory = write_kb(tmp_path, {"a.yaml": "entries:\n" + entry,
                                    "_lexicon.yaml": "synonyms:\n  ok: [yes, okay]\nstopwords: [no, the]\n"})
    kb = load_knowledge_base(directory)
    assert kb.entries[0].tags == ("yes", "on", "1e3")
    assert kb.lexicon.synonyms["ok"] == ("yes", "okay")
    assert kb.lexicon.stopwords == frozenset({"no", "the"})


def test_lexicon_files_add_up_and_a_word_under_two_canonical_words_is_reported(tmp_path: Path):
    entry = GOOD_ENTRY.format(id="alpha", q="is the liver harmed")
    files = {"a.yaml": "entries:\n" + entry,
             "_lexicon.yaml": "synonyms:\n  liver: [hígado]\nstopwords: [the]\n",
             "_lexicon-polish.yaml": "synonyms:\n  liver: [wątroba, wątrobę]\n  heart: [serce]\nstopwords: [czy]\n"}
    kb = load_knowledge_base(write_kb(tmp_path, files))
    assert kb.lexicon.synonyms["liver"] == ("hígado", "wątroba", "wątrobę")
    assert kb.lexicon.stopwords == frozenset({"the", "czy"})
    # Typed without the Polish letters, as most keyboards do, it still reads as the canonical word.
    faq = Faq(None, tmp_path / "faq")
    for query in ("is the wątrobę harmed", "is the watrobe harmed", "is the hígado harmed"):
        assert faq.find(query).entry == kb.entries[0], query

    files["_lexicon-polish.yaml"] = "synonyms:\n  liver: [wątroba]\n  heart: [hígado]\n"
    (tmp_path / "faq" / "_lexicon-polish.yaml").write_text(files["_lexicon-polish.yaml"], encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(tmp_path / "faq")
    assert ("_lexicon-polish.yaml:3: synonym 'hígado' of 'heart' is already a synonym of 'liver' "
            "(_lexicon.yaml:2)") in str(err.value)


def test_lexicon_variants_in_scripts_without_spaces_are_found_inside_words(tmp_path: Path):
    cost = GOOD_ENTRY.format(id="cost", q="what does a ketamine infusion cost")
    liver = GOOD_ENTRY.format(id="liver", q="is the liver harmed by ketamine")
    files = {"a.yaml": "entries:\n" + cost + liver,
             "_lexicon-asia.yaml": "synonyms:\n  cost: [费用, 비용]\n  liver: [肝臓, 간 기능]\n"
                                   "  ketamine: [氯胺酮, 케타민, ケタミン]\n  infusion: [输液]\n"}
    directory = write_kb(tmp_path, files)
    faq = Faq(None, directory)
    # Chinese and Japanese run their words together; Korean attaches its particles (비용은, 케타민을) to the noun.
    # The one-character particles left beside a variant (的, は, に, 은) are not read as unknown words.
    assert faq.find("氯胺酮输液的费用").entry.id == "cost"
    assert faq.find("케타민 비용은?").entry.id == "cost"
    assert faq.find("ケタミンは肝臓に?").entry.id == "liver"
    assert faq.find("猫的食物").entry is None  # nothing the lexicon lists

    (directory / "_lexicon-asia.yaml").write_text("synonyms:\n  cost: [费用, 钱]\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(directory)
    assert "_lexicon-asia.yaml:2: synonym '钱' of 'cost' is one character of a script written without spaces" \
        in str(err.value)


PHRASES = """
crisis_phrases:
  ru: ["не хочу больше жить", "покончить с собой"]
  ja: ["死にたい"]
  ko: ["죽고 싶"]
crisis_mention_phrases:
  pl: ["myśli samobójcze"]
"""


def kb_with_own_phrases(tmp_path: Path) -> Path:
    """A knowledge base whose safety file has the bundled patterns but none of the bundled phrases."""
    directory = write_kb(tmp_path, {"a.yaml": "entries:\n" + GOOD_ENTRY.format(id="alpha", q="first question")})
    safety = (directory / "_safety.yaml").read_text(encoding="utf-8")
    (directory / "_safety.yaml").write_text(safety.split("\ncrisis_phrases:")[0] + "\n", encoding="utf-8")
    return directory


def test_admins_crisis_phrases_in_any_language_route_like_the_patterns(tmp_path: Path):
    directory = kb_with_own_phrases(tmp_path)
    with (directory / "_safety.yaml").open("a", encoding="utf-8") as f:
        f.write(PHRASES)
    safety = load_knowledge_base(directory).safety
    calm = Reading(crisis=0.0)
    # Whole words of the folded text, whatever the case or accents; anywhere in a script without spaces.
    assert classify("Я устала. Не хочу больше жить, правда.", safety, risk=calm) == "crisis"
    assert classify("もう死にたいです", safety, risk=calm) == "crisis"
    # Korean attaches its endings to the stem: the phrase's stem is found inside the longer word.
    assert classify("요즘은 죽고 싶다는 생각이 자꾸 나요", safety, risk=calm) == "crisis"
    assert classify("죽고 싶을 만큼 아파요?", safety, risk=calm) == "crisis"
    assert classify("не хочу больше жить в этом городе", safety, risk=calm) == "crisis"  # a phrase is a phrase
    assert classify("не хочу больше ждать ответа от страховой", safety, risk=calm) is None
    assert classify("хочу жить без боли", safety, risk=calm) is None
    # A mention counts only when the model leans towards a crisis too, as a crisis_mentions pattern does.
    assert classify("badania o myśli samobójcze w migrenie", safety, risk=calm) is None
    assert classify("mam myśli samobójcze", safety, risk=Reading(crisis=0.05)) == "crisis"


def test_admins_unsafe_phrases_in_any_language_refuse_like_the_unsafe_patterns(tmp_path: Path):
    directory = kb_with_own_phrases(tmp_path)
    with (directory / "_safety.yaml").open("a", encoding="utf-8") as f:
        f.write('unsafe_phrases:\n  ru: ["купить кетамин", "без рецепта"]\n  ko: ["처방 없이"]\n'
                'unsafe_mention_phrases:\n  de: ["mit alkohol"]\n')
    safety = load_knowledge_base(directory).safety
    calm = Reading(crisis=0.0)
    assert classify("Где купить кетамин без рецепта?", safety, risk=calm) == "unsafe"
    assert classify("케타민 처방 없이 살 수 있나요", safety, risk=calm) == "unsafe"
    assert classify("сколько стоит кетамин по рецепту", safety, risk=calm) is None
    # A mention refuses only when the model leans towards misuse too: the doctor's question uses the same words.
    assert classify("warum ist Ketamin mit Alkohol gefährlich", safety, risk=calm) is None
    assert classify("kann ich heute mit alkohol sprühen", safety, risk=Reading(crisis=0.0, unsafe=0.05)) == "unsafe"
    # Found by the FAQ: no knowledge-base content, the unsafe reply instead.
    answer = Faq(None, directory).find("Где купить кетамин без рецепта?")
    assert answer.safety == "unsafe" and answer.entry is None


def test_a_one_word_crisis_phrase_is_refused_with_its_line(tmp_path: Path):
    directory = kb_with_own_phrases(tmp_path)
    before = (directory / "_safety.yaml").read_text(encoding="utf-8").count("\n")
    with (directory / "_safety.yaml").open("a", encoding="utf-8") as f:
        f.write("crisis_phrases:\n  de:\n    - sterben\n    - 死\n")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(directory)
    text = str(err.value)
    assert f"_safety.yaml:{before + 3}: crisis_phrases.de: 'sterben' is one word" in text
    assert f"_safety.yaml:{before + 4}: crisis_phrases.de: '死' is one word" in text


def test_yaml_syntax_errors_name_the_line(tmp_path: Path):
    directory = write_kb(tmp_path, {"bad.yaml": "entries:\n  - id: x\n    title: [unclosed\n"})
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(directory)
    assert "bad.yaml:" in str(err.value) and "YAML syntax error" in str(err.value)


# -- reload and gaps through the commands ------------------------------------------------------------------

ADMIN = Member("console:ada", "ada", Role.ADMIN)
MEMBER = Member("console:mo", "mo", Role.MEMBER)
HERE = Place("console", "general")


async def test_broken_reload_keeps_serving_and_reports(core, tmp_path: Path):
    live = tmp_path / "live-faq"
    shutil.copytree(ROOT / "faq", live)
    core.get(Faq).path = live
    assert core.get(Faq).reload() == []
    before = len(core.get(Faq).kb.entries)
    (live / "routes.yaml").write_text((live / "routes.yaml").read_text() + "\n  - id: [broken\n")
    reply = await core.dispatch(Invocation("faq-reload", ADMIN, HERE))
    assert "Reload refused" in (reply.title or "")
    assert "routes.yaml:" in reply.text
    answer = await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "ketamine nasal spray"}))
    assert answer.title == "Ketamine nasal spray"
    assert len(core.get(Faq).kb.entries) == before
    audit = await core.storage.fetchall("SELECT actor, action FROM audit_log")
    assert [tuple(r) for r in audit] == [("console:ada", "faq.reload")]


async def test_good_reload_serves_new_content(core, tmp_path: Path):
    live = tmp_path / "live-faq"
    shutil.copytree(ROOT / "faq", live)
    core.get(Faq).path = live
    (live / "extra.yaml").write_text("entries:\n" + GOOD_ENTRY.format(id="parking", q="where do I park at the clinic"))
    reply = await core.dispatch(Invocation("faq-reload", ADMIN, HERE))
    assert reply.title == "Knowledge base reloaded"
    # The entry's own question: the models have never seen this entry, and an admin checking a reload asks it so.
    answer = await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "Where do I park at the clinic?"}))
    assert answer.title == "A title for parking"


async def test_members_cannot_reload_or_read_gaps(core):
    for name in ("faq-reload", "faq-gaps"):
        reply = await core.dispatch(Invocation(name, MEMBER, HERE))
        assert "only admins" in reply.text
    assert await core.storage.fetchall("SELECT * FROM audit_log") == []


async def test_gaps_are_counted_and_listed_most_frequent_first(core):
    for q in ["parking at the clinic?", "Parking at the clinic", "best pizza", "parking AT the clinic!!"]:
        await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": q}))
    await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "ketamine nasal spray"}))
    await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "i want to kill myself"}))
    reply = await core.dispatch(Invocation("faq-gaps", ADMIN, HERE))
    lines = reply.text.splitlines()
    assert lines[0].startswith("3× ") and "parking" in lines[0].lower()
    assert lines[1].startswith("1× best pizza")
    assert len(lines) == 2  # answered and safety questions are not gaps


async def test_answer_reply_has_sources_disclaimer_and_related_buttons(core):
    reply = await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "how much do infusions cost"}))
    assert reply.title == "How much ketamine treatment costs"
    assert reply.sources and reply.footer == core.get(Faq).kb.safety.disclaimer
    assert reply.ephemeral
    related = [b for b in reply.buttons if b.action_id.startswith("faq:show:")]
    assert related
    from bot.core.records import Action

    shown = await core.dispatch_action(Action(related[0].action_id, MEMBER, HERE))
    assert shown.title == core.get(Faq).kb.get(related[0].action_id.split(":")[2]).title
    shared = await core.dispatch_action(Action("faq:share:cost", MEMBER, HERE))
    assert not shared.ephemeral and shared.title == reply.title


def test_a_lone_word_every_entry_uses_is_not_an_answer(faq: Faq):
    assert faq.find("ketamine").entry is None


async def test_topics_and_autocomplete(core):
    reply = await core.dispatch(Invocation("faq", MEMBER, HERE))
    assert reply.title == "What I can answer" and len(reply.fields) >= 4
    assert (await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "help"}))).title == reply.title
    choices = await core.autocomplete("faq", "question", "ketamin nasel")
    assert choices and choices[0] == ("Ketamine nasal spray", "entry:nasal-spray")
    picked = await core.dispatch(Invocation("faq", MEMBER, HERE, {"question": "entry:nasal-spray"}))
    assert picked.title == "Ketamine nasal spray"


def test_the_kb_own_questions_find_their_entries_and_never_trip_safety(faq: Faq):
    asked = [(q, e.id) for e in faq.kb.entries for q in (e.title, *e.questions)]
    misses = [(q, want, label(faq, q)) for q, want in asked if label(faq, q) != want]
    assert not [m for m in misses if m[2] in ("unsafe", "crisis")], misses
    assert len(misses) <= len(asked) * 0.02, misses


def test_a_close_runner_up_is_offered_as_the_first_button(tmp_path: Path):
    """When two entries are almost equally likely, the best is the answer and the other the first button."""
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "faq", kb, ignore=shutil.ignore_patterns("[!_]*.yaml"))  # safety texts and lexicon only
    (kb / "parking.yaml").write_text("entries:\n" + GOOD_ENTRY.format(id="parking-garage", q="where do I park my car")
                                     + GOOD_ENTRY.format(id="parking-street", q="where can I park the car"))
    faq = Faq(None, kb)
    answer = faq.find("park car")
    assert answer.entry is not None and answer.runner_up is not None and answer.runner_up != answer.entry
    reply = faq.answer_reply(answer)
    assert reply.buttons[0].action_id == f"faq:show:{answer.runner_up.id}"
    (kb / "parking.yaml").write_text("entries:\n" + GOOD_ENTRY.format(id="parking-garage", q="where do I park my car")
                                     + GOOD_ENTRY.format(id="opening-hours", q="when does the clinic open"))
    clear = Faq(None, kb).find("park car")
    assert clear.entry is not None and clear.runner_up is None  # one clear answer: related topics as usual


# -- every sentence is a source's fact or the moderators' marked guidance (issue 14) ---------------------------

GUIDED = """\
entries:
  - id: guided
    title: Guided
    questions: ["a guided question"]
    answer: |
      The article says the spray worked for one member.
      General tip from the moderators: ask your doctor
      before you change anything.
    guidance:
      - "General tip from the moderators: ask your doctor before you change anything."
    sources:
      - title: The article
        citation: Ketamine for Migraine Management
      - title: MedlinePlus
        url: https://medlineplus.gov/ency/patientinstructions/000616.htm
"""


def test_guidance_sentences_are_kept_and_may_wrap_in_the_answer(tmp_path: Path):
    kb = load_knowledge_base(write_kb(tmp_path, {"g.yaml": GUIDED}))
    entry = kb.get("guided")
    assert entry is not None
    assert entry.guidance == ("General tip from the moderators: ask your doctor before you change anything.",)
    assert kb.warnings == ()


def test_guidance_must_be_copied_from_the_answer(tmp_path: Path):
    text = GUIDED.replace('      - "General tip', '      - "Skip driving for a day."\n      - "General tip')
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(write_kb(tmp_path, {"g.yaml": text}))
    assert "g.yaml:10: entry 'guided': guidance 'Skip driving for a day.' is not a sentence of the answer" \
        in str(err.value)


def test_guidance_needs_a_source_with_a_url(tmp_path: Path):
    text = GUIDED.replace("      - title: MedlinePlus\n        url: https://medlineplus.gov/ency/patientinstructions/000616.htm\n",
                          "")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(write_kb(tmp_path, {"g.yaml": text}))
    assert "g.yaml:9: entry 'guided': guidance needs at least one source with a url" in str(err.value)


UNNAMED = """\
  - id: {id}
    title: Title of {id}
    questions: ["{q}"]
    answer: 'Infusions cost $300 to $1,000, and one member called it "life changing".'
    sources:
      - title: A source
        citation: {citation}
"""


def test_validate_warns_about_figures_without_a_named_source_and_still_exits_0(tmp_path: Path, capsys):
    from bot.cli import main

    text = ("entries:\n" + UNNAMED.format(id="vague", q="how much, roughly", citation="Our newsletter")
            + UNNAMED.format(id="named", q="how much, exactly", citation="Comment thread under the article"))
    directory = write_kb(tmp_path, {"w.yaml": text})
    assert main(["faq", "validate", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "w.yaml:5: warning: entry 'vague': the answer has figures or quotation marks but no source" in out
    assert "'named'" not in out
    assert out.strip().endswith("2 entries, no problems, 1 warning(s)")
    assert [str(w) for w in load_knowledge_base(directory).warnings] == [out.splitlines()[0]]


def test_warnings_are_printed_after_errors_and_errors_keep_their_wording(tmp_path: Path, capsys):
    from bot.cli import main

    text = ("entries:\n" + UNNAMED.format(id="vague", q="how much, roughly", citation="Our newsletter")
            + "    related: [nowhere]\n")
    assert main(["faq", "validate", str(write_kb(tmp_path, {"w.yaml": text}))]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("w.yaml:9: entry 'vague': related id 'nowhere' does not exist")
    assert "w.yaml:5: warning: entry 'vague'" in lines[1]


def test_bundled_answers_follow_the_style_guide():
    kb = load_knowledge_base(ROOT / "faq")
    assert kb.warnings == ()
    for entry in kb.entries:
        assert len(entry.answer) < 1200, entry.id
        if entry.guidance:
            assert any(s.url for s in entry.sources), entry.id
        paragraphs = entry.answer.splitlines()
        for sentence in entry.guidance:
            paragraph = next(p for p in paragraphs if sentence in p)
            # Said in the moderators' voice, never as the author's or a member's experience.
            assert paragraph.startswith(("General tip from the moderators:", "We ")) or sentence.startswith("We "), \
                (entry.id, sentence)


@pytest.mark.parametrize("query, expected", [
    ("hemiplegic migraine, has anyone tried it?", "intranasal-study"),
    ("is it even legal, isn't it a party drug", "legal-status"),
    ("can my primary care doctor prescribe ketamine", "primary-care-doctor"),
    ("I live in a small town, can my regular doctor prescribe it", "primary-care-doctor"),
    ("ketamine for depression and chronic pain", "mood-and-migraine"),
    ("my mood is low from all this pain", "mood-and-migraine"),
    ("directories of headache specialists by state", "finding-headache-specialist"),
])
def test_the_questions_members_hit_reach_their_entry(faq: Faq, query: str, expected: str):
    assert label(faq, query) == expected


def test_gap_entries_link_to_real_pages(faq: Faq):
    directory = faq.kb.get("finding-headache-specialist")
    assert directory is not None and any("find-a-doctor" in (s.url or "") for s in directory.sources)
    mood = faq.kb.get("mood-and-migraine")
    assert mood is not None and "988" in mood.answer and "tell your doctor" in mood.answer
    assert any("americanmigrainefoundation.org" in (s.url or "") for s in mood.sources)
    other = faq.kb.get("other-conditions")
    assert other is not None and other.related[0] == "mood-and-migraine"


def test_over_attributed_and_unsourced_advice_is_gone(faq: Faq):
    answers = {e.id: e.answer for e in faq.kb.entries}
    everything = " ".join(answers.values())
    for phrase in ("Her tips", "note every call", "by video", "not at home", "linked to street use",
                   "Skip driving", "sit or lie", '"floaty"'):
        assert phrase not in everything, phrase
    assert "planned to bring the article" in answers["talking-to-your-doctor"]
    assert "where a headache specialist leads" not in answers["where-to-get-treatment"]


def bundled_kb_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled knowledge base whose _safety.yaml has `old` replaced by `new` (once)."""
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "faq", kb)
    safety = (kb / "_safety.yaml").read_text(encoding="utf-8")
    assert old in safety
    (kb / "_safety.yaml").write_text(safety.replace(old, new, 1), encoding="utf-8")
    return kb


def test_a_safety_pattern_that_could_freeze_the_bot_is_refused(tmp_path: Path):
    kb = bundled_kb_with(tmp_path, "crisis_patterns:\n", "crisis_patterns:\n  - '(a+)+$'\n")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(kb)
    assert "_safety.yaml:" in str(err.value) and "could freeze the bot" in str(err.value)


def test_one_broken_file_or_entry_causes_no_false_related_errors_elsewhere(tmp_path: Path):
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "faq", kb)
    first = next(p for p in sorted(kb.glob("[!_]*.yaml")))
    text = first.read_text(encoding="utf-8")
    first.write_text(text.replace("updated: 2026-11-25", "updated: 2026-02-31", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(kb)
    problems = [str(p) for p in err.value.problems]
    assert len(problems) == 1 and "updated must be a date" in problems[0], problems
    first.write_text(text + "\n  - id: [unclosed\n", encoding="utf-8")  # a YAML syntax error
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(kb)
    assert [p for p in err.value.problems if "does not exist" in str(p)] == []
    first.write_text(text, encoding="utf-8")
    other = next(p for p in sorted(kb.glob("[!_]*.yaml")) if p != first)
    other.write_text(other.read_text(encoding="utf-8").replace("related: [", "related: [no-such-entry, ", 1),
                     encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(kb)
    assert any("related id 'no-such-entry' does not exist" in str(p) for p in err.value.problems)


def test_zalgo_marks_cannot_push_the_question_out(faq: Faq):
    zalgo = "".join(c + "\u0301\u0302\u0303\u0304\u0305" * 30 for c in "x" * 40)
    answer = faq.find(zalgo + " how much does ketamine cost")
    assert answer.query.endswith("how much does ketamine cost")


# -- the topic model mixed into the ranking ------------------------------------------------------------------

def test_the_shipped_topic_model_knows_every_bundled_entry():
    """After adding an entry to faq/, run `python -m bot.language.train`, or the new entry is ranked by words only."""
    faq = Faq(None, ROOT / "faq")
    assert faq.topic_model is not None
    assert {e.id for e in faq.kb.entries} <= set(faq.topic_model.classes)


def test_an_entry_the_topic_model_never_saw_keeps_its_word_confidence():
    faq = Faq(None, ROOT / "faq")
    known, new = faq.kb.entries[0], replace(faq.kb.entries[1], id="brand-new-entry")
    hits = [Hit(new, 0.8), Hit(known, 0.5)]
    by_id = {e.id: e for e in (known, new)}
    mixed = {h.entry.id: h.confidence for h in mix(hits, {known.id: 1.0, DECLINE: 0.0}, by_id)}
    assert mixed["brand-new-entry"] == 0.8
    assert mixed[known.id] == pytest.approx(SHARE * 1.0 + (1 - SHARE) * 0.5)


def test_a_kb_the_topic_model_knows_nothing_of_is_ranked_by_words_alone(tmp_path: Path):
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "faq", kb, ignore=shutil.ignore_patterns("[!_]*.yaml"))
    (kb / "parking.yaml").write_text("entries:\n" + GOOD_ENTRY.format(id="parking", q="where do I park my car"))
    assert Faq(None, kb).topic_model is None


def test_members_wording_without_the_entrys_words_reaches_it():
    """What the topic model adds, on questions written for this test (not in any training file): with it the FAQ
    answers at least as many of them right as the word ranking alone, most of them, and never a wrong entry where
    the word ranking had none."""
    faq = Faq(None, ROOT / "faq")
    without = Faq(None, ROOT / "faq")
    without.topic_model = None
    questions = {
        "how many dollars are we talking for a round of drips": "cost",
        "my wallet is crying, any way to make this cheaper": "cost",
        "will my insurance company pay for any of this": "insurance",
        "do i have to stay in hospital for days or can i go home same day": "inpatient-vs-outpatient",
        "can my regular family doctor prescribe it or do i need a specialist": "primary-care-doctor",
        "will i see weird things or feel out of my body": "dissociation-and-hallucinations",
        "could i get hooked on it": "addiction-risk",
        "does it mess with your bladder": "bladder-problems",
        "is the spray as good as the iv": "nasal-spray",
        "what do the numbers from the studies actually say": "research-overview",
    }
    corpus = {r["text"] for name in ("faq", "faq_examples", "faq_more", "kb_questions") for r in bundled(name)}
    assert not set(questions) & corpus

    def right(f: Faq) -> int:
        return sum((a := f.find(q).entry) is not None and a.id == e for q, e in questions.items())

    assert right(faq) >= right(without) and right(faq) >= 8
    for off_topic in ("who won the football game last night", "can you recommend a good sci-fi novel"):
        assert faq.find(off_topic).entry is None


def test_a_question_the_kb_lists_is_not_refused_by_the_model_but_still_by_the_admins_patterns():
    from bot.features.faq.safety import classify

    kb = load_knowledge_base(ROOT / "faq")
    model = Reading(unsafe=1.0)
    assert classify("Should I try ketamine for my migraines?", kb.safety, risk=model) == "unsafe"  # type: ignore[arg-type]
    assert classify("Should I try ketamine for my migraines?", kb.safety, risk=model, listed=True) is None  # type: ignore[arg-type]
    assert classify("how to k-hole for fun", kb.safety, risk=None, listed=True) == "unsafe"  # an admin pattern


def test_a_question_leaning_towards_misuse_needs_a_surer_answer(faq: Faq, monkeypatch: pytest.MonkeyPatch):
    """Below the unsafe threshold, a question the risk model reads as possibly asking for misuse is answered only
    when the match is as sure as the word ranking alone must be; ordinary questions keep the lower bar."""
    import bot.features.faq.feature as feature

    # Questions cut to their first three words ("how long does", "can ketamine cause") are the vague kind whose
    # answers fall on either side of the words-only bar; which ones do depends on the shipped weights, so the test
    # finds them rather than naming them.
    questions = sorted({" ".join(q.split()[:3]) for e in faq.kb.entries for q in e.questions})
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading())
    calm = {q: faq.find(q) for q in questions}
    unsure = [q for q, a in calm.items() if a.entry is not None and a.confidence < feature.WORDS_ONLY_CONFIDENCE]
    sure = [q for q, a in calm.items() if a.entry is not None and a.confidence >= feature.WORDS_ONLY_CONFIDENCE]
    assert len(unsure) >= 3 and len(sure) >= 3
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(unsafe=feature.LEANING_UNSAFE))
    for q in unsure:
        answer = faq.find(q)
        assert answer.entry is None and answer.safety is None and answer.suggestions, q
    assert all(faq.find(q).entry == calm[q].entry for q in sure)


def test_a_question_leaning_further_towards_misuse_gets_no_content_and_no_suggestions(
        faq: Faq, monkeypatch: pytest.MonkeyPatch):
    import bot.features.faq.feature as feature

    question = "can ketamine damage the bladder"
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(unsafe=feature.LEANING_NO_ANSWER - 0.01))
    assert faq.find(question).entry is not None
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(unsafe=feature.LEANING_NO_ANSWER))
    answer = faq.find(question)
    assert answer.entry is None and answer.safety is None and not answer.suggestions
    assert "don't have an answer" in faq.answer_reply(answer).text


def test_an_unsure_crisis_gets_the_resources_and_the_answer_but_never_a_withheld_entry(
        faq: Faq, monkeypatch: pytest.MonkeyPatch):
    """When the risk model reads a question as a possible crisis but is not sure, the member gets the crisis
    resources and the answer to what they asked; a sure crisis gets the resources alone, and entries the admins
    keep from crisis replies are never given beside them."""
    import bot.features.faq.feature as feature

    question = "how many hours does one ketamine drip session last"
    calm = faq.find(question)
    assert calm.entry is not None and calm.safety is None
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(0.5))
    unsure = faq.find(question)
    assert unsure.safety == "crisis" and unsure.entry == calm.entry
    reply = faq.answer_reply(unsure)
    assert reply.text.startswith(faq.crisis_reply()) and calm.entry.answer in reply.text and reply.ephemeral
    assert reply.sources == calm.entry.sources
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(feature.CRISIS_SURE))
    sure = faq.find(question)
    assert sure.safety == "crisis" and sure.entry is None
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(0.5, unsafe=feature.LEANING_UNSAFE))
    assert faq.find(question).entry is None  # leaning towards misuse too: resources only
    withheld = faq.library().kb.safety.never_beside_crisis
    assert {"ketamine-deaths", "ketamine-dose"} <= withheld
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(0.0))
    deaths = faq.find("could ketamine kill a person like me")
    assert deaths.entry is not None and deaths.entry.id == "ketamine-deaths"
    monkeypatch.setattr(feature, "shared_risk_model", lambda: Reading(0.5))
    answer = faq.find("could ketamine kill a person like me")
    assert answer.safety == "crisis" and answer.entry is None


def test_a_withheld_entry_that_does_not_exist_is_a_warning_with_its_line(tmp_path: Path):
    kb = bundled_kb_with(tmp_path, "  - ketamine-dose\n", "  - ketamine-dosse\n")
    loaded = load_knowledge_base(kb)
    [warning] = [w for w in loaded.warnings if "never_beside_crisis" in w.message]
    assert warning.file.endswith("_safety.yaml") and warning.line > 0 and "ketamine-dosse" in warning.message
    assert "ketamine-dose" not in loaded.safety.never_beside_crisis


def test_a_word_members_also_use_about_suicide_counts_only_when_the_model_leans_that_way():
    """`crisis_mentions` ("suicide", "want to die") are words members use for research, a friend or an idiom as
    often as in a plea: they make a crisis only with the risk model leaning that way; the plea patterns need no
    model, and without a model a mention errs on the side of care."""
    from bot.features.faq.safety import MENTION_BAR, classify

    safety = load_knowledge_base(ROOT / "faq").safety
    about = "is there research on ketamine and suicide prevention"
    assert classify(about, safety, risk=Reading(crisis=MENTION_BAR - 0.01)) is None  # type: ignore[arg-type]
    assert classify(about, safety, risk=Reading(crisis=MENTION_BAR)) == "crisis"  # type: ignore[arg-type]
    assert classify("is there research on ketamine and migraine prevention", safety,
                    risk=Reading(crisis=MENTION_BAR)) is None  # type: ignore[arg-type]
    assert classify("i want to end my life", safety, risk=Reading(crisis=0.0)) == "crisis"  # type: ignore[arg-type]
    assert classify(about, safety, risk=None) == "crisis"


@pytest.mark.parametrize(("query", "crisis"), [
    ("my uncle died by suicide years ago, is ketamine safe for someone with that family history", False),
    ("what does the research say about ketamine and suicide risk", False),
    ("i keep thinking about suicide when the pain wont stop", True),
    ("self harm feels like the only thing that helps, would ketamine help instead", True),
])
def test_talking_about_suicide_is_told_apart_from_thinking_of_it(faq: Faq, query: str, crisis: bool):
    assert (faq.find(query).safety == "crisis") is crisis


def test_a_crisis_mention_pattern_is_checked_like_the_others(tmp_path: Path):
    kb = bundled_kb_with(tmp_path, "crisis_mentions:\n", "crisis_mentions:\n  - '(unclosed'\n")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(kb)
    assert "_safety.yaml:" in str(err.value) and "crisis_mentions: invalid regular expression" in str(err.value)


def test_a_personal_mixing_question_is_refused_only_when_the_model_leans_towards_misuse():
    """`unsafe_mentions` (personal mixing, "no prescription", "where can I buy") refuse with the risk model leaning
    towards misuse; the same words asked for the doctor's appointment get the knowledge base."""
    from bot.features.faq.safety import MENTION_BAR, classify

    safety = load_knowledge_base(ROOT / "faq").safety
    question = "can i have a glass of wine with my ketamine spray"
    assert classify(question, safety, risk=Reading(unsafe=MENTION_BAR - 0.01)) is None  # type: ignore[arg-type]
    assert classify(question, safety, risk=Reading(unsafe=MENTION_BAR)) == "unsafe"  # type: ignore[arg-type]
    assert classify(question, safety, risk=None) == "unsafe"
    assert classify("how to snort ketamine", safety, risk=Reading(unsafe=0.0)) == "unsafe"  # type: ignore[arg-type]


@pytest.mark.parametrize("where", [0, 5, 40])
def test_the_admins_patterns_are_found_anywhere_in_a_long_post(where: int):
    """A long post is judged whole and in windows; a plea or an unsafe request is found in its first sentence, in
    the middle, or past the first 2,000 characters, and the same post without it stays unflagged."""
    from bot.features.faq.safety import classify

    safety = load_knowledge_base(ROOT / "faq").safety
    filler = ["The weather was grey again today and I watered the plants on the balcony."] * 60

    def post(sentence: str | None) -> str:
        sentences = list(filler)
        if sentence is not None:
            sentences.insert(where, sentence)
        return " ".join(sentences)

    assert len(post(None)) > 4_000
    assert classify(post(None), safety, risk=None) is None
    assert classify(post("Honestly I want to end my life."), safety, risk=None) == "crisis"
    assert classify(post("How do I snort ketamine?"), safety, risk=None) == "unsafe"
    assert classify(post("Can I have a glass of wine with my ketamine spray tonight?"), safety, risk=None) == "unsafe"
