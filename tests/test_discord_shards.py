"""Discord sharding: the real AutoShardedClient against the local fake Discord, which sends each guild's events only
on the shard that owns it, as Discord does. Also the config checks for discord.shard_count and discord.shard_ids."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.fakes.discord_api import FakeDiscord
from tests.test_discord import ADMIN_ROLE, MOD_ROLE, Probe, Running, discord_config

pytestmark = pytest.mark.timeout(30)

GUILD_ON_0 = "1200000000004194304"  # (id >> 22) % 2 == 0
GUILD_ON_1 = "1200000000000000001"  # (id >> 22) % 2 == 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guild_ids=[GUILD_ON_0, GUILD_ON_1],
                           roles={ADMIN_ROLE: "Admins", MOD_ROLE: "Moderators"}) as fake:
        fake.max_concurrency = 2  # both shards may IDENTIFY in one window, as Discord allows large bots
        yield fake


def shards_identified(fake: FakeDiscord) -> list[list[int]]:
    return sorted(i["shard"] for i in fake.identifies)


async def ask_faq(fake: FakeDiscord, guild_id: str) -> dict:
    rec = await fake.interact(fake.slash("faq", {"question": "nasal spray"}, guild_id=guild_id))
    assert rec.json["type"] == 4
    return rec.json


def test_the_fake_routes_each_test_guild_to_its_own_shard():
    assert FakeDiscord.shard_for(GUILD_ON_0, 2) == 0 and FakeDiscord.shard_for(GUILD_ON_1, 2) == 1


async def test_two_shards_in_one_process_identify_with_their_pairs_and_serve_both_guilds(
        tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake)
    cfg.discord.shard_count, cfg.discord.shard_ids = 2, [0, 1]
    run = await Running(fake, cfg, Probe()).start()
    try:
        assert shards_identified(fake) == [[0, 2], [1, 2]]
        assert run.adapter is not None and run.adapter.connected
        for guild_id in (GUILD_ON_0, GUILD_ON_1):
            body = await ask_faq(fake, guild_id)
            assert body["data"]["embeds"][0]["title"]
        callbacks = fake.find("POST", r"/interactions/\d+/[^/]+/callback")
        assert len(callbacks) == 2  # each interaction answered once, by the shard that got it
    finally:
        await run.stop()


async def test_both_shards_resume_after_a_drop_and_keep_serving(tmp_path: Path, fake: FakeDiscord,
                                                                 monkeypatch: pytest.MonkeyPatch):
    cfg = discord_config(tmp_path, fake)
    cfg.discord.shard_count = 2
    run = await Running(fake, cfg, Probe()).start()
    try:
        adapter, core = run.adapter, run.core
        assert adapter is not None and core is not None and adapter.connected
        counted: list[str] = []
        monkeypatch.setattr(core.meter, "count", lambda name, **labels: counted.append(name))
        await fake.drop(4000)  # "unknown error": Discord says reconnect and resume
        await fake.wait_until(lambda: counted.count("reconnects") == 2 and adapter.connected)  # one per shard
        assert len(fake.identifies) == 2  # resumed, not identified again
        for guild_id in (GUILD_ON_0, GUILD_ON_1):
            await ask_faq(fake, guild_id)
    finally:
        await run.stop()


async def test_a_process_running_only_shard_1_connects_only_that_shard(tmp_path: Path, fake: FakeDiscord):
    cfg = discord_config(tmp_path, fake)
    cfg.discord.shard_count, cfg.discord.shard_ids = 2, [1]
    run = await Running(fake, cfg, Probe()).start()
    try:
        assert shards_identified(fake) == [[1, 2]]
        assert run.adapter is not None and run.adapter.connected
        await ask_faq(fake, GUILD_ON_1)
    finally:
        await run.stop()


async def test_two_processes_split_the_shards_and_each_interaction_is_answered_once(
        tmp_path: Path, fake: FakeDiscord):
    """Like two `bot run` processes on one database, one per shard (here two adapters in one test process)."""
    runs = []
    try:
        for shard_id in (0, 1):
            cfg = discord_config(tmp_path, fake)
            cfg.discord.shard_count, cfg.discord.shard_ids = 2, [shard_id]
            runs.append(await Running(fake, cfg, Probe()).start())
        assert shards_identified(fake) == [[0, 2], [1, 2]]
        first = await ask_faq(fake, GUILD_ON_0)
        second = await ask_faq(fake, GUILD_ON_1)
        assert first["data"]["embeds"][0]["title"] == second["data"]["embeds"][0]["title"]
        assert len(fake.find("POST", r"/interactions/\d+/[^/]+/callback")) == 2
    finally:
        for run in runs:
            await run.stop()


async def test_without_a_shard_count_discord_recommends_one(tmp_path: Path, fake: FakeDiscord):
    fake.recommended_shards = 2
    run = await Running(fake, discord_config(tmp_path, fake), Probe()).start()
    try:
        assert shards_identified(fake) == [[0, 2], [1, 2]]
        await ask_faq(fake, GUILD_ON_1)
    finally:
        await run.stop()


async def test_too_few_configured_shards_are_logged(tmp_path: Path, fake: FakeDiscord,
                                                    caplog: pytest.LogCaptureFixture):
    fake.recommended_shards = 4
    cfg = discord_config(tmp_path, fake)
    cfg.discord.shard_count = 2
    with caplog.at_level(logging.WARNING, logger="bot.discord"):
        run = await Running(fake, cfg, Probe()).start()
        await run.stop()
    assert "Discord recommends 4 shards but discord.shard_count is 2" in caplog.text


# -- config ---------------------------------------------------------------------------------------------------


def load(tmp_path: Path, discord_lines: str):
    path = tmp_path / "config.yaml"
    path.write_text("log_level: INFO\ndiscord:\n  enabled: true\n" + discord_lines, encoding="utf-8")
    return load_config(path), str(path)


def test_shard_settings_are_read(tmp_path: Path):
    cfg, _ = load(tmp_path, "  shard_count: 4\n  shard_ids: [2, 3]\n")
    assert cfg.discord.shard_count == 4 and cfg.discord.shard_ids == [2, 3]
    cfg, _ = load(tmp_path, "  shard_count:\n")
    assert cfg.discord.shard_count is None and cfg.discord.shard_ids == []


@pytest.mark.parametrize(("lines", "line", "message"), [
    ("  shard_ids: [0, 1]\n", 4, "discord.shard_ids: needs discord.shard_count"),
    ("  shard_count: 2\n  shard_ids: [0, 2]\n", 5, "2 not among the shards 0 to 1"),
    ("  shard_count: 2\n  shard_ids: [-1]\n", 5, "-1 not among the shards 0 to 1"),
    ("  shard_count: 3\n  shard_ids: [1, 2, 1]\n", 5, "1 listed more than once"),
    ("  shard_count: 0\n", 4, "discord.shard_count: must be between 1 and 100000"),
    ("  shard_count: 99999999999999999999999999\n", 4, "discord.shard_count: must be between 1 and 100000"),
    ("  shard_count: 2\n  shard_ids: [one]\n", 5, "discord.shard_ids: must be a whole number"),
    ("  shard_count: 2\n  shard_ids: 1\n", 5, "discord.shard_ids: must be a list of int"),
])
def test_bad_shard_settings_name_file_and_line(tmp_path: Path, lines: str, line: int, message: str):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, lines)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'config.yaml'}:{line}: ") and message in text
    assert len(text) < 300  # a huge list or number is not echoed back in full


def test_many_bad_shard_ids_are_listed_briefly(tmp_path: Path):
    ids = ", ".join(str(i) for i in range(10, 1010))
    with pytest.raises(ConfigError, match=r"10, 11, 12, 13, 14, \.\.\. not among the shards 0 to 1 "):
        load(tmp_path, f"  shard_count: 2\n  shard_ids: [{ids}]\n")


async def test_processes_on_one_database_take_turns_to_identify(tmp_path: Path):
    """Discord counts IDENTIFYs per bot: two processes (two cores on one database) each starting a shard of the
    same bucket are spaced by the window; shards of different buckets are not held up."""
    import asyncio
    import time

    from bot.adapters.discord.shards import IdentifyPacer
    from bot.runner import open_core
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    one, two = await open_core(cfg), await open_core(cfg)
    try:
        window = 0.4
        first, second = IdentifyPacer(2, one.turn, window), IdentifyPacer(2, two.turn, window)

        async def identify(pacer: IdentifyPacer, shard: int) -> float:
            await pacer.wait(shard)
            return time.monotonic()

        start = time.monotonic()
        a, b, c = await asyncio.gather(identify(first, 0), identify(second, 2), identify(second, 1))
        same_bucket = sorted([a - start, b - start])
        assert same_bucket[1] - same_bucket[0] >= window * 0.9  # shards 0 and 2: bucket 0, one after the other
        assert c - start < window * 0.9  # shard 1: bucket 1, at once
        await two.turn("a limit", window)
        assert await one.turn("a limit", window) >= window * 0.8  # held by the other process: waited its turn
    finally:
        await one.close()
        await two.close()
