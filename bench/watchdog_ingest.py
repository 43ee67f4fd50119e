"""Benchmark: how many telemetry events the watchdog's ingress takes per second on one core.

Each datagram goes through `Ingress.handle_datagram` exactly as a received one does: size and
header checks, HMAC-SHA256 verification, orjson decode, field validation into risk events, the
replay guard, and delivery to `on_batch`. Two runs:

- `ingest`: `on_batch` only counts (the protocol's own cost);
- `with_rules`: `on_batch` feeds every event to `risk.RiskEngine.apply` under the standard
  profile with every rule on (the issue's goal: >= 100,000 events/s).

The events are the risk benchmark's realistic order flow, `--batch` events per datagram (the
client packs whatever is buffered into one datagram: an order burst or a heartbeat with its
snapshots). Sockets are left out of these two on purpose: the figure is the watchdog's CPU per
event.

Then the whole way, twice: `socket_events_per_s` (10 events per datagram) and
`socket_single_events_per_s` (1 per datagram). A real watchdog process (the harness's world,
metrics on loopback) supervises one trader under the standard profile with every rule on;
this process sends it the same flow as authentic datagrams over its Unix socket, blocking
when the watchdog's queue is full (Linux queues `net.unix.max_dgram_qlen` datagrams), and reads
the watchdog's acks as they come. The rate is counted from what the watchdog processed (its
`killswitch_telemetry_events_total`): from the first measured datagram sent to the moment the
watchdog has taken them all. The flow is stamped with the real time, so at these rates the
order-rate windows are widened and the heartbeat deadlines outlast the run: every rule is
evaluated on every event, none trips (the trader must still be ACTIVE at the end). Both are
pinned as deployed (deploy/systemd: the watchdog on CPU 0, the trader on CPU 1): the watchdog
process to CPU 0 and this sender to CPU 1, when the machine has both (`socket_pinned`).
Run: `python -m bench.watchdog_ingest [--quick] [--batch N]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import killswitch_client.protocol as wire
import psutil
from killswitch_client.protocol import (
    MAX_DATAGRAM,
    TraderState,
    encode_event,
    encode_telemetry,
    new_session_id,
)
from killswitch_client.states import OrderEventKind as WireKind
from killswitch_client.states import Side as WireSide

from bench._stats import percentile
from bench.risk_eval import BenchEvent, build_events
from harness.configs import HeartbeatLimits, WatchdogConfig, WatchedTrader
from harness.control import parse_metrics
from harness.wait import wait_until
from harness.watchdog_world import KEY as WORLD_KEY
from harness.watchdog_world import Workspace
from risk import PROFILES, Heartbeat, OrderEvent, RiskEngine
from watchdog.clock import FakeClock
from watchdog.daemon.ingress import Ingress, IngressConfig, IngressEvent

KEY = bytes(range(32))
TRADER = "bench-trader"
SESSION = bytes(range(16))
START = 1_700_000_000.0


def build_datagrams(
    events: int,
    batch: int,
    *,
    key: bytes = KEY,
    trader: str = TRADER,
    session: bytes = SESSION,
    start: float | None = None,
) -> tuple[list[bytes], list[float]]:
    """Datagrams of `batch` events each, and the wall time at which each one is received.

    With `start`, the flow is restamped from that wall time on, 1 µs apart (events sent now)."""
    timed = build_events(events)
    if start is not None:
        timed = [
            (dataclasses.replace(event, ts=start + i * 1e-6), start + i * 1e-6)
            for i, (event, _) in enumerate(timed)
        ]
    datagrams: list[bytes] = []
    times: list[float] = []
    for seq, first in enumerate(range(0, len(timed), batch), start=1):
        chunk = timed[first : first + batch]
        sent = chunk[-1][1]
        encoded = [encode_event(_to_wire(event)) for event, _ in chunk]
        data = encode_telemetry(key, trader, session, seq, sent, encoded)
        assert len(data) <= MAX_DATAGRAM, f"batch {batch} does not fit one datagram"
        datagrams.append(data)
        times.append(sent)
    return datagrams, times


def _to_wire(event: BenchEvent) -> wire.TelemetryEvent:
    """The risk benchmark's event as the client would report it."""
    if isinstance(event, OrderEvent):
        kind, side = WireKind(event.kind.value), WireSide(event.side.value)
        return wire.OrderEvent(
            event.ts,
            kind,
            event.symbol,
            side,
            event.qty,
            event.price,
            event.reason,
            event.realized_pnl,
            event.order_id,
        )
    if isinstance(event, Heartbeat):
        return wire.Heartbeat(event.ts)
    return wire.AccountSnapshot(event.ts, event.equity, event.realized_pnl, event.unrealized_pnl)


