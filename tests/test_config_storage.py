"""Config loading (types, env substitution, secrets) and storage (migrations, transactions, persistence)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, missing_settings
from bot.core.storage import Storage
from bot.logs import RedactSecrets

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_with_defaults_documented():
    cfg = load_config(ROOT / "config.example.yaml")
    assert cfg.storage.path == "./data/bot.db"
    assert cfg.slack.mode == "socket"
    assert not cfg.discord.enabled and not cfg.slack.enabled


def test_env_substitution_and_secrets_never_shown(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MY_DISCORD_TOKEN", "super-secret-token-value")
    path = tmp_path / "c.yaml"
    path.write_text("discord:\n  enabled: true\n  token: ${MY_DISCORD_TOKEN}\n  guild_ids: [1, 2]\n")
    cfg = load_config(path)
    assert cfg.discord.token.get() == "super-secret-token-value"
    assert "super-secret" not in repr(cfg) and "super-secret" not in str(cfg.discord)
    assert cfg.discord.guild_ids == [1, 2]
    assert missing_settings(cfg) == []


def test_missing_env_var_is_named_only_for_enabled_platforms(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("slack:\n  enabled: true\n  bot_token: ${NOPE_TOKEN}\n  app_token: ${NOPE_TOKEN}\n"
                    "discord:\n  token: ${NOPE_TOKEN}\n")
    problems = missing_settings(load_config(path))
    assert any("slack.bot_token is not set" in p and "NOPE_TOKEN" in p for p in problems)
    assert not any("discord" in p for p in problems)


def test_nothing_enabled_says_what_to_set(tmp_path: Path):
    problems = missing_settings(load_config(ROOT / "config.example.yaml"))
    assert "discord.enabled or slack.enabled" in problems[0]


def test_type_errors_and_bad_choices(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("log_level: LOUD\nslack:\n  mode: carrier-pigeon\ndiscord:\n  guild_ids: abc\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert f"{path}:1: log_level: must be one of" in text
    assert f"{path}:3: slack.mode: must be one of http, socket" in text
    assert f"{path}:5: discord.guild_ids: must be a list of int" in text


def test_log_filter_scrubs_secrets():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "auth failed for %s", ("xoxb-123456",), None)
    RedactSecrets(["xoxb-123456"]).filter(record)
    assert record.getMessage() == "auth failed for ***"


async def test_migrations_are_recorded_once_and_data_survives_reopen(tmp_path: Path):
    path = tmp_path / "sub" / "bot.db"
    storage = await Storage.open(path)
    versions = [r[0] for r in await storage.fetchall("SELECT version FROM schema_migrations")]
    assert versions and versions == sorted(versions)
    assert (await storage.fetchone("PRAGMA journal_mode"))[0] == "wal"
    await storage.audit("console:ada", "test", "thing", "detail")
    await storage.close()
    again = await Storage.open(path)
    assert await again.migrate() == []
    rows = await again.fetchall("SELECT actor, action FROM audit_log")
    assert [tuple(r) for r in rows] == [("console:ada", "test")]
    assert await again.integrity_check() == "ok"
    await again.close()


async def test_a_failed_transaction_changes_nothing(tmp_path: Path):
    storage = await Storage.open(tmp_path / "bot.db")
    with pytest.raises(RuntimeError):
        async with storage.transaction() as db:
            await db.execute("INSERT INTO audit_log(actor, action, subject) VALUES ('a', 'b', 'c')")
            raise RuntimeError("boom")
    assert await storage.fetchall("SELECT * FROM audit_log") == []
    await storage.close()


BILLION_LAUGHS = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(8))


def test_a_billion_laughs_file_is_refused_at_once_everywhere(tmp_path: Path):
    import time

    from bot.features.faq.knowledge import KnowledgeBaseError, load_knowledge_base
    from bot.features.moderation.spam import RulesError, SpamRules

    kb = tmp_path / "faq"
    kb.mkdir()
    (kb / "bomb.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")
    rules = tmp_path / "spam.yaml"
    rules.write_text(BILLION_LAUGHS, encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(BILLION_LAUGHS, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(KnowledgeBaseError) as kb_err:
        load_knowledge_base(kb)
    with pytest.raises(RulesError) as rules_err:
        SpamRules.load(rules)
    with pytest.raises(ConfigError) as cfg_err:
        load_config(config)
    assert time.perf_counter() - started < 5
    for err in (str(kb_err.value), str(rules_err.value), str(cfg_err.value)):
        assert ":1: anchors and aliases" in err, err


def test_huge_and_non_utf8_admin_files_get_one_clear_line(tmp_path: Path):
    from bot.features.moderation.spam import RulesError, SpamRules

    big = tmp_path / "spam.yaml"
    big.write_text("threshold: 1.0\n" + "# padding\n" * 300_000, encoding="utf-8")
    with pytest.raises(RulesError) as err:
        SpamRules.load(big)
    assert "too large" in str(err.value)
    latin = tmp_path / "config.yaml"
    latin.write_bytes("log_level: INFO\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as cfg_err:
        load_config(latin)
    assert "not UTF-8" in str(cfg_err.value)


def test_config_mistakes_are_one_line_each_and_never_echo_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret-token-value")
    monkeypatch.delenv("UNSET_PORT", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(
        "faq:\n  min_confidence: 5\n"
        "slack:\n  port: 99999\n"
        "discord:\n  mod_channel_id: ${DISCORD_TOKEN}\n  guild_ids: [" + "9" * 5000 + "]\n"
        "polls:\n  update_debounce: nan\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "secret-token-value" not in text and "${DISCORD_TOKEN}" in text
    assert f"{path}:2: faq.min_confidence: must be between 0 and 1" in text
    assert f"{path}:4: slack.port: must be between 0 and 65535" in text
    assert "at most 30 digits" in text and "finite" in text
    assert len(text) < 2000
    path.write_text("slack:\n  port: ${UNSET_PORT}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "slack.port: is empty" in str(err.value)


def test_a_damaged_database_stops_every_command_at_once_with_one_line(tmp_path: Path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "bot.db").write_bytes(b"this is not a database" * 300)
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {root / 'faq'}\n"
                      f"polls:\n  templates: {root / 'polls' / 'templates.yaml'}\nspam:\n  rules: "
                      f"{root / 'rules' / 'spam.yaml'}\n", encoding="utf-8")
    for args, stdin in ((["console", "--config", str(config)], "/faq cost\n"),
                        (["faq", "ask", "--config", str(config), "cost"], ""),
                        (["faq", "gaps", "--config", str(config)], "")):
        result = subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                                cwd=root, timeout=30)  # it used to hang here after a traceback
        assert result.returncode == 2, (args, result.stderr)
        assert "the database file is damaged" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_yaml_tags_and_non_utf8_scan_input_get_a_line_not_a_traceback(tmp_path: Path):
    import subprocess
    import sys

    from bot.features.moderation.spam import RulesError, SpamRules

    root = Path(__file__).resolve().parent.parent
    for text in ("threshold: !foo 1.0\n", "threshold: !!python/object/apply:os.system ['true']\n"):
        rules = tmp_path / "spam.yaml"
        rules.write_text(text, encoding="utf-8")
        with pytest.raises(RulesError) as err:
            SpamRules.load(rules)
        assert f"{rules}:1: YAML tags" in str(err.value)
    (tmp_path / "cfg.yaml").write_text("log_level: !foo INFO\n", encoding="utf-8")
    with pytest.raises(ConfigError) as cfg_err:
        load_config(tmp_path / "cfg.yaml")
    assert "YAML tags" in str(cfg_err.value)
    scan_input = tmp_path / "in.jsonl"
    scan_input.write_bytes(b'{"id": "1", "author": "a", "channel": "c", "text": "caf\xe9"}\n'
                           b'{"id": "2", "author": "a", "channel": "c", "text": "fine"}\n')
    result = subprocess.run([sys.executable, "-m", "bot", "spam", "scan", "--config",
                             str(root / "config.example.yaml"), str(scan_input)],
                            capture_output=True, text=True, cwd=root, timeout=60)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "error: line 1: not UTF-8 text" and second.startswith("2:")


def test_an_empty_path_setting_is_a_config_error_not_a_database_in_the_wrong_place(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("UNSET_DB", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text("storage:\n  path: ${UNSET_DB}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:2: storage.path: must not be empty" in str(err.value)


def test_several_processes_starting_at_once_on_a_new_database_all_start(tmp_path: Path):
    """Migrations run under SQLite's write lock: whichever process comes second finds them done."""
    import subprocess
    import sys

    db = tmp_path / "fresh.db"
    code = ("import asyncio, sys, time\n"
            "from bot.core.storage import Storage\n"
            "async def main():\n"
            "    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start at the same moment\n"
            "    s = await Storage.open(sys.argv[1])\n"
            "    print(len(await s.fetchall('SELECT version FROM schema_migrations')))\n"
            "    await s.close()\n"
            "asyncio.run(main())\n")
    root = Path(__file__).resolve().parent.parent
    import time

    start = str(time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), start], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in results), [err for _, err, _ in results]
    assert len({out.strip() for out, _, _ in results}) == 1  # every one sees every migration


