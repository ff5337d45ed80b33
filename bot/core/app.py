"""The core: owns storage and the features, dispatches commands and button presses, and posts through adapters."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from bot.config import Config
from bot.core.commands import ActionSpec, CommandSpec, Completer, collect
from bot.core.contract import Adapter, IncomingMessage
from bot.core.faq import Faq
from bot.core.moderation import Moderation
from bot.core.permissions import Permissions, allowed, denied_text
from bot.core.polls import Polls
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, error_reply
from bot.core.storage import Storage

log = logging.getLogger("bot.events")


class Core:
    """Everything a member, moderator or admin can do, behind `dispatch` and `dispatch_action`."""

    faq: Faq
    polls: Polls
    moderation: Moderation

    def __init__(self, config: Config, storage: Storage, features: Iterable[object]) -> None:
        self.config = config
        self.storage = storage
        self.permissions = Permissions.from_config(config)
        self.adapters: dict[str, Adapter] = {}
        self.features = list(features)
        self.commands: list[CommandSpec] = []
        self._actions: dict[str, ActionSpec] = {}
        self._completers: dict[tuple[str, str], Completer] = {}
        for feature in self.features:
            commands, actions, completers = collect(feature)
            self.commands.extend(commands)
            self._actions.update({a.prefix: a for a in actions})
            self._completers.update(completers)
        self.commands.sort(key=lambda c: c.name)
        self._by_name = {c.name: c for c in self.commands}

    @classmethod
    async def create(cls, config: Config, extra_features: Iterable[object] = ()) -> Core:
        """Open the database and load every feature; raises with a clear message if content is broken.

        `extra_features` join the bundled ones (tests use it to add probe commands)."""
        storage = await Storage.open(config.resolve_path(config.storage.path))
        try:
            faq = Faq(storage, config.resolve_path(config.faq.path), config.faq.min_confidence)
            polls = Polls(storage, config)
            moderation = Moderation(storage, config)
        except Exception:
            await storage.close()
            raise
        core = cls(config, storage, [faq, polls, moderation, *extra_features])
        core.faq, core.polls, core.moderation = faq, polls, moderation
        for feature in core.features:
            bind = getattr(feature, "bind", None)
            if bind is not None:
                bind(core)
        return core

    async def start(self) -> None:
        """Resume anything time-based that was pending when the process last stopped."""
        for feature in self.features:
            start = getattr(feature, "start", None)
            if start is not None:
                await start()

    async def close(self) -> None:
        for feature in self.features:
            stop = getattr(feature, "stop", None)
            if stop is not None:
                await stop()
        await self.storage.close()

    # -- adapters -----------------------------------------------------------------------------------------

    def attach(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter

    def member(self, platform: str, user_id: str, name: str, ids: Iterable[str] = ()) -> Member:
        """Build a Member with the role config grants to this user id and these role/group ids."""
        ids = set(ids) | {user_id}
        role = self.permissions.role_for(platform, ids)
        return Member(id=f"{platform}:{user_id}", name=name, role=role, platform_roles=frozenset(ids))

    async def post(self, place: Place, reply: Reply) -> MessageRef | None:
        adapter = self.adapters.get(place.platform)
        if adapter is None:
            log.warning("no adapter for platform %s; not posting", place.platform)
            return None
        return await adapter.post(place, reply)

    # -- dispatch -----------------------------------------------------------------------------------------

    def command(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name)

    async def dispatch(self, inv: Invocation) -> Reply:
        """Run a command for a member and return what to show them. Never raises."""
        started = time.perf_counter()
        outcome = "ok"
        spec = self._by_name.get(inv.name)
        try:
            if spec is None or spec.handler is None:
                outcome = "unknown"
                return error_reply(f"I don't know the command /{inv.name}. Try /faq-topics.")
            if not allowed(inv.member, spec.role):
                outcome = "denied"
                return error_reply(denied_text(spec.role))
            return await spec.handler(inv)
        except Exception:
            outcome = "error"
            log.exception("command /%s failed", inv.name)
            return error_reply("Sorry, something went wrong on my side. Nothing was changed; please try again.")
        finally:
            _log_event(inv.place.platform, f"/{inv.name}", inv.member.id, started, outcome)

    async def dispatch_action(self, act: Action) -> Reply:
        """Handle a button press. Never raises."""
        started = time.perf_counter()
        outcome = "ok"
        prefix, _, rest = act.action_id.partition(":")
        spec = self._actions.get(prefix)
        try:
            if spec is None or spec.handler is None:
                outcome = "unknown"
                return error_reply("That button is not valid any more.")
            if not allowed(act.member, spec.role):
                outcome = "denied"
                return error_reply(denied_text(spec.role))
            return await spec.handler(act, rest.split(":") if rest else [])
        except Exception:
            outcome = "error"
            log.exception("action %s failed", act.action_id)
            return error_reply("Sorry, something went wrong on my side. Nothing was changed; please try again.")
        finally:
            _log_event(act.place.platform, f"button:{prefix}", act.member.id, started, outcome)

    async def autocomplete(self, command: str, option: str, partial: str) -> list[tuple[str, str]]:
        fn = self._completers.get((command, option))
        if fn is None:
            return []
        try:
            return await fn(partial)
        except Exception:
            log.exception("autocomplete %s.%s failed", command, option)
            return []

    async def on_message(self, message: IncomingMessage) -> None:
        """A member posted something; features that watch messages (spam) get to see it."""
        for feature in self.features:
            watch = getattr(feature, "on_message", None)
            if watch is not None:
                try:
                    await watch(message)
                except Exception:
                    log.exception("message watcher %s failed", type(feature).__name__)


def _log_event(platform: str, what: str, user: str, started: float, outcome: str) -> None:
    latency = (time.perf_counter() - started) * 1000
    log.info("event platform=%s command=%s user=%s latency_ms=%.1f outcome=%s", platform, what, user, latency, outcome)
