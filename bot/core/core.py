"""The core: owns storage and the features, dispatches commands and button presses, and posts through adapters.

It knows no platform and no feature by name: the runner attaches adapters and hands it the features to serve.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from bot.core.commands import ActionSpec, CommandSpec, Completer, collect
from bot.core.contract import DEFAULT_COMMUNITY, Adapter, Feature, IncomingMessage, PlatformUnavailable, Staff
from bot.core.meter import Meter, NullMeter
from bot.core.permissions import allowed, denied_text, role_for
from bot.core.ratelimit import SLOW_DOWN, Limits, RateLimiter
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, Role, error_reply
from bot.core.storage import Storage, is_database_error
from bot.core.turns import take_turn

log = logging.getLogger("bot.events")

F = TypeVar("F", bound=Feature)

SORRY = "Sorry, something went wrong on my side. Nothing was changed; please try again."


class Core:
    """Everything a member, moderator or admin can do, behind `dispatch` and `dispatch_action`."""

    def __init__(self, storage: Storage, features: Iterable[Feature], limits: Limits | None = None,
                 meter: Meter | None = None) -> None:
        self.storage = storage
        self.meter: Meter = meter or NullMeter()
        self.limiter = RateLimiter(limits or Limits())
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
            feature.attach(self)
        self.commands.sort(key=lambda c: c.name)
        self._by_name = {c.name: c for c in self.commands}

    def get(self, kind: type[F]) -> F:
        """The feature of this type (tests and the CLI reach feature methods this way)."""
        for feature in self.features:
            if isinstance(feature, kind):
                return feature
        raise LookupError(f"no {kind.__name__} feature is loaded")

    async def start(self) -> None:
        """Resume anything time-based that was pending when the process last stopped."""
        for feature in self.features:
            await feature.start()

    async def close(self) -> None:
        for feature in self.features:
            try:
                await feature.stop()
            except Exception:
                log.exception("feature %s did not stop cleanly", feature.name)
        await self.storage.close()

    # -- adapters: the Host a feature sees ---------------------------------------------------------------

    def attach(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter

    def detach(self, adapter: Adapter) -> None:
        """Its platform is down: features then see it as not connected (post gives None, delete raises
        PlatformUnavailable) instead of calling into a dead connection."""
        if self.adapters.get(adapter.platform) is adapter:
            del self.adapters[adapter.platform]

    def staff(self, platform: str, community: str = DEFAULT_COMMUNITY) -> Staff:
        adapter = self.adapters.get(platform)
        staff = adapter.community_staff(community) if adapter is not None else None
        return staff if staff is not None else Staff(community=community)

    def community(self, place: Place) -> str:
        adapter = self.adapters.get(place.platform)
        return adapter.staff_for(place.guild).community if adapter is not None else DEFAULT_COMMUNITY

    def has_communities(self, platform: str) -> bool:
        adapter = self.adapters.get(platform)
        return adapter is not None and bool(adapter.communities)

    def member(self, platform: str, user_id: str, name: str, ids: Iterable[str] = (),
               guild: str | None = None) -> Member:
        """Build a Member with the role the staff settings of `guild`'s community grant to this user id and these
        role ids: a moderator of one community is an ordinary member in every other."""
        ids = set(ids) | {user_id}
        adapter = self.adapters.get(platform)
        role = role_for(adapter.staff_for(guild), ids) if adapter is not None else Role.MEMBER
        return Member(id=f"{platform}:{user_id}", name=name, role=role, platform_roles=frozenset(ids))

    async def post(self, place: Place, reply: Reply) -> MessageRef | None:
        adapter = self.adapters.get(place.platform)
        if adapter is None:
            log.warning("no adapter for platform %s; not posting", place.platform)
            return None
        return await adapter.post(place, reply)

    async def update(self, ref: MessageRef, reply: Reply) -> bool:
        adapter = self.adapters.get(ref.platform)
        if adapter is None:
            return False
        await adapter.update(ref, reply)
        return True

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> bool:
        adapter = self.adapters.get(place.platform)
        if adapter is None:
            return False
        await adapter.whisper(place, member_id, reply)
        return True

    async def delete(self, ref: MessageRef) -> None:
        adapter = self.adapters.get(ref.platform)
        if adapter is None:
            raise PlatformUnavailable(ref.platform)
        await adapter.delete(ref)

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        adapter = self.adapters.get(place.platform)
        if adapter is None:
            raise PlatformUnavailable(place.platform)
        return await adapter.restrict(member_id, place, minutes)

    async def channel_name(self, place: Place) -> str:
        adapter = self.adapters.get(place.platform)
        if adapter is None:
            return place.channel
        try:
            return await adapter.channel_name(place.channel) or place.channel
        except Exception:
            # A name is a courtesy: the id still says where, so a failed lookup never stops a queue post.
            log.warning("could not look up the name of %s channel %s", place.platform, place.channel, exc_info=True)
            return place.channel

    async def turn(self, name: str, every: float) -> float:
        """Wait for `name`'s turn across every process on the database, then hold it for `every` seconds (a
        platform's per-bot rate limit); returns the seconds waited."""
        return await take_turn(self.storage, name, every)

    async def locate(self, place: Place) -> Place:
        adapter = self.adapters.get(place.platform)
        if place.guild is not None or adapter is None:
            return place
        try:
            guild = await adapter.guild_of(place.channel)
        except Exception:
            log.warning("could not look up where %s channel %s is", place.platform, place.channel, exc_info=True)
            guild = None
        return replace(place, guild=guild) if guild else place

    # -- dispatch -----------------------------------------------------------------------------------------

    def command(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name)

    async def dispatch(self, inv: Invocation) -> Reply:
        """Run a command for a member and return what to show them. Never raises."""
        spec = self._by_name.get(inv.name)
        handler = spec.handler if spec is not None else None
        role = spec.role if spec is not None else Role.MEMBER

        async def run() -> Reply:
            assert handler is not None
            return await handler(inv)

        return await self._guarded(f"/{inv.name}", inv.member, inv.place, role, run if handler else None,
                                   f"I don't know the command /{inv.name}. Try /faq-topics.", limit_as=inv.name,
                                   measure=("command", inv.name if spec is not None else "?"))

    async def dispatch_action(self, act: Action) -> Reply:
        """Handle a button press. Never raises."""
        prefix, _, rest = act.action_id.partition(":")
        spec = self._actions.get(prefix)
        handler = spec.handler if spec is not None else None
        role = spec.role if spec is not None else Role.MEMBER

        async def run() -> Reply:
            assert handler is not None
            return await handler(act, rest.split(":") if rest else [])

        return await self._guarded(f"button:{prefix}", act.member, act.place, role, run if handler else None,
                                   "That button is not valid any more.", limit_as=f"button:{prefix}",
                                   measure=("button", prefix if spec is not None else "?"))

    async def _guarded(self, what: str, member: Member, place: Place, role: Role,
                       run: Callable[[], Awaitable[Reply]] | None, unknown: str, limit_as: str,
                       measure: tuple[str, str]) -> Reply:
        """The one place a command or a press is checked, run, logged, measured and kept from raising.

        `measure` is (kind, name) for the meter: a name members typed but no feature offers is "?", so metrics
        cannot grow a label per typo."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            if run is None:
                outcome = "unknown"
                return error_reply(unknown)
            if not allowed(member, role):
                outcome = "denied"
                return error_reply(denied_text(role))
            if member.role < Role.MODERATOR and not self.limiter.allow(member.id, limit_as):
                outcome = "limited"
                return error_reply(SLOW_DOWN)
            return await run()
        except Exception as exc:
            outcome = "error"
            if is_database_error(exc):  # the operator needs the reason in one line, not a traceback
                log.error("%s failed: the database refused (%s)", what, exc)
            else:
                log.exception("%s failed", what)
            return error_reply(SORRY)
        finally:
            seconds = _log_event(place.platform, what, member.id, started, outcome)
            kind, name = measure
            self.meter.count(f"{kind}s", platform=place.platform, **{kind: name}, outcome=outcome)
            self.meter.observe(f"{kind}_seconds", seconds, platform=place.platform, **{kind: name})

    async def autocomplete(self, command: str, option: str, partial: str,
                           place: Place | None = None) -> list[tuple[str, str]]:
        """Suggestions for an option as the member types, from what the community of `place` has."""
        fn = self._completers.get((command, option))
        if fn is None:
            return []
        try:
            return await fn(partial, self.community(place) if place is not None else DEFAULT_COMMUNITY)
        except Exception:
            log.exception("autocomplete %s.%s failed", command, option)
            return []

    async def on_message(self, message: IncomingMessage) -> None:
        """A member posted something; every feature gets to see it (spam scanning, wellbeing)."""
        started = time.perf_counter()
        outcome = "ok"
        for feature in self.features:
            try:
                await feature.on_message(message)
            except Exception:
                outcome = "error"
                log.exception("message watcher %s failed", feature.name)
        # The real time every watcher took (scanning included), so a slow message shows in the log.
        seconds = _log_event(message.ref.platform, "message", message.author_id, started, outcome)
        self.meter.observe("message_seconds", seconds, platform=message.ref.platform)


def _log_event(platform: str, what: str, user: str, started: float, outcome: str) -> float:
    """Log one event (its fields also as `extra`, for JSON logs); returns the seconds it took."""
    seconds = time.perf_counter() - started
    latency = round(seconds * 1000, 1)
    log.info("event platform=%s command=%s user=%s latency_ms=%.1f outcome=%s", platform, what, user, latency, outcome,
             extra={"platform": platform, "command": what, "user": user, "latency_ms": latency, "outcome": outcome})
    return seconds
