"""``exchange-sim``: run the simulated venue as its own process.

``exchange-sim check-config --config sim.toml`` validates a world file and exits. The command
line behaves as the suite's (`cliargs`), from a copy of its own: exchange_sim shares no code
with the suite. Usage errors are one line, ``exchange-sim: error: ...``, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from exchange_sim.config import load_config
from exchange_sim.errors import SimError
from exchange_sim.fronts import FRONTS
from exchange_sim.server import ServeOptions, serve

PROG = "exchange-sim"
DISTRIBUTION = "killswitch-suite"
LOG_LEVELS = ("debug", "info", "warning", "error")
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


class _Parser(argparse.ArgumentParser):
    """One-line usage errors naming the subcommand, exit 2, no abbreviated options (the
    suite's `cliargs.Parser`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        root, _, command = self.prog.partition(" ")
        where = f"{command}: " if command else ""
        self.exit(2, f"{root}: error: {where}{message} (try: {self.prog} --help)\n")


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return f"(unknown: {DISTRIBUTION} is not installed, no package metadata)"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _ready_file(text: str) -> Path:
    """Its directory must exist now (the suite's `cliargs.file_in_a_directory`)."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path.parent} is not a directory")
    return path


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=(
            "Local exchange speaking a venue's protocol: Binance USD-M futures, Bybit v5, OKX v5."
        ),
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = p.add_subparsers(dest="command", parser_class=_Parser)
    check = commands.add_parser("check-config", help="validate a sim.toml and exit")
    check.add_argument("--config", type=Path, required=True, help="sim.toml")
    check.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
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
        type=_ready_file,
        default=None,
        help='written atomically once listening: {"port", "admin_port", "pid"}',
    )
    p.add_argument(
        "--log-level",
        type=str.lower,
        default="info",
        choices=LOG_LEVELS,
        help="least severe level logged (default: info)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return _check(args)
        _log_to_stderr(args.log_level)
        config = load_config(args.config)
        asyncio.run(
            serve(
                config,
                ServeOptions(args.host, args.port, args.admin_port, args.ready_file, args.venue),
            )
        )
    except SimError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    except OSError as err:  # the process boundary: e.g. the ready file cannot be written
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _check(args: argparse.Namespace) -> int:
    load_config(args.config)
    if args.json:
        print(json.dumps({"config": str(args.config), "ok": True}))
    else:
        print(f"{args.config}: ok")
    return 0


def _log_to_stderr(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.Formatter.converter = time.gmtime
