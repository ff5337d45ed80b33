"""Running in production: /healthz and /metrics, JSON logs, `bot db backup|restore`, the container files, and one
platform staying up while the other is down."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import aiohttp
import pytest

from bot.cli import build_parser, main
from bot.config import Config, Secret, load_config
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, Place, Role
from bot.logs import setup_logging
from bot.ops import health
from bot.ops.metrics import Metrics
from bot.runner import open_core, serve
from tests.conftest import ROOT, ConsoleSession, make_config
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack, signed_headers, slash_body
from tests.test_runner import DISCORD_TOKEN, free_port
from tests.test_slack import ADMIN_GROUP, GROUP_ADMIN, MOD_GROUP, socket_adapter

SPAM = ("Ketamine for sale, pharmaceutical grade, discreet shipping worldwide. No prescription needed. "
        "Call +1 555 014 2231")
HERE = Place("console", "general")
ANA = Member("console:ana", "ana", Role.MODERATOR)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus text exposition (None when absent)."""
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


# -- /metrics: what the core and the features measure ------------------------------------------------------


@pytest.fixture
async def metered(config: Config) -> AsyncIterator[tuple[Core, Metrics]]:
    metrics = Metrics()
    core = await open_core(config, meter=metrics)
    await core.start()
    yield core, metrics
    await core.close()


async def scraped(core: Core, metrics: Metrics) -> str:
    await metrics.refresh(core.features, core.adapters.values())
    return metrics.render().decode()


async def test_metrics_count_commands_buttons_scans_flags_votes_and_decisions(metered):
    core, metrics = metered
    console = ConsoleSession(core)
    assert "ketamine" in (await console.say("/faq special k cost?")).lower()
    await console.say("/modqueue")  # a member may not: denied
    await console.say(SPAM)  # scanned and flagged
    await console.say('/poll "Which helps most?" "Sleep" "Water"')
    [(poll_id,)] = await core.storage.fetchall("SELECT id FROM polls")
    await core.dispatch_action(Action(f"poll:{poll_id}:vote:0", core.member("console", "maria", "maria"), HERE))
    before = await scraped(core, metrics)
    assert sample(before, "bot_queue_size") == 1.0
    [(item_id,)] = await core.storage.fetchall("SELECT id FROM mod_queue")
    await core.dispatch_action(Action(f"queue:{item_id}:remove", ANA, Place("console", "mod-queue")))
    text = await scraped(core, metrics)

    assert sample(text, "bot_commands_total", platform="console", command="faq", outcome="ok") == 1.0
    assert sample(text, "bot_commands_total", command="modqueue", outcome="denied") == 1.0
    assert sample(text, "bot_commands_total", command="poll", outcome="ok") == 1.0
    assert sample(text, "bot_buttons_total", button="poll", outcome="ok") == 1.0
    assert sample(text, "bot_buttons_total", button="queue", outcome="ok") == 1.0
    assert sample(text, "bot_command_seconds_count", command="faq") == 1.0
    assert sample(text, "bot_command_seconds_bucket", command="faq", le="+Inf") == 1.0
    assert sample(text, "bot_button_seconds_count", button="queue") == 1.0
    assert sample(text, "bot_message_seconds_count", platform="console") == 1.0
    assert sample(text, "bot_messages_scanned_total", platform="console") == 1.0
    assert sample(text, "bot_flags_total", source="scan") == 1.0
    assert sample(text, "bot_votes_total") == 1.0
    assert sample(text, "bot_decisions_total", decision="remove") == 1.0
    assert sample(text, "bot_decision_seconds_count", decision="remove") == 1.0
    assert sample(text, "bot_queue_size") == 0.0
    assert sample(text, "bot_platform_connected", platform="console") == 1.0
    assert "# TYPE bot_reconnects_total counter" in text


async def test_made_up_command_and_button_names_never_become_metric_labels(metered):
    core, metrics = metered
    member = core.member("console", "maria", "maria")
    for name in ("faqq", '<script>"', "@everyone", "x" * 500):
        await core.dispatch(Invocation(name, member, HERE, {}))
        await core.dispatch_action(Action(f"{name}:1", member, HERE))
    text = await scraped(core, metrics)
    assert sample(text, "bot_commands_total", command="?", outcome="unknown") == 4.0
    assert sample(text, "bot_buttons_total", button="?", outcome="unknown") == 4.0
    assert "faqq" not in text and "script" not in text and "everyone" not in text


