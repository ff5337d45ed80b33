"""Command line: `bot console`, `bot run`, `bot faq ...`, `bot spam ...`, `bot poll ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.config import Config, ConfigError, load_config
from bot.core.knowledge import KnowledgeBaseError, load_knowledge_base
from bot.logs import setup_logging


def default_config_path(explicit: str | None) -> Path | None:
    """--config if given; else config.yaml; else the bundled example (which needs no tokens)."""
    if explicit:
        return Path(explicit)
    for candidate in ("config.yaml", "config.example.yaml"):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _config(args: argparse.Namespace, *, announce: bool = False) -> Config:
    path = default_config_path(getattr(args, "config", None))
    if announce and path is not None and path.name == "config.example.yaml" and not getattr(args, "config", None):
        print("note: no config.yaml here, using config.example.yaml (copy it to config.yaml to change settings)",
              file=sys.stderr)
    return load_config(path)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    except KnowledgeBaseError as exc:
        print(f"the knowledge base has {len(exc.problems)} problem(s):\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="Migraine community bot for Discord, Slack and console.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("console", help="use the bot offline in this terminal (no tokens needed)")
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.add_argument("--user", default="you", help="your display name")
    p.add_argument("--role", default=None, choices=["member", "moderator", "admin"], help="your role")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("run", help="run every platform enabled in config (Discord, Slack)")
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.set_defaults(func=cmd_run)

    faq = sub.add_parser("faq", help="knowledge base tools").add_subparsers(dest="faq_command")
    p = faq.add_parser("validate", help="check faq/*.yaml; exit 1 with file:line: problems")
    p.add_argument("directory", nargs="?", help="folder (default: faq.path from config)")
    p.add_argument("--config")
    p.set_defaults(func=cmd_faq_validate)
    p = faq.add_parser("ask", help="answer questions from the command line ('-' reads one per line)")
    p.add_argument("query", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--config")
    p.add_argument("--no-record", action="store_true", help="do not record unanswered questions as gaps")
    p.set_defaults(func=cmd_faq_ask)
    p = faq.add_parser("gaps", help="most frequent questions without a confident answer")
    p.add_argument("--config")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_faq_gaps)

    for extension in _extensions():
        extension(sub)
    return parser


def _extensions() -> list:
    """CLI groups contributed by other features (spam, polls), registered when present."""
    found = []
    for module in ("bot.cli_spam", "bot.cli_polls"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError:
            continue
        found.append(mod.register)
    return found


# -- commands ------------------------------------------------------------------------------------------------


def cmd_console(args: argparse.Namespace) -> int:
    from bot.adapters.console import ConsoleAdapter
    from bot.core.app import Core
    from bot.core.records import Role

    cfg = _config(args, announce=True)
    setup_logging("WARNING", cfg)

    async def session() -> None:
        core = await Core.create(cfg)
        try:
            role = Role.parse(args.role or cfg.console.default_role)
            console = ConsoleAdapter(core, user=args.user, role=role)
            core.attach(console)
            await core.start()
            await console.run()
        finally:
            await core.close()

    asyncio.run(session())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.runner import run

    cfg = _config(args, announce=True)
    return run(cfg)


def cmd_faq_validate(args: argparse.Namespace) -> int:
    if args.directory:
        directory = Path(args.directory)
    else:
        cfg = _config(args)
        directory = cfg.resolve_path(cfg.faq.path)
    try:
        kb = load_knowledge_base(directory)
    except KnowledgeBaseError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"{directory}: {len(kb.entries)} entries, no problems")
    return 0


def _queries(raw: list[str]) -> list[str]:
    if raw == ["-"]:
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    return [" ".join(raw)]


def cmd_faq_ask(args: argparse.Namespace) -> int:
    from bot.core.faq import Faq
    from bot.core.storage import Storage

    cfg = _config(args)

    async def answer_all() -> None:
        storage = None if args.no_record else await Storage.open(cfg.resolve_path(cfg.storage.path))
        try:
            faq = Faq(storage, cfg.resolve_path(cfg.faq.path), cfg.faq.min_confidence)
            for query in _queries(args.query):
                answer = await faq.ask(query)
                if args.json:
                    print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
                else:
                    print(faq.answer_reply(answer).plain() + "\n", flush=True)
        finally:
            if storage is not None:
                await storage.close()

    asyncio.run(answer_all())
    return 0


def cmd_faq_gaps(args: argparse.Namespace) -> int:
    from bot.core.storage import Storage

    cfg = _config(args)

    async def show() -> None:
        storage = await Storage.open(cfg.resolve_path(cfg.storage.path))
        try:
            rows = await storage.fetchall(
                "SELECT example, asked, best_entry FROM faq_gaps ORDER BY asked DESC, last_seen DESC LIMIT ?",
                (args.limit,))
        finally:
            await storage.close()
        if not rows:
            print("No unanswered questions recorded yet.")
        for r in rows:
            closest = f"  (closest: {r['best_entry']})" if r["best_entry"] else ""
            print(f"{r['asked']:>5}  {r['example']}{closest}")

    asyncio.run(show())
    return 0


if __name__ == "__main__":
    logging.basicConfig()
    sys.exit(main())
