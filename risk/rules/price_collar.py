"""Price collar: each priced order against the venue's own mid, judged as the trader submits it
(a TELEMETRY SUBMIT) and as the venue acknowledges it (a VENUE ACK).

The mid is (bid + ask) / 2 of the latest `MarketEvent` for the symbol, fresh while its `ts` is
at most `max_mid_age_s` old. Deviation = |price - mid| / mid, in percent: WARN from
`warn_at_pct` of `collar_pct`, HALTED past it, KILLED at `kill_multiple` times it; the verdict
holds `cooldown_s` after the last order that reached the warn level (transient). A market
order (price 0) takes the market's price and is not collared.

With no fresh mid the collar cannot judge. By default the order passes (a trader is not halted
because the watchdog's market stream is late) and is counted in `unjudged`, with `detail`
saying which symbol had no mid; `require_mid = true` halts on such an order instead.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.events import OrderEvent
from risk.limits import PriceCollarLimits
from risk.rules._common import REPORTED_BY, PerOrderRule, grade_order, order_words
from risk.state import TradingState


class PriceCollarRule(PerOrderRule):
    name = "price_collar"

    def __init__(self, limits: PriceCollarLimits, warn_ratio: float) -> None:
        super().__init__(limits.cooldown_s)
        self.limits = limits
        self.warn_ratio = warn_ratio
        self.mids: dict[str, tuple[float, float]] = {}  # symbol -> (mid, its ts)
        self.require_mid = limits.require_mid
        self.max_age = limits.max_mid_age_s
        self.unjudged = 0  # priced orders no fresh mid could judge
        self._unjudged_last: OrderEvent | None = None

    def on_market(self, symbol: str, bid: float, ask: float, ts: float) -> None:
        held = self.mids.get(symbol)
        if held is None or ts >= held[1]:  # an older quote arriving late moves nothing
            self.mids[symbol] = ((bid + ask) * 0.5, ts)

    @property
    def detail(self) -> str:
        """Why the latest order the collar could not judge was not judged ("" when none)."""
        e = self._unjudged_last
        if e is None:
            return ""
        order = order_words(e.order_id, e.symbol, e.side.value, e.source)[0]
        age = self.limits.max_mid_age_s
        return f"no mid for {e.symbol} fresher than {age:g} s: {order} not collared"

    def mid(self, symbol: str, now: float) -> float:
        """The symbol's fresh mid, or 0.0 when there is none."""
        held = self.mids.get(symbol)
        if held is None or now - held[1] > self.max_age:
            return 0.0
        return held[0]

    def on_order(self, e: OrderEvent, now: float) -> bool:
        """Judge one order (the engine passes TELEMETRY SUBMITs and VENUE ACKs)."""
        price = e.price
        if price == 0.0:
            return False  # a market order: it takes the market's price
        held = self.mids.get(e.symbol)
        if held is None or now - held[1] > self.max_age:  # as `mid`, inline: the hot path
            self.unjudged += 1
            self._unjudged_last = e  # worded only when asked: this is the hot path
            return self.require_mid and self._unjudged(e, now)
        mid = held[0]
        deviation = abs(price - mid) / mid * 100.0
        collar = self.limits.collar_pct
        if deviation < collar * self.warn_ratio:
            return False
        state = grade_order(deviation, collar, self.warn_ratio, self.limits.kill_multiple)
        if state is TradingState.ACTIVE:
            return False
        order, judged = order_words(e.order_id, e.symbol, e.side.value, e.source)
        reason = (
            f"{order} price {price:g} is {deviation:.2f}% from the venue's mid {mid:g} "
            f"(collar {collar:g}%, {judged})"
        )
        return self.hold(Decision(state, self.name, deviation, collar, reason), now)

    def _unjudged(self, e: OrderEvent, now: float) -> bool:
        """An order no mid could judge, with `require_mid`: HALTED."""
        reason = f"{self.detail} ({REPORTED_BY[e.source]}; require_mid)"
        return self.hold(Decision(TradingState.HALTED, self.name, 0.0, 0.0, reason), now)
