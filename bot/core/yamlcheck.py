"""Reading admin-edited YAML with line numbers, so every problem can be reported as `file:line: what is wrong`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser (bundled with PyYAML's wheels) keeps line marks and is ~10x faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_FILE_BYTES = 2_000_000  # far above any real admin file; a bigger one is a mistake or an attack


class UnsafeYaml(ValueError):
    """An admin file the bot refuses to read: too big, or with aliases that could expand without bound."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _implicit(event: yaml.Event) -> bool:
    """Whether a node's tag was only implied (plain text, lists, mappings) rather than written (!foo, !!python/…)."""
    implicit = getattr(event, "implicit", True)
    return bool(implicit[0] or implicit[1]) if isinstance(implicit, tuple) else bool(implicit)


def compose_admin_yaml(text: str) -> yaml.Node | None:
    """Parse admin-edited YAML into nodes (with line marks), refusing what could hang or exhaust the bot.

    Anchors and aliases are refused outright: a few nested ones ("billion laughs") expand to gigabytes when the
    nodes are walked, and admins' files never need them. Raises UnsafeYaml or yaml.YAMLError."""
    if len(text) > MAX_FILE_BYTES:
        raise UnsafeYaml(1, f"file is too large ({len(text):,} characters; the limit is {MAX_FILE_BYTES:,})")
    # An anchor needs '&', an alias '*' and a tag '!': a file with none of them (most lexicon files) is parsed once.
    events = yaml.parse(text, Loader=_LOADER) if any(c in text for c in "&*!") else ()
    for event in events:
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise UnsafeYaml(line, "anchors and aliases (& and *) are not allowed here; write the value out")
        tag = getattr(event, "tag", None)
        if tag is not None and not _implicit(event):
            raise UnsafeYaml(line, f"YAML tags like {tag!r} are not allowed here; write a plain value")
    return yaml.compose(text, Loader=_LOADER)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YamlFile:
    """A parsed YAML file that keeps each node's line, and collects problems instead of raising."""

    def __init__(self, path: Path, display: str | None = None) -> None:
        self.path = path
        self.name = display or str(path)
        self.problems: list[Problem] = []
        self.root: yaml.Node | None = None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(self.name, 1, f"cannot read file: {exc}"))
            return
        try:
            self.root = compose_admin_yaml(text)
        except UnsafeYaml as exc:
            self.problems.append(Problem(self.name, exc.line, str(exc)))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark else 1
            what = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            self.problems.append(
                Problem(self.name, line, f"YAML syntax error: {what}" + (f" ({context})" if context else ""))
            )

    def add(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(Problem(self.name, line, message))

    def unknown_keys(self, mapping: dict[str, tuple[yaml.Node, yaml.Node]], allowed: Iterable[str], *,
                     where: str = "", prefix: str = "", hint: str = "allowed") -> list[str]:
        """Report every key not in `allowed` ("where: unknown key 'prefix.key' (hint: a, b)"); returns them."""
        known = list(allowed)
        unknown = [key for key in mapping if key not in known]
        for key in unknown:
            self.add(mapping[key][0], f"{where}unknown key '{prefix}{key}' ({hint}: {', '.join(known)})")
        return unknown

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Keys of a mapping node -> (key node, value node); reports duplicate keys, which YAML silently merges."""
        if not isinstance(node, yaml.MappingNode):
            self.add(node, f"{what} must be a mapping of keys to values")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                self.add(key_node, f"{what}: key '{key}' appears twice")
                continue
            out[key] = (key_node, value_node)
        return out

    def value(self, node: yaml.Node) -> Any:
        """The Python value of a node, as yaml.safe_load would give it."""
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError):
            # Looks like a date or number but is none ("2026-02-31"): hand back the text, so the caller reports
            # its own "must be a date / number" problem at this line instead of the bot crashing.
            return node.value if isinstance(node, yaml.ScalarNode) else None
        finally:
            loader.dispose()

    def text(self, node: yaml.Node, what: str, *, max_len: int | None = None) -> str | None:
        """A non-empty string scalar, or None after reporting why not."""
        if not isinstance(node, yaml.ScalarNode):
            self.add(node, f"{what} must be text")
            return None
        # A plain string needs no constructing (a loader per scalar cost ~15 us, a quarter of loading the KB).
        value = node.value if node.tag == "tag:yaml.org,2002:str" else self.value(node)
        if not isinstance(value, str):
            # A text field holds what the admin wrote: YAML would read `yes`, `no`, `on` as booleans and `1e3` as
            # 1000.0, so a stopword list's `no` would silently become "False".
            value = "" if value is None else node.value
        value = value.strip()
        if not value:
            self.add(node, f"{what} is empty")
            return None
        if max_len is not None and len(value) > max_len:
            self.add(node, f"{what} is {len(value)} characters; the limit is {max_len}")
            return None
        return value

    def text_list(self, node: yaml.Node, what: str, *, max_len: int | None = None) -> list[tuple[str, yaml.Node]]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.add(node, f"{what} must be a list")
            return []
        out = []
        for item in node.value:
            value = self.text(item, f"{what} item", max_len=max_len)
            if value is not None:
                out.append((value, item))
        return out
