"""Poll benchmark: votes per second through the core into SQLite, p99 vote latency, and raw sqlite3 for scale.

Run from the repository root: `python bench/polls.py`. 100 members press buttons concurrently (a third of the
presses change an earlier vote); every vote is its own committed transaction. In the same run, the floor: raw
sqlite3 inserts with one commit each, same journal settings, same machine. A short warm-up round is not measured.
Last line: `polls votes_per_s=<n> p99_ms=<n> ratio_to_raw=<n>`.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.records import Action, Invocation, Member, Place, Role  # noqa: E402
from bot.runner import open_core  # noqa: E402
from tests.conftest import make_config  # noqa: E402

VOTES = 10_000
MEMBERS = 100


async def through_core(tmp: Path) -> tuple[float, float]:
    cfg = make_config(tmp)
    cfg.polls.update_debounce = 2.0  # the shipped default: edits of the poll message are batched
    core = await open_core(cfg)
    place = Place("discord", "1")
    creator = Member("discord:0", "creator", Role.MEMBER)
    await core.dispatch(Invocation("poll", creator, place, {"question": '"Q?" "A" "B" "C" "D" "E" --multi 2'}))
    rng = random.Random(1)
    members = [Member(f"discord:{i}", f"m{i}") for i in range(1, MEMBERS + 1)]
    latencies: list[float] = []
    per_member = VOTES // MEMBERS

    async def member(m: Member, rounds: int) -> None:
        for _ in range(rounds):
            t = time.perf_counter()
            await core.dispatch_action(Action(f"poll:1:vote:{rng.randrange(5)}", m, place))
            latencies.append(time.perf_counter() - t)

    # Warm-up round (statement cache, first pages of the tables), not measured.
    await asyncio.gather(*(member(m, 5) for m in members))
    latencies.clear()
    start = time.perf_counter()
    await asyncio.gather(*(member(m, per_member) for m in members))
    elapsed = time.perf_counter() - start
    await core.close()
    latencies.sort()
    n = len(latencies)
    print(f"latency ms: p50 {latencies[n // 2] * 1000:.1f}, p90 {latencies[int(n * 0.9)] * 1000:.1f}, "
          f"max {latencies[-1] * 1000:.1f}")
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000


def raw_sqlite(tmp: Path) -> float:
    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE v (poll INTEGER, voter TEXT, position INTEGER, PRIMARY KEY (poll, voter, position))")
    start = time.perf_counter()
    for i in range(VOTES):
        db.execute("BEGIN")
        db.execute("INSERT INTO v VALUES (1, ?, ?)", (f"m{i}", i % 5))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return VOTES / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_sqlite(Path(tmp))
        rate, p99 = asyncio.run(through_core(Path(tmp)))
    print(f"through the core: {rate:,.0f} votes/s, p99 {p99:.1f} ms ({MEMBERS} concurrent members, {VOTES:,} votes)")
    print(f"raw sqlite3, one commit per insert: {raw:,.0f} inserts/s")
    print(f"polls votes_per_s={rate:.0f} p99_ms={p99:.1f} ratio_to_raw={rate / raw:.3f}")


if __name__ == "__main__":
    main()
