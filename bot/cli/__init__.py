"""Command line: `bot console`, `bot run`, `bot faq ...`, `bot spam ...`, `bot poll ...`, `bot db ...`.

Each group lives in its own module and only calls feature methods; this module holds the parser and the helpers
they share (finding the config, opening the database).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.config import Config, ConfigError, load_config
from bot.core.contract import SetupError
from bot.core.storage import Storage
from bot.features.faq.knowledge import KnowledgeBaseError


def default_config_path(explicit: str | None) -> Path | None:
    """--config if given; else config.yaml; else the bundled example (which needs no tokens)."""
    if explicit:
        return Path(explicit)
    for candidate in ("config.yaml", "config.example.yaml"):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def load(args: argparse.Namespace, *, announce: bool = False) -> Config:
    """The config the command was pointed at (--config, config.yaml, else the example)."""
    path = default_config_path(getattr(args, "config", None))
    if announce and path is not None and path.name == "config.example.yaml" and not getattr(args, "config", None):
        print("note: no config.yaml here, using config.example.yaml (copy it to config.yaml to change settings)",
              file=sys.stderr)
    return load_config(path)


@asynccontextmanager
async def database(cfg: Config) -> AsyncIterator[Storage]:
    """The bot's database (created and migrated if new), closed on the way out."""
    storage = await Storage.open(cfg.database())
    try:
        yield storage
    finally:
        await storage.close()


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KnowledgeBaseError as exc:
        print(f"the knowledge base has {len(exc.problems)} problem(s):\n{exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not at the top: each group module imports the helpers above from this package.
    from bot.cli import db, faq, polls, run, spam

    parser = argparse.ArgumentParser(prog="bot", description="Migraine community bot for Discord, Slack and console.")
    sub = parser.add_subparsers(dest="command")
    for group in (run, faq, spam, polls, db):
        group.register(sub)
    return parser


if __name__ == "__main__":
    logging.basicConfig()
    sys.exit(main())