def _run(datagrams: Sequence[bytes], times: Sequence[float], with_rules: bool) -> list[int]:
    clock = FakeClock(wall=START)
    engine = RiskEngine(PROFILES["standard"], now=START)
    apply = engine.apply

    def count_only(tid: str, sid: bytes, events: Sequence[IngressEvent], new: bool) -> None:
        return None

    def through_rules(tid: str, sid: bytes, events: Sequence[IngressEvent], new: bool) -> None:
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


# -- through the real socket -----------------------------------------------------------------

# Deadlines longer than a run (its datagrams are built before they are sent, and liveness
# counts each from its send time) and order-rate windows this flow cannot fill; every other
# rule as the standard profile has it.
SOCKET_TRADER = WatchedTrader(
    id="alpha",
    hmac_key_file="alpha.key",
    heartbeat=HeartbeatLimits(
        interval_s=1.0, warn_after_s=60.0, halt_after_s=90.0, kill_after_s=120.0
    ),
    rules={
        "order_rate": {
            "windows": [
                {"seconds": 1.0, "max_orders": 1_000_000_000},
                {"seconds": 60.0, "max_orders": 1_000_000_000},
            ]
        }
    },
)
WARM_UP_DATAGRAMS = 500


def _processed(port: int) -> tuple[int, int]:
    """(events the watchdog handed to its rules, datagrams it rejected), from its metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        samples = parse_metrics(answer.read().decode())
    rejected = sum(
        value
        for name, value in samples.items()
        if name.startswith("killswitch_datagrams_total{") and 'result="accepted"' not in name
    )
    return int(samples.get("killswitch_telemetry_events_total", 0)), int(rejected)


def _read_acks(sock: socket.socket) -> int:
    """Read every ack waiting (without blocking); returns how many there were."""
    acks = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(4096, socket.MSG_DONTWAIT)
            acks += 1
    return acks


def _send(sock: socket.socket, datagrams: Sequence[bytes]) -> int:
    """Send each datagram (blocking while the watchdog's queue is full) and read the acks that
    have arrived after each; returns how many acks were read."""
    acks = 0
    for data in datagrams:
        sock.send(data)
        acks += _read_acks(sock)
    return acks


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _taken(port: int, expected: int) -> bool:
    events, rejected = _processed(port)
    if rejected:
        raise RuntimeError(f"the watchdog rejected {rejected} datagrams: the flow is wrong")
    return events >= expected


@dataclasses.dataclass
class _Run:
    """One measured stretch: wall time, the watchdog's and the sender's CPU, acks read."""

    elapsed_s: float = 0.0
    watchdog_cpu_s: float = 0.0
    sender_cpu_s: float = 0.0
    acks: int = 0

    def figures(self, events: int) -> dict[str, float | int | str]:
        return {
            "events_per_s": round(events / self.elapsed_s),
            # The watchdog's own CPU per event: what a busy shared machine blurs least.
            "watchdog_cpu_per_event_us": round(self.watchdog_cpu_s * 1e6 / events, 2),
            "watchdog_cpu_pct": round(100 * self.watchdog_cpu_s / self.elapsed_s, 1),
            # The sending thread's CPU: a saturated sender, not the watchdog, would set the rate.
            "sender_cpu_pct": round(100 * self.sender_cpu_s / self.elapsed_s, 1),
            "events_count": events,
            "acks_read_count": self.acks,
        }


def _measure(
    sock: socket.socket, port: int, watchdog: psutil.Process, measured: Sequence[bytes], taken: int
) -> _Run:
    """Send `measured` and wait until the watchdog has taken `taken` events in all."""
    start, cpu, sender = time.perf_counter(), _cpu_s(watchdog), time.thread_time()
    acks = _send(sock, measured)
    sender = time.thread_time() - sender
    wait_until(lambda: _taken(port, taken), what="every event taken")
    return _Run(time.perf_counter() - start, _cpu_s(watchdog) - cpu, sender, acks)


WATCHDOG_CPU, TRADER_CPU = 0, 1  # deploy/systemd's CPUAffinity= for each unit


@contextlib.contextmanager
def _pinned_as_deployed(watchdog: psutil.Process) -> Iterator[bool]:
    """The watchdog on its unit's CPU, this sender on the trader's; False (nothing pinned) on a
    machine without both. The sender's own affinity is restored after."""
    mine = os.sched_getaffinity(0)
    if not {WATCHDOG_CPU, TRADER_CPU} <= os.sched_getaffinity(watchdog.pid):
        yield False
        return
    watchdog.cpu_affinity([WATCHDOG_CPU])
    os.sched_setaffinity(0, {TRADER_CPU})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, mine)


