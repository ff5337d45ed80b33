"""Load through the Slack HTTP path: one `bot run` on SQLite, one on PostgreSQL and two on PostgreSQL, side by side.

Run from the repository root: `python bench/load.py [--members N] [--seconds S]`. N simulated members each loop
for S seconds (after a warm-up): ask /faq (answered through the response_url), press a vote button on a shared poll
(answered through the response_url), or write a channel message the spam and wellbeing scanners read (acked). Each
member waits for the answer before the next request, so the rate is what the processes serve. Requests are signed
like Slack's and spread round-robin over the processes (a load balancer). The Slack Web API is a local fake.

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL (a user who may create databases); without either the bench
starts a throwaway server from Debian's package (/usr/lib/postgresql/*/bin), as .ci/run does.
Rate limits are off (they would turn the load into polite refusals). Everything shares this machine's cores:
the load generator and the fake Slack, the bot processes and PostgreSQL.
Last line: `load members=<n> rps_sqlite=<x> rps_pg_1=<x> rps_pg_2=<x> p99_ms=<x> lost=<n>` (p99 is the worst of
the three runs; lost counts requests not acknowledged or not answered within 10 s, and votes not in the database).
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

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
    signed_headers,
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
    """The fake Slack Web API, resolving a waiter the moment a response_url is answered (no polling)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.waiting: dict[str, asyncio.Future[None]] = {}

    async def _response_url(self, request: web.Request) -> web.Response:
        await request.read()
        future = self.waiting.pop(request.match_info["key"], None)
        if future is not None and not future.done():
            future.set_result(None)
        return web.Response(text="ok")

    def _note(self) -> None:
        self.calls.clear()  # keep memory flat under load; nothing here reads the history


