"""A planned stop asked by an operator: checked, made durable, and only then applied.

The check is a pure question to the engine (it changes nothing), so a window that cannot be
written to the store is refused with nothing to undo: the trader stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from risk import Maintenance, RiskEngine

STORE_FAILING = "the state database is failing: the window could not survive a restart"


@dataclass(frozen=True)
class MaintenanceRequest:
    """An operator's request to stand a trader down for at most `window_s` seconds."""

    window_s: float
    reason: str
    operator: str

    def detail(self) -> dict[str, Any]:
        return {"reason": self.reason, "operator": self.operator, "window_s": self.window_s}


def check_begin(
    engine: RiskEngine, store_healthy: bool, request: MaintenanceRequest, now: float
) -> Maintenance | str:
    """The window granting `request` at `now` would open, or why it is refused."""
    if not store_healthy:
        return STORE_FAILING
    until = now + request.window_s
    label = f"{request.reason} (by {request.operator})"
    refusal = engine.maintenance_refusal(now, until, label)
    return Maintenance(until, label) if refusal is None else refusal
