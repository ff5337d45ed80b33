"""The lexicon: words members use that the knowledge base spells differently (`_lexicon.yaml`, and more files
`_lexicon-<name>.yaml` that add to it), and the stop-words the search skips."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core.yamlcheck import YamlFile
from bot.language.scripts import INSIDE_WORDS

LEXICON_KEYS = ("synonyms", "stopwords")
# Shorter, such a variant would be found inside unrelated words (one Chinese character is a morpheme of hundreds).
MIN_INSIDE_CHARS = 2


@dataclass(frozen=True)
class Lexicon:
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical -> variants
    stopwords: frozenset[str] = frozenset()


def merge_lexicon(into: Lexicon, more: tuple[Lexicon, dict[str, yaml.Node]] | None, doc: YamlFile,
                  places: dict[str, tuple[str, str]]) -> Lexicon:
    """One lexicon from several files (`_lexicon.yaml`, `_lexicon-<name>.yaml`: say, one per language): the
    variants of a canonical word add up; a variant under two canonical words is reported, as the rewrite could
    only keep one of them."""
    if more is None:
        return into
    lexicon, nodes = more
    synonyms = dict(into.synonyms)
    name = Path(doc.name).name  # the same folder: its name is enough
    for canonical, variants in lexicon.synonyms.items():
        kept = []
        for v in variants:
            place = f"{name}:{nodes[v].start_mark.line + 1}"
            earlier = places.get(v)
            if earlier is not None and earlier[0] != canonical:
                doc.add(nodes[v], f"synonym {v!r} of '{canonical}' is already a synonym of '{earlier[0]}' "
                                      f"({earlier[1]})")
                continue
            places.setdefault(v, (canonical, place))
            kept.append(v)
        synonyms[canonical] = tuple(dict.fromkeys((*synonyms.get(canonical, ()), *kept)))
    return Lexicon(synonyms=synonyms, stopwords=into.stopwords | lexicon.stopwords)


def load_lexicon(doc: YamlFile) -> tuple[Lexicon, dict[str, yaml.Node]] | None:
    if doc.root is None:
        return None
    top = doc.mapping(doc.root, "file")
    if top is None:
        return None
    for key, (knode, _) in top.items():
        if key not in LEXICON_KEYS:
            doc.add(knode, f"unknown key '{key}' (allowed: {', '.join(LEXICON_KEYS)})")
    synonyms: dict[str, tuple[str, ...]] = {}
    nodes: dict[str, yaml.Node] = {}
    if "synonyms" in top:
        groups = doc.mapping(top["synonyms"][1], "synonyms")
        for canonical, (_, vnode) in (groups or {}).items():
            variants = doc.text_list(vnode, f"synonyms of '{canonical}'")
            kept = []
            for v, node in variants:
                if INSIDE_WORDS.search(v) and len(v.strip()) < MIN_INSIDE_CHARS:
                    doc.add(node, f"synonym {v!r} of '{canonical}' is one character of a script written without "
                                  f"spaces: it would be found inside unrelated words (give at least "
                                  f"{MIN_INSIDE_CHARS})")
                    continue
                kept.append((v, node))
            variants = kept
            synonyms[canonical.lower()] = tuple(v.lower() for v, _ in variants)
            nodes.update((v.lower(), node) for v, node in variants)
    stopwords = frozenset(s.lower() for s, _ in doc.text_list(top["stopwords"][1], "stopwords")) \
        if "stopwords" in top else frozenset()
    return Lexicon(synonyms=synonyms, stopwords=stopwords), nodes
