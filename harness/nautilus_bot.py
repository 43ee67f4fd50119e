"""A NautilusTrader bot under a real watchdog: the node of `harness.nautilus_world`, trading on
every quote, reporting through `AsyncClient` and obeying through the adapter's actor.

    python -m harness.nautilus_bot --trader T --key-file K --socket S --pidfile P --journal J

It writes its pid file, then every 100 ms of wall time runs its node through one more quote
and appends one JSON line to the journal: the node's trading state, the orders it sent and
those it denied, and whether the actor latched a kill. It stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

from killswitch_client import AsyncClient

from harness.nautilus_world import Node
from harness.trader_bot import bot_parser, client_config

QUOTE_EVERY_S = 0.1


async def run(args: argparse.Namespace) -> None:
    config = client_config(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    args.pidfile.write_text(f"{os.getpid()}\n")
    async with AsyncClient(config) as client:
        node = Node(client, auto=True)
        try:
            with args.journal.open("a", encoding="utf-8") as journal:
                while not stop.is_set():
                    node.advance()
                    journal.write(json.dumps(line(node)) + "\n")
                    journal.flush()
                    await asyncio.sleep(QUOTE_EVERY_S)
        finally:
            node.close()


def line(node: Node) -> dict[str, object]:
    return {
        "state": node.risk_engine.trading_state.name,
        "submitted": node.strategy.submitted,
        "denied": len(node.strategy.denied),
        "killed": node.actor.killed,
    }


def main() -> None:
    parser = bot_parser()
    parser.add_argument("--journal", type=Path, required=True)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
