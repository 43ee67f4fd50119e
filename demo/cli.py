"""``python -m demo [--scenario NAME] [--venue binance|bybit|okx] [--list] [--json] [--keep]``
(``make demo SCENARIO=NAME VENUE=bybit``): every scenario runs on every venue.

Exit codes: 0 the scenario ended as it must and the venue proved it, 1 it did not (or a part
failed to start: the logs' tails are printed), 2 usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import cliargs
from demo.runner import TRADE_S, Options, run
from demo.scenarios import SCENARIOS
from harness.sim import VENUES

PROG = "demo"
DEFAULT = "trader-kill9"


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.parser(PROG, "Start the suite, trip the kill switch, prove it.")
    parser.add_argument("--scenario", default=DEFAULT, help=f"failure to inject ({DEFAULT})")
    parser.add_argument("--venue", choices=VENUES, default="binance",
                        help="the venue protocol every part speaks (binance)")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    cliargs.add_json(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir for inspection")
    parser.add_argument("--trade-s", type=float, default=TRADE_S,
                        help=f"seconds of trading before the failure ({TRADE_S:g})")  # fmt: skip
    return parser


def list_text() -> str:
    width = max(map(len, SCENARIOS))
    return "\n".join(f"{name:<{width}}  {s.title}" for name, s in SCENARIOS.items())


def list_json() -> str:
    return json.dumps([{"name": name, "title": s.title} for name, s in SCENARIOS.items()])


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM like Ctrl-C: unwind through every ``finally`` so the parts are stopped.
    raise KeyboardInterrupt


@cliargs.program
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_json() if args.json else list_text())
        return 0
    scenario = SCENARIOS.get(args.scenario)
    if scenario is None:
        parser.error(
            f"argument --scenario: unknown {args.scenario!r} (known: {', '.join(SCENARIOS)})"
        )
    if not 0 < args.trade_s <= 600:
        parser.error(f"argument --trade-s: must be in (0, 600], got {args.trade_s:g}")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        options = Options(trade_s=args.trade_s, keep=args.keep, venue=args.venue)
        if args.json:  # the narration goes to stderr, the one JSON object to stdout
            return run(scenario, options, sys.stderr, sys.stdout)
        return run(scenario, options, sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted: every process it started is stopped\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