async def test_a_wrong_metric_name_or_label_is_ignored_not_raised(caplog):
    metrics = Metrics()
    metrics.count("no-such-thing")
    metrics.count("commands", platform="x")  # labels missing
    metrics.observe("votes", 1.0)  # a counter, not a histogram
    assert "bot_votes_total 0.0" in metrics.render().decode()
    assert "metric 'no-such-thing' ignored" in caplog.text


# -- /healthz and one platform down while the other serves ----------------------------------------------------


def platforms_config(tmp_path: Path, discord: FakeDiscord, slack: FakeSlack) -> tuple[Config, int]:
    cfg = make_config(tmp_path)
    cfg.discord.enabled, cfg.discord.api_url, cfg.discord.token = True, discord.url, Secret(DISCORD_TOKEN)
    slack_port = free_port()
    cfg.slack.enabled, cfg.slack.mode, cfg.slack.host, cfg.slack.port = True, "http", "127.0.0.1", slack_port
    cfg.slack.api_url, cfg.slack.bot_token = slack.api_url, Secret(BOT_TOKEN)
    cfg.slack.signing_secret = Secret(SIGNING_SECRET)
    cfg.ops.port = free_port()
    return cfg, slack_port


@asynccontextmanager
async def running(cfg: Config) -> AsyncIterator[tuple[asyncio.Task[int], asyncio.Event, aiohttp.ClientSession]]:
    """`serve` in this event loop (a platform retried after 0.2 s), until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(cfg, stop, retry_first=0.2))
    async with aiohttp.ClientSession() as http:
        try:
            yield task, stop, http
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.shield(task), 30)


async def get(http: aiohttp.ClientSession, cfg: Config, path: str) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{cfg.ops.port}{path}") as response:
        return response.status, await response.text()


async def until(http: aiohttp.ClientSession, cfg: Config, path: str, status: int, timeout: float = 15) -> str:
    """Poll `path` until it answers `status`; returns that answer's body."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: tuple[int, str] = (0, "")
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await get(http, cfg, path)
        except aiohttp.ClientConnectionError:
            last = (0, "not listening")
        if last[0] == status:
            return last[1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never answered {status}; last: {last}")


async def slack_faq(http: aiohttp.ClientSession, slack: FakeSlack, port: int, key: str) -> str:
    body = slash_body("/faq", "special k cost?", response_url=slack.response_url(key))
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
    async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as response:
        assert response.status == 200
    return str(await slack.wait_response(key, timeout=10))


async def test_healthz_is_200_when_every_platform_and_the_database_answer(tmp_path: Path):
    async with FakeDiscord() as discord:
        slack = await FakeSlack().start()
        try:
            cfg, slack_port = platforms_config(tmp_path, discord, slack)
            async with running(cfg) as (task, _stop, http):
                body = json.loads(await until(http, cfg, "/healthz", 200))
                assert body["status"] == "ok" and body["problems"] == []
                assert body["checks"] == {"database": "ok", "discord": "ok", "slack": "ok"}
                assert "ketamine" in (await slack_faq(http, slack, slack_port, "one")).lower()
                status, text = await get(http, cfg, "/metrics")
                assert status == 200
                assert sample(text, "bot_commands_total", platform="slack", command="faq", outcome="ok") == 1.0
                assert sample(text, "bot_platform_connected", platform="discord") == 1.0
                async with http.post(f"http://127.0.0.1:{cfg.ops.port}/healthz") as refused:
                    assert refused.status == 405
            assert task.result() == 0
        finally:
            await slack.stop()


async def test_a_platform_refused_at_start_is_retried_while_the_other_serves(tmp_path: Path):
    async with FakeDiscord(token="a-token-discord-does-not-know-yet") as discord:
        slack = await FakeSlack().start()
        try:
            cfg, slack_port = platforms_config(tmp_path, discord, slack)
            async with running(cfg) as (task, _stop, http):
                body = json.loads(await until(http, cfg, "/healthz", 503))
                while "could not start" not in body["checks"]["discord"]:
                    body = json.loads(await until(http, cfg, "/healthz", 503))
                assert body["status"] == "unavailable"
                assert body["checks"]["database"] == "ok" and body["checks"]["slack"] == "ok"
                assert "Discord rejected discord.token" in body["checks"]["discord"]
                assert DISCORD_TOKEN not in json.dumps(body)
                # Slack serves meanwhile, and the process keeps running.
                assert "ketamine" in (await slack_faq(http, slack, slack_port, "during")).lower()
                assert not task.done()

                discord.token = DISCORD_TOKEN  # the operator fixed it: the next retry connects
                body = json.loads(await until(http, cfg, "/healthz", 200))
                assert body["checks"]["discord"] == "ok"
                _, text = await get(http, cfg, "/metrics")
                assert sample(text, "bot_reconnects_total", platform="discord") == 1.0
            assert task.result() == 0
        finally:
            await slack.stop()


async def test_a_dropped_gateway_reconnects_without_stopping_slack(tmp_path: Path):
    async with FakeDiscord() as discord:
        slack = await FakeSlack().start()
        try:
            cfg, slack_port = platforms_config(tmp_path, discord, slack)
            async with running(cfg) as (task, _stop, http):
                await until(http, cfg, "/healthz", 200)
                await discord.drop(4000)  # "unknown error": Discord says reconnect and resume
                assert "ketamine" in (await slack_faq(http, slack, slack_port, "drop")).lower()
                await discord.wait_until(lambda: discord.connected, timeout=15)
                await until(http, cfg, "/healthz", 200)
                _, text = await get(http, cfg, "/metrics")
                assert not task.done()
            assert task.result() == 0
        finally:
            await slack.stop()
        assert sample(text, "bot_platform_connected", platform="discord") == 1.0
        assert sample(text, "bot_reconnects_total", platform="discord") == 1.0  # resumed by discord.py itself


async def test_socket_mode_says_when_it_is_connected_and_counts_new_sockets(tmp_path: Path):
    fake = await FakeSlack(usergroups={ADMIN_GROUP: [GROUP_ADMIN], MOD_GROUP: []}).start()
    try:
        async with socket_adapter(tmp_path, fake) as adapter:
            metrics = Metrics()
            adapter.core.meter = metrics
            assert adapter.connected
            await adapter._socket.client.issue_new_wss_url()  # what the SDK does when Slack drops the socket
            await adapter._socket.client.close()
            assert not adapter.connected
            assert sample(metrics.render().decode(), "bot_reconnects_total", platform="slack") == 1.0
    finally:
        await fake.stop()


async def test_healthz_names_a_database_that_does_not_answer(config: Config):
    core = await open_core(config)
    await core.close()  # the connection is gone, as when the database server is
    result = await health.check(core.storage, [])
    assert not result.ok and result.as_json()["status"] == "unavailable"
    assert result.problems and result.problems[0].startswith("database: ")


async def test_no_ops_port_no_endpoint_and_no_prometheus_needed():
    cfg = Config()
    assert cfg.ops.port == 0 and cfg.ops.host == "127.0.0.1"
    loaded = load_config(ROOT / "config.example.yaml")
    assert loaded.ops.port == 0 and loaded.logging.format == "text"


# -- JSON logs -------------------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_json_logs_are_one_object_per_line_with_the_event_fields(config: Config, restore_logging):
    config.logging.format = "json"
    config.discord.token = Secret("sekrit-token-123456")
    stream = io.StringIO()
    with redirect_stderr(stream):
        setup_logging("INFO", config)
    core = await open_core(config)
    try:
        await ConsoleSession(core).say("/faq special k cost?")
        logging.getLogger("bot.test").warning("token %s", "sekrit-token-123456",
                                              extra={"detail": "it was sekrit-token-123456"})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bot.test").exception("failed")
    finally:
        await core.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    event = next(e for e in lines if e.get("command") == "/faq")
    assert {"time", "level", "logger", "message"} <= event.keys()
    assert event["level"] == "INFO" and event["logger"] == "bot.events"
    assert event["platform"] == "console" and event["outcome"] == "ok"
    assert isinstance(event["latency_ms"], float) and event["message"].startswith("event platform=console")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", event["time"])
    warned = next(e for e in lines if e["logger"] == "bot.test" and e["level"] == "WARNING")
    assert warned["message"] == "token ***" and warned["detail"] == "it was ***"
    failed = next(e for e in lines if e["message"] == "failed")
    assert "ValueError: boom" in failed["exception"]
    assert "sekrit-token-123456" not in stream.getvalue()


def test_log_json_flag_and_config_key():
    assert build_parser().parse_args(["run", "--log-json"]).log_json is True


# -- bot db backup / restore -----------------------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def audit_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM audit_log").fetchone()[0])


@pytest.fixture
def db_config(tmp_path: Path) -> tuple[Path, Config]:
    path = tmp_path / "config.yaml"
    path.write_text(f"storage: {{path: {tmp_path / 'live' / 'bot.db'}}}\n")
    cfg = make_config(tmp_path)
    cfg.storage.path = str(tmp_path / "live" / "bot.db")
    return path, cfg


async def test_backup_while_the_bot_writes_then_restore_round_trip(tmp_path: Path, db_config):
    config_file, cfg = db_config
    live = Path(cfg.storage.path)
    core = await open_core(cfg)
    writing = True

    async def writer() -> None:
        n = 0
        while writing:
            await core.storage.audit("console:test", "test.write", f"row {n}")
            n += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.1)
    copy = tmp_path / "backups" / "bot-copy.db"
    code, out, err = await asyncio.to_thread(run_cli, "db", "backup", "--config", str(config_file), str(copy))
    await asyncio.sleep(0.1)
    writing = False
    await task
    assert code == 0, err
    assert f"backed up {live} to {copy}" in out
    assert not list(copy.parent.glob("*.partial*")) and not Path(f"{copy}-wal").exists()
    in_copy = audit_rows(copy)
    await core.storage.audit("console:test", "test.write", "after the backup")
    await core.close()
    total = audit_rows(live)
    assert 0 < in_copy < total  # a snapshot taken in the middle of the writes

    code, out, err = run_cli("db", "restore", "--config", str(config_file), str(copy))
    assert code == 0, err
    assert audit_rows(live) == in_copy
    [kept] = live.parent.glob("bot.db.before-restore-*")
    assert f"kept at {kept}" in out and audit_rows(kept) == total

    core = await open_core(cfg)  # the bot starts on the restored database
    try:
        rows = await core.storage.fetchall("SELECT count(*) FROM audit_log")
        assert rows[0][0] == in_copy
    finally:
        await core.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-the-bots", "missing"])
