"""Rebuild the report from a saved run: `python -m bench.report [bench-results/results.json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.report.render import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", type=Path, nargs="?", default=Path("bench-results/results.json"))
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        print(f"bench.report: error: cannot read {args.results}: {exc}", file=sys.stderr)
        return 1
    if not isinstance(results, dict) or not isinstance(results.get("benchmarks"), dict):
        print(f"bench.report: error: {args.results} is not a run_all results file", file=sys.stderr)
        return 1
    print(write_report(results, args.results.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
