"""Load through the Slack HTTP path: one `bot run` on SQLite, one on PostgreSQL and two on PostgreSQL, side by side.

Run from the repository root: `python bench/load.py [--members N] [--seconds S] [--rounds R]`. N simulated members
each loop (after a warm-up): ask /faq (answered through the response_url), press a vote button on a shared poll
(answered through the response_url), or write a channel message the spam and wellbeing scanners read (acked). Each
member waits for the answer before the next request, so the rate is what the processes serve. Requests are signed
like Slack's and spread round-robin over the processes (a load balancer). The Slack Web API is a local fake.
All four bot processes run from start to end; the three sides take turns R times, S/R seconds each, so that other
work on the machine, which comes and goes, weighs on every side alike.

The load generator is made cheap, as it shares the cores with what it measures: keep-alive connections, bodies
encoded once per member (only the response key, timestamps and signature are made per request) and a lean HTTP/1.1
client and response_url receiver (bench/http1.py) instead of aiohttp's.

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL (a user who may create databases); without either the bench
starts a throwaway server from Debian's package (/usr/lib/postgresql/*/bin), as .ci/run does.
Rate limits are off (they would turn the load into polite refusals). Everything shares this machine's cores:
the load generator and the fake Slack, the bot processes and PostgreSQL. Each side's line says where the CPU went
(bots, load generator, PostgreSQL, other work on the machine, idle) and CPU milliseconds per request: when nothing
is idle, the rates say more about the machine than about the bot. BENCH_PROFILE=<folder> runs each bot under
cProfile (one file per process).
Last line: `load members=<n> rps_sqlite=<x> rps_pg_1=<x> rps_pg_2=<x> p99_ms=<x> lost=<n>` (p99 is the worst of
the three sides; lost counts requests not acknowledged or not answered within 10 s, and votes not in the database
or in it twice).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http1 import AnswerProtocol, Connection  # noqa: E402
from bot.config import Secret  # noqa: E402
from bot.core.records import Invocation, Member, Place, Role  # noqa: E402
from bot.core.storage import Storage  # noqa: E402
from bot.runner import open_core  # noqa: E402
from tests.conftest import create_database, drop_database, make_config  # noqa: E402
from tests.fakes.slack_api import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    block_actions_payload,
    interactive_body,
    sign,
    slash_body,
)

QUESTIONS = ["how much does ketamine nasal spray cost", "ketamin nasel spray", "side effects of ketamine",
             "is iv infusion better than the spray", "will insurance pay for it", "special k cost?",
             "how long does an infusion take", "can I drive after ketamine", "compounding pharmacy near me"]
MESSAGES = ["day 3 of this attack, rescue meds not touching it", "anyone tried the spray for cluster headaches?",
            "my neuro upped my topiramate, tingly fingers again", "good morning all, low pain day today 🙂",
            "does anyone else get aura before the pain starts?"]
TIMEOUT = 10.0


class Answers(FakeSlack):
    """The fake Slack Web API (aiohttp, from the tests), plus the response_url endpoint on a lean HTTP/1.1 server of
    its own that resolves a waiter the moment an answer arrives (no polling): every request the bots serve is
    answered there, and aiohttp's server costs the shared cores several times what this does."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self._answers: asyncio.AbstractServer | None = None
        self.answers_port = 0

    async def start(self) -> Answers:
        await super().start()
        self._answers = await asyncio.get_running_loop().create_server(
            lambda: AnswerProtocol(self.waiting), "127.0.0.1", 0)
        self.answers_port = self._answers.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._answers is not None:
            self._answers.close()
        await super().stop()

    def response_url(self, key: str = "abc") -> str:
        return f"http://127.0.0.1:{self.answers_port}/response/{key}"

    def _note(self) -> None:
        self.calls.clear()  # keep memory flat under load; nothing here reads the history


