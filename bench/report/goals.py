"""The suite's performance goals (issues 2-7, 12, 14) and how to judge a run's results against
them."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Verdict(enum.Enum):
    MET = "met"
    MISSED = "missed"
    MISSING = "missing"  # the benchmark did not run, failed, or lacks the figure


@dataclass(frozen=True)
class Goal:
    label: str
    bench: str
    key: str  # dotted path into the benchmark's JSON
    at_most: bool  # True: the figure must be <= limit; False: >= limit
    limit: float
    unit: str
    issue: int

    @property
    def text(self) -> str:
        return f"{'<=' if self.at_most else '>='} {_number(self.limit)} {self.unit}"


@dataclass(frozen=True)
class Judged:
    goal: Goal
    value: float | None
    verdict: Verdict
    note: str = ""


GOALS = (
    Goal("risk: one event through every rule, p50", "risk_eval", "p50_us", True, 2.0, "µs", 2),
    Goal("sim: signed orders served", "sim_orders", "orders_per_s", False, 5_000, "orders/s", 3),
    Goal("sim: market data fan-out", "sim_stream", "msgs_per_s", False, 20_000, "msgs/s", 3),
    Goal("client: report_order on the bot's loop, p99", "client_send", "report_order_p99_us",
         True, 10.0, "µs", 4),
    Goal("client: the threaded Client's report_order, sent at once, p99", "client_send",
         "sync_report_order_p99_us", True, 10.0, "µs", 15),
    Goal("watchdog ingest, all rules on, one core", "watchdog_ingest", "with_rules_events_per_s",
         False, 100_000, "events/s", 4),
    Goal("watchdog ingest through its Unix socket, 10 events per datagram", "watchdog_ingest",
         "socket_events_per_s", False, 100_000, "events/s", 14),
    Goal("watchdog ingest through its Unix socket, 1 event per datagram", "watchdog_ingest",
         "socket_single_events_per_s", False, 30_000, "events/s", 14),
    Goal("breach telemetry -> kill pipeline, p99", "kill_latency_local",
         "breach_to_pipeline_start_p99_us", True, 1_000, "µs", 4),
    Goal("trader SIGKILL -> kill pipeline (pidfd), p99", "kill_latency_local",
         "sigkill_to_pipeline_start_p99_ms", True, 5.0, "ms", 4),
    Goal("trader SIGSTOP -> pipeline, past the heartbeat timeout, p99", "kill_latency_local",
         "sigstop_excess_p99_ms", True, 5.0, "ms", 4),
    Goal("trader SIGKILL -> venue shows no open orders, p99", "kill_latency_venue",
         "sigkill_no_open_orders_p99_ms", True, 20.0, "ms", 5),
    Goal("trader SIGKILL -> trader key refused, p99", "kill_latency_venue",
         "sigkill_key_refused_p99_ms", True, 25.0, "ms", 5),
    Goal("breach report call -> venue shows no open orders, p99", "kill_latency_venue",
         "telemetry_no_open_orders_p99_ms", True, 10.0, "ms", 14),
    Goal("price jump at the venue -> venue shows no open orders, p99", "kill_latency_venue",
         "venue_only_no_open_orders_p99_ms", True, 15.0, "ms", 14),
    Goal("rogue's first order acknowledged -> trader key refused, p99", "kill_latency_venue",
         "rogue_key_refused_p99_ms", True, 20.0, "ms", 14),
    Goal("rogue orders the venue accepted before the key was refused, max",
         "kill_latency_venue", "rogue_orders_accepted_max", True, 3.0, "orders", 14),
    Goal("tick (venue send) -> order written, as deployed, p50", "tick_to_order",
         "deployed_p50_us", True, 50.0, "µs", 7),
    Goal("tick (venue send) -> order written, as deployed, p99", "tick_to_order",
         "deployed_p99_us", True, 200.0, "µs", 7),
    Goal("healthy soak: time away from ACTIVE", "soak", "non_active_s", True, 0.0, "s", 12),
    Goal("healthy soak: alerts", "soak", "alerts", True, 0.0, "alerts", 12),
)  # fmt: skip


def lookup(result: Mapping[str, Any], key: str) -> float | None:
    """The number at a dotted path, or None when any step is absent or not a number."""
    value: Any = result
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def judge(goal: Goal, runs: Mapping[str, Mapping[str, Any]]) -> Judged:
    """Judge one goal against the run's benchmark records (run_all's `benchmarks`)."""
    record = runs.get(goal.bench)
    if record is None:
        return Judged(goal, None, Verdict.MISSING, "benchmark not run (absent from this build)")
    if not record.get("ok"):
        return Judged(goal, None, Verdict.MISSING, f"benchmark failed: {record.get('error')}")
    value = lookup(record.get("result") or {}, goal.key)
    if value is None:
        return Judged(goal, None, Verdict.MISSING, f"no figure `{goal.key}`")
    met = value <= goal.limit if goal.at_most else value >= goal.limit
    return Judged(goal, value, Verdict.MET if met else Verdict.MISSED)


def judge_all(runs: Mapping[str, Mapping[str, Any]]) -> list[Judged]:
    return [judge(goal, runs) for goal in GOALS]


def _number(value: float) -> str:
    if value >= 1_000 and value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


def format_value(value: float, unit: str) -> str:
    if value >= 1_000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
