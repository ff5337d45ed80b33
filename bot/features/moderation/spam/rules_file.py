"""Reading rules/spam.yaml into `SpamRules`: every problem an admin made is reported at once, each as
"file:line: what is wrong"."""

from __future__ import annotations

import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from bot.core.regexcheck import backtracking_risk
from bot.core.yamlcheck import YamlFile
from bot.features.moderation.spam.normalise import fold_pattern
from bot.features.moderation.spam.phrases import Phrase
from bot.features.moderation.spam.rules import (
    ContactRules,
    FingerprintSettings,
    LinkRules,
    ModelSettings,
    NewDomain,
    SpamRules,
    Weights,
    Windows,
)

__all__ = ["RulesError", "load_rules"]


class RulesError(Exception):
    """The rules file has problems; `problems` lists all of them as "file:line: what is wrong"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_rules(path: Path) -> SpamRules:
    """Read and validate a rules file; raises RulesError listing every problem with its line."""
    return _RulesLoader(path).load()


_ID = re.compile(r"[a-z][a-z0-9-]{0,40}")
_MACRO_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP_KEYS = {
    "version",
    "threshold",
    "auto_threshold",
    "max_text_chars",
    "weights",
    "windows",
    "model",
    "fingerprints",
    "mass_mentions",
    "contact",
    "links",
    "macros",
    "phrases",
}
_LINK_KEYS = {
    "known_tlds",
    "allow_domains",
    "allow_suffixes",
    "shorteners",
    "suspicious_tlds",
    "invite_patterns",
    "brands",
    "new_domain",
}
# Per-field limits: (integer?, minimum, maximum, minimum is exclusive?)
_LIMITS: dict[str, tuple[bool, float, float, bool]] = {
    "duplicate_seconds": (False, 0, 86_400 * 7, False),
    "duplicate_similarity": (False, 0, 1, True),
    "duplicate_min_words": (True, 1, 1000, False),
    "burst_seconds": (False, 0, 86_400, True),
    "burst_count": (True, 2, 10_000, False),
    "new_member_hours": (False, 0, 24 * 365, False),
    "offer_seconds": (False, 0, 86_400 * 7, False),
    "author_history": (True, 1, 10_000, False),
    "max_authors": (True, 1, 10_000_000, False),
    "dead_zone": (False, 0, 50, False),
    "full_at": (False, 0, 100, True),
    "min_words": (True, 1, 1000, False),
    "min_similarity": (False, 0, 1, True),
    "max_known": (True, 1, 10_000_000, False),
    "phone_min_digits": (True, 5, 20, False),
    "phone_max_digits": (True, 5, 20, False),
    "min_digits": (True, 1, 100, False),
    "min_hyphens": (True, 1, 100, False),
    "min_length": (True, 4, 253, False),
    "max_consonant_run": (True, 2, 100, False),
}


class _RulesLoader:
    """Walks the composed YAML so every problem is reported with its line, all of them at once."""

    def __init__(self, path: Path) -> None:
        self.yf = YamlFile(path)

    def add(self, node: yaml.Node | None, message: str) -> None:
        self.yf.add(node, message)

    def load(self) -> SpamRules:
        yf = self.yf
        if yf.problems:
            raise RulesError([str(p) for p in yf.problems])
        if yf.root is None:
            raise RulesError([f"{yf.name}:1: the rules file is empty"])
        top = yf.mapping(yf.root, "rules file")
        if top is None:
            raise RulesError([str(p) for p in yf.problems])
        yf.unknown_keys(top, sorted(_TOP_KEYS), hint="expected one of")
        version = top.get("version")
        if version is not None and self.number(version[1], "version", integer=True) not in (1, None):
            self.add(version[1], "version must be 1")
        values: dict[str, Any] = {"source": yf.name}
        if "threshold" in top:
            value = self.number(top["threshold"][1], "threshold", minimum=0, exclusive=True)
            if value is not None:
                values["threshold"] = float(value)
        if "auto_threshold" in top:
            node = top["auto_threshold"][1]
            if not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
                value = self.number(node, "auto_threshold", minimum=0, exclusive=True)
                threshold = values.get("threshold", SpamRules.threshold)
                if value is not None and value < threshold:
                    self.add(node, f"auto_threshold ({value}) must not be below threshold ({threshold})")
                elif value is not None:
                    values["auto_threshold"] = float(value)
        if "max_text_chars" in top:
            value = self.number(top["max_text_chars"][1], "max_text_chars", integer=True, minimum=100, maximum=10**6)
            if value is not None:
                values["max_text_chars"] = int(value)
        values["weights"] = self.section(top, "weights", Weights, weights=True)
        values["windows"] = self.section(top, "windows", Windows)
        values["model"] = model = self.section(top, "model", ModelSettings)
        if model.full_at <= model.dead_zone:
            self.add(top["model"][1], "model.full_at must be greater than model.dead_zone")
        values["fingerprints"] = self.section(top, "fingerprints", FingerprintSettings)
        values["contact"] = contact = self.section(top, "contact", ContactRules)
        if contact.phone_min_digits > contact.phone_max_digits:
            self.add(top["contact"][1], "contact.phone_min_digits must not exceed phone_max_digits")
        if "mass_mentions" in top:
            values["mass_mentions"] = tuple(v for v, _ in yf.text_list(top["mass_mentions"][1], "mass_mentions"))
        if "links" in top:
            values["links"] = self.links(top["links"][1])
        macros = self.macros(top["macros"][1]) if "macros" in top else {}
        if "phrases" in top:
            values["phrases"] = self.phrases(top["phrases"][1], macros)
        if not yf.problems:
            try:
                rules = SpamRules(**values)
            except re.error as exc:  # e.g. the same group name in two patterns
                self.add(top.get("phrases", (None, yf.root))[1], f"patterns do not combine: {exc}")
        if yf.problems:
            raise RulesError([str(p) for p in sorted(yf.problems, key=lambda p: p.line)])
        return rules

    def number(
        self,
        node: yaml.Node,
        what: str,
        *,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive: bool = False,
    ) -> float | int | None:
        value = self.yf.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            self.add(node, f"{what} must be {'a whole number' if integer else 'a number'}")
            return None
        if not math.isfinite(value):
            self.add(node, f"{what} must be a finite number")
            return None
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            self.add(node, f"{what} must be {'greater than' if exclusive else 'at least'} {minimum:g} (got {value})")
            return None
        if maximum is not None and value > maximum:
            self.add(node, f"{what} must be at most {maximum:g} (got {value})")
            return None
        return value

    def section(self, top: dict[str, tuple[yaml.Node, yaml.Node]], name: str, cls: type, weights: bool = False) -> Any:
        obj = cls()
        if name not in top:
            return obj
        mapping = self.yf.mapping(top[name][1], name)
        if mapping is None:
            return obj
        known = {f.name: f for f in fields(cls)}
        unknown = self.yf.unknown_keys(mapping, known, prefix=f"{name}.", hint="expected one of")
        for key, (_key, value_node) in mapping.items():
            if key in unknown:
                continue
            if weights:
                value = self.number(value_node, f"{name}.{key}", minimum=0, maximum=100)
            else:
                integer, lo, hi, exclusive = _LIMITS[key]
                value = self.number(
                    value_node, f"{name}.{key}", integer=integer, minimum=lo, maximum=hi, exclusive=exclusive
                )
            if value is not None:
                setattr(obj, key, int(value) if known[key].type in ("int", int) else float(value))
        return obj

    def domains(self, node: yaml.Node, what: str) -> frozenset[str]:
        out = set()
        for value, item in self.yf.text_list(node, what):
            value = value.casefold().strip(".")
            if not re.fullmatch(r"[a-z0-9.-]+", value):
                self.add(item, f"{what}: '{value}' is not a domain name")
                continue
            out.add(value)
        return frozenset(out)

    def links(self, node: yaml.Node) -> LinkRules:
        lr = LinkRules()
        mapping = self.yf.mapping(node, "links")
        if mapping is None:
            return lr
        unknown = self.yf.unknown_keys(mapping, sorted(_LINK_KEYS), prefix="links.", hint="expected one of")
        for key, (key_node, value_node) in mapping.items():
            if key in unknown:
                continue
            if key == "invite_patterns":
                patterns = []
                for raw, item in self.yf.text_list(value_node, "links.invite_patterns"):
                    value = fold_pattern(raw)
                    if self.regex(value, item, "links.invite_patterns") is not None:
                        patterns.append(value)
                lr.invite_patterns = tuple(patterns)
            elif key == "brands":
                brands = self.yf.mapping(value_node, "links.brands") or {}
                lr.brands = {}
                for brand, (brand_node, official) in brands.items():
                    if not re.fullmatch(r"[a-z0-9]{3,40}", brand):
                        self.add(brand_node, f"links.brands: '{brand}' must be 3-40 lower-case letters or digits")
                        continue
                    lr.brands[brand] = self.domains(official, f"links.brands.{brand}")
            elif key == "new_domain":
                lr.new_domain = self.section({"new_domain": (key_node, value_node)}, "new_domain", NewDomain)
            else:
                setattr(lr, key, self.domains(value_node, f"links.{key}"))
        return lr

    def regex(self, pattern: str, node: yaml.Node, what: str) -> re.Pattern[str] | None:
        try:
            re.compile(pattern)
            # Patterns are combined with others, so a flag like (?i) that would apply to all is refused.
            compiled = re.compile(f"(?:{pattern})")
        except re.error as exc:
            where = f" (at position {exc.pos})" if exc.pos is not None and not exc.msg.startswith("global") else ""
            self.add(node, f"{what}: bad regular expression: {exc.msg}{where}: {pattern!r}")
            return None
        except (RecursionError, OverflowError) as exc:
            self.add(node, f"{what}: regular expression too complex: {exc}")
            return None
        if compiled.match(""):
            self.add(node, f"{what}: pattern matches empty text, so it would match every message: {pattern!r}")
            return None
        risk = backtracking_risk(pattern)
        if risk:
            self.add(node, f"{what}: regular expression could freeze the bot on a crafted message: {risk}: {pattern!r}")
            return None
        return compiled

    def macros(self, node: yaml.Node) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (key_node, value_node) in (self.yf.mapping(node, "macros") or {}).items():
            value = self.yf.text(value_node, f"macros.{name}")
            if value is None:
                continue
            value = fold_pattern(value)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self.add(key_node, f"macros: '{name}' is not a valid macro name")
                continue
            if self.regex(value, value_node, f"macros.{name}") is not None:
                # Bounded on the right, so ${drug} never matches the first letters of a longer word.
                out[name] = f"(?:{value})(?![a-z])"
        return out

    def phrases(self, node: yaml.Node, macros: dict[str, str]) -> tuple[Phrase, ...]:
        out: list[Phrase] = []
        groups = self.yf.mapping(node, "phrases")
        for group, (group_node, items_node) in (groups or {}).items():
            if not _ID.fullmatch(group):
                self.add(group_node, f"phrases: group name '{group}' must be lower-case letters, digits and '-'")
                continue
            if not isinstance(items_node, yaml.SequenceNode):
                self.add(items_node, f"phrases.{group} must be a list of {{pattern, weight, label}}")
                continue
            for item in items_node.value:
                phrase = self.phrase(group, item, macros)
                if phrase is not None:
                    out.append(phrase)
        return tuple(out)

    def phrase(self, group: str, node: yaml.Node, macros: dict[str, str]) -> Phrase | None:
        what = f"phrases.{group}"
        entry = self.yf.mapping(node, f"{what} item")
        if entry is None:
            return None
        ok = True
        for key, (key_node, _) in entry.items():
            if key not in ("pattern", "weight", "label"):
                self.add(key_node, f"{what}: unknown key '{key}' (expected pattern, weight, label)")
                ok = False
        if "pattern" not in entry or "weight" not in entry:
            self.add(node, f"{what}: each item needs 'pattern' and 'weight'")
            return None
        pattern_node = entry["pattern"][1]
        raw = self.yf.text(pattern_node, f"{what} pattern")
        weight = self.number(entry["weight"][1], f"{what} weight", minimum=-10, maximum=10)
        label = self.yf.text(entry["label"][1], f"{what} label", max_len=80) if "label" in entry else None
        if raw is None or weight is None or ("label" in entry and label is None):
            return None
        missing = [name for name in _MACRO_REF.findall(raw) if name not in macros]
        if missing:
            self.add(pattern_node, f"{what}: unknown macro ${{{missing[0]}}} (define it under 'macros')")
            return None
        pattern = _MACRO_REF.sub(lambda m: macros[m.group(1)], fold_pattern(raw))
        compiled = self.regex(pattern, pattern_node, what)
        if compiled is None or not ok:
            return None
        return Phrase(group, pattern, float(weight), label or group, compiled)
