"""``trader run --config trader.toml``: the reference trader's command line.

Exit codes: 0 stopped cleanly (no own orders left at the venue), 1 error (bad config, files,
or orders that could not be verified cancelled), 2 usage, 3 refused to start on a drifted host.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from trader.config import load_config
from trader.errors import HostError, TraderError
from trader.host import sysprep_verifier
from trader.runner import RunOptions, check_files, serve
from watchdog.clock import SystemClock
from watchdog.logs import bound, configure

PROG = "trader"
EXIT_HOST_REFUSED = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{PROG}: error: {message} (usage: {PROG} run --config FILE)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="The reference trader under the kill-switch watchdog")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="trade until SIGTERM")
    run.add_argument("--config", required=True, type=Path, help="trader TOML file")
    run.add_argument("--ready-file", type=Path, help='write {"pid", "metrics_port"} once started')
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument(
        "--check", action="store_true", help="validate the config and the files it names, then exit"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(args.log_level)
    try:
        config = load_config(args.config)
        if args.check:
            check_files(config)
            print(f"{args.config}: ok")
            return 0
        options = RunOptions(ready_file=args.ready_file)
        with bound(trader=config.watchdog.trader_id):  # every line says which trader
            return asyncio.run(
                serve(config, options, clock=SystemClock(), verifier=sysprep_verifier())
            )
    except HostError as exc:
        sys.stderr.write(f"{PROG}: error: refusing to start: {exc}\n")
        return EXIT_HOST_REFUSED
    except TraderError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the process boundary: a bug, already logged in full
        sys.stderr.write(f"{PROG}: error: stopped by an internal error: {exc!r}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
