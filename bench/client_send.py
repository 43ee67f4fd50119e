"""Benchmark: what the watchdog client costs the trading bot's event loop.

A started `AsyncClient` talks over a real Unix datagram socket to a sink that drains it
(on the same loop, outside the timed sections). Timed alone with `perf_counter_ns`:

- `report_order`: the call a bot makes on each order step (validate, build, queue, schedule
  the immediate flush) — goal p99 <= 10 us;
- `report_account`: a coalesced snapshot that can breach a limit (it schedules the immediate
  flush, as `report_order` does);
- `order_send`: `report_order` plus the flush that follows it on the next loop iteration
  (encode, HMAC, sendto): the whole cost of getting one order event onto the wire;
- `heartbeat_flush`: one heartbeat with its usual load (account, 3 positions, feed, 2 orders).

Each sample lets the loop run once in between (`await asyncio.sleep(0)`), as a real bot's loop
would. Run: `python -m bench.client_send [--quick]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from killswitch_client import AsyncClient, ClientConfig

from bench._stats import percentile
from risk import OrderEventKind, Side

KEY = bytes(range(32))


def _stats(samples: list[int], name: str) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        f"{name}_p50_us": round(percentile(ordered, 0.50) / 1000, 3),
        f"{name}_p99_us": round(percentile(ordered, 0.99) / 1000, 3),
        f"{name}_max_us": round(ordered[-1] / 1000, 3),
    }


def _sink(path: Path, loop: asyncio.AbstractEventLoop) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)

    def drain() -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.recv(2048)

    loop.add_reader(sock.fileno(), drain)
    return sock


async def _timed(samples: int, step: Callable[[int], None]) -> list[int]:
    perf = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        t0 = perf()
        step(i)
        out[i] = perf() - t0
        await asyncio.sleep(0)  # the scheduled flush and the sink run here, untimed
    return out


async def run(samples: int) -> dict[str, float | int | str]:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wd.sock"
        sink = _sink(path, loop)
        config = ClientConfig("bench", KEY, str(path), heartbeat_interval=10.0, ack_timeout=20.0)
        client = AsyncClient(config)
        try:
            async with client:
                result = await _measure(client, samples)
        finally:
            loop.remove_reader(sink.fileno())
            sink.close()
    result["dropped"] = client.counters.dropped
    result["send_errors"] = client.counters.send_errors
    result["datagrams_sent"] = client.counters.sent
    return result


async def _measure(client: AsyncClient, samples: int) -> dict[str, float | int | str]:
    def order(i: int) -> None:
        client.report_order(OrderEventKind.SUBMIT, "BTCUSDT", Side.BUY, 0.01, 65_000.0 + i)

    def account(i: int) -> None:
        client.report_account(100_000.0 + i, 10.0, -3.5)

    def order_send(i: int) -> None:
        order(i)
        client.flush(heartbeat=False)

    def heartbeat(i: int) -> None:
        client.flush()

    def load_heartbeat() -> None:
        account(0)
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            client.report_position(symbol, 0.1, 100.0)
        client.report_feed("BTCUSDT", 1_700_000_000.0)
        client.report_order(OrderEventKind.ACK, "BTCUSDT", Side.BUY, 0.01, 65_000.0)
        client.report_order(OrderEventKind.FILL, "BTCUSDT", Side.BUY, 0.01, 65_000.0)

    await _timed(min(samples, 2_000), order)  # warm up caches and the allocator
    gc.collect()
    result: dict[str, float | int | str] = {"samples": samples}
    result.update(_stats(await _timed(samples, order), "report_order"))
    result.update(_stats(await _timed(samples, account), "report_account"))
    result.update(_stats(await _timed(samples, order_send), "order_send"))
    heartbeats = []
    perf = time.perf_counter_ns
    for _ in range(samples // 4):
        load_heartbeat()
        t0 = perf()
        heartbeat(0)
        heartbeats.append(perf() - t0)
        await asyncio.sleep(0)
    result.update(_stats(heartbeats, "heartbeat_flush"))
    result["goal_report_p99_us"] = 10.0
    result["python"] = sys.version.split()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_send", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (5k samples each)")
    parser.add_argument("--samples", type=int, default=0, help="samples per measurement")
    args = parser.parse_args(argv)
    samples = args.samples or (5_000 if args.quick else 50_000)
    print(json.dumps(asyncio.run(run(samples))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
