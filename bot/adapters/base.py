"""What the platform adapters share: in-flight tracking and graceful stop, forms (who gets one, what a submitted
one passes), clipping text to a platform's limit and scrubbing secrets out of error text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bot.core.commands import CommandSpec
from bot.core.permissions import allowed
from bot.core.records import Member

STOP_GRACE = 10.0  # seconds stop() waits for the handlers already running
# Seconds a platform API call may go unanswered before it fails with TimeoutError. Such a call is never retried
# (the platform may have done it: retrying could post twice); the caller reports it in one line.
API_TIMEOUT = 10
RESTARTING = "The bot is restarting. Please try again in a minute."
ELLIPSIS = "…"
# Forms are identified by the command they belong to alone, so a form submitted after a restart still works.
FORM_PREFIX = "form:"


class InFlight:
    """The handlers an adapter is running, so that stopping lets them finish instead of cutting them off.

    `closing` turns true when `drain` begins; an adapter that can still answer at that point tells the member
    `RESTARTING` rather than starting new work."""

    def __init__(self) -> None:
        self.closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count the running task as in flight until the block ends."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def drain(self, grace: float = STOP_GRACE) -> set[asyncio.Task[Any]]:
        """Set `closing` and wait up to `grace` seconds for the handlers in flight; returns those still running."""
        self.closing = True
        # The caller may itself be a tracked handler: waiting for itself would only run out the clock.
        pending = {t for t in self._tasks if t is not asyncio.current_task() and not t.done()}
        if not pending:
            return set()
        _done, late = await asyncio.wait(pending, timeout=grace)
        return late


def form_id(command: str) -> str:
    """The id a command's form (modal) carries: `form:NAME`."""
    return f"{FORM_PREFIX}{command}"


def opens_form(spec: CommandSpec, member: Member, *, has_args: bool) -> bool:
    """Whether running `spec` opens its form: only with no arguments, and only for a member allowed to run it.

    Anyone else is dispatched instead, so the core refuses them politely before they fill in a form for nothing."""
    return spec.form is not None and not has_args and allowed(member, spec.role)


def form_args(spec: CommandSpec | None, values: Mapping[str, str | None]) -> dict[str, str]:
    """A submitted form's values as the command's arguments: only the form's own fields, and, like options left out
    of a slash command, fields left empty (or blank) are not passed."""
    fields = spec.form.fields if spec is not None and spec.form is not None else ()
    return {f.name: value for f in fields if (value := values.get(f.name)) and value.strip()}


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending with … when cut.

    The cut drops trailing spaces and never leaves half a backslash escape (Discord markdown) before the …."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    cut = text[: limit - 1].rstrip()
    # An odd run of trailing backslashes would escape the ellipsis (or be half an escape): drop one.
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def scrub(text: str, *secrets: str) -> str:
    """`text` with every secret (token, signing secret) replaced by ***, for errors that may quote them."""
    for secret in secrets:
        if secret and len(secret) >= 4:  # a blank or tiny value would mangle the message, not hide anything
            text = text.replace(secret, "***")
    return text
