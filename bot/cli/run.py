"""`bot console` and `bot run`: the bot itself, offline in this terminal or on the enabled platforms."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli import add_config_option, load
from bot.core.records import Role
from bot.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="use the bot offline in this terminal (no tokens needed)")
    add_config_option(p)
    p.add_argument("--user", default="you", help="your display name")
    p.add_argument("--role", default=None, choices=["member", "moderator", "admin"], help="your role")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("run", help="run every platform enabled in config (Discord, Slack)")
    add_config_option(p)
    p.add_argument("--log-json", action="store_true", help="log one JSON object per line (logging.format: json)")
    p.set_defaults(func=cmd_run)


def cmd_console(args: argparse.Namespace) -> int:
    from bot.adapters.console import ConsoleAdapter
    from bot.runner import open_core

    cfg = load(args, announce=True)
    setup_logging("WARNING", cfg)

    async def session() -> None:
        core = await open_core(cfg)
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

    cfg = load(args, announce=True)
    if args.log_json:
        cfg.logging.format = "json"
    return run(cfg)
