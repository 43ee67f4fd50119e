"""Benchmark: how many telemetry events the watchdog's ingress takes per second on one core.

Each datagram goes through `Ingress.handle_datagram` exactly as a received one does: size and
header checks, HMAC-SHA256 verification, orjson decode, field validation into risk events, the
replay guard, and delivery to `on_batch`. Two runs:

- `ingest`: `on_batch` only counts (the protocol's own cost);
- `with_rules`: `on_batch` feeds every event to `risk.RiskEngine.apply` under the standard
  profile with every rule on (the issue's goal: >= 100,000 events/s).

The events are the risk benchmark's realistic order flow, `--batch` events per datagram (the
client packs whatever is buffered into one datagram: an order burst or a heartbeat with its
snapshots). Sockets are left out on purpose: the figure is the watchdog's CPU per event.
Run: `python -m bench.watchdog_ingest [--quick] [--batch N]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence

from bench._stats import percentile
from bench.risk_eval import build_events
from risk import PROFILES, RiskEngine
from watchdog.clock import FakeClock
from watchdog.daemon.ingress import Ingress, IngressConfig
from watchdog.protocol import (
    MAX_DATAGRAM,
    TelemetryEvent,
    TraderState,
    encode_event,
    encode_telemetry,
)

KEY = bytes(range(32))
TRADER = "bench-trader"
SESSION = bytes(range(16))
START = 1_700_000_000.0


def build_datagrams(events: int, batch: int) -> tuple[list[bytes], list[float]]:
    """Datagrams of `batch` events each, and the wall time at which each one is received."""
    timed = build_events(events)
    datagrams: list[bytes] = []
    times: list[float] = []
    for seq, start in enumerate(range(0, len(timed), batch), start=1):
        chunk = timed[start : start + batch]
        sent = chunk[-1][1]
        encoded = [encode_event(event) for event, _ in chunk]
        data = encode_telemetry(KEY, TRADER, SESSION, seq, sent, encoded)
        assert len(data) <= MAX_DATAGRAM, f"batch {batch} does not fit one datagram"
        datagrams.append(data)
        times.append(sent)
    return datagrams, times


def _run(datagrams: Sequence[bytes], times: Sequence[float], with_rules: bool) -> list[int]:
    clock = FakeClock(wall=START)
    engine = RiskEngine(PROFILES["standard"], now=START)
    apply = engine.apply

    def count_only(tid: str, sid: bytes, events: Sequence[TelemetryEvent], new: bool) -> None:
        return None

    def through_rules(tid: str, sid: bytes, events: Sequence[TelemetryEvent], new: bool) -> None:
        now = clock.wall()
        for event in events:
            if not isinstance(event, TraderState):
                apply(event, now)

    ingress = Ingress(
        # Never started: datagrams are handed to handle_datagram directly, without sockets.
        IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, udp=("127.0.0.1", 0)),
        clock=clock,
        on_batch=through_rules if with_rules else count_only,
    )
    handle = ingress.handle_datagram
    perf = time.perf_counter_ns
    timings = [0] * len(datagrams)
    gc.collect()
    for i, data in enumerate(datagrams):
        clock.advance(times[i] - clock.wall())
        t0 = perf()
        handle(data, None, None)
        timings[i] = perf() - t0
    assert ingress.rejects == {}, ingress.rejects
    assert ingress.accepted_datagrams == len(datagrams)
    if with_rules:
        _check_engine(engine)
    return timings


def _check_engine(engine: RiskEngine) -> None:
    # The flow is built not to trip a limit: a trip would measure the wrong path.
    assert engine.state.name in ("ACTIVE", "WARN"), engine.assessment


def _figures(timings: list[int], batch: int, prefix: str) -> dict[str, float]:
    total_s = sum(timings) / 1e9
    ordered = sorted(timings)
    p50_s = percentile(ordered, 0.50) / 1e9
    return {
        f"{prefix}datagrams_per_s": round(len(timings) / total_s),
        f"{prefix}events_per_s": round(len(timings) * batch / total_s),
        # The rate at the median cost: robust to preemption on a shared machine.
        f"{prefix}p50_events_per_s": round(batch / p50_s),
        f"{prefix}datagram_p50_us": round(percentile(ordered, 0.50) / 1000, 2),
        f"{prefix}datagram_p99_us": round(percentile(ordered, 0.99) / 1000, 2),
        f"{prefix}datagram_max_us": round(ordered[-1] / 1000, 2),
    }


def run(events: int, batch: int) -> dict[str, float | int | str]:
    datagrams, times = build_datagrams(events, batch)
    events = (events // batch) * batch  # a short last datagram would skew the per-event rate
    datagrams, times = datagrams[: events // batch], times[: events // batch]
    result: dict[str, float | int | str] = {
        "events": events,
        "batch_events": batch,
        "datagram_bytes": round(statistics.mean(len(d) for d in datagrams)),
    }
    result.update(_figures(_run(datagrams, times, with_rules=False), batch, ""))
    result.update(_figures(_run(datagrams, times, with_rules=True), batch, "with_rules_"))
    result["goal_with_rules_events_per_s"] = 100_000
    result["python"] = sys.version.split()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watchdog_ingest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (20k events)")
    parser.add_argument("--events", type=int, default=0, help="events to ingest")
    parser.add_argument("--batch", type=int, default=10, help="events per datagram (1..12)")
    args = parser.parse_args(argv)
    events = args.events or (20_000 if args.quick else 200_000)
    if not 1 <= args.batch <= 12:
        parser.error("--batch must be within 1..12 (12 order events fill one datagram)")
    print(json.dumps(run(events, args.batch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
