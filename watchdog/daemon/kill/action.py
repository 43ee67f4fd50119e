"""`KillAction`: one effect of a kill, tried until verified (docs/design.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from watchdog.clock import Clock
from watchdog.daemon.config import KillConfig, TraderConfig

if TYPE_CHECKING:
    from watchdog.daemon.alerts import Alerter
    from watchdog.daemon.liveness import ProcessWatch


class KillAction(Protocol):
    name: str  # stable: stored in SQLite, shown in the audit

    async def attempt(self) -> str:
        """One try. Raises `KillStepError` on failure; returns a short detail for the audit."""
        ...

    async def verify(self) -> bool:
        """True once the effect is confirmed."""
        ...


@dataclass(frozen=True)
class KillContext:
    """What a factory may use to build its action for one kill of one trader."""

    trader: TraderConfig
    kill_id: str
    reason: str
    clock: Clock
    kill: KillConfig
    alerter: Alerter
    process: ProcessWatch


# A factory returns None when its action does not apply to this trader (nothing configured).
ActionFactory = Callable[[KillContext], KillAction | None]
