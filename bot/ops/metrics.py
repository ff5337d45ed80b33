"""The core's `Meter` as Prometheus metrics (prometheus-client), one registry per running bot."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core.contract import Adapter, Feature
from bot.core.meter import CATALOGUE

log = logging.getLogger("bot.ops")

PREFIX = "bot_"


class Metrics:
    """Implements `Meter`: counts and observations become Prometheus series; levels (queue size, whether each
    platform is connected) are read when scraped, by `refresh`.

    Never raises into the caller: a name outside the catalogue or wrong labels is logged once and ignored."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._gauges: dict[str, Gauge] = {}
        for name, m in CATALOGUE.items():
            # prometheus-client adds the _total suffix to counters itself.
            full = PREFIX + name
            if m.kind == "counter":
                self._counters[name] = Counter(full, m.help, m.labels, registry=self.registry)
            elif m.kind == "histogram":
                self._histograms[name] = Histogram(full, m.help, m.labels, buckets=m.buckets, registry=self.registry)
            else:
                self._gauges[name] = Gauge(full, m.help, m.labels, registry=self.registry)
        self._connected = Gauge(PREFIX + "platform_connected", "1 while the platform's connection is up",
                                ("platform",), registry=self.registry)
        self._warned: set[str] = set()

    def count(self, name: str, /, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            self._warn(name, "is not a counter in bot.core.meter.CATALOGUE")
            return
        try:
            (counter.labels(**labels) if labels else counter).inc()
        except (ValueError, TypeError) as exc:
            self._warn(name, str(exc))

    def observe(self, name: str, value: float, /, **labels: str) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            self._warn(name, "is not a histogram in bot.core.meter.CATALOGUE")
            return
        try:
            (histogram.labels(**labels) if labels else histogram).observe(value)
        except (ValueError, TypeError) as exc:
            self._warn(name, str(exc))

    async def refresh(self, features: Iterable[Feature], adapters: Iterable[Adapter]) -> None:
        """Read the levels that are not events: each feature's gauges and each platform's connection."""
        for feature in features:
            try:
                levels = await feature.gauges()
            except Exception:
                log.warning("feature %s could not report its gauges", feature.name, exc_info=True)
                continue
            for name, value in levels.items():
                gauge = self._gauges.get(name)
                if gauge is None:
                    self._warn(name, "is not a gauge in bot.core.meter.CATALOGUE")
                    continue
                gauge.set(value)
        for adapter in adapters:
            self._connected.labels(platform=adapter.platform).set(1 if adapter.connected else 0)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything measured so far."""
        return generate_latest(self.registry)

    def _warn(self, name: str, problem: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("metric %r ignored: %s", name, problem)
