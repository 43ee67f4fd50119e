"""Benchmark: one watchdog supervising 1, 10, 50 and 100 clients: its CPU, ingest and ack time.

For each N, a real watchdog process (one HMAC key per trader, a limits file, metrics on
loopback) and N real `killswitch_client.AsyncClient`s hosted in one or two sender processes
(`python -m bench.scale --sender SPEC`). Each client heartbeats every 100 ms carrying an
account, a position and a feed snapshot, and reports `--orders-per-s` orders (a submit and its
ack, sent at once), with start times staggered over one heartbeat interval as independent
bots would be. Measured over a window once every client is ACTIVE:

- `watchdog_cpu_pct`: the daemon's user+system CPU time over the window (psutil), in % of
  one core;
- `accepted_datagrams_per_s`: from the daemon's `killswitch_datagrams_total{result="accepted"}`;
- `events_per_s`: events the clients sent in the window (their counters); every datagram the
  watchdog rejected is counted in `rejected_datagrams_count` and must be 0;
- `ack_rtt_p50_us` / `_p99_us`: a probe (one more supervised trader, alone in its own process
  so that a busy sender loop does not count against the watchdog, speaking the wire protocol
  directly so it can stamp each datagram) sends a heartbeat every 20 ms and times send -> the
  watchdog's ack received, while the watchdog serves the N clients.

Run: `python -m bench.scale [--quick] [--clients 1,10,50,100]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from killswitch_client import (
    AsyncClient,
    ClientConfig,
    OrderEventKind,
    Side,
    TradingState,
    load_key,
)
from killswitch_client.errors import ProtocolError
from killswitch_client.protocol import (
    AccountSnapshot,
    Heartbeat,
    decode_ack,
    encode_event,
    encode_telemetry,
    new_session_id,
)
from prometheus_client.parser import text_string_to_metric_families

from bench._stats import summary
from harness.configs import WatchdogConfig, WatchedTrader
from harness.wait import wait_until
from harness.watchdog_world import Workspace

HEARTBEAT_S = 0.1
PROBE_INTERVAL_S = 0.02
PROBE_ID = "probe"
TIMELINE_S = 0.25
EQUITY = 10_000.0
CLIENTS_PER_SENDER = 50


# Generous heartbeat deadlines: a sender starved by the shared machine must not turn the
# measurement into a kill; the limits are otherwise the standard profile, all rules on.
LIMITS = """
profile = "standard"
[heartbeat]
interval_s = 0.1
warn_after_s = 5.0
halt_after_s = 10.0
kill_after_s = 30.0
cooldown_s = 1.0
"""


@dataclass(frozen=True)
class SenderSpec:
    """What one sender process hosts; passed as a JSON file."""

    traders: list[str]
    key_dir: str
    socket: str
    ready: str
    out: str
    orders_per_s: float
    probe: bool


# -- sender process ------------------------------------------------------------------------------


class _Probe(asyncio.DatagramProtocol):
    """A trader that stamps each heartbeat datagram and times the watchdog's ack to it."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.session = new_session_id(time.time_ns(), secrets.token_bytes(8))
        self.seq = 0
        self.sent: dict[int, int] = {}
        self.samples: list[tuple[float, float]] = []  # (monotonic at receipt, rtt in us)
        self.rejected = 0

    def send(self, transport: asyncio.DatagramTransport) -> None:
        self.seq += 1
        now = time.time()
        events = [encode_event(Heartbeat(ts=now))]
        if self.seq == 1:  # risk holds a trader HALTED until it knows its equity
            events.append(encode_event(AccountSnapshot(now, EQUITY, 0.0, 0.0)))
        data = encode_telemetry(self.key, PROBE_ID, self.session, self.seq, now, events)
        self.sent[self.seq] = time.perf_counter_ns()
        self.sent.pop(self.seq - 1000, None)  # an ack that never came is forgotten
        transport.sendto(data)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        received = time.perf_counter_ns()
        try:
            frame = decode_ack(data, self.key, PROBE_ID, self.session)
        except ProtocolError:
            self.rejected += 1
            return
        sent = self.sent.pop(frame.ack.last_seq, None)
        if sent is not None:
            self.samples.append((time.monotonic(), (received - sent) / 1e3))


