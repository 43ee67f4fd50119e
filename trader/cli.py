"""``trader run --config trader.toml``: the reference trader's command line.

``trader check-config --config trader.toml`` validates the config and the files it names.
Exit codes: 0 stopped cleanly (no own orders left at the venue), 1 error (bad config, files,
or orders that could not be verified cancelled), 2 usage, 3 refused to start on a drifted host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import cliargs
from trader.config import load_config
from trader.errors import HostError, TraderError
from trader.host import sysprep_verifier
from trader.runner import RunOptions, check_files, serve
from watchdog.clock import SystemClock
from watchdog.logs import bound, configure

PROG = "trader"
EXIT_HOST_REFUSED = 3


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.parser(PROG, "The reference trader under the kill-switch watchdog")
    sub = cliargs.subcommands(parser)
    run = sub.add_parser("run", help="trade until SIGTERM")
    run.add_argument("--config", required=True, type=Path, help="trader TOML file")
    run.add_argument(
        "--ready-file",
        type=cliargs.file_in_a_directory,
        help='write {"pid", "metrics_port"} once started',
    )
    check = sub.add_parser("check-config", help="validate the config and the files it names")
    check.add_argument("--config", required=True, type=Path, help="trader TOML file")
    cliargs.add_json(check)
    for command in (run, check):
        cliargs.add_log_level(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(args.log_level)
    try:
        if args.command == "check-config":
            return _check(args)
        config = load_config(args.config)
        options = RunOptions(ready_file=args.ready_file)
        with bound(trader=config.watchdog.trader_id):  # every line says which trader
            return asyncio.run(
                serve(config, options, clock=SystemClock(), verifier=sysprep_verifier())
            )
    except HostError as exc:
        return cliargs.fail(PROG, f"refusing to start: {exc}", EXIT_HOST_REFUSED)
    except TraderError as exc:
        return cliargs.fail(PROG, str(exc))
    except Exception as exc:  # noqa: BLE001 - the process boundary: a bug, already logged in full
        return cliargs.fail(PROG, f"stopped by an internal error: {exc!r}")


def _check(args: argparse.Namespace) -> int:
    check_files(load_config(args.config))
    if args.json:
        print(json.dumps({"config": str(args.config), "ok": True}))
    else:
        print(f"{args.config}: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
