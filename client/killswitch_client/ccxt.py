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
- Quantities are reported in the base asset: a contract market's ccxt amounts (contracts of
  the market's `contractSize`, 0.01 BTC on OKX's BTC swap) are converted; an order on a
  contract market whose size ccxt does not know is refused with `ReportError` before it is
  sent.
- Cancels always pass (`cancel_order`, `cancel_all_orders`, ...), and what they return is
  reported like any order the wrapper sees.
- Every order or trade the bot reads back (`fetch_order`, `fetch_orders`, `fetch_open_orders`,
  `fetch_closed_orders`, `fetch_my_trades`, the answers to create and cancel) reports its new
  fills (FILL, the filled quantity since the last report of that order) and its cancellation.
- `edit_order` / `edit_orders` need the state a new order needs (an edit may raise exposure);
  an edited order keeps its client order id.
- `create_orders` (a batch) is refused with ccxt's `NotSupported`: place orders one by one.
- The account and positions the bot reads are reported as the reference trader reports its
  own: `fetch_balance` gives the account (equity = the wallet balance plus unrealized PnL in
  `equity_currency`, read from the venue's own answer: ccxt's unified `total` is the marked
  equity on one venue and the bare wallet on another; realized PnL = the wallet's change
  since the wrapper first saw it), on the venues whose answer it knows (`binanceusdm`,
  `bybit`, `okx`: there the equity is the currency's `eq`); `fetch_positions` /
  `fetch_position` give each symbol's net position (signed, in the base asset) at its mark
  price, and 0 for a symbol asked for (or reported open before) that the venue no longer
  lists. What the answer leaves unknown is not reported,
  and the log says what.

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
    "cancel_all_orders", "edit_order", "edit_orders",
)  # fmt: skip
_ACCOUNT_READS = ("fetch_balance", "fetch_positions", "fetch_position")
_EDITS = frozenset({"edit_order", "edit_orders"})  # they may raise exposure: like a new order
_ENDED = frozenset({"canceled", "cancelled", "expired", "rejected"})


def supervise(
    exchange: ExchangeT, client: ClientCore, *, equity_currency: str = "USDT"
) -> ExchangeT:
    """Supervise `exchange` (in place) with `client` (a `Client` or an `AsyncClient`) and
    return it. `equity_currency`: the currency the account's equity is reported in."""
    base = type(exchange)
    if isinstance(getattr(exchange, "killswitch", None), OrderReporter):
        raise ValueError("this exchange is already supervised")
    make = _async_methods if inspect.iscoroutinefunction(base.create_order) else _sync_methods  # type: ignore[attr-defined]
    exchange.__class__ = type(f"Supervised{base.__name__}", (base,), make(base))
    exchange.killswitch = OrderReporter(client, exchange, equity_currency)  # type: ignore[attr-defined]
    return exchange


