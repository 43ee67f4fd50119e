"""Instruments as OKX names and sizes them: ``BTC-USDT-SWAP`` for the core's ``BTCUSDT``, sizes
in contracts of ``ctVal`` base units. Every conversion between the core's base-asset quantities
and OKX's contracts happens here and nowhere else.

The contract value is the symbol's ``contract_value`` (the default world uses OKX's own: 0.01 BTC
and 0.1 ETH), or one quantity step when the config names none; the lot size is the core's step
expressed in contracts, so an order on OKX's lot grid is always on the core's grid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from exchange_sim.config import SymbolConfig

SUFFIX = "-SWAP"


@dataclass(frozen=True, slots=True)
class Contract:
    sym: SymbolConfig
    inst_id: str  # BTC-USDT-SWAP
    ct_val: Decimal  # base units per contract
    lot: Decimal  # contracts per quantity step (lotSz)
    min_sz: Decimal  # contracts (minSz)
    max_sz: Decimal  # contracts (maxLmtSz, maxMktSz)

    @property
    def family(self) -> str:
        """``instFamily`` and ``uly``: BTC-USDT."""
        return self.inst_id.removesuffix(SUFFIX)

    def to_base(self, contracts: Decimal) -> Decimal:
        return contracts * self.ct_val

    def to_contracts(self, base: Decimal) -> Decimal:
        return base / self.ct_val


def contract(sym: SymbolConfig) -> Contract:
    ct_val = sym.contract_value if sym.contract_value is not None else sym.step_size
    return Contract(
        sym=sym,
        inst_id=f"{sym.base_asset}-{sym.quote_asset}{SUFFIX}",
        ct_val=ct_val,
        lot=sym.step_size / ct_val,
        min_sz=max(sym.min_qty, sym.step_size) / ct_val,
        max_sz=sym.max_qty / ct_val,
    )


class Instruments:
    """The simulated swaps, by OKX ``instId`` and by the core's symbol."""

    def __init__(self, symbols: tuple[SymbolConfig, ...]) -> None:
        contracts = [contract(s) for s in symbols]
        self.by_inst_id = {c.inst_id: c for c in contracts}
        self.by_symbol = {c.sym.symbol: c for c in contracts}

    def __iter__(self) -> Iterator[Contract]:
        return iter(self.by_inst_id.values())
