"""The knowledge base: entries read from `faq/*.yaml`, validated with file and line for every problem.

Files whose names start with `_` are not entries: `_safety.yaml` holds the disclaimer and the safety and crisis
replies with the patterns that trigger them, `_lexicon.yaml` the synonyms and stop-words the search uses.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from bot.core.records import Source
from bot.core.regex_engine import PatternSet
from bot.core.regexcheck import backtracking_risk
from bot.core.yamlcheck import Problem, YamlFile
from bot.features.faq.lexicon import Lexicon, load_lexicon, merge_lexicon
from bot.language.scripts import INSIDE_WORDS

ENTRY_KEYS = ("id", "title", "questions", "answer", "sources", "tags", "related", "updated", "guidance")
REQUIRED_KEYS = ("id", "title", "questions", "answer", "sources")
FILE_KEYS = ("topic", "entries")
SOURCE_KEYS = ("title", "url", "citation")
SAFETY_KEYS = ("disclaimer", "unsafe_reply", "crisis_reply", "unsafe_patterns", "crisis_patterns",
               "crisis_mentions", "unsafe_mentions", "never_beside_crisis", "crisis_phrases", "crisis_mention_phrases",
               "unsafe_phrases", "unsafe_mention_phrases")
PHRASE_KEYS = ("crisis_phrases", "crisis_mention_phrases", "unsafe_phrases", "unsafe_mention_phrases")
# A crisis phrase in a script found inside words (bot.language.scripts.INSIDE_WORDS: Japanese, Chinese, Thai,
# Korean) needs this many of its characters to be specific enough.
MIN_INSIDE_PHRASE = 3
MAX_PHRASE = 120

# Platform limits an answer must fit, with the disclaimer and escaping: a Slack section block holds 3,000
# characters and a Discord embed description 4,096. Titles become button labels (Slack allows 75).
MAX_ANSWER = 2400
MAX_TITLE = 75
MAX_QUESTION = 150
MAX_SOURCE_TITLE = 200
MAX_REPLY_TEXT = 900
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# An answer quoting figures or words must say where they come from: a page (url) or a citation that names the
# article, a study or a comment. Apostrophes are not quotation marks, so only double quotes count.
_FIGURES_OR_QUOTES = re.compile(r"[0-9\"\u201c\u201d\u201e\u00ab\u00bb]")
_NAMED_SOURCE = re.compile(r"\b(article|stud(y|ies)|comments?)\b|ketamine for migraine management", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    questions: tuple[str, ...]
    answer: str
    sources: tuple[Source, ...]
    topic: str
    file: str
    line: int
    tags: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    updated: str | None = None
    guidance: tuple[str, ...] = ()  # sentences of the answer that are the moderators' general guidance


@dataclass(frozen=True)
class SafetyTexts:
    disclaimer: str
    unsafe_reply: str
    crisis_reply: str
    unsafe_patterns: tuple[re.Pattern[str], ...]
    crisis_patterns: tuple[re.Pattern[str], ...]
    # Entries never given beside the crisis resources when it is unclear whether a question is a crisis: what
    # could read as method information (how much would be lethal, what mixes are dangerous).
    never_beside_crisis: frozenset[str] = frozenset()
    # Words that come up as often when members talk *about* suicide (research, a friend, the past, an idiom) as in
    # a plea: a question matching one counts as a crisis only when the risk model also leans that way.
    crisis_mentions: tuple[re.Pattern[str], ...] = ()
    # The same for unsafe use: words as common in harmless questions about a risk as in requests for misuse.
    unsafe_mentions: tuple[re.Pattern[str], ...] = ()
    # Plain phrases, by language, that count as the crisis patterns (and the crisis mentions) do: admins add a
    # language without writing regular expressions. Matched as whole words of the folded text (inside words for
    # `bot.language.scripts.INSIDE_WORDS` scripts).
    crisis_phrases: tuple[str, ...] = ()
    crisis_mention_phrases: tuple[str, ...] = ()
    # The same for unsafe use, as the unsafe patterns and mentions do.
    unsafe_phrases: tuple[str, ...] = ()
    unsafe_mention_phrases: tuple[str, ...] = ()

    @property
    def crisis_any(self) -> PatternSet:
        """All crisis patterns, searched as one (see `PatternSet`)."""
        return self._joined("crisis_patterns")

    @property
    def crisis_mentions_any(self) -> PatternSet:
        return self._joined("crisis_mentions")

    @property
    def unsafe_mentions_any(self) -> PatternSet:
        return self._joined("unsafe_mentions")

    @property
    def unsafe_any(self) -> PatternSet:
        return self._joined("unsafe_patterns")

    def _joined(self, name: str) -> PatternSet:
        key = f"_{name}_joined"
        joined = self.__dict__.get(key)
        if joined is None:
            joined = PatternSet.of(getattr(self, name))
            object.__setattr__(self, key, joined)
        return joined


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    safety: SafetyTexts
    lexicon: Lexicon
    path: str
    warnings: tuple[Problem, ...] = ()  # worth an admin's look, never a reason to refuse the knowledge base

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    @property
    def _by_id(self) -> dict[str, Entry]:
        cached = self.__dict__.get("_by_id_cache")
        if cached is None:
            cached = {e.id: e for e in self.entries}
            object.__setattr__(self, "_by_id_cache", cached)
        return cached

    def topics(self) -> list[tuple[str, list[Entry]]]:
        """Entries grouped by topic, in file order."""
        groups: dict[str, list[Entry]] = {}
        for e in self.entries:
            groups.setdefault(e.topic, []).append(e)
        return list(groups.items())


class KnowledgeBaseError(Exception):
    """The knowledge base has problems; `problems` lists every one as file:line: message (`warnings` likewise)."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(str(p) for p in problems))


