"""The one list of commands and button actions, declared next to their handlers.

A feature marks a method with `@command(...)`; its docstring's first line is the help text every platform shows.
Adapters never hard-code a command: they register whatever `Core.commands` lists.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.records import Action, Invocation, Reply, Role

Handler = Callable[[Invocation], Awaitable[Reply]]
ActionHandler = Callable[[Action, list[str]], Awaitable[Reply]]
# (what the member typed so far, their community) -> (label, value) suggestions
Completer = Callable[[str, str], Awaitable[list[tuple[str, str]]]]


@dataclass(frozen=True)
class Option:
    name: str
    description: str
    required: bool = False
    autocomplete: bool = False
    # "rest" options take the remainder of a one-line command (Slack text, console), e.g. the question.
    rest: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormField:
    name: str  # the option name the value is passed as
    label: str
    long: bool = False
    required: bool = True
    placeholder: str = ""
    max_length: int = 400


@dataclass(frozen=True)
class Form:
    """A dialog (Discord modal, Slack modal) a command opens when run with no arguments."""

    title: str
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    description: str
    role: Role = Role.MEMBER
    options: tuple[Option, ...] = ()
    handler: Handler | None = field(default=None, compare=False, repr=False)
    form: Form | None = None
    # "slash": typed command. "message": run on someone's message (Discord context menu, Slack message
    # shortcut); the adapter passes the message as args text, author, channel, message, link.
    kind: str = "slash"


@dataclass(frozen=True)
class ActionSpec:
    prefix: str  # first segment of the action id
    role: Role = Role.MEMBER
    handler: ActionHandler | None = field(default=None, compare=False, repr=False)


def command(name: str, *, role: Role = Role.MEMBER, options: tuple[Option, ...] = (),
            form: Form | None = None, kind: str = "slash") -> Callable[[Any], Any]:
    """Declare a feature method as a command; the first docstring line becomes its description."""

    def mark(fn: Any) -> Any:
        doc = inspect.getdoc(fn) or name
        description = doc.strip().splitlines()[0][:100]
        fn.__command__ = CommandSpec(name=name, description=description, role=role, options=options, form=form,
                                     kind=kind)
        return fn

    return mark


def action(prefix: str, *, role: Role = Role.MEMBER) -> Callable[[Any], Any]:
    """Declare a feature method as the handler of button ids starting with `prefix:`."""

    def mark(fn: Any) -> Any:
        fn.__action__ = ActionSpec(prefix=prefix, role=role)
        return fn

    return mark


def completer(command_name: str, option: str) -> Callable[[Any], Any]:
    """Declare a feature method as the autocomplete source for one command option."""

    def mark(fn: Any) -> Any:
        fn.__completer__ = (command_name, option)
        return fn

    return mark


def collect(feature: object) -> tuple[list[CommandSpec], list[ActionSpec], dict[tuple[str, str], Completer]]:
    """Bind the marked methods of a feature instance."""
    commands: list[CommandSpec] = []
    actions: list[ActionSpec] = []
    completers: dict[tuple[str, str], Completer] = {}
    for attr in dir(type(feature)):
        fn = getattr(type(feature), attr)
        bound = getattr(feature, attr, None)
        spec = getattr(fn, "__command__", None)
        if spec is not None:
            commands.append(CommandSpec(spec.name, spec.description, spec.role, spec.options, bound, spec.form,
                                        spec.kind))
        aspec = getattr(fn, "__action__", None)
        if aspec is not None:
            actions.append(ActionSpec(aspec.prefix, aspec.role, bound))
        target = getattr(fn, "__completer__", None)
        if target is not None and bound is not None:
            completers[target] = bound
    return commands, actions, completers


def parse_line(spec: CommandSpec, text: str) -> dict[str, str]:
    """Arguments of a one-line command (Slack's text field, the console): the text goes to the `rest` option."""
    rest = next((o for o in spec.options if o.rest), None)
    text = text.strip()
    if rest is not None and text:
        return {rest.name: text}
    return {}
