"""Put a ccxt exchange under the watchdog: `supervise(exchange, client)`.

Two lines in a bot: build the client, wrap the exchange; every other line stays as it was.
The exchange object keeps its class's interface (it becomes an instance of a subclass, so
`isinstance` and ccxt's own convenience methods, which call `create_order`, still work), sync
(`ccxt`) or async (`ccxt.async_support`):

- `create_order` checks the client's state first and raises `TradingHalted` before anything
  is sent when the state forbids the order: new orders need ACTIVE or WARN, reduce-only ones
  (`params={"reduceOnly": True}`) pass in REDUCING and HALTED too, nothing passes KILLED.
  Then it reports SUBMIT with the client order id the venue will see (it sets
  `clientOrderId` when the bot did not), sends, and reports ACK, or REJECT when the venue
  refused (a ccxt `ExchangeError`); a network error is an unknown, reported as nothing: the
  watchdog's own view of the venue settles it.
- Cancels always pass (`cancel_order`, `cancel_all_orders`, ...), and what they return is
  reported like any order the wrapper sees.
- Every order or trade the bot reads back (`fetch_order`, `fetch_orders`, `fetch_open_orders`,
  `fetch_closed_orders`, `fetch_my_trades`, the answers to create and cancel) reports its new
  fills (FILL, the filled quantity since the last report of that order) and its cancellation.
- `create_orders` (a batch) is refused with ccxt's `NotSupported`: place orders one by one.

Needs the `ccxt` extra: `pip install 'killswitch-client[ccxt]'`.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import math
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ccxt

from killswitch_client._core import ClientCore
from killswitch_client.errors import ReportError
from killswitch_client.states import OrderEventKind, Side

log = logging.getLogger(__name__)

ExchangeT = TypeVar("ExchangeT")

# Where ccxt and the venues take a client order id, in the order they are looked for.
_ID_PARAMS = ("clientOrderId", "newClientOrderId", "orderLinkId", "clOrdId")
_READS = (
    "fetch_order", "fetch_orders", "fetch_open_orders", "fetch_closed_orders",
    "fetch_canceled_orders", "fetch_my_trades", "cancel_order", "cancel_orders",
    "cancel_all_orders",
)  # fmt: skip
_ENDED = frozenset({"canceled", "cancelled", "expired", "rejected"})


def supervise(exchange: ExchangeT, client: ClientCore) -> ExchangeT:
    """Supervise `exchange` (in place) with `client` (a `Client` or an `AsyncClient`) and
    return it."""
    base = type(exchange)
    if isinstance(getattr(exchange, "killswitch", None), OrderReporter):
        raise ValueError("this exchange is already supervised")
    make = _async_methods if inspect.iscoroutinefunction(base.create_order) else _sync_methods  # type: ignore[attr-defined]
    exchange.__class__ = type(f"Supervised{base.__name__}", (base,), make(base))
    exchange.killswitch = OrderReporter(client, exchange)  # type: ignore[attr-defined]
    return exchange


class OrderReporter:
    """What the wrapped methods report, and the fills already reported per order."""

    def __init__(self, client: ClientCore, exchange: Any) -> None:
        self.client = client
        self._exchange = exchange
        self._prefix = "ks" + secrets.token_hex(4)
        self._numbers = itertools.count(1)
        self._filled: dict[str, float] = {}  # venue order id -> quantity reported as filled
        self._ended: set[str] = set()
        self._trades: set[str] = set()
        self._trade_sum: dict[str, float] = {}

    # -- create ---------------------------------------------------------------------------

    def placing(
        self, symbol: str, side: str, amount: float, price: float | None, params: Any
    ) -> Placing:
        """Check the state and report SUBMIT now; the `with` block sends the order."""
        params = dict(params or {})
        self.client.check_order(reduce_only=bool(params.get("reduceOnly")))
        order_id = next((str(params[k]) for k in _ID_PARAMS if params.get(k)), "")
        if not order_id:
            order_id = f"{self._prefix}-{next(self._numbers)}"
            params["clientOrderId"] = order_id
        self.client.report_order(
            OrderEventKind.SUBMIT, self._market_id(symbol), _side(side), amount,
            0.0 if price is None else price, order_id=order_id,
        )  # fmt: skip
        return Placing(self, params, (symbol, side, amount, order_id))

    # -- what the bot reads back ------------------------------------------------------------

    def saw(self, result: Any) -> None:
        """Report what is new in orders or trades the exchange returned."""
        items = result if isinstance(result, list) else [result]
        for item in items:
            if isinstance(item, Mapping) and "order" in item and "amount" in item:
                self._trade(item)
            elif isinstance(item, Mapping) and item.get("id"):
                self._order(item)

    def _order(self, order: Mapping[str, Any]) -> None:
        venue_id = str(order["id"])
        price = _number(order.get("average")) or _number(order.get("price"))
        self._fill(venue_id, order, _number(order.get("filled")), price)
        if order.get("status") in _ENDED and venue_id not in self._ended:
            self._ended.add(venue_id)
            self.report(
                OrderEventKind.CANCEL, order.get("symbol"), order.get("side"),
                _number(order.get("remaining")), price, _client_id(order),
                str(order.get("status")),
            )  # fmt: skip

    def _trade(self, trade: Mapping[str, Any]) -> None:
        trade_id, venue_id = str(trade.get("id")), str(trade.get("order"))
        if trade_id in self._trades:
            return
        self._trades.add(trade_id)
        total = self._trade_sum.get(venue_id, 0.0) + _number(trade.get("amount"))
        self._trade_sum[venue_id] = total
        self._fill(venue_id, trade, total, _number(trade.get("price")))

    def _fill(self, venue_id: str, item: Mapping[str, Any], filled: float, price: float) -> None:
        """Report the quantity filled since the last report of this order, once."""
        new = filled - self._filled.get(venue_id, 0.0)
        if new <= 0:
            return
        self._filled[venue_id] = filled
        self.report(
            OrderEventKind.FILL, item.get("symbol"), item.get("side"), new, price,
            _client_id(item),
        )  # fmt: skip

    # -- reporting ----------------------------------------------------------------------------

    def report(
        self, kind: OrderEventKind, symbol: Any, side: Any, qty: float, price: float,
        order_id: str = "", reason: str = "",
    ) -> None:  # fmt: skip
        """Report after the venue answered: a value that cannot be reported is logged, and the
        bot's call still returns what the venue said."""
        try:
            self.client.report_order(
                kind, self._market_id(str(symbol)), _side(str(side)), qty, price,
                reason=reason, order_id=order_id,
            )  # fmt: skip
        except ReportError as exc:
            log.warning("killswitch ccxt: %s not reported: %s", kind, exc)

    def _market_id(self, symbol: str) -> str:
        """The venue's own symbol (what the watchdog sees at the venue): BTCUSDT."""
        markets = getattr(self._exchange, "markets", None) or {}
        market = markets.get(symbol)
        return str(market["id"]) if isinstance(market, Mapping) else symbol


