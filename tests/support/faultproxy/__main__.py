"""Run one fault proxy as its own process: ``python -m tests.support.faultproxy KIND ...``.

Chaos scenarios put it between real processes (trader and venue, trader and watchdog) and steer
it through its control port. Once listening it writes ``{"kind", "address", "control_port",
"pid"}`` to ``--ready-file`` (atomically) and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.faultproxy.control import ControlServer
from tests.support.faultproxy.datagram import Address, DatagramRelay
from tests.support.faultproxy.tcp import TcpFaultProxy

PROG = "faultproxy"


def host_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` too) for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    tcp = kinds.add_parser("tcp", help="TCP proxy (REST, WebSocket streams)")
    tcp.add_argument("--upstream", type=host_port, required=True, metavar="HOST:PORT")
    tcp.add_argument("--listen", type=host_port, default=("127.0.0.1", 0), metavar="HOST:PORT")
    udp = kinds.add_parser("udp", help="UDP datagram relay")
    udp.add_argument("--upstream", type=host_port, required=True, metavar="HOST:PORT")
    udp.add_argument("--listen", type=host_port, default=("127.0.0.1", 0), metavar="HOST:PORT")
    unix = kinds.add_parser("unix", help="Unix datagram relay")
    unix.add_argument("--upstream", required=True, metavar="PATH")
    unix.add_argument("--listen", default=None, metavar="PATH")
    for sub in (tcp, udp, unix):
        sub.add_argument("--seed", type=int, default=0, help="seed of jitter and drop draws")
        sub.add_argument("--control-port", type=int, default=0, help="loopback control port")
        sub.add_argument("--ready-file", type=Path, default=None)
    return parser.parse_args(argv)


def write_ready(path: Path, payload: dict[str, object]) -> None:
    """Write atomically: a reader polling for the file never sees half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload))
    os.replace(partial, path)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # the handler only sets a flag
    rng = random.Random(args.seed)
    proxy: TcpFaultProxy | DatagramRelay
    if args.kind == "tcp":
        proxy = TcpFaultProxy(args.upstream, listen=args.listen, rng=rng)
    else:
        proxy = DatagramRelay(args.upstream, listen=args.listen, rng=rng)
    async with proxy, ControlServer(proxy, port=args.control_port) as control:
        address: Address = proxy.address
        ready = {"kind": args.kind, "address": address, "control_port": control.port}
        ready["pid"] = os.getpid()
        if args.ready_file is not None:
            write_ready(args.ready_file, ready)
        print(json.dumps({"event": "faultproxy.ready", **ready}), file=sys.stderr, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
