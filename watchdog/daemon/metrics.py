"""Prometheus metrics (`killswitch_` prefix) on an explicit registry, served by aiohttp.

Per-trader values that change with every event (state, heartbeat age, limit utilisation) are
read at scrape time by a collector, so the hot path pays nothing for them. Names and meanings
are documented in docs/watchdog.md; the alert rules depend on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from risk.state import TradingState

_STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


@dataclass(frozen=True)
class TraderView:
    """What the collector reads from one supervisor at scrape time."""

    trader: str
    state: int
    latched: bool
    heartbeat_age_s: float | None
    utilisation: Mapping[str, float]
    maintenance: bool = False
    reported_state: str | None = None  # the trader's own last state report (a TradingState name)


class _LiveCollector(Collector):
    def __init__(
        self,
        traders: Callable[[], Iterable[TraderView]],
        datagrams: Callable[[], Mapping[str, int]],
        events: Callable[[], int],
        armed: Callable[[], bool],
    ) -> None:
        self._traders = traders
        self._datagrams = datagrams
        self._events = events
        self._armed = armed

    def collect(self) -> Iterable[Metric]:
        state = GaugeMetricFamily(
            "killswitch_trader_state",
            "Graded state: 0 ACTIVE, 1 WARN, 2 REDUCING, 3 HALTED, 4 KILLED",
            labels=["trader"],
        )
        # The same state as one series per name, so a dashboard or an alert can select
        # `{state="HALTED"} == 1` without knowing the numbering.
        in_state = GaugeMetricFamily(
            "killswitch_trader_in_state",
            "1 for the trader's current graded state, 0 for the others",
            labels=["trader", "state"],
        )
        latched = GaugeMetricFamily("killswitch_latched", "1 while latched", labels=["trader"])
        age = GaugeMetricFamily(
            "killswitch_heartbeat_age_seconds", "Since the last heartbeat", labels=["trader"]
        )
        maintenance = GaugeMetricFamily(
            "killswitch_maintenance",
            "1 while a planned-stop window is open (liveness alerts stand down)",
            labels=["trader"],
        )
        use = GaugeMetricFamily(
            "killswitch_limit_utilisation_ratio", "Measured / limit", labels=["trader", "rule"]
        )
        reported = GaugeMetricFamily(
            "killswitch_trader_reported_state",
            "The trader's own last state report: 1 for the reported state, 0 for the others",
            labels=["trader", "state"],
        )
        for view in self._traders():
            state.add_metric([view.trader], view.state)
            for member in TradingState:
                current = 1.0 if member == view.state else 0.0
                in_state.add_metric([view.trader, member.name], current)
            latched.add_metric([view.trader], 1.0 if view.latched else 0.0)
            maintenance.add_metric([view.trader], 1.0 if view.maintenance else 0.0)
            if view.heartbeat_age_s is not None:
                age.add_metric([view.trader], view.heartbeat_age_s)
            for rule, ratio in view.utilisation.items():
                use.add_metric([view.trader, rule], ratio)
            if view.reported_state is not None:
                for name in TradingState.__members__:
                    hit = 1.0 if name == view.reported_state else 0.0
                    reported.add_metric([view.trader, name], hit)
        datagrams = CounterMetricFamily(
            "killswitch_datagrams",
            "Datagrams by result (accepted or a reject reason)",
            labels=["result"],
        )
        for result, count in self._datagrams().items():
            datagrams.add_metric([_label(result)], count)
        events = CounterMetricFamily(
            "killswitch_telemetry_events",
            "Telemetry events accepted and handed to the risk rules",
            value=self._events(),
        )
        armed = GaugeMetricFamily(
            "killswitch_armed",
            "1 while every part of the kill chain works now (watchdog status names what is not)",
            value=1.0 if self._armed() else 0.0,
        )
        return [state, in_state, latched, maintenance, age, use, reported, datagrams, events, armed]


def _label(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)[:64]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "killswitch_decisions",
            "Decisions entered, by rule and state",
            ["trader", "rule", "state"],
            registry=r,
        )
        self.kills = Counter(
            "killswitch_kills", "Kill pipelines started, by cause", ["trader", "cause"], registry=r
        )
        self.step_duration = Histogram(
            "killswitch_kill_step_duration_seconds",
            "One attempt of a kill step (attempt+verify)",
            ["step", "result"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "killswitch_event_loop_lag_seconds",
            "Event loop lag measured by the monitor task",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.store_healthy = Gauge(
            "killswitch_store_healthy", "1 while the state database accepts writes", registry=r
        )
        self.rearms = Counter(
            "killswitch_rearms", "Re-arm requests by outcome", ["trader", "outcome"], registry=r
        )

    def watch(
        self,
        traders: Callable[[], Iterable[TraderView]],
        datagrams: Callable[[], Mapping[str, int]],
        events: Callable[[], int],
        armed: Callable[[], bool],
    ) -> None:
        """Values read at scrape time: per-trader views, datagram and event counts, whether
        armed."""
        self.registry.register(_LiveCollector(traders, datagrams, events, armed))

    def decision(self, trader: str, rule: str, state: str) -> None:
        self.decisions.labels(trader, _label(rule), state).inc()

    def kill_started(self, trader: str, cause: str) -> None:
        self.kills.labels(trader, _label(cause)).inc()

    def kill_step(self, step: str, result: str, seconds: float) -> None:
        self.step_duration.labels(step, result).observe(seconds)

    def app(self) -> web.Application:
        async def scrape(_: web.Request) -> web.Response:
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        return app
