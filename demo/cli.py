"""``python -m demo [--scenario NAME] [--list] [--keep]`` (``make demo SCENARIO=NAME``).

Exit codes: 0 the scenario ended as it must and the venue proved it, 1 it did not (or a part
failed to start: the logs' tails are printed), 2 usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from demo.runner import TRADE_S, Options, run
from demo.scenarios import SCENARIOS

PROG = "demo"
DEFAULT = "trader-kill9"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{PROG}: error: {message} (try: python -m demo --list)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Start the suite, trip the kill switch, prove it.")
    parser.add_argument("--scenario", default=DEFAULT, help=f"failure to inject ({DEFAULT})")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir for inspection")
    parser.add_argument("--trade-s", type=float, default=TRADE_S,
                        help=f"seconds of trading before the failure ({TRADE_S:g})")  # fmt: skip
    return parser


def list_text() -> str:
    width = max(map(len, SCENARIOS))
    return "\n".join(f"{name:<{width}}  {s.title}" for name, s in SCENARIOS.items())


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM like Ctrl-C: unwind through every ``finally`` so the parts are stopped.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_text())
        return 0
    scenario = SCENARIOS.get(args.scenario)
    if scenario is None:
        known = ", ".join(SCENARIOS)
        sys.stderr.write(f"{PROG}: error: unknown scenario {args.scenario!r} (known: {known})\n")
        return 2
    if not 0 < args.trade_s <= 600:
        sys.stderr.write(f"{PROG}: error: --trade-s must be in (0, 600], got {args.trade_s:g}\n")
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(scenario, Options(trade_s=args.trade_s, keep=args.keep), sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted: every process it started is stopped\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
