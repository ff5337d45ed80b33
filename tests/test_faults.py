"""Faults injected through the public surface (issue #13 item 4, issue #10 item 4): a process killed around a timed
poll close, platform APIs that never answer, a full disk, a read-only data folder or database file. In each case
the bot keeps what it acknowledged, does nothing twice, and says what is wrong in one line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.core.contract import Adapter
from bot.core.records import Member, MessageRef, Place, Reply, Role
from tests.conftest import ROOT

# -- SIGKILL around a timed poll close ----------------------------------------------------------------------


class FileAdapter(Adapter):
    """A platform whose messages land in a JSON-lines file after some latency, like a server that saw them: what
    it wrote survives a SIGKILL of the bot, so a test can count what the platform received."""

    def __init__(self, platform: str, path: Path, latency: float = 0.0) -> None:
        self.platform = platform
        self.path = path
        self.latency = latency

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def _record(self, kind: str, ref: MessageRef, reply: Reply) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"kind": kind, "ref": ref.encode(), "title": reply.title}) + "\n")

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        await asyncio.sleep(self.latency)
        ref = MessageRef(self.platform, place.channel, f"{time.time_ns()}")
        self._record("post", ref, reply)
        return ref

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        await asyncio.sleep(self.latency)
        self._record("update", ref, reply)


CLOSER = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from bot.core.records import Action, Member, Place
from bot.features.polls import Polls
from bot.features.polls.spec import PollSpec
from bot.runner import open_core
from tests.conftest import make_config
from tests.test_faults import FileAdapter

async def main(mode: str, round_: int) -> None:
    core = await open_core(make_config(Path({tmp!r})))
    core.attach(FileAdapter("slack", Path({tmp!r}) / "platform.jsonl", latency=0.04))
    await core.start()
    polls = core.get(Polls)
    if mode == "create":
        spec = PollSpec(f"Round {{round_}}?", ("A", "B"), closes_at=time.time() + 0.4)
        poll = await polls.create(spec, core.member("slack", "UOWNER", "o"))
        await polls.publish(poll, [Place("slack", "C1"), Place("slack", "C2")])
        print("created", poll.id, flush=True)
    else:
        print("resumed", flush=True)
    n = 0
    while True:  # members keep voting right up to the close and after it
        member = core.member("slack", f"U{{round_}}x{{mode}}x{{n}}", "v")
        reply = await core.dispatch_action(Action(f"poll:{{round_}}:vote:{{n % 2}}", member, Place("slack", "C1")))
        if "counted" in reply.text:
            print("ack", member.id, flush=True)
        n += 1
        await asyncio.sleep(0.003)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


class Closer:
    """The bot in a child process; a thread collects what it prints, so killing it at a chosen moment is easy."""

    def __init__(self, tmp_path: Path, mode: str, round_: int, acked: set[str]) -> None:
        self.log = tmp_path / "closer.log"  # a file, not a pipe: a chatty child must never block on it
        with self.log.open("a") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", CLOSER.format(root=str(ROOT), tmp=str(tmp_path)),
                                          mode, str(round_)], stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
        self.lines: list[str] = []
        self.acked = acked
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("ack "):
                self.acked.add(line.split()[1])
            self.lines.append(line)

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if line.startswith(prefix)]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        self.kill()
        raise AssertionError(f"no {prefix!r} from the bot: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL; every vote it printed as counted before dying was acknowledged."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join(5)


def _settled(db: Path, platform: Path, poll_id: int, timeout: float = 10) -> bool:
    """Whether the poll is closed and the platform has heard nothing new for a while."""
    deadline = time.monotonic() + timeout
    quiet_since, size = time.monotonic(), -1
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            closed = conn.execute("SELECT closed_at FROM polls WHERE id = ?", (poll_id,)).fetchone()[0] is not None
        now_size = platform.stat().st_size
        if now_size != size:
            quiet_since, size = time.monotonic(), now_size
        if closed and time.monotonic() - quiet_since > 0.6:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_around_a_timed_close_closes_once_and_loses_no_acknowledged_vote(tmp_path: Path):
    """Each round: a poll closing 0.4 s after it is posted in two channels, members voting, SIGKILL at a random
    moment before, during or after the close (the platform takes 40 ms per call, so the announcement is long
    enough to be hit); then a restart finishes whatever was left."""
    rng = random.Random(13)
    db = tmp_path / "bot.db"
    offsets = [0.1, *(rng.uniform(0.28, 0.5) for _ in range(2))]  # the first dies before its poll is due
    acked: set[str] = set()
    for round_, offset in enumerate(offsets, start=1):
        bot = Closer(tmp_path, "create", round_, acked)
        assert bot.wait_for("created").split()[1] == str(round_)
        time.sleep(offset)
        bot.kill()
        bot = Closer(tmp_path, "resume", round_, acked)
        try:
            bot.wait_for("resumed")
            assert _settled(db, tmp_path / "platform.jsonl", round_), f"round {round_}: the restart did not close it"
        finally:
            bot.kill()

    with sqlite3.connect(db) as conn:
        polls = conn.execute("SELECT id, closed_at, closed_by FROM polls ORDER BY id").fetchall()
        votes = {voter for (voter,) in conn.execute("SELECT voter FROM poll_votes")}
        copies = {ref for (ref,) in conn.execute("SELECT ref FROM poll_posts")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [(p[0], p[2]) for p in polls] == [(r, "timer") for r in range(1, len(offsets) + 1)]
    assert all(p[1] is not None for p in polls)
    missing = acked - votes
    assert not missing and len(acked) > 20, f"{len(missing)} of {len(acked)} acknowledged votes lost"

    records = [json.loads(line) for line in (tmp_path / "platform.jsonl").read_text().splitlines()]
    finals: dict[tuple[int, str], int] = {}
    last_edit: dict[str, str] = {}
    for rec in records:
        title = rec["title"] or ""
        if rec["kind"] == "post" and " closed: " in title:
            key = (int(title.split("#")[1].split()[0]), MessageRef.decode(rec["ref"]).channel)
            finals[key] = finals.get(key, 0) + 1
        elif rec["kind"] == "update":
            last_edit[rec["ref"]] = title
    assert all(n == 1 for n in finals.values()), f"final results posted twice: {finals}"
    for poll_id in range(1, len(offsets) + 1):
        # Only the one post in flight when the process died may be missing (it is marked before it is sent, so
        # that it is never sent twice); the rest are finished by the restart.
        assert sum(1 for (p, _) in finals if p == poll_id) >= 1, (poll_id, finals)
    assert (1, "C1") in finals and (1, "C2") in finals  # closed by the restart, announced in both channels
    for ref in copies:  # every copy was left showing the final, closed state
        assert "(closed)" in last_edit.get(ref, ""), (ref, last_edit.get(ref))


# -- platform APIs that never answer -----------------------------------------------------------------------


def _one_error(caplog: pytest.LogCaptureFixture, *words: str) -> logging.LogRecord:
    found = [r for r in caplog.records if r.levelno >= logging.ERROR and all(w in r.getMessage() for w in words)]
    assert len(found) == 1, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return found[0]


async def test_slack_calls_that_time_out_fail_fast_are_never_repeated_and_the_bot_keeps_serving(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """The fake Slack does the work, then sits on the answer past the client's timeout."""
    import bot.adapters.slack.adapter as slack_adapter
    from bot.adapters.slack import SlackAdapter
    from bot.features.polls import Polls, PollSpec
    from tests.fakes.slack_api import FakeSlack
    from tests.test_slack import Extras, Harness, build_core

    monkeypatch.setattr(slack_adapter, "API_TIMEOUT", 1)
    fake = await FakeSlack().start()
    core, cfg = await build_core(tmp_path, api_url=fake.api_url)
    adapter = SlackAdapter(core, cfg.slack)
    core.attach(adapter)
    await adapter.start()
    await core.start()
    slack = Harness(fake, core, adapter, Extras())
    try:
        polls = core.get(Polls)
        poll = await polls.create(PollSpec("Tried it?", ("Yes", "No")), Member("slack:U0MAKER", "maker", Role.MEMBER))
        fake.stalls["chat.postMessage"] = [3.0]
        started = time.monotonic()
        problems = await polls.publish(poll, [Place("slack", "C1")])
        assert time.monotonic() - started < 2.5 and "TimeoutError" in problems[0], problems
        assert len(fake.calls_to("chat.postMessage")) == 1  # not retried: Slack may have posted it
        assert not await polls.publish(poll, [Place("slack", "C2")])  # answering again, it works again

        fake.stalls["chat.update"] = [3.0]  # the live tally after the first vote never gets an answer
        status, _ = await slack.press(f"poll:{poll.id}:vote:0", key="k1", user="U0A1")
        assert status == 200
        await fake.wait_call("chat.update", 1)
        started = time.monotonic()
        status, _ = await slack.press(f"poll:{poll.id}:vote:1", key="k2", user="U0A2")
        assert status == 200 and time.monotonic() - started < 1.0  # not held up by the stuck edit
        await asyncio.sleep(1.3)
        voters = await core.storage.fetchall("SELECT voter FROM poll_votes WHERE poll_id = ?", (poll.id,))
        assert len(voters) == 2  # both acknowledged votes are kept
        _one_error(caplog, "could not update poll")
    finally:
        await slack.http.close()
        started = time.monotonic()
        await adapter.stop()
        await core.close()
        await adapter.close()
        assert time.monotonic() - started < 5  # a silent platform never holds the shutdown
        await fake.stop()


