"""The shell's time-driven work, driven by an injected clock: no waiting in these tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal as D

from exchange_sim.config import load_config
from exchange_sim.core.orders import NewOrder
from exchange_sim.core.state import Sim
from exchange_sim.fronts.binance.app import BinanceFront, open_listen_key


@dataclass
class FakeClock:
    mono: float = 1000.0
    epoch: float = 1_700_000_000.0

    def wall(self) -> float:
        return self.epoch + self.mono

    def monotonic(self) -> float:
        return self.mono


def _limit(price: str) -> NewOrder:
    return NewOrder("BTCUSDT", "BUY", "LIMIT", "GTC", D("0.01"), D(price), False, None)


async def test_countdown_fires_exactly_when_its_deadline_passes() -> None:
    clock = FakeClock()
    sim = Sim(load_config(None), clock, BinanceFront)
    sim.engine.place("trader1", _limit("50000.0"), 0)
    sim.engine.set_countdown("trader1", "BTCUSDT", 500, clock.monotonic())
    clock.mono += 0.499
    sim.check_countdowns()
    assert len(sim.engine.open_orders("trader1", None)) == 1
    clock.mono += 0.002
    sim.check_countdowns()
    assert sim.engine.open_orders("trader1", None) == []
    [entry] = [e for e in sim.journal.since(0, 100) if e.endpoint == "countdown_cancel_all"]
    assert entry.mono == clock.mono
    assert entry.account == "trader1"


async def test_listen_keys_expire_unless_kept_alive() -> None:
    clock = FakeClock()
    sim = Sim(replace(load_config(None), listen_key_validity_s=60.0), clock, BinanceFront)
    trader = sim.engine.keys["SimTraderKey".ljust(64, "0")]
    watchdog = sim.engine.keys["SimWatchdogKey".ljust(64, "0")]
    kept = open_listen_key(sim, watchdog)
    dropped = open_listen_key(sim, trader)
    clock.mono += 50
    assert open_listen_key(sim, watchdog) is kept  # POST again = keep-alive
    clock.mono += 11
    sim.expire_channels()
    assert set(sim.channels) == {kept.token}
    assert dropped.token not in sim.channels
    assert sim.engine.listening == {"trader1"}
