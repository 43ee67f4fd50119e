"""How much earlier the trader's SUBMIT reaches the watchdog than the venue's ACK of the same
order: what `[key_misuse] reorder_s` must cover, measured where key misuse judges it.

    python -m bench.submit_ack_lag [--quick] [--seconds S] [--venue binance|bybit|all]
                                   [--busy N]

Real processes on loopback, built by the demo's world (exchange_sim, the watchdog, the
reference trader quoting and requoting): for each venue, the trader trades for `--seconds`
(60, quick 20) while `--busy` processes (default: one per CPU) spin at normal priority, so the
trader, the venue and the watchdog are all descheduled now and then, as on a loaded host.

The watchdog itself measures, per order, the lead of the trader's first report over the
venue's ACK as each reaches it (its status, `report_lead`): orders the report reached first are
counted, those the ACK beat are kept as a histogram of their lag and the worst one. Per venue
(keys prefixed with the venue's name):

- `orders_matched_count`: venue ACKs matched with a report, either way round;
- `ack_first_count`, `ack_first_pct`: of them, the ones the venue's ACK reached first;
- `submit_first_min_ms`: the closest call among the others, the smallest lead of a report over
  its ACK (null: none);
- `ack_before_submit_max_ms`: the largest lag of a SUBMIT behind its ACK (0: never behind);
- `ack_before_submit_p99_at_most_ms`: the upper edge of the histogram bucket holding the 99th
  percentile of that lag over every matched order (0: at p99 the SUBMIT came first);
- `ack_first_lag_ms`: the histogram, `[upper edge in ms (null: beyond the last), count]`;
- `state`, `key_misuse_kills_count`: the trader must end ACTIVE, never killed for key misuse.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bench._stats import percentile
from bench.soak import SOAK_DAILY_LOSS_QUOTE
from demo import configs
from demo.errors import DemoError
from demo.procs import wait_for
from demo.world import World

FULL_S = 60.0
QUICK_S = 20.0
VENUES = ("binance", "bybit")
ACTIVE_WITHIN_S = 60.0  # generous: a cold start on a busy 2-core machine
CHECK_EVERY_S = 1.0
SPIN = "while True: pass"


@contextmanager
def spinning(count: int) -> Iterator[None]:
    """`count` processes that keep a CPU busy until the block ends."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait(timeout=30)


def p99_at_most_ms(lead: dict[str, Any]) -> float:
    """Pure: the upper edge (ms) of the bucket that holds the 99th percentile of the SUBMIT's
    lag behind the ACK over all matched orders (nearest rank); 0 when the SUBMIT came first
    there. The open last bucket is bounded by the worst lag."""
    orders = int(lead["orders"])
    if orders == 0:
        return 0.0
    worst = float(lead["ack_first_max_ms"])
    # Each order stands at its bucket's upper edge; a SUBMIT that came first at 0.
    edges = [0.0] * (orders - int(lead["ack_first"]))
    for edge, count in lead["ack_first_lag_ms"]:
        edges += [worst if edge is None else float(edge)] * int(count)
    return percentile(sorted(edges), 0.99)


def figures(status: dict[str, Any], key_misuse_kills: int) -> dict[str, Any]:
    """Pure: the figures of one venue's run from the trader's status at its end."""
    lead = status["report_lead"]
    orders, ack_first = int(lead["orders"]), int(lead["ack_first"])
    return {
        "orders_matched_count": orders,
        "ack_first_count": ack_first,
        "ack_first_pct": round(100.0 * ack_first / orders, 3) if orders else 0.0,
        "submit_first_min_ms": lead["report_first_min_ms"],
        "ack_before_submit_max_ms": float(lead["ack_first_max_ms"]),
        "ack_before_submit_p99_at_most_ms": p99_at_most_ms(lead),
        "ack_first_lag_ms": lead["ack_first_lag_ms"],
        "state": status["state"],
        "key_misuse_kills_count": key_misuse_kills,
    }


def _trade(world: World, seconds: float) -> None:
    """Let the stack trade; fail at once if a part dies or the trader leaves ACTIVE."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(CHECK_EVERY_S, left))
        for name in ("sim", "watchdog", "trader"):
            proc = world.proc(name)
            if not proc.alive():
                raise DemoError(f"{name} exited with {proc.popen.returncode} during the run")
        status = world.trader_status()
        if status["state"] == "KILLED":
            raise DemoError(f"the trader was killed: {json.dumps(status['decisions'])[:2000]}")


def run_venue(venue: str, seconds: float, busy: int) -> dict[str, Any]:
    with World(limits=configs.limits_toml(SOAK_DAILY_LOSS_QUOTE), venue=venue) as world:
        try:
            world.start_sim()
            world.write_credentials()
            world.start_watchdog()
            world.start_trader()
            wait_for(
                lambda: world.trader_status().get("state") == "ACTIVE",
                ACTIVE_WITHIN_S,
                "the trader to be ACTIVE",
            )
            with spinning(busy):
                _trade(world, seconds)
            status = world.trader_status()
        except DemoError:
            for name, proc in world.procs.items():
                sys.stderr.write(f"--- last lines of {name}.log ---\n{proc.log_tail()}\n")
            raise
        kills = sum(1 for d in status["decisions"] if d["rule"] == "key_misuse")
        return figures(status, kills)


def run(venues: Sequence[str], seconds: float, busy: int) -> dict[str, Any]:
    out: dict[str, Any] = {"seconds": seconds, "busy_processes_count": busy}
    for venue in venues:
        for key, value in run_venue(venue, seconds, busy).items():
            out[f"{venue}_{key}"] = value
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.submit_ack_lag")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_S:g} s per venue")
    parser.add_argument("--seconds", type=float, default=None, help=f"default {FULL_S:g}")
    parser.add_argument("--venue", choices=(*VENUES, "all"), default="all")
    parser.add_argument(
        "--busy", type=int, default=os.cpu_count() or 1, help="spinning processes (default: 1/CPU)"
    )
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (QUICK_S if args.quick else FULL_S)
    if seconds <= 0 or args.busy < 0:
        parser.error("--seconds must be positive and --busy >= 0")
    venues = VENUES if args.venue == "all" else (args.venue,)
    try:
        result = run(venues, seconds, args.busy)
    except DemoError as exc:
        sys.exit(f"submit_ack_lag: error: {exc}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
