"""Which rules judge a trader that sends no telemetry, which cannot, and what ties its process.

`watchdog check-config` prints it, so an operator sees what such a trader is watched for before
trusting it with money. Derived from the engine the supervisor builds (same limits, same
venue view, `telemetry=False`), so what is printed is what runs.
"""

from __future__ import annotations

from typing import Any

from risk import TELEMETRY_ONLY_RULES, RiskEngine
from watchdog.daemon.config import ProcessTarget, TraderConfig


def coverage(trader: TraderConfig, now: float) -> dict[str, Any]:
    """For a trader under `telemetry = "none"`: its process tie, the rules that judge it and
    the rules that cannot (with why); `now` is any valid wall time (nothing depends on it)."""
    blind_s = trader.venue.max_venue_blind_s if trader.venue is not None else None
    engine = RiskEngine(trader.limits, now=now, max_venue_blind_s=blind_s, telemetry=False)
    return {
        "trader": trader.id,
        "telemetry": trader.telemetry,
        "process": process_tie(trader.process),
        "rules_apply": [rule.name for rule in engine.rules],
        "rules_cannot_judge": [
            {"rule": rule, "why": why} for rule, why in TELEMETRY_ONLY_RULES.items()
        ],
    }


def process_tie(target: ProcessTarget) -> str:
    """What ties the trader's process without telemetry, in words."""
    if target.unit is not None:
        return f"the main pid of unit {target.unit}"
    named = f"pid {target.pid}" if target.pid is not None else f"the pid in {target.pidfile}"
    return f"{named}, running, with {target.cmdline!r} in its command line"


def coverage_text(entry: dict[str, Any]) -> str:
    """The text form of `coverage`: three lines, indented under the config's ok line."""
    cannot = "; ".join(f"{item['rule']} ({item['why']})" for item in entry["rules_cannot_judge"])
    return (
        f'{entry["trader"]}: telemetry = "none": watched through {entry["process"]} '
        "and the watchdog's own venue view\n"
        f"  rules that apply: {', '.join(entry['rules_apply'])}\n"
        f"  rules that cannot judge: {cannot}"
    )