def run_socket(events: int, batch: int) -> dict[str, float | int | str | bool]:
    """Events/s a running watchdog takes through its Unix socket, acks included."""
    session = new_session_id(time.time_ns(), secrets.token_bytes(8))
    key = bytes.fromhex(WORLD_KEY)
    datagrams, _ = build_datagrams(
        events + WARM_UP_DATAGRAMS * batch, batch, key=key, trader="alpha", session=session,
        start=time.time(),
    )  # fmt: skip
    warm_up, measured = datagrams[:WARM_UP_DATAGRAMS], datagrams[WARM_UP_DATAGRAMS:]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        config = WatchdogConfig(traders=(SOCKET_TRADER,), log_level="warning").to_toml()
        space = Workspace(Path(tmp), config)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            watchdog = psutil.Process(space.start_watchdog().pid)
            port = int(space.request("GET", "/status")["metrics_port"])
            sock.bind("")  # autobind: the address the watchdog acks to
            sock.connect(str(space.ingress))
            with _pinned_as_deployed(watchdog) as pinned:
                warm_up_acks = _send(sock, warm_up)
                wait_until(lambda: _taken(port, len(warm_up) * batch), what="warm-up taken")
                wait_until(lambda: space.state() == "ACTIVE", what="trader ACTIVE")
                run = _measure(sock, port, watchdog, measured, len(datagrams) * batch)
            state = space.state()
            run.acks += warm_up_acks + _read_acks(sock)
        finally:
            sock.close()
            space.cleanup()
    if state != "ACTIVE":
        raise RuntimeError(f"the trader ended {state}: the flow tripped a limit")
    return {**run.figures(len(measured) * batch), "pinned": pinned}


def run(events: int, batch: int, socket_events: int) -> dict[str, float | int | str | bool]:
    datagrams, times = build_datagrams(events, batch)
    events = (events // batch) * batch  # a short last datagram would skew the per-event rate
    datagrams, times = datagrams[: events // batch], times[: events // batch]
    result: dict[str, float | int | str | bool] = {
        "events_count": events,
        "batch_events_count": batch,
        "datagram_bytes": round(statistics.mean(len(d) for d in datagrams)),
    }
    result.update(_figures(_run(datagrams, times, with_rules=False), batch, ""))
    result.update(_figures(_run(datagrams, times, with_rules=True), batch, "with_rules_"))
    result["goal_with_rules_events_per_s"] = 100_000
    # A third of the events one per datagram: about as long a run as the batched one.
    for prefix, count, size in (
        ("socket_", socket_events, 10),
        ("socket_single_", socket_events // 3, 1),
    ):
        measured = run_socket(count // size * size, size)
        result.update({prefix + k: v for k, v in measured.items()})
    result["goal_socket_events_per_s"] = 100_000
    result["goal_socket_single_events_per_s"] = 30_000
    result["python"] = sys.version.split()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watchdog_ingest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (20k events)")
    parser.add_argument("--events", type=int, default=0, help="events to ingest")
    parser.add_argument("--batch", type=int, default=10, help="events per datagram (1..12)")
    parser.add_argument(
        "--socket-events",
        type=int,
        default=0,
        help="events through the socket, 10 per datagram; a third as many go one per datagram",
    )
    args = parser.parse_args(argv)
    events = args.events or (20_000 if args.quick else 200_000)
    if not 1 <= args.batch <= 12:
        parser.error("--batch must be within 1..12 (12 order events fill one datagram)")
    socket_events = args.socket_events or (100_000 if args.quick else 600_000)
    if socket_events < 30:
        parser.error("--socket-events must be at least 30")
    print(json.dumps(run(events, args.batch, socket_events)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
