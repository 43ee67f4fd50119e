"""Soak: the healthy demo stack trading for a long time must raise no alarm at all.

    python -m bench.soak [--quick] [--seconds S]

Real processes on loopback, built by the demo's world (exchange_sim, the watchdog, the
reference trader quoting and filling): nothing is injected. The demo's limits, but a daily loss
of 1,000 USDT instead of 30: the demo's is tight so that its scenarios trip at once, and the
trader's quoting loses a few USDT a minute, which would end a 10-minute run in a true alarm.
`daily_loss_used_max_pct` shows how close it came. The window opens once the trader is ACTIVE
in the watchdog's status and lasts `--seconds` (600, quick 30). What it counts, all from the
watchdog's own records:

- `transitions`: audited decisions that changed the trader's state (ACTIVE -> WARN, ...);
- `non_active_s`: seconds of the window the trader spent in any state but ACTIVE;
- `alerts`: alerts the watchdog raised (each is logged before it is delivered);
- `decision_rows_count`: audited decision rows of any kind (a rule flapping inside one state
  shows here even when the state does not change).

A healthy trader scores zero on all four; anything else is a false alarm. The trader's own
order and fill counters show that it did trade. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench._stats import summary
from demo import configs
from demo.errors import DemoError
from demo.procs import wait_for
from demo.world import World, metric_sum

SOAK_DAILY_LOSS_QUOTE = 1_000.0  # USDT, 1% of the sim account: far above the quoting loss
FULL_S = 600.0
QUICK_S = 30.0
ACTIVE_WITHIN_S = 60.0  # generous: a cold start on a busy 2-core machine
CHECK_EVERY_S = 1.0
AUDIT_PAGE = 5_000


@dataclass(frozen=True)
class Change:
    """One audited decision row: when, and the trader's state before and after it."""

    ts: float
    before: str
    after: str


@dataclass(frozen=True)
class Figures:
    transitions: int
    non_active_s: float
    episodes_s: tuple[float, ...]  # the length of each stretch away from ACTIVE
    decision_rows: int


def changes(audit: Iterable[dict[str, Any]], trader: str) -> list[Change]:
    """Pure: the trader's decision rows, oldest first."""
    rows = (e for e in audit if e.get("trader") == trader and e.get("kind") == "decision")
    return sorted(
        (Change(float(e["ts"]), str(e["detail"]["from"]), str(e["detail"]["to"])) for e in rows),
        key=lambda c: c.ts,
    )


def figures(rows: Sequence[Change], began: float, ended: float) -> Figures:
    """Pure: time away from ACTIVE within [began, ended], the trader being ACTIVE at `began`."""
    state, since = "ACTIVE", began
    episodes: list[float] = []
    transitions = 0
    inside = [c for c in rows if began <= c.ts <= ended]
    for change in inside:
        if change.after == change.before:
            continue
        transitions += 1
        if state == "ACTIVE" and change.after != "ACTIVE":
            since = change.ts
        elif state != "ACTIVE" and change.after == "ACTIVE":
            episodes.append(change.ts - since)
        state = change.after
    if state != "ACTIVE":
        episodes.append(ended - since)
    return Figures(transitions, sum(episodes), tuple(episodes), len(inside))


def count_alerts(log_lines: Iterable[str], began: float, ended: float) -> int:
    """Pure: the watchdog's `alert` log lines (JSON) stamped within [began, ended]."""
    count = 0
    for line in log_lines:
        if '"alert"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "alert" and began <= float(entry.get("ts", 0.0)) <= ended:
            count += 1
    return count


def _read_audit(world: World, since: float) -> list[dict[str, Any]]:
    """Every audit entry from `since`, page by page (the control API caps one answer)."""
    seen: dict[int, dict[str, Any]] = {}
    while True:
        page = world.watchdog_cli("audit", "--since", repr(since), "--limit", str(AUDIT_PAGE))
        fresh = [e for e in page if int(e["id"]) not in seen]
        seen.update((int(e["id"]), e) for e in fresh)
        if len(page) < AUDIT_PAGE or not fresh:
            return list(seen.values())
        since = max(float(e["ts"]) for e in page)


def _wait_active(world: World) -> float:
    def active() -> bool:
        return world.trader_status().get("state") == "ACTIVE"

    wait_for(active, ACTIVE_WITHIN_S, "the trader to be ACTIVE")
    return time.time()


def _trade(world: World, seconds: float) -> tuple[float, float]:
    """Let the stack trade; fail at once if a part dies. Returns the wall time it ended and
    the largest share of the daily-loss limit used (status polled once a second)."""
    end = time.monotonic() + seconds
    used = 0.0
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(CHECK_EVERY_S, left))
        for name in ("sim", "watchdog", "trader"):
            proc = world.proc(name)
            if not proc.alive():
                raise DemoError(f"{name} exited with {proc.popen.returncode} during the soak")
        utilisation = world.trader_status().get("utilisation") or {}
        used = max(used, float(utilisation.get("daily_loss", 0.0)))
    return time.time(), used


def _log_tails(world: World) -> None:
    """What each part said last, on stderr: a failed soak must say why."""
    for name, proc in world.procs.items():
        sys.stderr.write(f"--- last lines of {name}.log ---\n{proc.log_tail()}\n")


def run(seconds: float) -> dict[str, Any]:
    """Start the stack, soak it for `seconds`, and read what the watchdog recorded."""
    with World(limits=configs.limits_toml(SOAK_DAILY_LOSS_QUOTE)) as world:
        try:
            world.start_sim()
            world.write_credentials()
            world.start_watchdog()
            world.start_trader()
            began = _wait_active(world)
            ended, loss_used = _trade(world, seconds)
        except DemoError:
            _log_tails(world)
            raise
        rows = changes(_read_audit(world, began), configs.TRADER_ID)
        log = world.proc("watchdog").log_path.read_text(errors="replace")
        metrics = world.trader_metrics()
        result = figures(rows, began, ended)
        alerts = count_alerts(log.splitlines(), began, ended)
    out: dict[str, Any] = {
        "seconds": round(ended - began, 3),
        "non_active_s": round(result.non_active_s, 3),
        "transitions": result.transitions,
        "alerts": alerts,
        "decision_rows_count": result.decision_rows,
        "orders_count": int(metric_sum(metrics, "trader_orders_total")),
        "fills_count": int(metric_sum(metrics, "trader_fills_total")),
        "daily_loss_used_max_pct": round(loss_used * 100, 2),
    }
    if result.episodes_s:
        out.update(summary(result.episodes_s, "non_active_episode", "s"))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_S:g} s run")
    parser.add_argument("--seconds", type=float, default=None, help=f"default {FULL_S:g}")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (QUICK_S if args.quick else FULL_S)
    if seconds <= 0:
        parser.error("--seconds must be positive")
    try:
        result = run(seconds)
    except DemoError as exc:
        sys.exit(f"soak: error: {exc}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
