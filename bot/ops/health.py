"""Whether the bot can serve: every enabled platform connected and the database answering."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.contract import Adapter
from bot.core.storage import Storage

DB_TIMEOUT = 2.0  # seconds; a database slower than this cannot serve members either


@dataclass(frozen=True)
class Health:
    """Each check by name ("database", "discord", ...) with "ok" or what is wrong."""

    checks: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.checks.values())

    @property
    def problems(self) -> list[str]:
        return [f"{name}: {why}" for name, why in self.checks.items() if why != "ok"]

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "unavailable", "checks": self.checks, "problems": self.problems}


async def check(storage: Storage, adapters: Iterable[Adapter], down: Mapping[str, str] | None = None) -> Health:
    """Ask the database a trivial question and each enabled platform whether it is connected.

    `down` says why a platform is not serving when the runner knows (it could not start, and when it retries)."""
    down = down or {}
    checks = {"database": await _database(storage)}
    for adapter in adapters:
        if adapter.platform in down:
            checks[adapter.platform] = down[adapter.platform]
        elif not adapter.connected:
            checks[adapter.platform] = "not connected (reconnecting)"
        else:
            checks[adapter.platform] = "ok"
    return Health(checks)


async def _database(storage: Storage) -> str:
    try:
        row = await asyncio.wait_for(storage.fetchone("SELECT 1"), DB_TIMEOUT)
    except TimeoutError:
        return f"no answer within {DB_TIMEOUT:g}s"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok" if row is not None else "no answer"
