"""`bot poll export ID --csv` and `bot poll list`: poll results from the database, for spreadsheets."""

from __future__ import annotations

import argparse
import asyncio
import sys


def register(sub: argparse._SubParsersAction) -> None:
    polls = sub.add_parser("poll", help="poll tools").add_subparsers(dest="poll_command")
    p = polls.add_parser("export", help="a poll's tally as CSV")
    p.add_argument("poll_id", type=int)
    p.add_argument("--csv", action="store_true", help="CSV output (the default and only format)")
    p.add_argument("--config")
    p.set_defaults(func=cmd_export)
    p = polls.add_parser("list", help="recent polls with their state")
    p.add_argument("--config")
    p.set_defaults(func=cmd_list)


def cmd_export(args: argparse.Namespace) -> int:
    from bot.cli import _config
    from bot.core.polls import PollError, Polls
    from bot.core.storage import Storage

    cfg = _config(args)

    async def export() -> int:
        storage = await Storage.open(cfg.resolve_path(cfg.storage.path))
        try:
            sys.stdout.write(await Polls(storage, cfg).export_csv(args.poll_id))
            return 0
        except PollError as exc:
            print(exc, file=sys.stderr)
            return 1
        finally:
            await storage.close()

    return asyncio.run(export())


def cmd_list(args: argparse.Namespace) -> int:
    from bot.cli import _config
    from bot.core.storage import Storage

    cfg = _config(args)

    async def show() -> None:
        storage = await Storage.open(cfg.resolve_path(cfg.storage.path))
        try:
            rows = await storage.fetchall(
                "SELECT p.id, p.question, p.closed_at, COUNT(DISTINCT v.voter) AS voters FROM polls p "
                "LEFT JOIN poll_votes v ON v.poll_id = p.id GROUP BY p.id ORDER BY p.id DESC LIMIT 50")
        finally:
            await storage.close()
        for r in rows:
            state = "closed" if r["closed_at"] else "open"
            print(f"#{r['id']:<5} {state:<7} {r['voters']:>5} voters  {r['question']}")

    asyncio.run(show())