def load_knowledge_base(directory: str | Path) -> KnowledgeBase:
    """Read and validate every YAML file in `directory`; raise KnowledgeBaseError listing all problems."""
    directory = Path(directory)
    problems: list[Problem] = []
    if not directory.is_dir():
        raise KnowledgeBaseError([Problem(str(directory), 0, "knowledge base folder not found")])
    # The extra lexicon files after _lexicon.yaml, which would otherwise sort after them ("-" before "."): a clash
    # is then reported in the file that added the word.
    files = sorted((p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()),
                   key=lambda p: (p.name.startswith("_lexicon-"), p.name))
    entries: list[Entry] = []
    related_refs: list[tuple[Entry, str, YamlFile, yaml.Node]] = []
    seen_ids: dict[str, Entry] = {}
    id_places: dict[str, str] = {}  # every id seen, valid entry or not, so duplicates are always reported
    seen_questions: dict[str, Entry] = {}
    warnings: list[Problem] = []
    safety: SafetyTexts | None = None
    withheld_refs: list[tuple[str, yaml.Node]] = []
    withheld_doc: YamlFile | None = None
    lexicon = Lexicon()
    variant_places: dict[str, tuple[str, str]] = {}  # variant -> (canonical, file:line), across lexicon files
    unreadable = False
    for path in files:
        doc = YamlFile(path, _display(path))
        if path.name.startswith("_"):
            if path.stem == "_safety":
                safety, withheld_refs = _load_safety(doc)
                withheld_doc = doc
            elif path.stem == "_lexicon" or path.stem.startswith("_lexicon-"):
                lexicon = merge_lexicon(lexicon, load_lexicon(doc), doc, variant_places)
            else:
                doc.add(None, "unknown special file (files starting with '_' are _safety.yaml, _lexicon.yaml and "
                              "_lexicon-<name>.yaml)")
            problems.extend(doc.problems)
            continue
        unreadable = unreadable or doc.root is None
        for entry, refs in _load_entries(doc, id_places, warnings):
            for q, qnode in zip(entry.questions, refs["questions"], strict=True):
                key = " ".join(q.casefold().split())
                other = seen_questions.get(key)
                if other:
                    doc.add(qnode, f"question {q!r} is already asked in entry '{other.id}' ({other.file}:{other.line})")
                else:
                    seen_questions[key] = entry
            seen_ids[entry.id] = entry
            entries.append(entry)
            for rid, rnode in zip(entry.related, refs["related"], strict=True):
                related_refs.append((entry, rid, doc, rnode))
        problems.extend(doc.problems)
    for entry, rid, doc, rnode in related_refs:
        # An id defined by an entry with other problems, or possibly in a file that could not be parsed, is not
        # reported again as missing: the real problem is already on the list.
        if rid not in seen_ids and rid not in id_places and not unreadable:
            problems.append(Problem(doc.name, rnode.start_mark.line + 1,
                                    f"entry '{entry.id}': related id '{rid}' does not exist"))
        elif rid == entry.id:
            problems.append(Problem(doc.name, rnode.start_mark.line + 1, f"entry '{entry.id}' lists itself as related"))
    for wid, wnode in withheld_refs:
        # A warning, not a refusal: a community's own folder may keep the bundled safety file for other entries.
        if wid not in seen_ids and wid not in id_places and not unreadable and withheld_doc is not None:
            warnings.append(Problem(withheld_doc.name, wnode.start_mark.line + 1,
                                    f"never_beside_crisis: there is no entry '{wid}' (if it is a typo, the entry "
                                    "meant can be shown beside the crisis resources)"))
    if safety is None and not any("_safety" in p.file for p in problems):
        problems.append(Problem(str(directory / "_safety.yaml"), 0,
                                "missing: the disclaimer and safety replies must be defined"))
    if not entries and not problems:
        problems.append(Problem(str(directory), 0, "no entries found"))
    if problems:
        raise KnowledgeBaseError(problems, warnings)
    assert safety is not None
    return KnowledgeBase(entries=tuple(entries), safety=safety, lexicon=lexicon, path=str(directory),
                         warnings=tuple(warnings))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load_entries(doc: YamlFile, id_places: dict[str, str], warnings: list[Problem]) -> list[tuple[Entry, dict]]:
    if doc.root is None:
        if not doc.problems:
            doc.add(None, "file is empty (expected 'entries:')")
        return []
    top = doc.mapping(doc.root, "file")
    if top is None:
        return []
    for key, (knode, _) in top.items():
        if key not in FILE_KEYS:
            doc.add(knode, f"unknown top-level key '{key}' (allowed: {', '.join(FILE_KEYS)})")
    topic = doc.path.stem.replace("-", " ").replace("_", " ").capitalize()
    if "topic" in top:
        topic = doc.text(top["topic"][1], "topic", max_len=MAX_TITLE) or topic
    if "entries" not in top:
        doc.add(doc.root, "missing 'entries:' list")
        return []
    entries_node = top["entries"][1]
    if not isinstance(entries_node, yaml.SequenceNode):
        doc.add(entries_node, "'entries' must be a list of entries")
        return []
    out = []
    for node in entries_node.value:
        loaded = _load_entry(doc, node, topic, id_places, warnings)
        if loaded:
            out.append(loaded)
    return out