class Placing:
    """One order on its way: ACK (and its fills) from the answer, REJECT if the venue refused.

    A ccxt `ExchangeError` is the venue's no; a `NetworkError` is an unknown (the order may be
    live): it is reported as nothing, and the watchdog's own view of the venue settles it."""

    def __init__(
        self, reporter: OrderReporter, params: dict[str, Any], order: tuple[str, str, float, str]
    ) -> None:
        self.params = params  # what to send: the client order id set
        self.order: Any = None
        self._reporter = reporter
        self._what = order

    def answer(self, order: Any) -> None:
        self.order = order
        symbol, side, amount, order_id = self._what
        price = _number(order.get("price")) if isinstance(order, Mapping) else 0.0
        self._reporter.report(OrderEventKind.ACK, symbol, side, amount, price, order_id)
        self._reporter.saw(order)

    def __enter__(self) -> Placing:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ccxt.ExchangeError):
            symbol, side, amount, order_id = self._what
            reason = f"{type(exc).__name__}: {exc}"
            self._reporter.report(
                OrderEventKind.REJECT, symbol, side, amount, 0.0, order_id, reason
            )


def _side(side: str) -> Side:
    try:
        return Side(side.upper())
    except (ValueError, AttributeError):
        raise ReportError(f"ccxt order side {side!r} is neither buy nor sell") from None


def _number(value: object) -> float:
    """ccxt's optional numbers: None (unknown) counts as 0."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return 0.0


def _client_id(item: Mapping[str, Any]) -> str:
    value = item.get("clientOrderId")
    return value if isinstance(value, str) and value.isascii() and len(value) <= 64 else ""


# -- the subclass methods: thin, sync or async, around the reporter ------------------------------


def _sync_methods(base: type) -> dict[str, Callable[..., Any]]:
    def create_order(
        self: Any, symbol: str, type: str, side: str, amount: float,
        price: float | None = None, params: Any = None,
    ) -> Any:  # fmt: skip
        with self.killswitch.placing(symbol, side, amount, price, params) as placed:
            create = base.create_order  # type: ignore[attr-defined]
            placed.answer(create(self, symbol, type, side, amount, price, placed.params))
        return placed.order

    return _methods(base, create_order, _sync_read)


def _sync_read(base: type, name: str) -> Callable[..., Any]:
    method = getattr(base, name)

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self.killswitch.saw(result)
        return result

    return read


def _async_methods(base: type) -> dict[str, Callable[..., Any]]:
    async def create_order(
        self: Any, symbol: str, type: str, side: str, amount: float,
        price: float | None = None, params: Any = None,
    ) -> Any:  # fmt: skip
        with self.killswitch.placing(symbol, side, amount, price, params) as placed:
            create = base.create_order  # type: ignore[attr-defined]
            placed.answer(await create(self, symbol, type, side, amount, price, placed.params))
        return placed.order

    return _methods(base, create_order, _async_read)


def _async_read(base: type, name: str) -> Callable[..., Any]:
    method = getattr(base, name)

    async def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await method(self, *args, **kwargs)
        self.killswitch.saw(result)
        return result

    return read


def _methods(
    base: type,
    create_order: Callable[..., Any],
    read: Callable[[type, str], Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    methods = {"create_order": create_order, "create_orders": _refuse_batch}
    methods.update({name: read(base, name) for name in _READS if hasattr(base, name)})
    return methods


def _refuse_batch(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise ccxt.NotSupported("create_orders is not supervised: place orders one by one")
