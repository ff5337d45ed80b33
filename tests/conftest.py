"""Shared fixtures: a core on a temporary database with the bundled knowledge base."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.config import Config
from bot.core.core import Core
from bot.core.records import Role
from bot.runner import open_core

ROOT = Path(__file__).resolve().parent.parent


def make_config(tmp_path: Path, **overrides) -> Config:
    cfg = Config(base_dir=str(ROOT))
    cfg.storage.path = str(tmp_path / "bot.db")
    cfg.faq.path = str(ROOT / "faq")
    cfg.spam.rules = str(ROOT / "rules" / "spam.yaml")
    cfg.polls.templates = str(ROOT / "polls" / "templates.yaml")
    cfg.polls.update_debounce = 0.0
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        setattr(getattr(cfg, section), name, value)
    return cfg


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def core(config: Config):
    core = await open_core(config)
    await core.start()
    yield core
    await core.close()


class ConsoleSession:
    """Drive the console adapter line by line and read what it printed."""

    def __init__(self, core: Core, user: str = "maria", role: Role = Role.MEMBER) -> None:
        self.buffer = io.StringIO()
        self.adapter = ConsoleAdapter(core, user=user, role=role, out=self.buffer)
        core.attach(self.adapter)

    async def say(self, line: str) -> str:
        start = self.buffer.tell()
        await self.adapter.handle_line(line)
        return self.buffer.getvalue()[start:]


@pytest.fixture
async def console(core: Core) -> ConsoleSession:
    return ConsoleSession(core)
