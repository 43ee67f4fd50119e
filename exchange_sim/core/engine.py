"""The exchange's state machine: accounts, keys, orders, matching, positions, countdowns.

No I/O and no clock reads: every call takes the time it happens at and returns results; what
the user-data streams must hear is queued in ``outbox`` for the shell to publish.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

from exchange_sim.config import (
    AccountConfig,
    FeeConfig,
    KeyConfig,
    MarketConfig,
    SimConfig,
    SymbolConfig,
)
from exchange_sim.core.events import OrderEvent, PositionEvent, Trade, UserEvent
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import NewOrder, Order, fmt
from exchange_sim.core.refusals import Reason, Refused

ZERO = Decimal(0)
HISTORY_PER_ACCOUNT = 50_000


@dataclass(slots=True)
class Position:
    symbol: str
    qty: Decimal = ZERO  # signed: one-way mode, positionSide BOTH
    entry: Decimal = ZERO
    update_ms: int = 0
    # Realized PnL net of fees, as the venues count it: over the symbol's whole history, and
    # over the current position alone (since ``opened_ms``, when it opened from flat or flipped).
    realized_total: Decimal = ZERO
    realized_open: Decimal = ZERO
    fees_open: Decimal = ZERO  # the part of ``realized_open`` that is fees (paid: positive)
    opened_ms: int = 0


@dataclass(slots=True)
class Key:
    config: KeyConfig
    account: str
    deleted: bool = False
    deleted_ms: int | None = None


@dataclass(slots=True)
class Account:
    name: str
    email: str
    master: bool
    wallet: Decimal
    positions: dict[str, Position]
    open: dict[int, Order] = field(default_factory=dict)
    history: OrderedDict[int, Order] = field(default_factory=OrderedDict)
    # scope -> monotonic deadline; the scope is a symbol, or None for every symbol
    countdowns: dict[str | None, float] = field(default_factory=dict)
    resting_notional: dict[str, Decimal] = field(default_factory=dict)  # exact: qty * price
    update_ms: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    qty: Decimal
    price: Decimal


class Exchange:
    """All venue state. One instance per simulator process, driven by one event loop."""

    def __init__(self, config: SimConfig, funded_ms: int) -> None:
        """``funded_ms``: when the configured balances were credited (the venue reports it as
        the balance's update time until something moves it; clients skip a zero time)."""
        self.symbols: dict[str, SymbolConfig] = {s.symbol: s for s in config.symbols}
        self._market: MarketConfig = config.market
        self._fees: FeeConfig = config.fees
        self.accounts: dict[str, Account] = {
            a.name: _account(a, config, funded_ms) for a in config.accounts
        }
        self.keys: dict[str, Key] = {
            k.api_key: Key(k, a.name) for a in config.accounts for k in a.keys
        }
        self.quotes: dict[str, Quote] = {}
        self.outbox: list[UserEvent] = []
        # Accounts someone follows on a user-data stream: events are only built for these.
        self.listening: set[str] = set()
        self.paused = False
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._bids: dict[str, list[tuple[Decimal, int]]] = {s: [] for s in self.symbols}
        self._asks: dict[str, list[tuple[Decimal, int]]] = {s: [] for s in self.symbols}
        self._resting: dict[int, Order] = {}

    # ----------------------------------------------------------------- keys and accounts
    def account_by_email(self, email: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.email == email), None)

    def delete_key(self, email: str | None, api_key: str, now_ms: int) -> Key:
        """Delete a sub-account's key; ``email`` names the sub-account where the venue asks
        for it (None: the key alone names it). A master account's key is never deleted."""
        key = self.keys.get(api_key)
        if email is not None:
            account = self.account_by_email(email)
            if account is None or account.master:
                raise Refused(Reason.SUB_ACCOUNT_MISSING)
        elif key is not None:
            account = self.accounts[key.account]
        else:
            raise Refused(Reason.SUB_KEY_MISSING)
        if key is None or key.account != account.name or key.deleted or account.master:
            raise Refused(Reason.SUB_KEY_MISSING)
        key.deleted = True
        key.deleted_ms = now_ms
        return key

    # ----------------------------------------------------------------------- market data
    def on_quote(self, symbol: str, quote: Quote, now_ms: int) -> None:
        """A new top of book: resting limit orders the market now crosses fill as makers."""
        self.quotes[symbol] = quote
        if self.paused:
            return
        bids, asks = self._bids[symbol], self._asks[symbol]
        while bids and -bids[0][0] >= quote.ask:
            neg_price, order_id = heapq.heappop(bids)
            self._fill_resting(order_id, -neg_price, now_ms)
        while asks and asks[0][0] <= quote.bid:
            price, order_id = heapq.heappop(asks)
            self._fill_resting(order_id, price, now_ms)

    def _fill_resting(self, order_id: int, price: Decimal, now_ms: int) -> None:
        order = self._resting.get(order_id)
        if order is None or not order.is_open or order.price != price:
            return  # cancelled or amended since it was queued: lazy deletion from the heap
        account = self.accounts[order.account]
        self._unrest(account, order)
        qty = self._reduce_only_cap(account, order, order.remaining)
        if qty > 0:
            self._execute(account, order, [Fill(qty, order.price)], maker=True, now_ms=now_ms)
        if order.is_open:
            self._close(account, order, "EXPIRED", now_ms)

    # ---------------------------------------------------------------------------- orders
    def place(self, account_name: str, new: NewOrder, now_ms: int) -> Order:
        account = self.accounts[account_name]
        sym = self.symbols[new.symbol]
        quote = self.quotes.get(new.symbol)
        if quote is None:
            raise Refused(Reason.NO_QUOTE)
        cid = new.client_order_id
        if cid is not None and any(o.client_order_id == cid for o in account.open.values()):
            raise Refused(Reason.CLIENT_ID_DUPLICATED)
        ref_price = (
            new.price if new.type == "LIMIT" else (quote.ask if new.side == "BUY" else quote.bid)
        )
        if not new.reduce_only and new.qty * ref_price < sym.min_notional:
            raise Refused(Reason.MIN_NOTIONAL, fmt(sym.min_notional))
        self._check_reduce_only(account, new)
        self._check_margin(account, sym, new, ref_price)
        if len([o for o in account.open.values() if o.symbol == new.symbol]) >= sym.max_open_orders:
            raise Refused(Reason.MAX_OPEN_ORDERS)
        fills = self._taker_fills(new, quote)
        if new.type == "LIMIT" and new.tif == "GTX" and fills:
            raise Refused(Reason.POST_ONLY)
        if new.tif == "FOK" and sum(f.qty for f in fills) < new.qty:
            raise Refused(Reason.FOK)
        order_id = next(self._order_ids)
        order = Order(
            order_id=order_id,
            account=account_name,
            client_order_id=cid or f"sim-{order_id}",
            symbol=new.symbol,
            side=new.side,
            type=new.type,
            tif=new.tif,
            price=new.price,
            orig_qty=new.qty,
            reduce_only=new.reduce_only,
            time_ms=now_ms,
            update_ms=now_ms,
        )
        account.open[order_id] = order
        self._emit_order(order, "NEW", now_ms)
        self._run_new(account, order, fills, now_ms)
        return order

    def _run_new(self, account: Account, order: Order, fills: list[Fill], now_ms: int) -> None:
        if order.reduce_only:
            fills = _cap(fills, self._reduce_only_cap(account, order, order.orig_qty))
        if fills:
            self._execute(account, order, fills, maker=False, now_ms=now_ms)
        if not order.is_open:
            return
        if order.type == "MARKET" or order.tif in ("IOC", "FOK"):
            self._close(account, order, "EXPIRED", now_ms)
            return
        book = self._bids if order.side == "BUY" else self._asks
        heapq.heappush(
            book[order.symbol],
            (-order.price if order.side == "BUY" else order.price, order.order_id),
        )
        self._resting[order.order_id] = order
        notional = account.resting_notional
        notional[order.symbol] = notional.get(order.symbol, ZERO) + order.remaining * order.price

    def _unrest(self, account: Account, order: Order) -> None:
        """Take an order off the book and its margin off the account (heap entry goes lazily)."""
        if self._resting.pop(order.order_id, None) is not None:
            notional = account.resting_notional
            notional[order.symbol] -= order.remaining * order.price
            self._compact(order.symbol)

    def _compact(self, symbol: str) -> None:
        """Rebuild a side's heap once cancelled entries dominate, so place/cancel churn far from
        the market cannot grow memory without bound."""
        for book in (self._bids[symbol], self._asks[symbol]):
            if len(book) > 1024 and len(book) > 4 * len(self._resting):
                book[:] = [entry for entry in book if entry[1] in self._resting]
                heapq.heapify(book)

    def _taker_fills(self, new: NewOrder, quote: Quote) -> list[Fill]:
        """Walk the simulated book: ``depth_levels`` levels of ``level_qty``, spaced in ticks."""
        if self.paused:
            return []
        tick = self.symbols[new.symbol].tick_size
        m = self._market
        step = tick * m.level_spacing_ticks
        remaining = new.qty
        fills: list[Fill] = []
        for level in range(m.depth_levels):
            if new.side == "BUY":
                price = quote.ask + step * level
                if new.type == "LIMIT" and price > new.price:
                    break
            else:
                price = quote.bid - step * level
                if price <= 0 or (new.type == "LIMIT" and price < new.price):
                    break
            size = quote.ask_qty if level == 0 and new.side == "BUY" else m.level_qty
            if level == 0 and new.side == "SELL":
                size = quote.bid_qty
            take = min(size, remaining)
            fills.append(Fill(take, price))
            remaining -= take
            if remaining <= 0:
                break
        return fills

    def _check_reduce_only(self, account: Account, new: NewOrder) -> None:
        if not new.reduce_only:
            return
        pos = account.positions[new.symbol].qty
        if pos == 0 or (pos > 0) == (new.side == "BUY"):
            raise Refused(Reason.REDUCE_ONLY)

    def _reduce_only_cap(self, account: Account, order: Order, wanted: Decimal) -> Decimal:
        if not order.reduce_only:
            return wanted
        pos = account.positions[order.symbol].qty
        if pos == 0 or (pos > 0) == (order.side == "BUY"):
            return ZERO
        return min(wanted, abs(pos))

    def _check_margin(
        self, account: Account, sym: SymbolConfig, new: NewOrder, ref_price: Decimal
    ) -> None:
        if new.reduce_only:
            return
        pos = account.positions[new.symbol].qty
        opposing = abs(pos) if pos != 0 and (pos > 0) != (new.side == "BUY") else ZERO
        exposure = max(ZERO, new.qty - opposing)
        required = exposure * ref_price / sym.leverage
        if required > self.available_balance(account):
            raise Refused(Reason.MARGIN)

    def cancel(
        self, account_name: str, symbol: str, order_id: int | None, cid: str | None, now_ms: int
    ) -> Order:
        account = self.accounts[account_name]
        order = self._find(account, symbol, order_id, cid, open_only=True)
        if order is None:
            raise Refused(Reason.NOT_OPEN)
        self._close(account, order, "CANCELED", now_ms)
        return order

    def cancel_all(self, account_name: str, symbol: str | None, now_ms: int) -> list[Order]:
        """Cancel the account's open orders on ``symbol`` (None: on every symbol)."""
        account = self.accounts[account_name]
        victims = [o for o in account.open.values() if symbol is None or o.symbol == symbol]
        for order in victims:
            self._close(account, order, "CANCELED", now_ms)
        return victims

    def amend(
        self,
        account_name: str,
        symbol: str,
        ref: tuple[int | None, str | None],
        qty: Decimal | None,
        price: Decimal | None,
        now_ms: int,
    ) -> Order:
        """Change a resting limit order's quantity and/or price in place (same order id). The
        amended order is matched at once if it now crosses the market, as a new one would."""
        account = self.accounts[account_name]
        order = self._find(account, symbol, ref[0], ref[1], open_only=True)
        if order is None:
            raise Refused(Reason.NOT_OPEN)
        new_qty = order.orig_qty if qty is None else qty
        new_price = order.price if price is None else price
        if order.type != "LIMIT" or new_qty <= order.executed_qty:
            raise Refused(Reason.AMEND_INVALID)
        sym = self.symbols[symbol]
        extra = (new_qty - order.orig_qty) * new_price + order.remaining * (new_price - order.price)
        if extra > 0 and extra / sym.leverage > self.available_balance(account):
            raise Refused(Reason.MARGIN)
        probe = NewOrder(symbol, order.side, "LIMIT", order.tif, new_qty - order.executed_qty,
                         new_price, order.reduce_only, None)  # fmt: skip
        fills = self._taker_fills(probe, self.quotes[symbol])
        if order.tif == "GTX" and fills:
            raise Refused(Reason.POST_ONLY)
        self._unrest(account, order)
        order.orig_qty, order.price, order.update_ms = new_qty, new_price, now_ms
        self._emit_order(order, "AMENDED", now_ms)
        self._run_new(account, order, fills, now_ms)
        return order

    def query(self, account_name: str, symbol: str, order_id: int | None, cid: str | None) -> Order:
        order = self._find(self.accounts[account_name], symbol, order_id, cid, open_only=False)
        if order is None:
            raise Refused(Reason.NOT_FOUND)
        return order

    def open_orders(self, account_name: str, symbol: str | None) -> list[Order]:
        orders = self.accounts[account_name].open.values()
        return [o for o in orders if symbol is None or o.symbol == symbol]

    def _find(
        self, account: Account, symbol: str, order_id: int | None, cid: str | None, open_only: bool
    ) -> Order | None:
        pools: list[dict[int, Order]] = [account.open]
        if not open_only:
            pools.append(account.history)
        for pool in pools:
            if order_id is not None:
                found = pool.get(order_id)
            else:
                found = next((o for o in pool.values() if o.client_order_id == cid), None)
            if (
                found is not None
                and found.symbol == symbol
                and (cid is None or found.client_order_id == cid)
            ):
                return found
        return None

    def _close(self, account: Account, order: Order, status: str, now_ms: int) -> None:
        order.status = status
        order.update_ms = now_ms
        self._unrest(account, order)
        account.open.pop(order.order_id, None)
        account.history[order.order_id] = order
        if len(account.history) > HISTORY_PER_ACCOUNT:
            account.history.popitem(last=False)
        self._emit_order(order, status, now_ms)

    # ------------------------------------------------------------------------ execution
    def _execute(
        self, account: Account, order: Order, fills: list[Fill], maker: bool, now_ms: int
    ) -> None:
        rate = self._fees.maker if maker else self._fees.taker
        for f in fills:
            fee = f.qty * f.price * rate
            realized = self._apply_fill(account, order.symbol, order.side, f, fee, now_ms)
            account.wallet += realized - fee
            order.executed_qty += f.qty
            order.cum_quote += f.qty * f.price
            order.cum_fee += fee
            order.update_ms = now_ms
            filled = order.executed_qty >= order.orig_qty
            order.status = "FILLED" if filled else "PARTIALLY_FILLED"
            self._emit_trade(order, f, fee, realized, maker, now_ms)
        if not order.is_open:
            account.open.pop(order.order_id, None)
            account.history[order.order_id] = order
        self._emit_account(account, order.symbol, now_ms)

    def _apply_fill(
        self, account: Account, symbol: str, side: str, f: Fill, fee: Decimal, now_ms: int
    ) -> Decimal:
        """Move the position by one fill; the realized PnL it makes (before ``fee``)."""
        pos = account.positions[symbol]
        signed = f.qty if side == "BUY" else -f.qty
        realized = ZERO
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            if pos.qty == 0:
                _open(pos, now_ms)
            new_qty = pos.qty + signed
            pos.entry = (pos.entry * abs(pos.qty) + f.price * f.qty) / abs(new_qty)
            pos.qty = new_qty
            pos.realized_open -= fee
            pos.fees_open += fee
        else:
            closing = min(f.qty, abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized = closing * (f.price - pos.entry) * direction
            closing_fee = fee * closing / f.qty
            pos.realized_open += realized - closing_fee
            pos.fees_open += closing_fee
            new_qty = pos.qty + signed
            if new_qty == 0:
                pos.entry = ZERO
            elif (new_qty > 0) != (pos.qty > 0):
                pos.entry = f.price
                _open(pos, now_ms)  # a flip: the rest of the fill opens a new position
                pos.realized_open = closing_fee - fee
                pos.fees_open = fee - closing_fee
            pos.qty = new_qty
        pos.realized_total += realized - fee
        pos.update_ms = now_ms
        account.update_ms = now_ms
        return realized

    # ------------------------------------------------------------------------- valuation
    def mark(self, symbol: str) -> Decimal:
        quote = self.quotes.get(symbol)
        return quote.mid if quote is not None else self.symbols[symbol].price

    def unrealized(self, pos: Position) -> Decimal:
        return pos.qty * (self.mark(pos.symbol) - pos.entry) if pos.qty else ZERO

    def position_margin(self, pos: Position) -> Decimal:
        return abs(pos.qty) * self.mark(pos.symbol) / self.symbols[pos.symbol].leverage

    def order_margin(self, account: Account) -> Decimal:
        return sum(
            (
                o.remaining * o.price / self.symbols[o.symbol].leverage
                for o in account.open.values()
            ),
            ZERO,
        )

    def available_balance(self, account: Account) -> Decimal:
        positions = account.positions.values()
        upnl = sum((self.unrealized(p) for p in positions), ZERO)
        used = sum((self.position_margin(p) for p in positions), ZERO)
        return account.wallet + upnl - used - self.order_margin(account)

    # ------------------------------------------------------------------------ countdowns
    def set_countdown(
        self, account_name: str, symbol: str | None, countdown_ms: int, now_mono: float
    ) -> None:
        """Arm (or with 0 disarm) a countdown cancel-all on ``symbol`` (None: every symbol)."""
        countdowns = self.accounts[account_name].countdowns
        if countdown_ms == 0:
            countdowns.pop(symbol, None)
        else:
            countdowns[symbol] = now_mono + countdown_ms / 1000

    def expire_countdowns(
        self, now_mono: float, now_ms: int
    ) -> list[tuple[str, str | None, list[Order]]]:
        """Cancel every order of each (account, scope) whose countdown ran out."""
        expired: list[tuple[str, str | None, list[Order]]] = []
        for account in self.accounts.values():
            if not account.countdowns:
                continue
            due = [s for s, deadline in account.countdowns.items() if deadline <= now_mono]
            for symbol in due:
                del account.countdowns[symbol]
                expired.append(
                    (account.name, symbol, self.cancel_all(account.name, symbol, now_ms))
                )
        return expired

    # --------------------------------------------------------------------------- events
    def _emit_order(self, order: Order, exec_type: str, now_ms: int) -> None:
        if order.account not in self.listening:
            return
        self.outbox.append(OrderEvent(order.account, exec_type, copy.copy(order), now_ms))

    def _emit_trade(
        self, order: Order, f: Fill, fee: Decimal, realized: Decimal, maker: bool, now_ms: int
    ) -> None:
        trade_id = next(self._trade_ids)
        if order.account not in self.listening:
            return
        trade = Trade(trade_id, f.qty, f.price, fee, realized, maker)
        self.outbox.append(OrderEvent(order.account, "TRADE", copy.copy(order), now_ms, trade))

    def _emit_account(self, account: Account, symbol: str, now_ms: int) -> None:
        if account.name not in self.listening:
            return
        pos = account.positions[symbol]
        self.outbox.append(
            PositionEvent(
                account.name,
                symbol,
                account.wallet,
                pos.qty,
                pos.entry,
                self.unrealized(pos),
                now_ms,
                pos.realized_total,
                pos.realized_open,
                pos.fees_open,
                pos.opened_ms,
            )
        )


def _open(pos: Position, now_ms: int) -> None:
    """A position opens (from flat, or the far side of a flip): its own counter starts."""
    pos.opened_ms = now_ms
    pos.realized_open = ZERO
    pos.fees_open = ZERO


def _cap(fills: list[Fill], limit: Decimal) -> list[Fill]:
    capped: list[Fill] = []
    for f in fills:
        if limit <= 0:
            break
        take = min(f.qty, limit)
        capped.append(Fill(take, f.price))
        limit -= take
    return capped


def _account(cfg: AccountConfig, sim: SimConfig, funded_ms: int) -> Account:
    return Account(
        name=cfg.name,
        email=cfg.email,
        master=cfg.master,
        wallet=cfg.usdt,
        positions={s.symbol: Position(s.symbol) for s in sim.symbols},
        update_ms=funded_ms,
    )
