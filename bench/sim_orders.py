"""Signed order placement against exchange_sim over loopback, from one keep-alive client.

Runs the simulator as a subprocess. Two phases on one HTTP/1.1 keep-alive connection:
latency (one order in flight: p50/p99/max round trip) and throughput (``--pipeline`` orders in
flight, HTTP pipelining). Orders are LIMIT IOC far below the market: every one goes through the
full path (key, timestamp, HMAC, filters, margin, matching, journal) and expires without
accumulating state. Requests are signed before timing starts, so the figure is the server's.

    python -m bench.sim_orders [--quick] [--orders N] [--pipeline K] [--venue binance|bybit|okx]

``--venue bybit`` runs the same orders through the Bybit v5 front (``POST /v5/order/create``,
JSON body, X-BAPI-* headers); an answer counts only with HTTP 200 and retCode 0. ``--venue okx``
through the OKX v5 front (``POST /api/v5/trade/order``, 10 contracts of 0.01 BTC, OK-ACCESS-*
headers); an answer counts only with HTTP 200 and code "0" (every item accepted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from bench._stats import percentile
from harness.sim import (
    SimConfig,
    SimKey,
    SimProcess,
    bybit_headers,
    okx_headers,
    okx_timestamp,
    sign,
)

VENUES = ("binance", "bybit", "okx")
# OKX accepts a timestamp within 30 s either way: requests signed before the run are stamped
# this far ahead, so a run of up to about 55 s stays inside the window.
OKX_STAMP_AHEAD_MS = 25_000


def _requests(key: SimKey, count: int, host: str, venue: str) -> list[bytes]:
    build = {"binance": _binance_requests, "bybit": _bybit_requests, "okx": _okx_requests}
    return build[venue](key, count, host)


def _okx_requests(key: SimKey, count: int, host: str) -> list[bytes]:
    stamp = okx_timestamp(int(time.time() * 1000) + OKX_STAMP_AHEAD_MS)
    path = "/api/v5/trade/order"
    out = []
    for i in range(count):
        body = json.dumps(
            {
                "instId": "BTC-USDT-SWAP",
                "tdMode": "cross",
                "side": "buy",
                "ordType": "ioc",
                "sz": "10",
                "px": "1000.0",
                "clOrdId": f"bench{i}",
            }
        )
        headers = okx_headers(key, "POST", path, body, timestamp=stamp)
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{lines}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
        )
    return out


def _bybit_requests(key: SimKey, count: int, host: str) -> list[bytes]:
    out = []
    for i in range(count):
        body = json.dumps(
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "timeInForce": "IOC",
                "qty": "0.1",
                "price": "1000.0",
                "orderLinkId": f"bench-{i}",
            }
        )
        headers = bybit_headers(key, body, recv_window=60000)
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(
            f"POST /v5/order/create HTTP/1.1\r\nHost: {host}\r\n{lines}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
        )
    return out


def _binance_requests(key: SimKey, count: int, host: str) -> list[bytes]:
    now = int(time.time() * 1000)
    out = []
    for i in range(count):
        params = urllib.parse.urlencode(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "IOC",
                "quantity": "0.1",
                "price": "1000.0",
                "newClientOrderId": f"bench-{i}",
                "recvWindow": 60000,
                "timestamp": now,
            }
        )
        query = f"{params}&signature={sign(key.secret, params)}"
        out.append(
            f"POST /fapi/v1/order?{query} HTTP/1.1\r\nHost: {host}\r\n"
            f"X-MBX-APIKEY: {key.api_key}\r\nContent-Length: 0\r\n\r\n".encode()
        )
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    """The HTTP status, or 0 for a refusal in an HTTP 200 (Bybit's non-zero retCode, OKX's
    non-zero code)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    if body.startswith(b'{"retCode":') and not body.startswith(b'{"retCode":0,'):
        return 0
    if body.startswith(b'{"code":"') and not body.startswith(b'{"code":"0",'):
        return 0
    return status


async def _latency(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reqs: list[bytes]
) -> list[float]:
    samples = []
    for req in reqs:
        start = time.perf_counter_ns()
        writer.write(req)
        status = await _read_response(reader)
        samples.append((time.perf_counter_ns() - start) / 1000)
        if status != 200:
            raise SystemExit(f"sim_orders: order refused with HTTP {status}")
    return samples


async def _throughput(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reqs: list[bytes], depth: int
) -> float:
    """Keep up to ``depth`` requests in flight; refill in batches once half have been answered,
    so the client spends one write per batch rather than one per order."""
    start = time.perf_counter()
    sent = received = 0
    while received < len(reqs):
        if sent - received <= depth // 2 and sent < len(reqs):
            batch = reqs[sent : sent + depth - (sent - received)]
            writer.write(b"".join(batch))
            sent += len(batch)
            await writer.drain()
        if await _read_response(reader) != 200:
            raise SystemExit("sim_orders: an order was refused during the throughput phase")
        received += 1
    return len(reqs) / (time.perf_counter() - start)


async def run(orders: int, pipeline: int, venue: str = "binance") -> dict[str, object]:
    config = SimConfig(
        book_ticker_hz=10,
        weight_per_minute=10**9,
        orders_per_10s=10**9,
        orders_per_minute=10**9,
        bybit_orders_per_s=10**9,
        bybit_ip_per_5s=10**9,
        okx_orders_per_2s=10**8,
    )
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimProcess.start(Path(tmp), config, venue=venue)
        try:
            host = f"127.0.0.1:{sim.port}"
            latency_reqs = _requests(sim.trader_key, max(200, orders // 5), host, venue)
            bulk = _requests(sim.trader_key, orders, host, venue)
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            await _latency(reader, writer, latency_reqs[:50])  # warm-up
            samples = await _latency(reader, writer, latency_reqs[50:])
            rate = await _throughput(reader, writer, bulk, pipeline)
            writer.close()
            await writer.wait_closed()
        finally:
            sim.stop()
    return {
        "orders_per_s": round(rate),
        "serial_orders_per_s": round(1e6 / statistics.fmean(samples)),
        "p50_us": round(percentile(sorted(samples), 0.50), 1),
        "p99_us": round(percentile(sorted(samples), 0.99), 1),
        "max_us": round(max(samples), 1),
        "orders": orders,
        "latency_samples": len(samples),
        "pipeline_depth": pipeline,
        "venue": venue,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_orders")
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--venue", choices=VENUES, default="binance")
    args = parser.parse_args()
    orders = args.orders or (3000 if args.quick else 30000)
    if orders < 1 or args.pipeline < 1:
        sys.exit("sim_orders: --orders and --pipeline must be >= 1")
    print(json.dumps(asyncio.run(run(orders, args.pipeline, args.venue))))


if __name__ == "__main__":
    main()