def _load_entry(doc: YamlFile, node: yaml.Node, topic: str, id_places: dict[str, str],
                warnings: list[Problem]) -> tuple[Entry, dict] | None:
    fields = doc.mapping(node, "entry")
    if fields is None:
        return None
    name = "entry"
    before = len(doc.problems)
    if "id" in fields:
        raw_id = doc.value(fields["id"][1])
        name = f"entry '{raw_id}'"
        here = f"{doc.name}:{fields['id'][1].start_mark.line + 1}"
        if isinstance(raw_id, str | int) and str(raw_id) in id_places:
            doc.add(fields["id"][1], f"duplicate id '{raw_id}' (first defined at {id_places[str(raw_id)]})")
        elif isinstance(raw_id, str | int):
            id_places[str(raw_id)] = here
    doc.unknown_keys(fields, ENTRY_KEYS, where=f"{name}: ")
    for key in REQUIRED_KEYS:
        if key not in fields:
            doc.add(node, f"{name}: missing required key '{key}'")
    if len(doc.problems) > before and any(k not in fields for k in REQUIRED_KEYS):
        return None

    entry_id = doc.text(fields["id"][1], f"{name}: id")
    if entry_id is not None and not _ID.match(entry_id):
        doc.add(fields["id"][1], f"{name}: id must be 2-63 lowercase letters, digits or hyphens")
    title = doc.text(fields["title"][1], f"{name}: title", max_len=MAX_TITLE)
    questions = doc.text_list(fields["questions"][1], f"{name}: questions", max_len=MAX_QUESTION)
    if not questions and isinstance(fields["questions"][1], yaml.SequenceNode):
        doc.add(fields["questions"][1], f"{name}: needs at least one question")
    answer = doc.text(fields["answer"][1], f"{name}: answer", max_len=MAX_ANSWER)
    sources = _load_sources(doc, fields["sources"][1], name)
    tags = doc.text_list(fields["tags"][1], f"{name}: tags", max_len=40) if "tags" in fields else []
    related = doc.text_list(fields["related"][1], f"{name}: related") if "related" in fields else []
    guidance = doc.text_list(fields["guidance"][1], f"{name}: guidance", max_len=MAX_ANSWER) \
        if "guidance" in fields else []
    if answer is not None:
        _check_guidance(doc, name, answer, guidance, sources, fields.get("guidance"))
    updated = None
    if "updated" in fields:
        value = doc.value(fields["updated"][1])
        if isinstance(value, dt.date):
            updated = value.isoformat()
        else:
            try:
                updated = dt.date.fromisoformat(str(value)).isoformat()
            except ValueError:
                doc.add(fields["updated"][1], f"{name}: updated must be a date like 2026-01-31")
    seen_q: set[str] = set()
    for q, qnode in questions:
        key = " ".join(q.casefold().split())
        if key in seen_q:
            doc.add(qnode, f"{name}: question {q!r} is listed twice")
        seen_q.add(key)
    if len(doc.problems) > before or None in (entry_id, title, answer) or not sources:
        return None
    assert entry_id and title and answer
    entry = Entry(
        id=entry_id, title=title, questions=tuple(q for q, _ in questions), answer=answer,
        sources=tuple(sources), topic=topic, file=doc.name, line=node.start_mark.line + 1,
        tags=tuple(t.lower() for t, _ in tags), related=tuple(r for r, _ in related), updated=updated,
        guidance=tuple(g for g, _ in guidance),
    )
    if _FIGURES_OR_QUOTES.search(answer) and not any(_names_its_origin(s) for s in sources):
        warnings.append(Problem(doc.name, fields["answer"][1].start_mark.line + 1,
                                f"warning: {name}: the answer has figures or quotation marks but no source says where "
                                "they come from (give a url, or a citation naming the article, a study or a comment)"))
    refs = {"id": fields["id"][1], "questions": [n for _, n in questions], "related": [n for _, n in related]}
    return entry, refs


