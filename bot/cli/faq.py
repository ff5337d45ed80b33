"""`bot faq validate|ask|gaps|stats`: the knowledge base from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.cli import add_config_option, database, load
from bot.features.faq import Faq
from bot.features.faq.gaps import GapLog
from bot.features.faq.knowledge import KnowledgeBaseError, load_knowledge_base

MAX_GAPS_SHOWN = 10_000


def gap_limit(text: str) -> int:
    """argparse type for --limit: 1 to MAX_GAPS_SHOWN; anything else (0, -1, 5,000 digits) is a usage error."""
    raw = text.strip()
    if not (raw.isdecimal() and len(raw) <= len(str(MAX_GAPS_SHOWN)) and 1 <= int(raw) <= MAX_GAPS_SHOWN):
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_GAPS_SHOWN}")
    return int(raw)


COMMUNITY_HELP = ("a server or workspace configured on its own, as discord:GUILD_ID or slack:TEAM_ID "
                  "(default: every other one)")


def register(sub: argparse._SubParsersAction) -> None:
    faq = sub.add_parser("faq", help="knowledge base tools").add_subparsers(dest="faq_command")
    p = faq.add_parser("validate", help="check faq/*.yaml; exit 1 with file:line: problems (warnings alone: 0)")
    p.add_argument("directory", nargs="?", help="folder (default: faq.path from config)")
    add_config_option(p)
    p.set_defaults(func=cmd_validate)
    p = faq.add_parser("ask", help="answer questions from the command line ('-' reads one per line)")
    p.add_argument("query", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    add_config_option(p)
    p.add_argument("--no-record", action="store_true", help="do not record unanswered questions as gaps")
    p.set_defaults(func=cmd_ask)
    p = faq.add_parser("gaps", help="most frequent questions without a confident answer")
    add_config_option(p)
    p.add_argument("--limit", type=gap_limit, default=20, help=f"how many (1 to {MAX_GAPS_SHOWN}, default 20)")
    p.add_argument("--community", default="", help=COMMUNITY_HELP)
    p.set_defaults(func=cmd_gaps)
    p = faq.add_parser("stats", help="how often each answer was given and how members rated it (rewrite the top "
                                     "ones first)")
    add_config_option(p)
    p.add_argument("--community", default="", help=COMMUNITY_HELP)
    p.set_defaults(func=cmd_stats)


def cmd_validate(args: argparse.Namespace) -> int:
    if args.directory:
        directory = Path(args.directory)
    else:
        cfg = load(args)
        directory = cfg.resolve_path(cfg.faq.path)
    try:
        kb = load_knowledge_base(directory)
    except KnowledgeBaseError as exc:
        for problem in (*exc.problems, *exc.warnings):
            print(problem)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    for warning in kb.warnings:  # worth a look, but the knowledge base is usable: still exit 0
        print(warning)
    noted = f", {len(kb.warnings)} warning(s)" if kb.warnings else ""
    print(f"{directory}: {len(kb.entries)} entries, no problems{noted}")
    return 0


def _queries(raw: list[str]) -> list[str]:
    if raw == ["-"]:
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    return [" ".join(raw)]


def cmd_ask(args: argparse.Namespace) -> int:
    cfg = load(args)
    path, min_confidence = cfg.resolve_path(cfg.faq.path), cfg.faq.min_confidence

    async def answer_all(faq: Faq) -> None:
        for query in _queries(args.query):
            answer = await faq.ask(query)
            if args.json:
                print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
            else:
                print(faq.answer_reply(answer).plain() + "\n", flush=True)

    async def main() -> None:
        if args.no_record:
            await answer_all(Faq(None, path, min_confidence))
            return
        async with database(cfg) as storage:
            await answer_all(Faq(storage, path, min_confidence))

    asyncio.run(main())
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    cfg = load(args)

    async def show() -> None:
        async with database(cfg) as storage:
            gaps = await GapLog(storage, args.community).top(args.limit)
        if not gaps:
            print("No unanswered questions recorded yet.")
        for gap in gaps:
            closest = f"  (closest: {gap.closest})" if gap.closest else ""
            print(f"{gap.asked:>5}  {gap.example}{closest}")

    asyncio.run(show())
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    cfg = load(args)

    async def show() -> None:
        async with database(cfg) as storage:
            faq = Faq(storage, cfg.resolve_path(cfg.faq.path), cfg.faq.min_confidence,
                      community_paths=cfg.community_faq_paths())
            stats = await faq.stats(args.community)
        for entry in stats:
            print(entry.line())

    asyncio.run(show())
    return 0
