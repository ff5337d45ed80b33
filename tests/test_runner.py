"""`bot run` end to end: both adapters against local fake Discord and Slack servers, started and stopped by signal."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.conftest import ROOT
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack, signed_headers, slash_body

DISCORD_TOKEN = "fake-discord-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, discord_url: str, slack_url: str, port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"""
log_level: INFO
storage: {{path: {tmp_path / 'bot.db'}}}
faq: {{path: {ROOT / 'faq'}}}
spam: {{rules: {ROOT / 'rules' / 'spam.yaml'}}}
polls: {{templates: {ROOT / 'polls' / 'templates.yaml'}}}
discord:
  enabled: true
  token: ${{TEST_DISCORD_TOKEN}}
  api_url: {discord_url}
slack:
  enabled: true
  mode: http
  host: 127.0.0.1
  port: {port}
  api_url: {slack_url}
  bot_token: ${{TEST_SLACK_BOT_TOKEN}}
  signing_secret: ${{TEST_SLACK_SIGNING_SECRET}}
""")
    return config


async def start_bot(config: Path, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TEST_DISCORD_TOKEN": DISCORD_TOKEN, "TEST_SLACK_BOT_TOKEN": BOT_TOKEN,
             "TEST_SLACK_SIGNING_SECRET": SIGNING_SECRET, **env})


async def wait_listening(port: int, timeout: float = 20) -> None:
    """Until something accepts connections on the port (the Slack adapter starts after Discord is ready)."""
    deadline = time.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert time.time() < deadline, f"nothing listens on {port}"
            await asyncio.sleep(0.1)


@asynccontextmanager
async def serving_bot(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, FakeDiscord, FakeSlack, int]]:
    """`bot run` in a subprocess against both fakes, yielded once both platforms are up."""
    port = free_port()
    async with FakeDiscord() as discord:
        slack = await FakeSlack().start()
        try:
            proc = await start_bot(write_config(tmp_path, discord.url, slack.api_url, port))
            await wait_listening(port)
            yield proc, discord, slack, port
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await slack.stop()


async def test_bot_run_serves_both_platforms_and_stops_cleanly_on_sigterm(tmp_path: Path):
    async with serving_bot(tmp_path) as (proc, discord, slack, port):
        assert discord.connected
        body = slash_body("/faq", "special k cost?", response_url=slack.response_url("run"))
        headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
        async with aiohttp.ClientSession() as http, \
                http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as response:
            assert response.status == 200
        answer = await slack.wait_response("run", timeout=10)
        assert "How much ketamine treatment costs" in str(answer)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "bot running on discord, slack" in log and "shutting down" in log
    assert "command=/faq" in log and "platform=slack" in log
    assert DISCORD_TOKEN not in log and BOT_TOKEN not in log and SIGNING_SECRET not in log
    assert "Traceback" not in log


async def test_a_platform_lost_for_good_makes_bot_run_exit_for_a_restart(tmp_path: Path):
    async with serving_bot(tmp_path) as (proc, discord, _slack, _port):
        await discord.drop(4004)  # the token was revoked while running
        _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    log = err.decode()
    assert proc.returncode == 1, log
    assert "discord connection lost for good" in log and "rejected discord.token" in log
    assert DISCORD_TOKEN not in log


async def test_bad_token_reports_the_platform_reason_without_the_token(tmp_path: Path):
    async with FakeDiscord() as discord:
        config = write_config(tmp_path, discord.url, "http://127.0.0.1:1/api/", free_port())
        proc = await start_bot(config, TEST_DISCORD_TOKEN="wrong-token-123456")
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = err.decode()
    assert proc.returncode == 1
    assert "discord could not start" in text and "Discord rejected discord.token" in text
    assert "wrong-token-123456" not in text and "Traceback" not in text


async def test_missing_settings_name_the_key(tmp_path: Path):
    config = write_config(tmp_path, "http://127.0.0.1:1/api/v10", "http://127.0.0.1:1/api/", free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", "--config", str(config),
                                                cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = err.decode()
    assert proc.returncode == 2
    assert "discord.token is not set (it reads ${TEST_DISCORD_TOKEN}" in text
    assert "slack.bot_token is not set" in text and "slack.signing_secret is not set" in text


async def test_nothing_enabled_explains_what_to_set(tmp_path: Path):
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", "--config",
                                                str(ROOT / "config.example.yaml"), cwd=ROOT,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert "set discord.enabled or slack.enabled" in err.decode()