async def test_restore_refuses_a_copy_that_does_not_open_and_changes_nothing(tmp_path: Path, db_config, damage):
    config_file, cfg = db_config
    core = await open_core(cfg)
    await core.storage.audit("console:test", "test.write", "keep me")
    await core.close()
    live = Path(cfg.storage.path)
    before = live.read_bytes()
    bad = tmp_path / "bad.db"
    if damage == "garbage":
        bad.write_bytes(b"this is not a database\n" * 500)
    elif damage == "truncated":
        assert run_cli("db", "backup", "--config", str(config_file), str(bad))[0] == 0
        bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
    elif damage == "not-the-bots":
        with sqlite3.connect(bad) as other:
            other.execute("CREATE TABLE notes(text)")
    code, _, err = run_cli("db", "restore", "--config", str(config_file), str(bad))
    assert code == 1 and err.startswith("error: ")
    assert {"garbage": "cannot be opened", "truncated": str(bad), "not-the-bots": "not the bot's",
            "missing": "no such file"}[damage] in err
    assert live.read_bytes() == before and not list(live.parent.glob("*.before-restore-*"))


def test_backup_refuses_to_overwrite_the_live_database_and_names_pg_dump(tmp_path: Path, db_config):
    config_file, cfg = db_config
    code, _, err = run_cli("db", "backup", "--config", str(config_file), cfg.storage.path)
    assert code == 1 and "no database to back up" in err
    asyncio.run(_create(cfg))
    code, _, err = run_cli("db", "backup", "--config", str(config_file), cfg.storage.path)
    assert code == 1 and "is the live database itself" in err
    pg = tmp_path / "pg.yaml"
    pg.write_text("storage: {url: 'postgresql://bot:pw@db:5432/bot'}\n")
    code, _, err = run_cli("db", "backup", "--config", str(pg), str(tmp_path / "x.db"))
    assert code == 1 and "pg_dump" in err and "pw@" not in err