@dataclass
class Run:
    name: str
    done: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 1.0
    bot_cpu: float = 0.0  # CPU seconds the bot processes used while measured
    bench_cpu: float = 0.0  # and this process (load generator and fake Slack)

    @property
    def rps(self) -> float:
        return self.done / self.elapsed

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(len(ordered) * 0.99)] * 1000 if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        "slack:\n  enabled: true\n  mode: http\n  host: 127.0.0.1\n"
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
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "run", "--config",
                               str(write_config(folder, database, port, api_url))],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for port in ports]
    try:
        deadline = time.monotonic() + 60
        for port, proc in zip(ports, procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"bot run exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
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


async def drive(fake: Answers, ports: list[int], poll_id: int, members: int, seconds: float, run: Run,
                measure: bool, voted: dict[str, int]) -> None:
    """Every member loops until the time is up. `voted` counts each member's acknowledged presses: they all press
    the same option, which toggles, so an odd count means the member holds exactly one vote."""
    targets = itertools.cycle([f"http://127.0.0.1:{p}/slack/events" for p in ports])
    keys = itertools.count()
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def send(body: str, content_type: str, answered: bool) -> bool:
            key = f"k{next(keys)}"
            waiter: asyncio.Future[None] | None = None
            if answered:
                waiter = fake.waiting[key] = asyncio.get_running_loop().create_future()
                body = body.replace("RESPONSE_KEY", key)
            headers = signed_headers(body, content_type=content_type)
            try:
                async with http.post(next(targets), data=body.encode(), headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
                    await resp.read()
                    if resp.status != 200:
                        return False
                if waiter is not None:
                    await asyncio.wait_for(waiter, TIMEOUT)
                return True
            except (TimeoutError, aiohttp.ClientError):
                fake.waiting.pop(key, None)
                return False

        async def member(i: int) -> None:
            rng = random.Random(i)
            user = f"U{i:05d}"
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                kind = rng.random()
                url = fake.response_url("RESPONSE_KEY")
                started = time.perf_counter()
                if kind < 0.4:
                    ok = await send(slash_body("/faq", rng.choice(QUESTIONS), user=user, user_name=user,
                                               response_url=url), "application/x-www-form-urlencoded", True)
                elif kind < 0.7:
                    payload = block_actions_payload(f"poll:{poll_id}:vote:0", user=user, response_url=url)
                    payload["actions"][0]["action_ts"] = f"{time.time():.6f}"
                    ok = await send(interactive_body(payload), "application/x-www-form-urlencoded", True)
                    if ok:
                        voted[user] = voted.get(user, 0) + 1
                else:
                    event = {"type": "message", "channel": "C0GENERAL", "user": user, "channel_type": "channel",
                             "text": rng.choice(MESSAGES), "ts": f"{time.time():.6f}"}
                    body = json.dumps({"token": "t", "team_id": TEAM_ID, "api_app_id": "A0APP", "event": event,
                                       "type": "event_callback", "event_id": f"Ev{i}x{n}",
                                       "event_time": int(time.time())})
                    ok = await send(body, "application/json", False)
                if measure:
                    if ok:
                        run.done += 1
                        run.latencies.append(time.perf_counter() - started)
                    else:
                        run.lost += 1

        started = time.perf_counter()
        await asyncio.gather(*(member(i) for i in range(members)))
        if measure:
            run.elapsed = time.perf_counter() - started


async def scenario(name: str, database: str, processes: int, members: int, seconds: float, fake: Answers,
                   folder: Path) -> Run:
    poll_id = await prepare(folder, database)
    run = Run(name)
    voted: dict[str, int] = {}
    async with bots(folder, database, processes, fake.api_url) as started:
        ports = [port for port, _ in started]
        await drive(fake, ports, poll_id, members, 2.0, run, False, voted)  # warm-up
        bots_before, bench_before = sum(cpu_seconds(pid) for _, pid in started), time.process_time()
        await drive(fake, ports, poll_id, members, seconds, run, True, voted)
        run.bot_cpu = sum(cpu_seconds(pid) for _, pid in started) - bots_before
        run.bench_cpu = time.process_time() - bench_before
    storage = await Storage.open(database)
    try:
        rows = await storage.fetchall("SELECT voter FROM poll_votes WHERE poll_id = ?", (poll_id,))
    finally:
        await storage.close()
    stored = [r["voter"].rsplit(":", 1)[-1] for r in rows]
    holding = {user for user, presses in voted.items() if presses % 2 == 1}
    run.lost += len(holding.symmetric_difference(stored)) + len(stored) - len(set(stored))  # lost or doubled
    print(f"{name}: {processes} process(es), {members} members, {run.done} requests in {run.elapsed:.1f}s = "
          f"{run.rps:.0f}/s, p99 {run.p99_ms:.0f} ms, lost {run.lost}, votes stored {len(rows)}; CPU busy: bots "
          f"{run.bot_cpu / run.elapsed:.2f} cores, load generator {run.bench_cpu / run.elapsed:.2f}", flush=True)
    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    fake = await Answers().start()
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bot-bench.") as tmp:
        if admin is None:
            admin = stack.enter_context(throwaway_postgres())
        folder = Path(tmp)
        runs = [await scenario("sqlite", str(folder / "bot.db"), 1, args.members, args.seconds, fake, folder)]
        for processes in (1, 2):
            url = await create_database(admin)
            try:
                runs.append(await scenario(f"pg_{processes}", url, processes, args.members, args.seconds, fake,
                                           folder))
            finally:
                await drop_database(admin, url)
    await fake.stop()
    sqlite, pg1, pg2 = runs
    print(f"two processes serve {pg2.rps / max(pg1.rps, 1e-9):.2f}x one (target 1.6); {os.cpu_count()} cores here")
    print(f"load members={args.members} rps_sqlite={sqlite.rps:.0f} rps_pg_1={pg1.rps:.0f} rps_pg_2={pg2.rps:.0f} "
          f"p99_ms={max(r.p99_ms for r in runs):.0f} lost={sum(r.lost for r in runs)}")


if __name__ == "__main__":
    asyncio.run(main())
