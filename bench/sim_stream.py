"""bookTicker fan-out from exchange_sim to one WebSocket subscriber over loopback.

Runs the simulator as a subprocess with a high ticker rate on two symbols, subscribes to both
on one combined stream, and counts what arrives per second once the stream is warm. The offered
rate is reported alongside, so a shortfall shows whether the sim or the socket fell behind.

    python -m bench.sim_stream [--quick] [--seconds S] [--hz PER_SYMBOL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from harness.sim import SimConfig, SimProcess


async def _count(url: str, warmup_s: float, seconds: float) -> tuple[int, float, float]:
    """Messages, elapsed seconds, and the worst gap between two messages (seconds)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.ws_connect(url) as ws:
        warm_end = time.perf_counter() + warmup_s
        while time.perf_counter() < warm_end:
            await ws.receive()
        count, worst_gap = 0, 0.0
        start = last = time.perf_counter()
        end = start + seconds
        while last < end:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise SystemExit(f"sim_stream: stream ended early ({msg.type.name})")
            now = time.perf_counter()
            worst_gap = max(worst_gap, now - last)
            last = now
            count += 1
        return count, last - start, worst_gap


async def run(seconds: float, hz: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimProcess.start(Path(tmp), SimConfig(book_ticker_hz=hz))
        try:
            url = f"{sim.ws_url}/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"
            count, elapsed, gap = await _count(url, min(1.0, seconds / 4), seconds)
        finally:
            sim.stop()
    return {
        "msgs_per_s": round(count / elapsed),
        "offered_msgs_per_s": round(2 * hz),
        "ratio": round(count / elapsed / (2 * hz), 3),
        "max_gap_us": round(gap * 1e6, 1),
        "messages": count,
        "seconds": round(elapsed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_stream")
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--hz", type=float, default=15000.0, help="ticks per second per symbol")
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    if seconds <= 0 or args.hz <= 0:
        sys.exit("sim_stream: --seconds and --hz must be positive")
    print(json.dumps(asyncio.run(run(seconds, args.hz))))


if __name__ == "__main__":
    main()
