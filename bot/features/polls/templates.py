"""The admins' templates file: ready-made polls members start with `--template NAME`, checked as they load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.core.yamlcheck import YamlFile
from bot.features.polls.spec import PollError, build_spec


@dataclass(frozen=True)
class Template:
    """A ready-made poll from the admins' templates file, started with `--template NAME`."""

    name: str
    question: str
    options: tuple[str, ...]
    max_choices: int = 1
    anonymous: bool = True
    hide_results: bool = False
    closes: str = ""


def load_templates(path: Path) -> tuple[dict[str, Template], list[str]]:
    """Templates by name, and problems as file:line: message (a bad template is skipped, never fatal)."""
    if not path.is_file():
        return {}, []
    doc = YamlFile(path)
    out: dict[str, Template] = {}
    if doc.root is not None:
        top = doc.mapping(doc.root, "file")
        items = top.get("templates") if top else None
        if top is not None and items is None:
            doc.add(doc.root, "missing 'templates:' list")
        for node in getattr(items[1], "value", []) if items else []:
            raw = doc.value(node)
            if not isinstance(raw, dict) or not {"name", "question", "options"} <= raw.keys():
                doc.add(node, "a template needs name, question and options")
                continue
            unknown = set(raw) - {"name", "question", "options", "max_choices", "anonymous", "hide_results", "closes"}
            if unknown:
                doc.add(node, f"template '{raw['name']}': unknown key(s) {', '.join(sorted(unknown))}")
                continue
            try:
                build_spec(str(raw["question"]), [str(o) for o in raw["options"]],
                           max_choices=int(raw.get("max_choices", 1)))
            except (PollError, TypeError, ValueError) as exc:
                doc.add(node, f"template '{raw['name']}': {exc}")
                continue
            out[str(raw["name"])] = Template(
                str(raw["name"]), str(raw["question"]), tuple(str(o) for o in raw["options"]),
                int(raw.get("max_choices", 1)), bool(raw.get("anonymous", True)),
                bool(raw.get("hide_results", False)), str(raw.get("closes", "")))
    return out, [str(p) for p in doc.problems]
