"""A minimal bot for the integration tests: heartbeats through `AsyncClient`, equity on demand.

    python -m harness.trader_bot --trader T --key-file K --socket S \
        --pidfile P [--equity 10000] [--orders N] [--report-stamp FILE]

It reports `--equity` once (risk holds a trader HALTED until it knows the equity), `--orders`
submitted-and-acknowledged orders, and its own state (ACTIVE) with every heartbeat; then it
writes its pid file. From then on only heartbeats and its state go out, until a signal:
SIGUSR1 reports a 10% loss, a daily-loss breach for every profile (``--report-stamp``: the
monotonic time of that report call is written to FILE, the trigger a benchmark measures the
kill from); SIGUSR2 reports its own state as HALTED.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from killswitch_client import AsyncClient, ClientConfig, load_key

from risk.state import TradingState

SELF_HALT_REASON = "halted itself: feed lost"


def client_config(args: argparse.Namespace) -> ClientConfig:
    """The client of a test bot: heartbeats every 50 ms, the short deadlines of the tests."""
    return ClientConfig(
        trader_id=args.trader,
        key=load_key(args.key_file),
        address=args.socket,
        heartbeat_interval=0.05,
        ack_timeout=1.0,
    )


def bot_parser() -> argparse.ArgumentParser:
    """The options every test bot takes: who it is, its key, the ingress, its pid file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--trader", required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    return parser


async def run(args: argparse.Namespace) -> None:
    config = client_config(args)
    breach = asyncio.Event()
    halted = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, breach.set)
    loop.add_signal_handler(signal.SIGUSR2, halted.set)
    stamp = _stamper(args.report_stamp)
    async with AsyncClient(config) as client:
        if args.equity is not None:
            client.report_account(args.equity, 0.0, 0.0)
        for _ in range(args.orders):
            client.report_order("SUBMIT", "BTCUSDT", "BUY", 0.001, 50_000.0)
            client.report_order("ACK", "BTCUSDT", "BUY", 0.001, 50_000.0)
        args.pidfile.write_text(f"{os.getpid()}\n")
        while not breach.is_set():
            if halted.is_set():
                client.report_state(TradingState.HALTED, SELF_HALT_REASON)
            else:
                client.report_state(TradingState.ACTIVE)
            await asyncio.sleep(0.05)
        equity = args.equity or 0.0
        # Stamped and written before the call (one write on a file opened at start): a kill
        # answering the report may stop this process before it runs another line.
        stamp(time.monotonic())
        client.report_account(equity * 0.9, 0.0, -equity * 0.1)
        while True:
            await asyncio.sleep(0.05)
            client.report_account(equity * 0.9, 0.0, -equity * 0.1)


def _stamper(path: Path | None) -> Callable[[float], None]:
    if path is None:
        return lambda _: None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def write(t: float) -> None:
        os.write(fd, f"{t!r}\n".encode())

    return write


def main() -> None:
    parser = bot_parser()
    parser.add_argument("--equity", type=float, default=None)
    parser.add_argument("--orders", type=int, default=0)
    parser.add_argument("--report-stamp", type=Path, default=None)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