def _check_guidance(doc: YamlFile, name: str, answer: str, guidance: list[tuple[str, yaml.Node]],
                    sources: list[Source], field: tuple[yaml.Node, yaml.Node] | None) -> None:
    """Each guidance sentence is copied from the answer, and guidance comes with a page it is based on."""
    flat = " ".join(answer.split())  # a sentence may wrap differently in the answer than in the list
    for sentence, snode in guidance:
        if " ".join(sentence.split()) not in flat:
            doc.add(snode, f"{name}: guidance {sentence!r} is not a sentence of the answer (copy it exactly)")
    if guidance and field is not None and sources and not any(s.url for s in sources):
        doc.add(field[0], f"{name}: guidance needs at least one source with a url (the page it is based on)")


def _names_its_origin(source: Source) -> bool:
    return bool(source.url) or bool(source.citation and _NAMED_SOURCE.search(source.citation))


def _load_sources(doc: YamlFile, node: yaml.Node, name: str) -> list[Source]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        doc.add(node, f"{name}: sources must be a non-empty list (each with a title and a url or citation)")
        return []
    out = []
    for item in node.value:
        fields = doc.mapping(item, f"{name}: source")
        if fields is None:
            continue
        ok = True
        for key, (knode, _) in fields.items():
            if key not in SOURCE_KEYS:
                doc.add(knode, f"{name}: source has unknown key '{key}' (allowed: {', '.join(SOURCE_KEYS)})")
                ok = False
        title = doc.text(fields["title"][1], f"{name}: source title", max_len=MAX_SOURCE_TITLE) \
            if "title" in fields else None
        if "title" not in fields:
            doc.add(item, f"{name}: source needs a title")
        url = doc.text(fields["url"][1], f"{name}: source url") if "url" in fields else None
        citation = doc.text(fields["citation"][1], f"{name}: source citation", max_len=400) \
            if "citation" in fields else None
        if "url" not in fields and "citation" not in fields:
            doc.add(item, f"{name}: source needs a url or a citation")
            ok = False
        if url is not None and not valid_url(url):
            doc.add(fields["url"][1], f"{name}: source url {url!r} is not a valid http(s) address")
            ok = False
        if ok and title:
            out.append(Source(title=title, url=url, citation=citation))
    return out