class OrderReporter:
    """What the wrapped methods report, and the fills already reported per order."""

    def __init__(self, client: ClientCore, exchange: Any, equity_currency: str = "USDT") -> None:
        self.client = client
        self._exchange = exchange
        self._currency = equity_currency
        self._prefix = "ks" + secrets.token_hex(4)
        self._numbers = itertools.count(1)
        self._filled: dict[str, float] = {}  # venue order id -> quantity reported as filled
        self._ended: set[str] = set()
        self._trades: set[str] = set()
        self._trade_sum: dict[str, float] = {}
        self._first_wallet: float | None = None  # realized PnL counts from here
        self._open_positions: set[str] = set()  # venue symbols last reported not flat
        self._warned: set[str] = set()

    # -- create ---------------------------------------------------------------------------

    def placing(
        self, symbol: str, side: str, amount: float, price: float | None, params: Any
    ) -> Placing:
        """Check the state and report SUBMIT now; the `with` block sends the order."""
        params = dict(params or {})
        self.client.check_order(reduce_only=bool(params.get("reduceOnly")))
        order_id = next((str(params[k]) for k in _ID_PARAMS if params.get(k)), "")
        if not order_id:
            # Letters and digits alone: OKX's clOrdId takes nothing else.
            order_id = f"{self._prefix}{next(self._numbers)}"
            params["clientOrderId"] = order_id
        self.client.report_order(
            OrderEventKind.SUBMIT, self._market_id(symbol), _side(side),
            self._base_qty(symbol, amount), 0.0 if price is None else price, order_id=order_id,
        )  # fmt: skip
        return Placing(self, params, (symbol, side, amount, order_id))

    def before(self, method: str) -> None:
        """An edit may raise exposure: it needs the state a new order needs."""
        if method in _EDITS:
            self.client.check_order()

    # -- what the bot reads back ------------------------------------------------------------

    def answered(self, method: str, result: Any, args: tuple[Any, ...], kwargs: Any) -> None:
        """Report what the answer to `method` called with `args` / `kwargs` shows."""
        if method == "fetch_balance":
            self._balance(result)
        elif method == "fetch_positions":
            self._positions(result, _symbols_asked(_argument(args, kwargs, "symbols")))
        elif method == "fetch_position":
            self._positions([result], _symbols_asked(_argument(args, kwargs, "symbol")))
        else:
            self.saw(result)

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

    # -- the account and positions -----------------------------------------------------------

    def _balance(self, balance: Any) -> None:
        """The account from a `fetch_balance` answer: equity, realized and unrealized PnL."""
        exchange_id = str(getattr(self._exchange, "id", ""))
        read = _WALLETS.get(exchange_id)
        info = balance.get("info") if isinstance(balance, Mapping) else None
        wallet = read(info, self._currency) if read is not None else None
        if wallet is None:
            self._unreported(
                f"the account: no {self._currency} wallet balance and unrealized PnL in "
                f"{exchange_id or 'this exchange'}'s balance answer"
            )
            return
        balance_now, unrealized = wallet
        if self._first_wallet is None:
            self._first_wallet = balance_now
        try:
            self.client.report_account(
                balance_now + unrealized, balance_now - self._first_wallet, unrealized
            )
        except ReportError as exc:
            log.warning("killswitch ccxt: account not reported: %s", exc)

    def _positions(self, positions: Any, asked: list[str] | None) -> None:
        """Each symbol's net position from a `fetch_positions` answer; a symbol asked for
        (every one reported open before, when none was named) that the answer does not list
        is flat."""
        if not isinstance(positions, list):
            return
        net: dict[str, float] = {}
        marks: dict[str, float] = {}
        unknown: set[str] = set()  # listed, but not how much: neither a size nor flat
        for position in positions:
            row = self._position(position)
            if isinstance(row, str):
                unknown.add(row)
                continue
            if row is None:
                continue
            market, qty, mark = row
            net[market] = net.get(market, 0.0) + qty
            if mark > 0:
                marks[market] = mark
        names = self._open_positions if asked is None else {self._market_id(s) for s in asked}
        for market in names - net.keys() - unknown:
            net[market] = 0.0
        for market in unknown:
            net.pop(market, None)  # a partial sum of a hedged pair is no position either
        for market, qty in net.items():
            if qty and market not in marks:
                self._unreported(f"the {market} position: no mark price in the answer")
                continue
            self._report_position(market, qty, marks.get(market, 0.0))

    def _position(self, position: Any) -> tuple[str, float, float] | str | None:
        """(venue symbol, signed quantity in the base asset, mark price) of one ccxt position;
        the venue symbol alone (logged) when the answer leaves its size unknown; None for what
        is no position."""
        if not isinstance(position, Mapping) or not position.get("symbol"):
            return None
        market = self._market_id(str(position["symbol"]))
        contracts, size = _known(position.get("contracts")), _known(position.get("contractSize"))
        if contracts is None or size is None:
            self._unreported(f"a {market} position: its size is not in the answer")
            return market
        sign = -1.0 if position.get("side") == "short" else 1.0
        return market, sign * contracts * size, _number(position.get("markPrice"))

    def _report_position(self, market: str, qty: float, mark: float) -> None:
        try:
            self.client.report_position(market, qty, mark)
        except ReportError as exc:
            log.warning("killswitch ccxt: position not reported: %s", exc)
            return
        if qty:
            self._open_positions.add(market)
        else:
            self._open_positions.discard(market)

    def _unreported(self, what: str) -> None:
        """Say once what could not be reported (the watchdog's own venue view still judges
        it)."""
        if what not in self._warned:
            self._warned.add(what)
            log.warning("killswitch ccxt: not reported: %s", what)

    # -- reporting ----------------------------------------------------------------------------

    def report(
        self, kind: OrderEventKind, symbol: Any, side: Any, qty: float, price: float,
        order_id: str = "", reason: str = "",
    ) -> None:  # fmt: skip
        """Report after the venue answered: a value that cannot be reported is logged, and the
        bot's call still returns what the venue said."""
        try:
            self.client.report_order(
                kind, self._market_id(str(symbol)), _side(str(side)),
                self._base_qty(str(symbol), qty), price, reason=reason, order_id=order_id,
            )  # fmt: skip
        except ReportError as exc:
            log.warning("killswitch ccxt: %s not reported: %s", kind, exc)

    def _base_qty(self, symbol: str, amount: float) -> float:
        """An order's ccxt amount in the base asset (what the watchdog counts): a contract
        market's amounts are contracts of `contractSize` (0.01 BTC on OKX's BTC swap)."""
        markets = getattr(self._exchange, "markets", None) or {}
        market = markets.get(symbol)
        if not isinstance(market, Mapping) or not market.get("contract"):
            return amount
        size = _known(market.get("contractSize"))
        if size is None or size <= 0:
            raise ReportError(f"ccxt market {symbol}: its contract size is unknown")
        return amount * size

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


