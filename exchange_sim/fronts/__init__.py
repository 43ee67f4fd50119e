"""One front per venue protocol over the venue-neutral core; ``--venue`` picks one by name."""

from __future__ import annotations

from exchange_sim.core.state import FrontFactory
from exchange_sim.fronts.binance.app import BinanceFront
from exchange_sim.fronts.bybit.app import BybitFront
from exchange_sim.fronts.okx.app import OkxFront

FRONTS: dict[str, FrontFactory] = {"binance": BinanceFront, "bybit": BybitFront, "okx": OkxFront}
