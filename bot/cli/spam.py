"""`bot spam scan` and `bot spam validate`: the spam scanner from the command line (picked up by bot.cli)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from bot.cli import add_config_option, load
from bot.core.storage import Storage
from bot.features.moderation.learning import read_learned, read_learned_from
from bot.features.moderation.spam import RulesError, Scanner, SpamRules, scan_lines
from bot.language.promotion import shared_promotion_model


def register(sub: argparse._SubParsersAction) -> None:
    spam = sub.add_parser("spam", help="spam scanner tools").add_subparsers(dest="spam_command")

    p = spam.add_parser("scan", help="score messages given as JSON lines {id, author, channel, text, ts?}",
                        description="Score messages in order, like the bot would (per-author memory carries from "
                                    "line to line). Prints one line per message; exit 1 if the rules are broken.")
    p.add_argument("file", nargs="?", default="-", help="JSON-lines file ('-' or nothing: standard input)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per message: {"id", "flagged", "score", "threshold", "reasons"}')
    add_config_option(p)
    p.add_argument("--rules", help="rules file (default: spam.rules from the config)")
    p.add_argument("--learned", action="store_true",
                   help="also use what the bot learned from moderators (model and known spam, from the database)")
    p.set_defaults(func=cmd_spam_scan)

    p = spam.add_parser("validate", help="check the spam rules; exit 1 with file:line: problems")
    p.add_argument("file", nargs="?", help="rules file (default: spam.rules from the config)")
    add_config_option(p)
    p.set_defaults(func=cmd_spam_validate)


def _rules_path(args: argparse.Namespace, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    cfg = load(args)
    return cfg.resolve_path(cfg.spam.rules)


def _load_rules(path: Path) -> SpamRules | None:
    try:
        return SpamRules.load(path)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return None


def cmd_spam_validate(args: argparse.Namespace) -> int:
    path = _rules_path(args, args.file)
    rules = _load_rules(path)
    if rules is None:
        return 1
    auto = f", auto-remove at {rules.auto_threshold:g}" if rules.auto_threshold is not None else ""
    print(f"{path}: {len(rules.phrases)} phrases, threshold {rules.threshold:g}{auto}, no problems")
    return 0


def cmd_spam_scan(args: argparse.Namespace) -> int:
    rules = _load_rules(_rules_path(args, args.rules))
    if rules is None:
        return 1
    scanner = Scanner(rules, language=shared_promotion_model().probability)
    if args.learned:
        _load_learned(scanner, args)
    stream, close = _open(args.file)
    try:
        for result in scan_lines(_lines(stream), scanner):
            print(json.dumps(result, ensure_ascii=False) if args.json else _human(result), flush=True)
    finally:
        if close:
            stream.close()
    return 0


def _open(name: str) -> tuple[BinaryIO, bool]:
    # Bytes, not text: a line that is not UTF-8 is reported by its number instead of ending the whole scan.
    if name == "-":
        return sys.stdin.buffer, False
    return open(name, "rb"), True  # noqa: SIM115 - closed by the caller


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    yield from stream


def _human(result: dict) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    head = (f"{result['id']}: {'SPAM' if result['flagged'] else 'ok  '}  "
            f"score {result['score']:.2f} / {result['threshold']:g}")
    reasons = "; ".join(f"{r['weight']:+.2f} {r['detail']}" for r in result["reasons"])
    return head + (f"  ({reasons})" if reasons else "")


def _load_learned(scanner: Scanner, args: argparse.Namespace) -> None:
    """Read the model and known-spam fingerprints the bot stored, without writing to its database."""
    cfg = load(args)
    if cfg.storage.url:  # PostgreSQL: read through the storage seam (a read-only file open is SQLite's alone)
        notes = asyncio.run(_read_learned_pg(cfg.database(), scanner))
    else:
        notes = read_learned(cfg.resolve_path(cfg.storage.path), scanner)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


async def _read_learned_pg(url: str, scanner: Scanner) -> list[str]:
    try:
        storage = await Storage.open(url)
    except Exception as exc:
        return [f"could not read learned data from the database ({exc}); scanning without it"]
    try:
        return await read_learned_from(storage, scanner)
    finally:
        await storage.close()
