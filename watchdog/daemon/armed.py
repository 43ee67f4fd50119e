"""Armed: every part of the chain that makes a kill work, working now; or the parts that do not.

A watchdog is armed only while it could kill right now and see that the kill took: telemetry
comes in (ingress), the latch can be written (store), and for each trader its process is
identified, and, with a venue side, the watchdog's own keys pass their self-check, the venue's
dead man's switch was refreshed and has not run out, and the venue view is fresh.

A configured switch the venue says it does not have (Bybit DCP on an account Bybit has not
enabled it for) is missing, never assumed: it is not a layer the watchdog can see. The
operator's way to arm without it is to turn it off explicitly (``dcp_window_s = 0`` /
``dms_countdown_ms = 0``): then there is no switch to judge, and the status says so.

Pure: it judges the very status the daemon shows (the fields the status page and the CLI
display), so what is shown and what is judged cannot disagree. `now` is wall seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The parts, in the order they are reported.
INGRESS, STORE, PROCESS, VENUE_KEYS, DMS, VENUE_VIEW = (
    "ingress", "store", "process", "venue_keys", "dms", "venue_view",
)  # fmt: skip
# A refresh may be late by this many intervals before the switch counts as not refreshed:
# one missed refresh is a slow venue answer, two are a problem (the venue acts after three).
_DMS_LATE_INTERVALS = 2.0


@dataclass(frozen=True, slots=True)
class Missing:
    """One part that does not work now, and why."""

    part: str
    reason: str
    trader: str | None = None  # None: a part of the daemon, shared by every trader

    def as_dict(self) -> dict[str, Any]:
        return {"part": self.part, "trader": self.trader, "reason": self.reason}


def daemon_missing(status: Mapping[str, Any]) -> list[Missing]:
    """The daemon's own parts: `ingress_healthy`, `store_healthy` (+ `store_error`)."""
    missing = []
    if status.get("ingress_healthy") is not True:
        missing.append(Missing(INGRESS, "the telemetry ingress is not listening"))
    if status.get("store_healthy") is not True:
        error = status.get("store_error") or "not open"
        missing.append(Missing(STORE, f"the state database cannot be written: {error}"))
    return missing


def process_identity(trader: Mapping[str, Any]) -> str | None:
    """Why the trader's process is not identified, or None when it is.

    Known means the watchdog has tied a pid to the trader (its `identity` field: a unit's main
    pid, or the kernel-reported sender of the trader's authentic telemetry), not merely that a
    pid is configured: an untied pid is never the trader.
    """
    identity = trader.get("identity")
    if not isinstance(identity, Mapping):
        return "the trader's process identity is unknown: the status does not report it"
    if identity.get("known") is True:
        return None
    reason = identity.get("reason") or "no reason given"
    return f"the trader's process is not identified: {reason}"


def trader_missing(trader: Mapping[str, Any], now: float) -> list[Missing]:
    """One trader's parts, from its status entry (fields as `WatchdogServer` shows them)."""
    tid = str(trader.get("id"))
    reasons: list[tuple[str, str | None]] = []
    if trader.get("process_watched"):
        reasons.append((PROCESS, process_identity(trader)))
    keys = trader.get("venue_keys")
    if keys is not None:
        reasons.append((VENUE_KEYS, _keys(keys)))
        reasons.append((VENUE_VIEW, _view(trader.get("venue_view") or {}, now)))
    dms = trader.get("dms")
    if dms is not None:
        reasons.append((DMS, _dms(dms, now)))
    return [Missing(part, why, tid) for part, why in reasons if why is not None]


def judge(
    status: Mapping[str, Any], traders: Sequence[Mapping[str, Any]], now: float
) -> list[Missing]:
    """Everything missing, daemon parts first; empty means armed."""
    missing = daemon_missing(status)
    for trader in traders:
        missing.extend(trader_missing(trader, now))
    return missing


def _keys(keys: Mapping[str, Any]) -> str | None:
    if keys.get("checked_at") is None:
        return "the watchdog's venue keys have not been checked yet"
    if keys.get("ok") is not True:
        return f"the watchdog's venue keys fail their self-check: {keys.get('detail')}"
    return None


def _view(view: Mapping[str, Any], now: float) -> str | None:
    at, limit = view.get("at"), view.get("max_blind_s")
    if not isinstance(at, int | float):
        return "no venue view yet: no successful read of the venue account"
    if not isinstance(limit, int | float):
        return f"the venue view is {now - at:.1f} s old (no limit known)"
    if now - at > limit:
        return f"the venue view is {now - at:.1f} s old (max {limit:g} s)"
    return None


def _dms(dms: Mapping[str, Any], now: float) -> str | None:
    expires, refreshed = dms.get("expires_at"), dms.get("refreshed_at")
    if dms.get("supported") is False:
        return (
            f"the venue's dead man's switch is unsupported here ({dms.get('detail')}): have the "
            "venue enable it, or turn it off in the config to arm without it"
        )
    if dms.get("ok") is not True:
        detail = dms.get("detail") or "never refreshed"
        return f"the venue's dead man's switch is not confirmed: {detail}"
    if not isinstance(expires, int | float) or not isinstance(refreshed, int | float):
        return "the venue's dead man's switch was never confirmed"
    if expires <= now:
        return f"the venue's dead man's switch ran out {now - expires:.1f} s ago"
    interval = dms.get("refresh_s")
    if isinstance(interval, int | float) and now - refreshed > _DMS_LATE_INTERVALS * interval:
        return (
            f"the venue's dead man's switch was last refreshed {now - refreshed:.1f} s ago "
            f"(every {interval:g} s)"
        )
    return None