def test_fuzzed_config_files_give_a_config_error_or_a_config_never_a_crash(tmp_path: Path):
    """Random damage to the example config (values swapped for hostile ones, lines cut, indentation broken):
    every outcome is a Config or a ConfigError with file:line, never another exception."""
    import random
    import time

    root = Path(__file__).resolve().parent.parent
    lines = (root / "config.example.yaml").read_text(encoding="utf-8").splitlines()
    hostile = ["9" * 5000, "-1", "${UNSET_FUZZ}", "!foo 1", "&a x", "*a", "[", "{", "nan", "1e999", "\u202e\u0000",
               "'unterminated", "- - -", "true", "~", "0x10", "é" * 300, "? x", ":"]
    rng = random.Random(5)
    path = tmp_path / "config.yaml"
    started = time.perf_counter()
    for _ in range(300):
        mutated = list(lines)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(mutated))
            line = mutated[i]
            choice = rng.random()
            if ":" in line and choice < 0.6:
                key = line.split(":", 1)[0]
                mutated[i] = f"{key}: {rng.choice(hostile)}"
            elif choice < 0.8:
                mutated[i] = line[: rng.randint(0, len(line))]
            else:
                mutated[i] = " " * rng.randint(0, 5) + line.lstrip()
        path.write_text("\n".join(mutated) + "\n", encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)), str(exc)[:200]
    assert time.perf_counter() - started < 30


async def test_a_database_locked_by_another_process_gets_a_polite_refusal_and_no_half_write(tmp_path: Path):
    """Another process holds SQLite's write lock longer than the bot waits (busy_timeout): the member is told
    nothing was changed, nothing is half-written, and the same request works once the lock is gone."""
    import sqlite3
    import time

    from bot.core.records import Invocation, Member, Place, Role
    from bot.runner import open_core
    from tests.conftest import make_config

    core = await open_core(make_config(tmp_path))
    await core.start()
    member = Member("console:lee", "lee", Role.MEMBER)
    here = Place("console", "general")
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the other process's write lock
        started = time.monotonic()
        reply = await core.dispatch(Invocation("poll", member, here, {"question": '"Locked?" "Yes" "No"'}))
        assert "Nothing was changed" in reply.text and time.monotonic() - started < 15
        other.execute("ROLLBACK")
        assert (await core.storage.fetchone("SELECT COUNT(*) AS n FROM polls"))["n"] == 0
        reply = await core.dispatch(Invocation("poll", member, here, {"question": '"Locked?" "Yes" "No"'}))
        assert (await core.storage.fetchone("SELECT COUNT(*) AS n FROM polls"))["n"] == 1, reply.text
    finally:
        other.close()
        await core.close()