def _known(value: object) -> float | None:
    """A number the answer gives, None when it does not (unknown is not zero)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _decimal(row: Mapping[str, Any], key: str) -> float | None:
    """A venue's decimal string (or number) as a float; None when missing or not a number."""
    value = row.get(key)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return _known(value)


def _argument(args: tuple[Any, ...], kwargs: Any, name: str) -> Any:
    """The first argument of a ccxt method, given by position or by name."""
    return args[0] if args else kwargs.get(name)


def _symbols_asked(symbols: Any) -> list[str] | None:
    """The unified symbols a position query named; None when it asked for every one."""
    if isinstance(symbols, str):
        return [symbols]
    if isinstance(symbols, list | tuple):
        return [str(s) for s in symbols]
    return None


def _both(wallet: float | None, unrealized: float | None) -> tuple[float, float] | None:
    return None if wallet is None or unrealized is None else (wallet, unrealized)


def _binance_usdm_wallet(info: Any, currency: str) -> tuple[float, float] | None:
    """The futures account (`GET /fapi/v2/account`): its `assets`, one per currency."""
    assets = info.get("assets") if isinstance(info, Mapping) else None
    for asset in assets if isinstance(assets, list) else ():
        if isinstance(asset, Mapping) and asset.get("asset") == currency:
            return _both(_decimal(asset, "walletBalance"), _decimal(asset, "unrealizedProfit"))
    return None


def _okx_wallet(info: Any, currency: str) -> tuple[float, float] | None:
    """The trading account (`GET /api/v5/account/balance`): each account's `details`, one per
    currency. Its equity is the currency's `eq`: the wallet is `eq` less its unrealized `upl`."""
    accounts = info.get("data") if isinstance(info, Mapping) else None
    for account in accounts if isinstance(accounts, list) else ():
        details = account.get("details") if isinstance(account, Mapping) else None
        for detail in details if isinstance(details, list) else ():
            if isinstance(detail, Mapping) and detail.get("ccy") == currency:
                equity, unrealized = _decimal(detail, "eq"), _decimal(detail, "upl")
                wallet = None if equity is None or unrealized is None else equity - unrealized
                return _both(wallet, unrealized)
    return None


def _bybit_wallet(info: Any, currency: str) -> tuple[float, float] | None:
    """The wallet balance (`GET /v5/account/wallet-balance`): each account's `coin` list."""
    result = info.get("result") if isinstance(info, Mapping) else None
    accounts = result.get("list") if isinstance(result, Mapping) else None
    for account in accounts if isinstance(accounts, list) else ():
        coins = account.get("coin") if isinstance(account, Mapping) else None
        for coin in coins if isinstance(coins, list) else ():
            if isinstance(coin, Mapping) and coin.get("coin") == currency:
                return _both(_decimal(coin, "walletBalance"), _decimal(coin, "unrealisedPnl"))
    return None


# How each venue's own balance answer (ccxt's `info`) gives one currency's wallet balance and
# unrealized PnL, by ccxt exchange id.
_WALLETS: dict[str, Callable[[Any, str], tuple[float, float] | None]] = {
    "binanceusdm": _binance_usdm_wallet,
    "bybit": _bybit_wallet,
    "okx": _okx_wallet,
}


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
        self.killswitch.before(name)
        result = method(self, *args, **kwargs)
        self.killswitch.answered(name, result, args, kwargs)
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
        self.killswitch.before(name)
        result = await method(self, *args, **kwargs)
        self.killswitch.answered(name, result, args, kwargs)
        return result

    return read


def _methods(
    base: type,
    create_order: Callable[..., Any],
    read: Callable[[type, str], Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    methods = {"create_order": create_order, "create_orders": _refuse_batch}
    names = (*_READS, *_ACCOUNT_READS)
    methods.update({name: read(base, name) for name in names if hasattr(base, name)})
    return methods


def _refuse_batch(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise ccxt.NotSupported("create_orders is not supervised: place orders one by one")