async def _run_probe(probe: _Probe, path: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind("")  # autobind: the watchdog acks to this address
    sock.connect(path)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: probe, sock=sock
    )
    try:
        while True:
            probe.send(transport)
            await asyncio.sleep(PROBE_INTERVAL_S)
    finally:
        transport.close()


async def _drive(client: AsyncClient, phase_s: float, orders_per_s: float) -> None:
    """One bot's steady telemetry: snapshots every heartbeat, orders at a fixed rate."""
    await asyncio.sleep(phase_s)
    order_every = max(1, round(1 / (orders_per_s * HEARTBEAT_S))) if orders_per_s > 0 else 0
    tick = 0
    while True:
        tick += 1
        client.report_account(EQUITY + (tick % 7) * 0.01, 0.0, (tick % 7) * 0.01)
        client.report_position("BTCUSDT", 0.01, 60_000.0)
        client.report_feed("BTCUSDT", time.time())
        if order_every and tick % order_every == 0:
            client.report_order(OrderEventKind.SUBMIT, "BTCUSDT", Side.BUY, 0.001, 59_000.0)
            client.report_order(OrderEventKind.ACK, "BTCUSDT", Side.BUY, 0.001, 59_000.0)
        await asyncio.sleep(HEARTBEAT_S)


async def _start_clients(spec: SenderSpec, stack: contextlib.AsyncExitStack) -> list[Any]:
    clients = []
    for i, trader in enumerate(spec.traders):
        config = ClientConfig(
            trader,
            load_key(Path(spec.key_dir) / f"{trader}.key"),
            spec.socket,
            heartbeat_interval=HEARTBEAT_S,
            ack_timeout=2.0,
        )
        # Stagger heartbeat phases over one interval, as independent bots would be.
        await asyncio.sleep(HEARTBEAT_S / max(1, len(spec.traders)) if i else 0)
        client = await stack.enter_async_context(AsyncClient(config))
        client.report_account(EQUITY, 0.0, 0.0)
        clients.append(client)
    return clients


async def _all_active(clients: Sequence[AsyncClient], probe: _Probe | None) -> None:
    deadline = time.monotonic() + 60
    while not (
        all(c.state is TradingState.ACTIVE for c in clients) and (probe is None or probe.samples)
    ):
        if time.monotonic() > deadline:
            states = sorted({c.state.name for c in clients})
            raise RuntimeError(f"clients not ACTIVE within 60 s: {states}")
        await asyncio.sleep(0.05)  # the clients' heartbeats and acks run meanwhile


def _totals(clients: Sequence[AsyncClient]) -> dict[str, int]:
    fields = ("sent", "events_sent", "dropped", "send_errors", "acks", "rejected_acks")
    return {f: sum(getattr(c.counters, f) for c in clients) for f in fields}


async def _timeline(clients: Sequence[AsyncClient], into: list[dict[str, float]]) -> None:
    while True:
        into.append({"monotonic": time.monotonic(), **_totals(clients)})
        await asyncio.sleep(TIMELINE_S)


