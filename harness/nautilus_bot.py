"""A NautilusTrader bot under a real watchdog, reporting through `AsyncClient` and obeying
through the adapter's actor. Two flavours of node:

    python -m harness.nautilus_bot --trader T --key-file K --socket S --pidfile P --journal J
    python -m harness.nautilus_bot ... --live --base-url URL --ws-url URL --credentials C

Without `--live`, the backtest node of `harness.nautilus_world` (Nautilus's simulated venue),
run through one more quote every 100 ms of wall time. With it, the live node of
`harness.nautilus_live`: Nautilus's Binance futures clients trading on exchange_sim at
`--base-url` / `--ws-url` with the key in `--credentials` (TOML: `api_key`, `secret`).

It writes its pid file, then every 100 ms appends one JSON line to the journal: the node's
trading state, the orders it sent and those it denied, and whether the actor latched a kill.
It stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tomllib
from pathlib import Path
from typing import Any, TextIO

from killswitch_client import AsyncClient

from harness.nautilus_live import LiveNode, SimVenue
from harness.nautilus_world import Node
from harness.trader_bot import bot_parser, client_config

LINE_EVERY_S = 0.1


async def run(args: argparse.Namespace) -> None:
    config = client_config(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    args.pidfile.write_text(f"{os.getpid()}\n")
    async with AsyncClient(config) as client:
        with args.journal.open("a", encoding="utf-8") as journal:
            if args.live:
                await run_live(args, client, stop, journal)
            else:
                await run_backtest(client, stop, journal)


async def run_backtest(client: AsyncClient, stop: asyncio.Event, journal: TextIO) -> None:
    node = Node(client, auto=True)
    try:
        while not stop.is_set():
            node.advance()
            write_line(journal, node)
            await asyncio.sleep(LINE_EVERY_S)
    finally:
        node.close()


async def run_live(
    args: argparse.Namespace, client: AsyncClient, stop: asyncio.Event, journal: TextIO
) -> None:
    creds = tomllib.loads(args.credentials.read_text())
    venue = SimVenue(args.base_url, args.ws_url, creds["api_key"], creds["secret"])
    node = LiveNode(client, venue)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(node.run(stop))
        while not stop.is_set():
            write_line(journal, node)
            await asyncio.sleep(LINE_EVERY_S)


def write_line(journal: TextIO, node: Any) -> None:
    line = {
        "state": node.risk_engine.trading_state.name,
        "submitted": node.strategy.submitted,
        "denied": len(node.strategy.denied),
        "killed": node.actor.killed,
    }
    journal.write(json.dumps(line) + "\n")
    journal.flush()


def main() -> None:
    parser = bot_parser()
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--live", action="store_true", help="a live node on exchange_sim")
    parser.add_argument("--base-url", default="", help="the sim's REST base (with --live)")
    parser.add_argument("--ws-url", default="", help="the sim's stream base (with --live)")
    parser.add_argument("--credentials", type=Path, help="TOML: api_key, secret (with --live)")
    args = parser.parse_args()
    if args.live and not (args.base_url and args.ws_url and args.credentials):
        parser.error("--live needs --base-url, --ws-url and --credentials")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
