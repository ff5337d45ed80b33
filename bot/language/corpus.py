"""The labelled texts bundled with the bot (bot/language/data/*.jsonl): what its models start trained on."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def bundled(name: str) -> list[dict[str, Any]]:
    """Rows of one bundled JSON-lines file, or [] when it is not there."""
    path = resources.files("bot.language").joinpath("data", f"{name}.jsonl")
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