async def sender(spec: SenderSpec) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    probe = _Probe(load_key(Path(spec.key_dir) / f"{PROBE_ID}.key")) if spec.probe else None
    timeline: list[dict[str, float]] = []
    async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as tg:
        clients = await _start_clients(spec, stack)
        tasks = [
            tg.create_task(_drive(c, i * HEARTBEAT_S / len(clients), spec.orders_per_s))
            for i, c in enumerate(clients)
        ]
        if probe is not None:
            tasks.append(tg.create_task(_run_probe(probe, spec.socket)))
        await _all_active(clients, probe)
        await asyncio.to_thread(Path(spec.ready).write_text, "ready\n")
        tasks.append(tg.create_task(_timeline(clients, timeline)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        states = [c.state.name for c in clients]
    return {
        "timeline": timeline,
        "probe": [] if probe is None else probe.samples,
        "probe_rejected_acks": 0 if probe is None else probe.rejected,
        "not_active": sum(1 for s in states if s != "ACTIVE"),
    }


# -- bench (the parent) --------------------------------------------------------------------------


def _workspace(root: Path, traders: Sequence[str]) -> Workspace:
    keys = root / "keys"
    keys.mkdir(parents=True)
    for trader in traders:
        path = keys / f"{trader}.key"
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    (root / "limits.toml").write_text(LIMITS)
    return Workspace(
        root,
        WatchdogConfig(
            traders=tuple(
                WatchedTrader(id=t, hmac_key_file=f"keys/{t}.key", limits_file="limits.toml")
                for t in traders
            ),
            log_level="warning",
            backoff_initial_s=None,
            backoff_max_s=None,
        ).to_toml(),
    )


def _accepted(port: int) -> tuple[float, float]:
    """(accepted, rejected) datagrams so far, from the daemon's metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    accepted = rejected = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "killswitch_datagrams":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                if sample.labels.get("result") == "accepted":
                    accepted += sample.value
                else:
                    rejected += sample.value
    return accepted, rejected


def _spawn_senders(
    root: Path, space: Workspace, traders: list[str], orders_per_s: float
) -> list[tuple[SenderSpec, subprocess.Popen[bytes]]]:
    count = max(1, -(-len(traders) // CLIENTS_PER_SENDER))
    senders = []
    for k in range(count + 1):  # the last one hosts the probe alone
        probe = k == count
        spec = SenderSpec(
            traders=[] if probe else traders[k::count],
            key_dir=str(root / "keys"),
            socket=str(space.ingress),
            ready=str(root / f"sender{k}.ready"),
            out=str(root / f"sender{k}.json"),
            orders_per_s=orders_per_s,
            probe=probe,
        )
        (root / f"sender{k}.spec").write_text(json.dumps(asdict(spec)))
        process = space._spawn(  # the harness's spawn: logged, cleaned up with the workspace
            ["-m", "bench.scale", "--sender", str(root / f"sender{k}.spec")], log=f"sender{k}"
        )
        senders.append((spec, process))
    return senders


def _busy(processes: Sequence[psutil.Process]) -> float:
    """User + system CPU seconds the processes have used so far."""
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def _ready_or_dead(spec: SenderSpec, process: subprocess.Popen[bytes]) -> bool:
    return Path(spec.ready).exists() or process.poll() is not None


def _rate(timeline: list[dict[str, float]], start: float, end: float, field: str) -> float:
    inside = [t for t in timeline if start <= t["monotonic"] <= end]
    if len(inside) < 2:
        raise RuntimeError("sender timeline too short for the window")
    first, last = inside[0], inside[-1]
    return (last[field] - first[field]) / (last["monotonic"] - first["monotonic"])


def measure(root: Path, n: int, window_s: float, orders_per_s: float) -> dict[str, Any]:
    traders = [f"c{i}" for i in range(n)]
    space = _workspace(root, [*traders, PROBE_ID])
    try:
        watchdog = psutil.Process(space.start_watchdog().pid)
        port = int(space.request("GET", "/status")["metrics_port"])
        senders = _spawn_senders(root, space, traders, orders_per_s)
        for k, (spec, process) in enumerate(senders):
            wait_until(partial(_ready_or_dead, spec, process), within=120, what="senders ready")
            if process.poll() is not None:
                raise RuntimeError(f"sender {k} failed: {space.log(f'sender{k}')[-2000:]}")
        time.sleep(1.0)  # warm-up: the measured window starts in steady state
        hosts = [psutil.Process(process.pid) for spec, process in senders if not spec.probe]
        start, cpu0, (acc0, rej0) = time.monotonic(), _busy([watchdog]), _accepted(port)
        senders0 = _busy(hosts)
        time.sleep(window_s)  # the measured window itself, not a wait for a condition
        end, cpu1, (acc1, rej1) = time.monotonic(), _busy([watchdog]), _accepted(port)
        senders1 = _busy(hosts)
        for _, process in senders:
            process.send_signal(signal.SIGTERM)
        for _, process in senders:
            process.wait(timeout=60)
        outs = [json.loads(Path(spec.out).read_text()) for spec, _ in senders]
    finally:
        space.cleanup()
    rtts = [rtt for out in outs for at, rtt in out["probe"] if start <= at <= end]
    point: dict[str, Any] = {
        "clients_count": n,
        "sender_processes_count": len(hosts),
        "window_s": round(end - start, 3),
        "watchdog_cpu_pct": round(100 * (cpu1 - cpu0) / (end - start), 1),
        # The clients' side, to tell a saturated sender from a slow watchdog.
        "senders_cpu_pct": round(100 * (senders1 - senders0) / (end - start), 1),
        "accepted_datagrams_per_s": round((acc1 - acc0) / (end - start), 1),
        "rejected_datagrams_count": int(rej1 - rej0),
        "events_per_s": round(sum(_rate(o["timeline"], start, end, "events_sent") for o in outs)),
        "client_dropped_events_count": int(sum(o["timeline"][-1]["dropped"] for o in outs)),
        "client_send_errors_count": int(sum(o["timeline"][-1]["send_errors"] for o in outs)),
        "clients_not_active_count": sum(o["not_active"] for o in outs),
        "ack_rtt_samples_count": len(rtts),
    }
    point.update(summary(rtts, "ack_rtt", "us", digits=1))
    return {"point": point, "rtt_us": [round(r, 1) for r in rtts]}


def run(clients: Sequence[int], window_s: float, orders_per_s: float) -> dict[str, Any]:
    curve, samples = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in clients:
            measured = measure(Path(tmp) / f"n{n}", n, window_s, orders_per_s)
            curve.append(measured["point"])
            samples[f"ack_rtt_n{n}"] = measured["rtt_us"]
    result: dict[str, Any] = {
        "heartbeat_interval_ms": HEARTBEAT_S * 1e3,
        "orders_per_client_per_s": orders_per_s,
        "probe_interval_ms": PROBE_INTERVAL_S * 1e3,
        "curve": curve,
    }
    last = curve[-1]
    n = last["clients_count"]
    for key in ("watchdog_cpu_pct", "events_per_s", "ack_rtt_p50_us", "ack_rtt_p99_us"):
        result[f"n{n}_{key}"] = last[key]
    result["samples_us"] = samples
    return result


def _clients(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of counts: {text!r}"
        ) from None
    if not counts or any(not 1 <= c <= 1000 for c in counts):
        raise argparse.ArgumentTypeError("client counts must be within 1..1000")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a short run (3 s windows; 6 s otherwise)"
    )
    parser.add_argument("--clients", type=_clients, default=[1, 10, 50, 100], help="e.g. 1,10")
    parser.add_argument("--window", type=float, default=0.0, help="measured seconds per point")
    parser.add_argument("--orders-per-s", type=float, default=5.0, help="orders per client per s")
    parser.add_argument("--sender", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sender is not None:
        spec = SenderSpec(**json.loads(args.sender.read_text()))
        Path(spec.out).write_text(json.dumps(asyncio.run(sender(spec))))
        return 0
    window = args.window or (3.0 if args.quick else 6.0)
    if not 1.0 <= window <= 600 or not 0 <= args.orders_per_s <= 40:
        parser.error("--window must be within 1..600 s and --orders-per-s within 0..40")
    print(json.dumps(run(args.clients, window, args.orders_per_s)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