async def _create(cfg: Config) -> None:
    core = await open_core(cfg)
    await core.close()


# -- the container files ---------------------------------------------------------------------------------------


def test_dockerfile_runs_as_a_user_with_a_healthcheck_on_healthz():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[12]-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    [check] = re.findall(r"^HEALTHCHECK (?:.*\\\n)*.*", text, re.M)
    assert "/healthz" in check and "urllib" in check and "curl" not in text
    assert re.search(r"^VOLUME .*/data", text, re.M)
    assert "TOKEN" not in text  # tokens come from the environment at run time, never baked into the image


def test_compose_runs_the_bot_on_postgresql_with_the_docker_config(monkeypatch):
    compose = (ROOT / "compose.yaml").read_text()
    assert "postgres:15" in compose and "DATABASE_URL: postgresql://" in compose
    # The image's defaults for the settings the container config reads from the environment.
    for name, value in re.findall(r"\b([A-Z][A-Z_]+)=(\"[^\"]*\"|[^\s\\]+)", (ROOT / "Dockerfile").read_text()):
        monkeypatch.setenv(name, value.strip('"'))
    cfg = load_config(ROOT / "config.docker.yaml")
    assert cfg.ops.port and cfg.ops.host == "0.0.0.0" and cfg.logging.format == "json"
    assert cfg.storage.url.source == "${DATABASE_URL}"
    assert str(cfg.ops.port) in (ROOT / "Dockerfile").read_text()
