"""`bot poll export ID --csv` and `bot poll list`: poll results from the database, for spreadsheets."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli import add_config_option, database, load
from bot.config import Config
from bot.core.storage import Storage
from bot.features.polls import PollError, Polls
from bot.features.polls.spec import parse_poll_id


def register(sub: argparse._SubParsersAction) -> None:
    polls = sub.add_parser("poll", help="poll tools").add_subparsers(dest="poll_command")
    p = polls.add_parser("export", help="a poll's tally as CSV")
    p.add_argument("poll_id", type=poll_number, help="the poll's number, e.g. 12")
    p.add_argument("--csv", action="store_true", help="CSV output (the default and only format)")
    add_config_option(p)
    p.set_defaults(func=cmd_export)
    p = polls.add_parser("list", help="recent polls with their state")
    add_config_option(p)
    p.set_defaults(func=cmd_list)


def poll_number(text: str) -> int:
    """argparse type: a poll number as members write it ('12', '#12'); anything else is a usage error."""
    poll_id = parse_poll_id(text)
    if poll_id is None:
        raise argparse.ArgumentTypeError("must be a poll number, e.g. 12")
    return poll_id


def _polls(cfg: Config, storage: Storage) -> Polls:
    return Polls(storage, cfg.resolve_path(cfg.polls.templates), cfg.polls.update_debounce)


def cmd_export(args: argparse.Namespace) -> int:
    cfg = load(args)

    async def export() -> int:
        async with database(cfg) as storage:
            try:
                sys.stdout.write(await _polls(cfg, storage).export_csv(args.poll_id))
            except PollError as exc:
                print(exc, file=sys.stderr)
                return 1
        return 0

    return asyncio.run(export())


def cmd_list(args: argparse.Namespace) -> int:
    cfg = load(args)

    async def show() -> None:
        async with database(cfg) as storage:
            recent = await _polls(cfg, storage).recent(50)
        for poll, voters in recent:
            state = "open" if poll.is_open else "closed"
            print(f"#{poll.id:<5} {state:<7} {voters:>5} voters  {poll.question}")

    asyncio.run(show())
    return 0
