"""The console adapter and the `bot` CLI, driven the way a person or a script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.core.records import Role
from tests.conftest import ROOT, ConsoleSession


def run_bot(*args: str, stdin: str = "", cwd: Path | None = None, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, **(env or {})}, timeout=60)


async def test_console_answers_and_buttons_work(console: ConsoleSession):
    out = await console.say("/faq ketamin nasel spray")
    assert "== Ketamine nasal spray ==" in out and "not medical advice" in out
    assert "Sources:" in out
    number = next(line.split("]")[0].strip(" [") for line in out.splitlines() if line.strip().startswith("["))
    pressed = await console.say(number)
    assert "==" in pressed


async def test_console_switches_user_and_enforces_roles(core):
    session = ConsoleSession(core)
    out = await session.say("/faq-reload")
    assert "only admins" in out
    assert "now ada, admin" in await session.say("/as ada admin")
    assert "Knowledge base reloaded" in await session.say("/faq-reload")
    assert "unknown role" in await session.say("/as bob wizard")


async def test_console_help_lists_only_what_the_user_may_run(core):
    member = ConsoleSession(core, role=Role.MEMBER)
    admin = ConsoleSession(core, role=Role.ADMIN)
    assert "/faq-reload" not in await member.say("/help")
    assert "/faq-reload" in await admin.say("/help")


def test_scripted_console_session(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {ROOT / 'faq'}\n")
    script = "/faq special k cost?\n/faq best pizza in town\n/faq how much ket to get high\n/quit\n"
    result = run_bot("console", "--config", str(config), stdin=script)
    assert result.returncode == 0, result.stderr
    assert "> /faq special k cost?" in result.stdout
    assert "How much ketamine treatment costs" in result.stdout
    assert "I'm not sure I understood" in result.stdout
    assert "I can't help with that" in result.stdout


async def test_a_private_line_is_addressed_in_good_grammar(core):
    # A crisis message from the console's default user "you", and from someone named.
    message = "I have decided to end my life this weekend."
    assert "[only you see this]" in await ConsoleSession(core, user="you").say(message)
    assert "[only mia sees this]" in await ConsoleSession(core, user="mia").say(message)


def test_faq_validate_clean_and_broken(tmp_path: Path):
    ok = run_bot("faq", "validate", "faq")
    assert ok.returncode == 0 and "no problems" in ok.stdout
    broken = tmp_path / "faq"
    broken.mkdir()
    (broken / "_safety.yaml").write_text((ROOT / "faq" / "_safety.yaml").read_text())
    (broken / "x.yaml").write_text("entries:\n  - id: Bad Id\n    title: t\n")
    bad = run_bot("faq", "validate", str(broken))
    assert bad.returncode == 1
    assert "x.yaml:2:" in bad.stdout and "missing required key" in bad.stdout


def test_faq_ask_json_and_stdin(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {ROOT / 'faq'}\n")
    result = run_bot("faq", "ask", "--config", str(config), "--json", "-",
                     stdin="side affects\nbest pizza in chicago\nwhere to buy ket online\ni want to die\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in rows] == ["side affects", "best pizza in chicago", "where to buy ket online",
                                          "i want to die"]
    assert set(rows[0]) == {"query", "entry_id", "title", "answer", "score", "sources", "suggestions", "safety",
                            "safety_text"}
    assert rows[0]["entry_id"] == "side-effects-overview" and rows[0]["sources"]
    assert rows[1]["entry_id"] is None and rows[1]["safety"] is None
    assert rows[2]["safety"] == "unsafe" and rows[2]["entry_id"] is None
    assert rows[3]["safety"] == "crisis"
    gaps = run_bot("faq", "gaps", "--config", str(config))
    assert "best pizza in chicago" in gaps.stdout and "side affects" not in gaps.stdout


def test_python_dash_m_and_help():
    result = run_bot("--help")
    assert result.returncode == 0 and "console" in result.stdout and "faq" in result.stdout


def test_bad_config_names_file_line_and_key(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  path: x.db\n  colour: blue\nslack:\n  port: lots\n")
    result = run_bot("faq", "ask", "--config", str(config), "hi")
    assert result.returncode == 2
    assert f"{config}:3: unknown key 'storage.colour'" in result.stderr
    assert f"{config}:5: slack.port: must be a whole number" in result.stderr


def test_huge_numbers_on_the_command_line_are_usage_errors(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  path: {tmp_path / 'bot.db'}\nfaq:\n  path: {ROOT / 'faq'}\n")
    giant = "9" * 5000  # more digits than int() converts; 400 digits convert, then overflow SQLite
    for args, complaint in [
        (["poll", "export", "9" * 400], "must be a poll number"),
        (["poll", "export", giant, "--csv"], "must be a poll number"),
        (["poll", "export", "-1"], "must be a poll number"),
        (["faq", "gaps", "--limit", "9" * 400], "must be a whole number from 1 to"),
        (["faq", "gaps", "--limit", giant], "must be a whole number from 1 to"),
        (["faq", "gaps", "--limit", "0"], "must be a whole number from 1 to"),
        (["faq", "gaps", "--limit", "-1"], "must be a whole number from 1 to"),
    ]:
        result = run_bot(*args, "--config", str(config))
        assert result.returncode == 2, (args[:3], result.stderr[-500:])
        assert complaint in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr) < 1000  # the number is not echoed back
    missing = run_bot("poll", "export", "999999999999999999", "--config", str(config))
    assert missing.returncode == 1 and "no poll #999999999999999999" in missing.stderr
    assert run_bot("faq", "gaps", "--limit", "3", "--config", str(config)).returncode == 0


async def test_odd_digits_on_the_console_are_not_a_crash(console):
    assert "there is no button" in await console.say("9" * 5000)
    out = await console.say("²")  # a digit to isdigit(), not to int()
    assert "Traceback" not in out


async def test_help_shows_the_one_line_forms_the_console_accepts_and_poll_results_needs_a_number(console):
    help_text = await console.say("/help")
    assert '"Question?" "Option A" "Option B"' in help_text and "[choices]" not in help_text
    assert "Which poll? Give its number" in await console.say("/poll results")
