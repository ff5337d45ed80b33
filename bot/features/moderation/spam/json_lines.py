"""`bot spam scan`'s input: JSON lines turned into messages and scanned, each bad line reported by its number."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

from bot.features.moderation.spam.records import ScanMessage
from bot.features.moderation.spam.scanner import Scanner

__all__ = ["scan_lines"]


def scan_lines(lines: Iterable[str | bytes], scanner: Scanner) -> Iterator[dict[str, Any]]:
    """Scan JSON lines ({"id","author","channel","text","ts"?}) for `bot spam scan`; bad lines become errors."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except UnicodeDecodeError:
            yield {"id": None, "error": f"line {number}: not UTF-8 text"}
            continue
        except (ValueError, RecursionError) as exc:
            yield {"id": None, "error": f"line {number}: not valid JSON: {getattr(exc, 'msg', exc)}"}
            continue
        problem = _line_problem(obj)
        if problem:
            yield {"id": None, "error": f"line {number}: {problem}"}
            continue
        msg = ScanMessage(
            id=str(obj["id"]),
            author=obj["author"],
            channel=obj["channel"],
            text=obj["text"],
            ts=float(obj.get("ts") or 0.0),
            author_joined_ts=float(obj["author_joined_ts"]) if obj.get("author_joined_ts") is not None else None,
            mention_count=int(obj.get("mention_count") or 0),
        )
        yield scanner.scan(msg).to_json()


def _line_problem(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "expected a JSON object"
    problems = []
    if isinstance(obj.get("id"), bool) or not isinstance(obj.get("id"), str | int):
        problems.append("'id' must be a string or a number")
    for key in ("author", "channel", "text"):
        if not isinstance(obj.get(key), str):
            problems.append(f"'{key}' must be a string")
    if not obj.get("author") and "'author' must be a string" not in problems:
        problems.append("'author' is empty")
    for key in ("ts", "author_joined_ts"):
        value = obj.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
        ):
            problems.append(f"'{key}' must be a non-negative number of seconds")
    count = obj.get("mention_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        problems.append("'mention_count' must be a non-negative whole number")
    return "; ".join(problems)
