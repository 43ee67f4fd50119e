"""Price processes: a seeded random walk with occasional jumps, or replay of recorded tickers.

Pure state machines: the shell decides when to step them; they never read a clock.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from exchange_sim.config import MarketConfig, SymbolConfig
from exchange_sim.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal
    ask: Decimal
    bid_qty: Decimal
    ask_qty: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


class PriceProcess(Protocol):
    def step(self, symbol: str) -> Quote: ...

    def jump(self, symbol: str, pct: float) -> Quote: ...


def _quote_around(mid: float, sym: SymbolConfig, spread_ticks: int, qty: Decimal) -> Quote:
    tick = float(sym.tick_size)
    center = max(round(mid / tick), spread_ticks + 1)
    bid_ticks = center - spread_ticks // 2 - spread_ticks % 2
    bid = sym.tick_size * bid_ticks
    ask = sym.tick_size * (bid_ticks + spread_ticks)
    return Quote(bid, ask, qty, qty)


class RandomWalk:
    """Geometric random walk; with ``jump_probability`` a step jumps up to ``jump_max_pct``."""

    def __init__(self, market: MarketConfig, symbols: tuple[SymbolConfig, ...]) -> None:
        self._market = market
        self._symbols = {s.symbol: s for s in symbols}
        self._mid = {s.symbol: float(s.price) for s in symbols}
        self._rng = random.Random(market.seed)
        self._sigma = market.volatility_bps / 10_000

    def _quote(self, symbol: str) -> Quote:
        m = self._market
        return _quote_around(self._mid[symbol], self._symbols[symbol], m.spread_ticks, m.level_qty)

    def step(self, symbol: str) -> Quote:
        m = self._market
        factor = math.exp(self._rng.gauss(0.0, self._sigma)) if self._sigma else 1.0
        if m.jump_probability and self._rng.random() < m.jump_probability:
            factor *= 1 + self._rng.uniform(-m.jump_max_pct, m.jump_max_pct) / 100
        self._mid[symbol] *= factor
        return self._quote(symbol)

    def jump(self, symbol: str, pct: float) -> Quote:
        self._mid[symbol] *= 1 + pct / 100
        return self._quote(symbol)


class Replay:
    """Replays a CSV ``symbol,bid,ask[,bid_qty,ask_qty]``; a jump scales what follows."""

    def __init__(self, market: MarketConfig, symbols: tuple[SymbolConfig, ...]) -> None:
        assert market.replay_csv is not None
        self._rows = _read_csv(market.replay_csv, {s.symbol for s in symbols})
        self._loop = market.replay_loop
        self._iters: dict[str, Iterator[Quote]] = {s: iter(q) for s, q in self._rows.items()}
        self._last = {s: q[0] for s, q in self._rows.items()}
        self._scale = dict.fromkeys(self._rows, Decimal(1))
        self._symbols = {s.symbol: s for s in symbols}

    def _scaled(self, symbol: str, q: Quote) -> Quote:
        scale = self._scale[symbol]
        if scale == 1:
            return q
        tick = self._symbols[symbol].tick_size
        bid = (q.bid * scale).quantize(tick)
        ask = max((q.ask * scale).quantize(tick), bid + tick)
        return Quote(bid, ask, q.bid_qty, q.ask_qty)

    def step(self, symbol: str) -> Quote:
        quote = next(self._iters[symbol], None)
        if quote is None:
            if self._loop:
                self._iters[symbol] = iter(self._rows[symbol])
                quote = next(self._iters[symbol])
            else:
                quote = self._last[symbol]
        self._last[symbol] = quote
        return self._scaled(symbol, quote)

    def jump(self, symbol: str, pct: float) -> Quote:
        self._scale[symbol] *= Decimal(str(1 + pct / 100))
        return self._scaled(symbol, self._last[symbol])


def _read_csv(path: Path, wanted: set[str]) -> dict[str, list[Quote]]:
    rows: dict[str, list[Quote]] = {s: [] for s in wanted}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for line_no, row in enumerate(csv.DictReader(fh), start=2):
                sym = row.get("symbol", "")
                if sym not in rows:
                    continue
                try:
                    bid, ask = Decimal(row["bid"]), Decimal(row["ask"])
                    bq = Decimal(row.get("bid_qty") or "1")
                    aq = Decimal(row.get("ask_qty") or "1")
                except (ArithmeticError, KeyError, TypeError):
                    raise ConfigError(f"{path}:{line_no}: bid/ask must be numbers") from None
                if not (0 < bid < ask):
                    raise ConfigError(f"{path}:{line_no}: need 0 < bid < ask")
                rows[sym].append(Quote(bid, ask, bq, aq))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read replay CSV: {exc}") from None
    missing = sorted(s for s, q in rows.items() if not q)
    if missing:
        raise ConfigError(f"{path}: no rows for symbol {missing[0]}")
    return rows


def price_process(market: MarketConfig, symbols: tuple[SymbolConfig, ...]) -> PriceProcess:
    if market.model == "replay":
        return Replay(market, symbols)
    return RandomWalk(market, symbols)
