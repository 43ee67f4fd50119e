"""A minimal bot for the integration tests: heartbeats through `WatchdogClient`, equity on demand.

    python -m tests.watchdog.integration.trader_bot --trader T --key-file K --socket S \
        --pidfile P [--equity 10000]

It reports `--equity` once (risk holds a trader HALTED until it knows the equity) and writes
its pid file; from then on only heartbeats go out, until it gets SIGUSR1: then it reports a
10% loss, a daily-loss breach for every profile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from watchdog.client import ClientConfig, WatchdogClient, load_key


async def run(args: argparse.Namespace) -> None:
    config = ClientConfig(
        trader_id=args.trader,
        key=load_key(args.key_file),
        address=args.socket,
        heartbeat_interval=0.05,
        ack_timeout=1.0,
    )
    breach = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, breach.set)
    async with WatchdogClient(config) as client:
        if args.equity is not None:
            client.report_account(args.equity, 0.0, 0.0)
        args.pidfile.write_text(f"{os.getpid()}\n")
        await breach.wait()
        equity = args.equity or 0.0
        while True:
            client.report_account(equity * 0.9, 0.0, -equity * 0.1)
            await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trader", required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("--equity", type=float, default=None)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
