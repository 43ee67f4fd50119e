"""A real ingress that records what clients send and acks it: shared by the client tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from killswitch_client import ClientConfig, TradingState

from risk.state import TradingState as RiskState
from tests.watchdog.wire import KEY, TRADER
from watchdog.clock import Clock
from watchdog.daemon.ingress import Ingress, IngressConfig, IngressEvent


@dataclass
class Watchdog:
    """A real ingress that records batches and acks each one with `state` (None: no ack)."""

    path: Path
    clock: Clock
    state: TradingState | None = TradingState.ACTIVE
    batches: list[tuple[bytes, list[IngressEvent], bool]] = field(default_factory=list)
    ingress: Ingress | None = None
    arrivals: list[float] = field(default_factory=list)  # monotonic receive times

    def on_batch(
        self, trader_id: str, session: bytes, events: Sequence[IngressEvent], changed: bool
    ) -> None:
        self.batches.append((session, list(events), changed))
        self.arrivals.append(time.monotonic())
        if self.state is not None and self.ingress is not None:
            self.ingress.send_ack(trader_id, RiskState(self.state), limits_version="v1")

    def events(self) -> list[IngressEvent]:
        return [event for _, events, _ in self.batches for event in events]

    def of(self, kind: type) -> list[IngressEvent]:
        return [event for event in self.events() if isinstance(event, kind)]

    async def start(self, **config: object) -> Ingress:
        cfg = IngressConfig(
            keys={TRADER: KEY},
            max_send_age={TRADER: 10.0},
            unix_path=self.path,
            **config,  # type: ignore[arg-type]
        )
        self.ingress = Ingress(cfg, clock=self.clock, on_batch=self.on_batch)
        await self.ingress.start()
        return self.ingress


def config(address: str | tuple[str, int], **overrides: object) -> ClientConfig:
    values: dict[str, object] = {"heartbeat_interval": 0.02, "ack_timeout": 0.5}
    values.update(overrides)
    return ClientConfig(TRADER, KEY, address, **values)  # type: ignore[arg-type]