async def test_discord_calls_that_time_out_fail_fast_are_never_repeated_and_the_bot_keeps_serving(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    import bot.adapters.discord.respond as discord_respond
    from bot.features.polls import Polls, PollSpec
    from tests.fakes.discord_api import FakeDiscord
    from tests.test_discord import ADMIN_ROLE, MOD_ROLE, Probe, Running, discord_config

    monkeypatch.setattr(discord_respond, "API_TIMEOUT", 1)
    async with FakeDiscord(roles={ADMIN_ROLE: "Admins", MOD_ROLE: "Moderators"}) as fake:
        run = await Running(fake, discord_config(tmp_path, fake), Probe()).start()
        try:
            core = run.core
            assert core is not None
            polls = core.get(Polls)
            poll = await polls.create(PollSpec("Tried it?", ("Yes", "No")),
                                      Member("discord:1", "maker", Role.MEMBER))
            posts = rf"/channels/{fake.channel_id}/messages"
            fake.stalls[("POST", posts)] = 3.0
            started = time.monotonic()
            problems = await polls.publish(poll, [Place("discord", fake.channel_id)])
            assert time.monotonic() - started < 2.5 and "NoAnswer" in problems[0], problems
            assert len(fake.find("POST", posts)) == 1  # not retried: Discord may have posted it
            del fake.stalls[("POST", posts)]
            assert not await polls.publish(poll, [Place("discord", fake.channel_id)])
            message = fake.message_from(fake.find("POST", posts)[-1])

            # A vote whose interaction reply never gets an answer: the vote is kept, logged in one line, not retried.
            callbacks = r"/interactions/.*/callback"
            fake.stalls[("POST", callbacks)] = 3.0
            await fake.interact(fake.button(f"poll:{poll.id}:vote:0", message, user_id="1600000000000000011"))
            await asyncio.sleep(1.3)
            assert len(fake.find("POST", callbacks)) == 1  # no second answer, no apology sent twice
            voters = await core.storage.fetchall("SELECT voter FROM poll_votes WHERE poll_id = ?", (poll.id,))
            assert len(voters) == 1
            _one_error(caplog, "Discord did not answer the reply within 1s", "kept")
            del fake.stalls[("POST", callbacks)]
            pressed = await fake.interact(fake.button(f"poll:{poll.id}:vote:1", message,
                                                      user_id="1600000000000000012"))
            assert pressed.json["type"] in (4, 7)  # serving as before
        finally:
            started = time.monotonic()
            await run.stop()
            assert time.monotonic() - started < 5


# -- a full disk and a read-only data folder, through the CLI -----------------------------------------------

NOBODY = 65534


async def test_discord_429_and_5xx_are_retried_and_the_post_lands_once(tmp_path: Path):
    """Rate limited (429 with Retry-After), then a 502: discord.py's own HTTP client waits and retries, so the poll
    is posted exactly once and the platform is not given up on. A 503 (which discord.py does not retry) is reported
    in one line, the poll is kept, and publishing again works."""
    from bot.features.polls import Polls, PollSpec
    from tests.fakes.discord_api import FakeDiscord
    from tests.test_discord import ADMIN_ROLE, MOD_ROLE, Probe, Running, discord_config

    async with FakeDiscord(roles={ADMIN_ROLE: "Admins", MOD_ROLE: "Moderators"}) as fake:
        run = await Running(fake, discord_config(tmp_path, fake), Probe()).start()
        try:
            core = run.core
            assert core is not None
            polls = core.get(Polls)
            poll = await polls.create(PollSpec("Tried it?", ("Yes", "No")), Member("discord:1", "maker", Role.MEMBER))
            posts = rf"/channels/{fake.channel_id}/messages"
            limited = {"message": "You are being rate limited.", "retry_after": 0.3, "global": False}
            fake.failures[("POST", posts)] = [
                (429, limited, {"Retry-After": "0.3", "X-RateLimit-Scope": "user", "Via": "1.1 google"}),
                (502, {"message": "bad gateway"}, {}),
            ]
            started = time.monotonic()
            problems = await polls.publish(poll, [Place("discord", fake.channel_id)])
            assert not problems, problems
            assert time.monotonic() - started >= 0.3  # it waited as told
            assert len(fake.find("POST", posts)) == 3 and not fake.failures[("POST", posts)]
            posted = await core.storage.fetchall("SELECT ref FROM poll_posts WHERE poll_id = ?", (poll.id,))
            assert len(posted) == 1  # one message, recorded once
            assert run.adapter is not None and run.adapter.connected  # not given up on

            fake.failures[("POST", posts)] = [(503, {"message": "upstream unavailable"}, {})]
            problems = await polls.publish(poll, [Place("discord", fake.channel_id)])
            assert len(problems) == 1 and "DiscordServerError" in problems[0], problems
            assert len(fake.find("POST", posts)) == 4  # tried once, not repeated
            assert not await polls.publish(poll, [Place("discord", fake.channel_id)])
            assert await polls.get(poll.id) is not None
        finally:
            await run.stop()


def _write_config(folder: Path, db: Path) -> Path:
    config = folder / "config.yaml"
    # Slack is enabled so that `bot run` gets as far as opening the database; it never reaches the platform.
    config.write_text(f"""
storage: {{path: {db}}}
faq: {{path: {ROOT / 'faq'}}}
spam: {{rules: {ROOT / 'rules' / 'spam.yaml'}}}
polls: {{templates: {ROOT / 'polls' / 'templates.yaml'}}}
slack:
  enabled: true
  mode: http
  host: 127.0.0.1
  port: 9
  api_url: http://127.0.0.1:9/api/
  bot_token: xoxb-not-used
  signing_secret: not-used
""", encoding="utf-8")
    config.chmod(0o644)
    return config


COMMANDS = ((["console"], "/faq cost\n"), (["faq", "ask", "cost"], ""), (["run"], ""))


def _bot(args: list[str], config: Path, stdin: str = "", **popen: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=30, **popen)  # type: ignore[call-overload]


def _full_disk(limit: int) -> None:
    """In the child: every file it writes stops at `limit` bytes, as on a full disk (EFBIG, not a signal)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _fresh_db(path: Path) -> None:
    async def make() -> None:
        from bot.core.storage import Storage

        storage = await Storage.open(path)
        await storage.close()

    asyncio.run(make())


def test_any_failure_while_opening_the_database_ends_the_process_instead_of_hanging(tmp_path: Path):
    """Not only SQLite's errors: whatever stops the start (here the migrations cannot be read), the database's
    thread is closed, so the process exits and the process manager can restart it."""
    code = ("import asyncio, sys\n"
            "import bot.core.storage as storage\n"
            "def unreadable():\n"
            "    raise OSError('the migrations cannot be read')\n"
            "storage.bundled_migrations = unreadable\n"
            "asyncio.run(storage.Storage.open(sys.argv[1]))\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bot.db")], capture_output=True, text=True,
                            cwd=ROOT, timeout=30)  # it used to hang here
    assert result.returncode == 1 and "the migrations cannot be read" in result.stderr, result.stderr


def test_starting_on_a_full_disk_exits_at_once_with_one_line(tmp_path: Path):
    config = _write_config(tmp_path, tmp_path / "bot.db")
    for args, stdin in COMMANDS:
        started = time.monotonic()
        result = _bot(args, config, stdin, preexec_fn=lambda: _full_disk(1000))
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert time.monotonic() - started < 15
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'bot.db'}: cannot write to the disk"), lines
        assert "free some space" in lines[0]


def test_writes_on_a_full_disk_are_refused_politely_never_half_made_and_reads_keep_working(tmp_path: Path):
    """SQLite's shared-memory file needs 32 KiB, so the limit leaves room for a few pages of log: the first polls
    fit, then the disk is full. Every poll is either up and complete, or refused with nothing of it left."""
    db = tmp_path / "bot.db"
    _fresh_db(db)
    config = _write_config(tmp_path, db)
    first = _bot(["console"], config, '/poll "Before?" "Yes" "No"\n')
    assert "Poll #1 is up" in first.stdout, first.stdout + first.stderr
    session = ("".join(f'/poll "Full {n}?" "Yes" "No"\n' for n in range(12)) + "/poll-results 1\n"
               + "/faq how much does a ketamine infusion cost\n")
    result = _bot(["console"], config, session, preexec_fn=lambda: _full_disk(36_000))
    assert result.returncode == 0, result.stderr
    up = [int(n) for n in re.findall(r"Poll #(\d+) is up", result.stdout)]
    refused = result.stdout.count("Nothing was changed")
    assert refused >= 3 and len(up) + refused == 12, result.stdout
    assert "Results of poll #1: Before?" in result.stdout  # reads keep working on a full disk
    assert "How much ketamine treatment costs" in result.stdout  # answers too (counting them is best-effort)
    assert "disk I/O error" in result.stderr  # the log names the problem
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        polls = [n for (n,) in conn.execute("SELECT id FROM polls WHERE id > 1 ORDER BY id")]
        assert polls == up, "a poll was left half-made, or made after the member was told nothing was changed"
        for poll_id in polls:
            assert conn.execute("SELECT COUNT(*) FROM poll_options WHERE poll_id = ?", (poll_id,)).fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM poll_options WHERE poll_id NOT IN (SELECT id FROM polls)"
                            ).fetchone()[0] == 0
    again = _bot(["console"], config, '/poll "Room again?" "Yes" "No"\n')  # with room again, writes work
    assert re.search(r"Poll #\d+ is up", again.stdout), again.stdout + again.stderr


AS_NOBODY = """
import os, sys
sys.path.insert(0, {root!r})
# Everything is imported before the privileges go: the interpreter's own files may live where 'nobody' cannot look.
import asyncio, sqlite3, aiosqlite, logging.handlers, importlib.readers, importlib.resources.readers, zipfile
import encodings.cp437
import bot.cli, bot.runner, bot.features, bot.adapters.console, bot.adapters.slack
bot.cli.build_parser()
os.setgroups([])
os.setgid({uid})
os.setuid({uid})
sys.exit(bot.cli.main(sys.argv[1:]))
"""


def _as_unprivileged(args: list[str], config: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run `bot ARGS` as a user the file permissions apply to: as root (CI) the child drops to 'nobody'."""
    if os.geteuid() != 0:
        return _bot(args, config, stdin)
    code = AS_NOBODY.format(root=str(ROOT), uid=NOBODY)
    return subprocess.run([sys.executable, "-c", code, *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=30)


def _shared_folder() -> Path:
    """A folder the unprivileged child can read (pytest's tmp_path is private to root)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="bot-faults-"))
    folder.chmod(0o755)
    return folder


def _assert_one_line_refusal(result: subprocess.CompletedProcess[str], db: Path, args: list[str]) -> None:
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {db}: "), (args, result.stderr)
    assert "read-only" in lines[0] or "writable" in lines[0], lines[0]  # and what to do about it


def test_a_read_only_data_folder_or_database_file_stops_every_command_at_once():
    import shutil

    if os.geteuid() == 0:  # root ignores permissions: the child drops to 'nobody', if this container allows it
        probe = subprocess.run([sys.executable, "-c", f"import os; os.setgid({NOBODY}); os.setuid({NOBODY})"],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip("running as root without the right to drop privileges: no read-only path is possible")
    shared = _shared_folder()
    try:
        cases: list[tuple[str, Path]] = []
        # 1. A new database in a folder the bot cannot write.
        locked = shared / "locked"
        locked.mkdir()
        cases.append(("new file in a read-only folder", locked / "bot.db"))
        # 2. An existing database in a folder the bot cannot write (SQLite needs its -wal and -shm files beside it).
        existing = shared / "existing"
        existing.mkdir()
        _fresh_db(existing / "bot.db")
        cases.append(("existing file in a read-only folder", existing / "bot.db"))
        # 3. A read-only database file (chmod 444, owned by the bot's user) in a folder it can write.
        open_folder = shared / "open"
        open_folder.mkdir()
        _fresh_db(open_folder / "bot.db")
        (open_folder / "bot.db").chmod(0o444)
        if os.geteuid() == 0:
            for path in (open_folder, open_folder / "bot.db"):
                os.chown(path, NOBODY, NOBODY)
        else:
            locked.chmod(0o555)
            existing.chmod(0o555)
            (existing / "bot.db").chmod(0o644)
        for what, db in cases + [("read-only file", open_folder / "bot.db")]:
            config = _write_config(shared, db)
            for args, stdin in COMMANDS if what.startswith("new") else COMMANDS[:1]:
                started = time.monotonic()
                result = _as_unprivileged(args, config, stdin)
                assert time.monotonic() - started < 15, (what, args)
                _assert_one_line_refusal(result, db, [what, *args])
    finally:
        for folder in (shared, *shared.iterdir()):
            folder.chmod(0o755)
        shutil.rmtree(shared, ignore_errors=True)


async def test_a_write_cancelled_while_its_transaction_begins_leaves_none_open(tmp_path: Path):
    """A timeout or shutdown can cancel a write while SQLite is starting its transaction; the database thread still
    starts it. Every later write used to fail with "cannot start a transaction within a transaction"."""
    from bot.core.storage import Storage

    storage = await Storage.open(tmp_path / "bot.db")
    try:
        for attempt in range(30):
            task = asyncio.create_task(storage.audit("test", "cancelled", str(attempt)))
            for _ in range(attempt % 3):
                await asyncio.sleep(0)  # cancel at different moments: before, during and after BEGIN
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await storage.audit("test", "after", str(attempt))  # never "within a transaction"
        rows = await storage.fetchall("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'after'")
        assert rows[0]["n"] == 30
    finally:
        await storage.close()