@dataclass
class Run:
    name: str
    done: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # faq / vote / message -> latencies
    elapsed: float = 0.0
    bot_cpu: float = 0.0  # CPU seconds the bot processes used while measured
    bench_cpu: float = 0.0  # this process (load generator and fake Slack)
    db_cpu: float = 0.0  # the PostgreSQL server processes serving the bots
    machine_busy: float = 0.0  # every process on the machine (other work included), and the cores' capacity
    machine_total: float = 0.0

    @property
    def rps(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    @property
    def p99_ms(self) -> float:
        return percentile_ms(self.latencies, 0.99)


def percentile_ms(latencies: list[float], share: float) -> float:
    ordered = sorted(latencies)
    return ordered[int(len(ordered) * share)] * 1000 if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (Linux /proc/stat; zeros elsewhere)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / hz, sum(ticks[:8]) / hz


async def backend_pids(database: str) -> list[int]:
    """The PostgreSQL server processes serving the bots' connections to this database (none for SQLite)."""
    if not database.startswith("postgresql://"):
        return []
    import asyncpg

    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server in a temp folder for the length of the bench (it refuses to run as root)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise SystemExit("no PostgreSQL: set BENCH_DATABASE_URL or install Debian's postgresql package")
    bin_dir, folder = found[-1].parent, Path(tempfile.mkdtemp(prefix="bot-bench-pg."))
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
                    "-o", options, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def write_config(folder: Path, database: str, port: int, api_url: str) -> Path:
    storage = f"  url: {database}\n" if database.startswith("postgresql://") else f"  path: {database}\n"
    path = folder / f"bot-{port}.yaml"
    path.write_text(
        "log_level: WARNING\n"
        f"storage:\n{storage}"
        f"faq:\n  path: {ROOT / 'faq'}\n"
        f"spam:\n  rules: {ROOT / 'rules' / 'spam.yaml'}\n"
        f"polls:\n  templates: {ROOT / 'polls' / 'templates.yaml'}\n"
        "limits:\n  commands_per_minute: 0\n  polls_per_hour: 0\n  reports_per_hour: 0\n"
        "slack:\n  enabled: true\n  mode: http\n  host: 127.0.0.1\n  mod_channel: C0MODS\n"
        f"  port: {port}\n  api_url: {api_url}\n"
        "  bot_token: ${BENCH_SLACK_BOT_TOKEN}\n  signing_secret: ${BENCH_SLACK_SIGNING_SECRET}\n",
        encoding="utf-8")
    return path


async def prepare(folder: Path, database: str) -> int:
    """Migrate the database and create the poll everyone votes on; returns its id."""
    logging.disable(logging.WARNING)  # "no adapter for platform slack": this core only creates the poll
    cfg = make_config(folder)
    if database.startswith("postgresql://"):
        cfg.storage.url = Secret(database)
    else:
        cfg.storage.path = database
    core = await open_core(cfg)
    try:
        creator = Member("slack:U0CREATOR", "creator", Role.MEMBER)
        await core.dispatch(Invocation("poll", creator, Place("slack", "C0GENERAL"),
                                       {"question": '"Tried it?" "Yes" "No" "Maybe" "Not yet"'}))
        row = await core.storage.fetchone("SELECT id FROM polls ORDER BY id DESC LIMIT 1")
        return int(row["id"])
    finally:
        await core.close()


@contextlib.asynccontextmanager
async def bots(folder: Path, database: str, count: int, api_url: str) -> AsyncIterator[list[tuple[int, int]]]:
    """Start `count` bot processes; yields (port, pid) of each once all listen."""
    ports = [free_port() for _ in range(count)]
    env = {**os.environ, "BENCH_SLACK_BOT_TOKEN": BOT_TOKEN, "BENCH_SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "PYTHONPATH": str(ROOT)}
    profile = os.environ.get("BENCH_PROFILE")  # a folder: each bot runs under cProfile, one file per process

    def command(port: int) -> list[str]:
        prof = ["-m", "cProfile", "-o", f"{profile}/{Path(database).name}-{count}-{port}.prof"] if profile else []
        return [sys.executable, *prof, "-m", "bot", "run", "--config",
                str(write_config(folder, database, port, api_url))]

    # Each process logs to a file: a pipe nobody reads would, once full, block a bot that logs a lot mid-request.
    logs = [folder / f"bot-{port}.log" for port in ports]
    procs = []
    for port, log in zip(ports, logs, strict=True):
        with log.open("w") as err:
            procs.append(subprocess.Popen(command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err))
    try:
        deadline = time.monotonic() + 60
        for port, proc, log in zip(ports, procs, logs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"bot run exited: {log.read_text(errors='replace')[-2000:]}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("bot run did not start listening within 60 s")
                await asyncio.sleep(0.1)
        yield [(port, proc.pid) for port, proc in zip(ports, procs, strict=True)]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            lines = log.read_text(errors="replace").splitlines()
            if lines:
                print(f"{database.rsplit('/', 1)[-1]}: a bot logged {len(lines)} line(s), the first: {lines[0][:300]}",
                      file=sys.stderr)


def templates(user: str, poll_id: int, answer_to: str) -> dict[str, list[tuple[bytes, bytes]]]:
    """A member's request bodies, encoded once: (content type, body) with RESPONSE_KEY, ACTION_TS, EVENT_TS and
    EVENT_ID left to fill in per request (form encoding leaves these names as they are)."""
    form, json_type = b"application/x-www-form-urlencoded", b"application/json"
    payload = block_actions_payload(f"poll:{poll_id}:vote:0", user=user, response_url=answer_to)
    payload["actions"][0]["action_ts"] = "ACTION_TS"
    messages = []
    for text in MESSAGES:
        event = {"type": "message", "channel": "C0GENERAL", "user": user, "channel_type": "channel",
                 "text": text, "ts": "EVENT_TS"}
        messages.append((json_type, json.dumps({"token": "t", "team_id": TEAM_ID, "api_app_id": "A0APP",
                                                "event": event, "type": "event_callback", "event_id": "EVENT_ID",
                                                "event_time": 0}).encode()))
    return {"faq": [(form, slash_body("/faq", q, user=user, user_name=user, response_url=answer_to).encode())
                    for q in QUESTIONS],
            "vote": [(form, interactive_body(payload).encode())],
            "message": messages}


async def drive(fake: Answers, ports: list[int], poll_id: int, members: int, seconds: float, run: Run,
                measure: bool, voted: dict[str, int]) -> None:
    """Every member loops until the time is up. `voted` counts each member's acknowledged presses: they all press
    the same option, which toggles, so an odd count means the member holds exactly one vote.

    Each request is signed as Slack signs it, over a keep-alive connection per member and process; bodies are
    encoded once per member, leaving per request only the response key, the timestamps and the signature."""
    targets = itertools.cycle(ports)
    keys = itertools.count()
    stop_at = time.monotonic() + seconds
    loop = asyncio.get_running_loop()
    answer_to = fake.response_url("RESPONSE_KEY")

    async def send(connection: Connection, content_type: bytes, body: bytes, answered: bool) -> bool:
        key = f"k{next(keys)}"
        waiter: asyncio.Future[None] | None = None
        if answered:
            waiter = fake.waiting[key] = loop.create_future()
            body = body.replace(b"RESPONSE_KEY", key.encode())
        now = time.time()
        body = body.replace(b"ACTION_TS", f"{now:.6f}".encode()).replace(b"EVENT_TS", f"{now:.6f}".encode())
        timestamp = str(int(now))
        head = (f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{connection.port}\r\n"
                f"Content-Type: {content_type.decode()}\r\nContent-Length: {len(body)}\r\n"
                f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {sign(body, timestamp)}\r\n\r\n")
        try:
            async with asyncio.timeout(TIMEOUT):
                if await connection.post(head.encode(), body) != 200:
                    fake.waiting.pop(key, None)
                    return False
                if waiter is not None:
                    await waiter
            return True
        except (TimeoutError, OSError):
            fake.waiting.pop(key, None)
            connection.close()  # its state is unknown: the next request opens a new one
            return False

    async def member(i: int) -> None:
        rng = random.Random(i)
        user = f"U{i:05d}"
        bodies = templates(user, poll_id, answer_to)
        connections = {port: Connection(port) for port in ports}
        n = 0
        try:
            while time.monotonic() < stop_at:
                n += 1
                kind = rng.random()
                connection = connections[next(targets)]
                started = time.perf_counter()
                if kind < 0.4:
                    what = "faq"
                    ok = await send(connection, *rng.choice(bodies["faq"]), True)
                elif kind < 0.7:
                    what = "vote"
                    ok = await send(connection, *bodies["vote"][0], True)
                    if ok:
                        voted[user] = voted.get(user, 0) + 1
                else:
                    what = "message"
                    content_type, body = rng.choice(bodies["message"])
                    ok = await send(connection, content_type, body.replace(b"EVENT_ID", f"Ev{i}x{n}".encode()),
                                    False)
                if measure:
                    if ok:
                        run.done += 1
                        run.latencies.append(time.perf_counter() - started)
                        run.by_kind.setdefault(what, []).append(run.latencies[-1])
                    else:
                        run.lost += 1
        finally:
            for connection in connections.values():
                connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(member(i) for i in range(members)))
    if measure:
        run.elapsed += time.perf_counter() - started


@dataclass
class Deployment:
    """One side of the comparison: its bot processes (running from start to end), database and poll."""

    run: Run
    database: str
    poll_id: int
    started: list[tuple[int, int]]  # (port, pid) of each process
    voted: dict[str, int] = field(default_factory=dict)

    @property
    def ports(self) -> list[int]:
        return [port for port, _ in self.started]


async def deploy(stack: contextlib.AsyncExitStack, name: str, database: str, processes: int, fake: Answers,
                 folder: Path) -> Deployment:
    poll_id = await prepare(folder, database)
    started = await stack.enter_async_context(bots(folder, database, processes, fake.api_url))
    return Deployment(Run(name), database, poll_id, started)


async def measure(side: Deployment, fake: Answers, members: int, seconds: float) -> None:
    """One measured stretch, added to the side's figures (CPU as the difference of counters around it)."""
    run = side.run
    backends = await backend_pids(side.database)
    bots_before, bench_before = sum(cpu_seconds(pid) for _, pid in side.started), time.process_time()
    db_before, (busy_before, total_before) = sum(cpu_seconds(pid) for pid in backends), machine_busy()
    await drive(fake, side.ports, side.poll_id, members, seconds, run, True, side.voted)
    run.bot_cpu += sum(cpu_seconds(pid) for _, pid in side.started) - bots_before
    run.bench_cpu += time.process_time() - bench_before
    run.db_cpu += sum(cpu_seconds(pid) for pid in backends) - db_before
    busy_after, total_after = machine_busy()
    run.machine_busy += busy_after - busy_before
    run.machine_total += total_after - total_before


async def check_votes(side: Deployment) -> int:
    """Votes lost or doubled: each member holds a vote exactly when they pressed an odd number of times."""
    storage = await Storage.open(side.database)
    try:
        rows = await storage.fetchall("SELECT voter FROM poll_votes WHERE poll_id = ?", (side.poll_id,))
    finally:
        await storage.close()
    stored = [r["voter"].rsplit(":", 1)[-1] for r in rows]
    holding = {user for user, presses in side.voted.items() if presses % 2 == 1}
    return len(holding.symmetric_difference(stored)) + len(stored) - len(set(stored))


def report(side: Deployment, members: int) -> None:
    run, per = side.run, max(side.run.elapsed, 1e-9)
    others = run.machine_busy - run.bot_cpu - run.bench_cpu - run.db_cpu
    print(f"{run.name}: {len(side.started)} process(es), {members} members, {run.done} requests in {run.elapsed:.1f}s"
          f" = {run.rps:.0f}/s, p99 {run.p99_ms:.0f} ms, lost {run.lost}; CPU busy (cores): bots "
          f"{run.bot_cpu / per:.2f}, load generator and fake Slack {run.bench_cpu / per:.2f}, PostgreSQL "
          f"{run.db_cpu / per:.2f}, other work on this machine {others / per:.2f}, idle "
          f"{(run.machine_total - run.machine_busy) / per:.2f}; CPU ms per request: bots "
          f"{1000 * run.bot_cpu / max(run.done, 1):.2f}, load generator {1000 * run.bench_cpu / max(run.done, 1):.2f}; "
          "p50/p99 ms by request: " + ", ".join(f"{kind} {percentile_ms(ms, 0.5):.0f}/{percentile_ms(ms, 0.99):.0f}"
                                                 for kind, ms in sorted(run.by_kind.items())),
          flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per side, in all rounds")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the sides take turns this many times, so that other work on the machine that comes "
                             "and goes weighs on all three alike")
    args = parser.parse_args()
    fake = await Answers().start()
    # The members are people of the workspace (users.info knows them), as on a real one.
    fake.users.update({f"U{i:05d}": f"member {i}" for i in range(args.members)})
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    async with contextlib.AsyncExitStack() as stack:
        if admin is None:
            admin = stack.enter_context(throwaway_postgres())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bot-bench.")))
        urls = [await create_database(admin) for _ in range(2)]
        for url in urls:
            stack.push_async_callback(drop_database, admin, url)
        async with contextlib.AsyncExitStack() as running:  # the bots stop before their votes are counted
            sides = [await deploy(running, "sqlite", str(folder / "bot.db"), 1, fake, folder)]
            for processes, url in zip((1, 2), urls, strict=True):
                sides.append(await deploy(running, f"pg_{processes}", url, processes, fake, folder))
            for side in sides:
                await drive(fake, side.ports, side.poll_id, args.members, 2.0, side.run, False, side.voted)
            for _ in range(args.rounds):
                for side in sides:
                    await measure(side, fake, args.members, args.seconds / args.rounds)
        for side in sides:
            side.run.lost += await check_votes(side)
            report(side, args.members)
    await fake.stop()
    sqlite, pg1, pg2 = (side.run for side in sides)
    print(f"two processes serve {pg2.rps / max(pg1.rps, 1e-9):.2f}x one (target 1.6); {os.cpu_count()} cores here")
    print(f"load members={args.members} rps_sqlite={sqlite.rps:.0f} rps_pg_1={pg1.rps:.0f} rps_pg_2={pg2.rps:.0f} "
          f"p99_ms={max(r.p99_ms for r in (sqlite, pg1, pg2)):.0f} lost={sum(r.lost for r in (sqlite, pg1, pg2))}")


if __name__ == "__main__":
    asyncio.run(main())
