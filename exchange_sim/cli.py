"""``exchange-sim``: run the simulated venue as its own process."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from exchange_sim.config import load_config
from exchange_sim.errors import SimError
from exchange_sim.fronts import FRONTS
from exchange_sim.server import ServeOptions, serve

PROG = "exchange-sim"
_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD_ATTRS:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Local exchange speaking a venue's protocol: Binance USD-M futures, Bybit v5.",
    )
    p.add_argument(
        "--venue",
        default="binance",
        choices=sorted(FRONTS),
        help="the protocol the venue API speaks (default binance)",
    )
    p.add_argument("--host", default="127.0.0.1", help="venue API address (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="venue API port (0 = any free port)")
    p.add_argument("--admin-port", type=_port, default=0, help="admin API port, loopback only")
    p.add_argument("--config", type=Path, default=None, help="sim.toml (default: built-in world)")
    p.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help='written atomically once listening: {"port", "admin_port", "pid"}',
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    logging.Formatter.converter = time.gmtime
    try:
        config = load_config(args.config)
        asyncio.run(
            serve(
                config,
                ServeOptions(args.host, args.port, args.admin_port, args.ready_file, args.venue),
            )
        )
    except SimError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
