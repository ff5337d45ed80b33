"""What the core and the features measure, and the hook they report it through (`Meter`).

The core knows no metrics library: `bot run` gives it a meter that exports these figures (bot.ops), anything else
(tests, the console, CLI tools) gets `NullMeter`. `CATALOGUE` is the one list of what can be measured; a meter
ignores any other name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["counter", "histogram", "gauge"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Moderators decide within minutes to days, not milliseconds.
DECISION_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 259200.0)


@dataclass(frozen=True)
class Measure:
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = LATENCY_BUCKETS


CATALOGUE: dict[str, Measure] = {
    "commands": Measure("counter", "Commands run, by outcome (ok, denied, limited, unknown, error)",
                        ("platform", "command", "outcome")),
    "buttons": Measure("counter", "Button presses, by outcome (ok, denied, limited, unknown, error)",
                       ("platform", "button", "outcome")),
    "command_seconds": Measure("histogram", "Time to answer a command", ("platform", "command")),
    "button_seconds": Measure("histogram", "Time to answer a button press", ("platform", "button")),
    "message_seconds": Measure("histogram", "Time every watcher (spam, wellbeing) took on one message",
                               ("platform",)),
    "messages_scanned": Measure("counter", "Messages scanned for spam", ("platform",)),
    "flags": Measure("counter", "Messages sent to the moderators' queue, by source (scan, report)", ("source",)),
    "votes": Measure("counter", "Poll votes recorded (including changed and withdrawn votes)"),
    "decisions": Measure("counter", "Moderators' decisions on queue items", ("decision",)),
    "decision_seconds": Measure("histogram", "Time from an item entering the queue to a moderator's decision",
                                ("decision",), DECISION_BUCKETS),
    "queue_size": Measure("gauge", "Items waiting in the moderators' queue"),
    "reconnects": Measure("counter", "Platform connections re-established after a drop or a failed start",
                          ("platform",)),
}


class Meter(Protocol):
    """Where the core and the features report what they measure. Implementations must never raise."""

    def count(self, name: str, /, **labels: str) -> None:
        """Add one to the counter `name` (a key of CATALOGUE)."""

    def observe(self, name: str, value: float, /, **labels: str) -> None:
        """Record one value (seconds) in the histogram `name`."""


class NullMeter:
    """Measures nothing: the default, so nothing needs a metrics library to run."""

    def count(self, name: str, /, **labels: str) -> None:
        return None

    def observe(self, name: str, value: float, /, **labels: str) -> None:
        return None