def valid_url(url: str) -> bool:
    if any(c.isspace() for c in url) or len(url) > 500:
        return False
    parsed = urlparse(url)
    host = parsed.hostname or ""
    return parsed.scheme in ("http", "https") and "." in host and not host.startswith(".")


def _load_safety(doc: YamlFile) -> tuple[SafetyTexts | None, list[tuple[str, yaml.Node]]]:
    """The safety texts and patterns, and the entry ids under never_beside_crisis (checked once entries are
    known)."""
    if doc.root is None:
        if not doc.problems:
            doc.add(None, "file is empty")
        return None, []
    top = doc.mapping(doc.root, "file")
    if top is None:
        return None, []
    doc.unknown_keys(top, SAFETY_KEYS)
    texts: dict[str, str | None] = {}
    for key in ("disclaimer", "unsafe_reply", "crisis_reply"):
        if key not in top:
            doc.add(doc.root, f"missing required key '{key}'")
            texts[key] = None
        else:
            texts[key] = doc.text(top[key][1], key, max_len=MAX_REPLY_TEXT)
    patterns: dict[str, list[re.Pattern[str]]] = {}
    for key in ("unsafe_patterns", "crisis_patterns", "crisis_mentions", "unsafe_mentions"):
        patterns[key] = []
        if key not in top:
            if not key.endswith("_mentions"):  # optional: added later, and a knowledge base may do without
                doc.add(doc.root, f"missing required key '{key}'")
            continue
        for raw, pnode in doc.text_list(top[key][1], key):
            risk = backtracking_risk(raw)
            if risk:
                doc.add(pnode, f"{key}: regular expression could freeze the bot on a crafted message: {risk}: {raw!r}")
                continue
            try:
                patterns[key].append(re.compile(raw))
            except re.error as exc:
                doc.add(pnode, f"{key}: invalid regular expression {raw!r}: {exc}")
    withheld = doc.text_list(top["never_beside_crisis"][1], "never_beside_crisis") \
        if "never_beside_crisis" in top else []
    phrases = {key: _load_phrases(doc, top[key][1], key) if key in top else ()
               for key in PHRASE_KEYS}
    if doc.problems or None in texts.values():
        return None, []
    return SafetyTexts(
        disclaimer=texts["disclaimer"] or "", unsafe_reply=texts["unsafe_reply"] or "",
        crisis_reply=texts["crisis_reply"] or "", unsafe_patterns=tuple(patterns["unsafe_patterns"]),
        crisis_patterns=tuple(patterns["crisis_patterns"]), never_beside_crisis=frozenset(w for w, _ in withheld),
        crisis_mentions=tuple(patterns["crisis_mentions"]), unsafe_mentions=tuple(patterns["unsafe_mentions"]),
        crisis_phrases=phrases["crisis_phrases"], crisis_mention_phrases=phrases["crisis_mention_phrases"],
        unsafe_phrases=phrases["unsafe_phrases"], unsafe_mention_phrases=phrases["unsafe_mention_phrases"],
    ), withheld


def _load_phrases(doc: YamlFile, node: yaml.Node, key: str) -> tuple[str, ...]:
    """`language: [phrase, ...]` lists as one tuple of phrases. A phrase of one word is refused: a single word is
    said in passing far too often to send someone the crisis resources, or to refuse them an answer."""
    by_language = doc.mapping(node, key)
    out: list[str] = []
    for language, (_, lnode) in (by_language or {}).items():
        for phrase, pnode in doc.text_list(lnode, f"{key}.{language}", max_len=MAX_PHRASE):
            if len(phrase.split()) < 2 and len(INSIDE_WORDS.findall(phrase)) < MIN_INSIDE_PHRASE:
                doc.add(pnode, f"{key}.{language}: {phrase!r} is one word; a phrase needs at least two words "
                               f"(or {MIN_INSIDE_PHRASE} characters of a script written without spaces)")
                continue
            out.append(phrase)
    return tuple(out)
