"""The FAQ feature: cited answers from the knowledge base, safety routing, hot reload and knowledge gaps."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot.core.commands import Option, action, command, completer
from bot.core.contract import Feature
from bot.core.records import Action, Button, Invocation, Member, Place, Reply, Role, reload_refused
from bot.core.storage import Storage
from bot.features.faq.feedback import RATINGS, EntryStats, FeedbackLog, rating_buttons, rewrite_first, thanks
from bot.features.faq.gaps import Gap, GapLog
from bot.features.faq.knowledge import Entry, KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.features.faq.safety import Safety, classify
from bot.features.faq.search import SearchIndex, fold
from bot.features.faq.topics import DECLINE, mix, topic_model_for
from bot.language.corpus import bundled
from bot.language.risk import shared_risk_model

log = logging.getLogger(__name__)

MAX_QUERY = 500
# A bare "help" or "topics" after /faq asks what the FAQ covers, not for the entry that mentions helping.
_TOPIC_WORDS = frozenset({"help", "topics", "topic", "list", "menu", "index", "ayuda", "aide", "hilfe"})
SUGGESTION_FLOOR = 0.2
STATS_GAPS = 5  # /faq-stats shows the top gaps beside the entries; /faq-gaps has the full list


# Mentions and formatting say nothing about the topic: "<@&123> @everyone **bold** cost" asks about cost.
_MARKUP = re.compile(r"<[@#!:&/][^<>]{0,80}>|@(?:everyone|here|channel)\b|[*_~`|]{1,3}")
_COMBINING = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARK_STACKS = re.compile(f"([{_COMBINING}]{{1,2}})[{_COMBINING}]+")
RUNNER_UP_GAP = 0.08  # confidences this close: the second entry may well be what they meant
DECLINE_ID = DECLINE
DECLINE_MARGIN = 0.15
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


@dataclass(frozen=True)
class Answer:
    """What the FAQ found for one question."""

    query: str
    entry: Entry | None
    confidence: float
    suggestions: tuple[Entry, ...]
    safety: Safety | None
    safety_text: str | None = None
    runner_up: Entry | None = None  # a second answer almost as likely as the first, offered as the first button

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "entry_id": self.entry.id if self.entry else None,
            "title": self.entry.title if self.entry else None,
            "answer": self.entry.answer if self.entry else self.safety_text,
            "score": self.confidence,
            "sources": [{"title": s.title, "url": s.url, "citation": s.citation}
                        for s in (self.entry.sources if self.entry else ())],
            "suggestions": [{"id": e.id, "title": e.title} for e in self.suggestions],
            "safety": self.safety,
        }


class Faq(Feature):
    """Answers members' questions; admins reload content and read the gaps."""

    name = "faq"

    def __init__(self, storage: Storage | None, path: str | Path, min_confidence: float = 0.45) -> None:
        self.storage = storage
        # Told about every crisis question, so the moderators can reach out (wired to wellbeing by the assembly).
        self.crisis_listeners: list[Callable[[Member, Place, str], Awaitable[None]]] = []
        self.path = Path(path)
        self.min_confidence = min_confidence
        self.kb: KnowledgeBase = load_knowledge_base(self.path)
        self.index = build_index(self.kb)
        self.topic_model = topic_model_for(self.kb)
        self.own_questions = own_questions(self.kb, self.index)

    # -- the engine ---------------------------------------------------------------------------------------

    def reload(self) -> list[str]:
        """Re-read the folder. On any problem keep serving the current KB and return the problems."""
        try:
            kb = load_knowledge_base(self.path)
            index = build_index(kb)
        except KnowledgeBaseError as exc:
            return [str(p) for p in exc.problems]
        # Swapped together: a reader never sees a new KB with an old index.
        self.kb, self.index, self.topic_model, self.own_questions = (kb, index, topic_model_for(kb),
                                                                     own_questions(kb, index))
        return []

    def find(self, query: str) -> Answer:
        """Answer one question without side effects."""
        # Stacks of combining marks ("zalgo") go before the question is cut to length, so they cannot push the
        # words out; at most two marks per letter are kept, enough for any language.
        query = _MARK_STACKS.sub(r"\1", query[: MAX_QUERY * 20])
        listed = self.index.rewrite(fold(query)) in self.own_questions
        safety = classify(query, self.kb.safety, self.index.rewrite, shared_risk_model(), listed=listed)
        query = query.strip()[:MAX_QUERY]
        if safety is not None:
            text = self.kb.safety.crisis_reply if safety == "crisis" else self.kb.safety.unsafe_reply
            return Answer(query, None, 0.0, (), safety, text)
        text = _MARKUP.sub(" ", query)
        hits = self.index.search(text, limit=5)
        # One word says too little for the model to guess which entry is meant ("treatment"): the word ranking's
        # own specificity check decides those alone.
        if self.topic_model is not None and len(self.index.analyse(text).terms) > 1:
            hits = mix(hits, self.topic_model.probabilities(self.index.rewrite(fold(text))), self.index.by_id)[:5]
        # Nearest to questions the KB should not answer, and no entry stands out clearly enough to overrule that.
        declined = bool(hits) and hits[0].entry.id == DECLINE_ID
        hits = [h for h in hits if h.entry.id != DECLINE_ID]
        declined = declined and (not hits or hits[0].confidence < self.min_confidence + DECLINE_MARGIN)
        if hits and not declined and hits[0].confidence >= self.min_confidence:
            close = len(hits) > 1 and hits[0].confidence - hits[1].confidence <= RUNNER_UP_GAP
            return Answer(query, hits[0].entry, hits[0].confidence, tuple(h.entry for h in hits[1:4]), None,
                          runner_up=hits[1].entry if close else None)
        suggestions = tuple(h.entry for h in hits[:3] if h.confidence >= SUGGESTION_FLOOR)
        return Answer(query, None, hits[0].confidence if hits else 0.0, suggestions, None)

    def is_crisis(self, text: str) -> bool:
        """Whether a member's words read as a crisis (the same judgement /faq uses), for channel messages."""
        return classify(text, self.kb.safety, self.index.rewrite, shared_risk_model()) == "crisis"

    async def ask(self, query: str) -> Answer:
        """Answer, and remember questions the KB could not answer confidently."""
        answer = self.find(query)
        if answer.entry is None and answer.safety is None and fold(query):
            await self._record_gap(answer)
        return answer

    async def _record_gap(self, answer: Answer) -> None:
        if self.storage is None:
            return
        words = sorted(set(fold(answer.query).split()) - self.kb.lexicon.stopwords) or fold(answer.query).split()
        best = answer.suggestions[0].id if answer.suggestions else None
        await GapLog(self.storage).record(" ".join(words), answer.query, best, answer.confidence)

    async def gaps(self, limit: int = 20) -> list[Gap]:
        """The most asked questions without a confident answer."""
        return [] if self.storage is None else await GapLog(self.storage).top(limit)

    async def answered(self, entry: Entry) -> None:
        """Count one answer given with `entry`, for /faq-stats."""
        if self.storage is None:
            return
        try:
            await FeedbackLog(self.storage).answered(entry.id)
        except Exception as exc:  # a count must never cost a member their answer (a full disk, a locked file)
            log.warning("could not count an answer with %s: %s", entry.id, exc)

    async def stats(self) -> list[EntryStats]:
        """Every entry of the knowledge base with how often it was given and rated, the ones to rewrite first."""
        counts = {} if self.storage is None else await FeedbackLog(self.storage).counts()
        return rewrite_first(EntryStats(e.id, e.title, *counts.get(e.id, (0, 0, 0))) for e in self.kb.entries)

    # -- replies ------------------------------------------------------------------------------------------

    def entry_reply(self, entry: Entry, *, ephemeral: bool = True, share: bool = True,
                    runner_up: Entry | None = None) -> Reply:
        related = [runner_up] if runner_up is not None else []
        related += [e for e in (self.kb.get(r) for r in entry.related)
                    if e is not None and (runner_up is None or e.id != runner_up.id)]
        buttons = [Button(e.title, f"faq:show:{e.id}") for e in related][:4]
        if share and ephemeral:
            buttons.append(Button("Share in channel", f"faq:share:{entry.id}", "primary"))
        buttons.extend(rating_buttons(entry.id))
        return Reply(
            title=entry.title, text=entry.answer, sources=entry.sources, buttons=tuple(buttons),
            footer=self.kb.safety.disclaimer, ephemeral=ephemeral,
        )

    def answer_reply(self, answer: Answer) -> Reply:
        if answer.safety is not None:
            return Reply(title="Please take care" if answer.safety == "crisis" else "I can't help with that",
                         text=answer.safety_text or "", ephemeral=True)
        if answer.entry is not None:
            return self.entry_reply(answer.entry, runner_up=answer.runner_up)
        if answer.suggestions:
            return Reply(
                title="I'm not sure I understood",
                # The question last, with nothing after it: the suggestions (buttons) follow right under it.
                text="I couldn't find a confident answer to that (/faq-topics lists every topic).\n"
                     "Did you mean one of these?",
                buttons=tuple(Button(e.title, f"faq:show:{e.id}") for e in answer.suggestions),
            )
        return Reply(
            title="I'm not sure I understood",
            text="I don't have an answer to that in the knowledge base. Try other words, or see every topic "
                 "with /faq-topics. Our moderators read the questions I couldn't answer.",
        )

    def topics_reply(self) -> Reply:
        fields = tuple(
            (topic, "\n".join(f"• {e.title}" for e in entries)[:1000]) for topic, entries in self.kb.topics()
        )
        return Reply(title="What I can answer", text="Ask with /faq followed by your question, in your own words.",
                     fields=fields, footer=self.kb.safety.disclaimer)

    # -- commands -----------------------------------------------------------------------------------------

    @command("faq", options=(Option("question", "Your question, in your own words", autocomplete=True, rest=True),))
    async def cmd_faq(self, inv: Invocation) -> Reply:
        """Ask a question about ketamine for migraine and get a short, cited answer."""
        question = inv.args.get("question", "").strip()
        if not question or fold(question) in _TOPIC_WORDS:
            return self.topics_reply()
        if question.startswith("entry:"):  # what autocomplete sends when a member picks a suggestion
            entry = self.kb.get(question.removeprefix("entry:"))
            if entry is not None:
                await self.answered(entry)
                return self.entry_reply(entry)
        answer = await self.ask(question)
        if answer.safety == "crisis":
            for listener in self.crisis_listeners:
                try:
                    await listener(inv.member, inv.place, question)
                except Exception:  # the member's own reply (the resources) must never fail because of this
                    log.exception("a crisis listener failed")
        if answer.entry is not None:
            await self.answered(answer.entry)
        return self.answer_reply(answer)

    @command("faq-topics")
    async def cmd_topics(self, inv: Invocation) -> Reply:
        """List every topic the FAQ can answer."""
        return self.topics_reply()

    @command("faq-reload", role=Role.ADMIN)
    async def cmd_reload(self, inv: Invocation) -> Reply:
        """Admins: re-read the faq/ folder; on errors the current answers stay in place."""
        problems = self.reload()
        if self.storage is not None:
            await self.storage.audit(inv.member.id, "faq.reload", str(self.path),
                                     "ok" if not problems else f"{len(problems)} problem(s)")
        if problems:
            return reload_refused("the knowledge base",
                                  f"Still serving the previous version ({len(self.kb.entries)} entries).", problems)
        return Reply(title="Knowledge base reloaded", text=f"Now serving {len(self.kb.entries)} entries.")

    @command("faq-gaps", role=Role.ADMIN)
    async def cmd_gaps(self, inv: Invocation) -> Reply:
        """Admins: the questions members asked most that had no confident answer."""
        rows = await self.gaps()
        if not rows:
            return Reply(title="Knowledge gaps", text="No unanswered questions recorded yet.")
        lines = [f"{g.asked}× {g.example}" + (f"  (closest: {g.closest})" if g.closest else "") for g in rows]
        return Reply(title="Knowledge gaps", text="\n".join(lines),
                     footer="Only admins see this list. Members' questions are shown as they asked them.")

    @command("faq-stats", role=Role.ADMIN)
    async def cmd_stats(self, inv: Invocation) -> Reply:
        """Admins: how often each FAQ answer was given and how members rated it, beside the gaps."""
        lines = [s.line() for s in await self.stats()]
        gaps = [f"{g.asked}× {g.example}" for g in await self.gaps(STATS_GAPS)]
        return Reply(title="FAQ answers: asked and rated", text="\n".join(lines) or "The knowledge base is empty.",
                     fields=(("Asked most without a confident answer",
                              "\n".join(gaps) or "None recorded yet."),),
                     footer="Only admins see this. Rewrite the answers at the top first (most 👎); "
                            "/faq-gaps lists every unanswered question.")

    @completer("faq", "question")
    async def complete_question(self, partial: str) -> list[tuple[str, str]]:
        """(label, value) pairs: entry titles matching what the member has typed so far."""
        return [(e.title, f"entry:{e.id}") for e in self.index.complete(partial[:MAX_QUERY], limit=26)
                if e.id != DECLINE_ID][:25]

    @action("faq")
    async def on_button(self, act: Action, parts: list[str]) -> Reply:
        """faq:show:<id> answers privately, faq:share:<id> posts the entry for the whole channel,
        faq:rate:<id>:up|down records the member's (changeable) rating of the answer."""
        valid = (len(parts) == 2 and parts[0] in ("show", "share")) or (
            len(parts) == 3 and parts[0] == "rate" and parts[2] in RATINGS)
        if not valid:
            return Reply(text="That button is not valid any more.")
        entry = self.kb.get(parts[1])
        if entry is None:
            return Reply(text="That answer is no longer in the knowledge base. Try /faq-topics.")
        if parts[0] == "rate":
            return await self.rate(act.member, entry, RATINGS[parts[2]])
        if parts[0] == "share":
            return self.entry_reply(entry, ephemeral=False, share=False)
        await self.answered(entry)
        return self.entry_reply(entry)

    async def rate(self, member: Member, entry: Entry, helpful: bool) -> Reply:
        """Record one member's rating of an answer (one per member and entry; rating again changes it)."""
        if self.storage is None:
            return Reply(text="Thanks! Ratings are not being recorded right now.")
        before = await FeedbackLog(self.storage).rate(entry.id, member.id, helpful)
        return Reply(text=thanks(helpful, before))
