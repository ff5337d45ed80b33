"""Shared fixtures: a core on a temporary database with the bundled knowledge base.

PostgreSQL: with TEST_DATABASE_URL=postgresql://user@host:port/db set (`.ci/run` starts a server and sets it),
`pg_url` gives a test a fresh, empty database of its own and the tests parametrized over `engine` run on both
engines. TEST_ENGINE=postgresql also puts every test's `make_config` on such a database, to run any feature test
file against PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.config import Config, Secret
from bot.core.contract import Staff
from bot.core.core import Core
from bot.core.records import Role
from bot.runner import open_core

if TYPE_CHECKING:
    import aiohttp

    from bot.adapters.slack import SlackAdapter
    from tests.fakes.slack_api import FakeSlack

ROOT = Path(__file__).resolve().parent.parent


T = TypeVar("T")
PG_ENV = "TEST_DATABASE_URL"
PG_MISSING = (f"PostgreSQL tests skipped: set {PG_ENV}=postgresql://postgres@127.0.0.1:5433/postgres to a server "
              "where the user may create databases (.ci/run starts one)")
_databases = itertools.count(1)
# tmp_path -> this test's database, under TEST_ENGINE=postgresql; also in the environment for bot processes a test
# starts that build their config with make_config.
_pg_for_test: dict[str, str] = {}
_PG_FOR_TEST_ENV = "TEST_ENGINE_DATABASES"


def pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def database_url(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


async def create_database(admin_url: str) -> str:
    """A new empty database on the test server; returns its URL."""
    import asyncpg

    name = f"bot_test_{os.getpid()}_{next(_databases)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')
    finally:
        await conn.close()


def run_apart(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on its own loop in another thread: safe from sync fixtures of async tests."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (skips when no server is configured)."""
    admin = pg_admin_url()
    if admin is None:
        pytest.skip(PG_MISSING)
    url = run_apart(create_database(admin))
    yield url
    run_apart(drop_database(admin, url))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's database is, on each engine in turn: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "bot.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(autouse=os.environ.get("TEST_ENGINE") == "postgresql")
def _every_test_on_postgres(tmp_path: Path) -> Iterator[None]:
    admin = pg_admin_url()
    if admin is None:
        pytest.fail(f"TEST_ENGINE=postgresql needs {PG_ENV}")
    url = run_apart(create_database(admin))
    _pg_for_test[str(tmp_path)] = url
    os.environ[_PG_FOR_TEST_ENV] = json.dumps(_pg_for_test)
    yield
    _pg_for_test.pop(str(tmp_path), None)
    os.environ[_PG_FOR_TEST_ENV] = json.dumps(_pg_for_test)
    run_apart(drop_database(admin, url))


def make_config(tmp_path: Path, **overrides) -> Config:
    cfg = Config(base_dir=str(ROOT))
    cfg.storage.path = str(tmp_path / "bot.db")
    databases = _pg_for_test or json.loads(os.environ.get(_PG_FOR_TEST_ENV) or "{}")
    if str(tmp_path) in databases:
        cfg.storage.url = Secret(databases[str(tmp_path)])
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

    def __init__(self, core: Core, user: str = "maria", role: Role = Role.MEMBER,
                 communities: dict[str, Staff] | None = None) -> None:
        self.buffer = io.StringIO()
        self.adapter = ConsoleAdapter(core, user=user, role=role, out=self.buffer, communities=communities)
        core.attach(self.adapter)

    async def say(self, line: str) -> str:
        start = self.buffer.tell()
        await self.adapter.handle_line(line)
        return self.buffer.getvalue()[start:]


@pytest.fixture
async def console(core: Core) -> ConsoleSession:
    return ConsoleSession(core)


@dataclass
class SlackServing:
    """A core behind a real Slack adapter in HTTP mode, and a client that sends it requests signed like Slack's."""

    core: Core
    adapter: SlackAdapter
    http: aiohttp.ClientSession

    async def send(self, body: str, content_type: str = "application/x-www-form-urlencoded") -> None:
        from tests.fakes.slack_api import signed_headers

        url = f"http://127.0.0.1:{self.adapter.port}/slack/events"
        async with self.http.post(url, data=body.encode(),
                                  headers=signed_headers(body, content_type=content_type)) as resp:
            assert resp.status == 200


@contextlib.asynccontextmanager
async def serving_slack(cfg: Config, fake: FakeSlack) -> AsyncIterator[SlackServing]:
    """Serve `cfg` (its slack section pointed at the started `fake`, HTTP mode, the fake's tokens) until the block
    ends; then everything stops in the bot's own order and the fake with it."""
    import aiohttp

    from bot.adapters.slack import SlackAdapter
    from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET

    s = cfg.slack
    s.enabled, s.mode, s.host, s.port, s.api_url = True, "http", "127.0.0.1", 0, fake.api_url
    s.bot_token, s.signing_secret = Secret(BOT_TOKEN), Secret(SIGNING_SECRET)
    core = await open_core(cfg)
    adapter = SlackAdapter(core, cfg.slack)
    core.attach(adapter)
    http = aiohttp.ClientSession()
    try:
        await adapter.start()
        await core.start()
        yield SlackServing(core, adapter, http)
    finally:
        await http.close()
        await adapter.stop()
        await core.close()
        await adapter.close()
        await fake.stop()
