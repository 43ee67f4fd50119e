"""Bybit v5's words: new-order parsing and the JSON shapes of orders, executions, positions,
wallets, instruments and tickers (``category=linear``), from Bybit's public v5 docs."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from exchange_sim.config import SymbolConfig
from exchange_sim.core.events import Trade
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import NewOrder, Order, fmt
from exchange_sim.fronts.bybit import codes

SIDES = {"Buy": "BUY", "Sell": "SELL"}
TYPES = {"Limit": "LIMIT", "Market": "MARKET"}
TIFS = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "GTX"}
ORDER_LINK_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,36}")
_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_SIDE_NAMES = {v: k for k, v in SIDES.items()}
_TYPE_NAMES = {v: k for k, v in TYPES.items()}
_TIF_NAMES = {v: k for k, v in TIFS.items()}
_STATUS = {
    "NEW": "New",
    "PARTIALLY_FILLED": "PartiallyFilled",
    "FILLED": "Filled",
    "CANCELED": "Cancelled",
    "EXPIRED": "Cancelled",
}


def decimal(values: dict[str, str], name: str) -> Decimal:
    raw = values.get(name, "")
    if not _NUMBER.fullmatch(raw):
        raise codes.params(f"{name} is missing or not a plain decimal number")
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise codes.params(f"{name} is not a number") from None


def on_grid(value: Decimal, step: Decimal, name: str) -> None:
    if value <= 0 or value % step != 0:
        raise codes.params(f"{name} must be a positive multiple of {fmt(step)}")


def parse_new_order(values: dict[str, str], sym: SymbolConfig) -> NewOrder:
    """Validate a /v5/order/create request against the instrument; raise Bybit's error."""
    side = SIDES.get(values.get("side", ""))
    if side is None:
        raise codes.params("side must be Buy or Sell")
    order_type = TYPES.get(values.get("orderType", ""))
    if order_type is None:
        raise codes.params("orderType must be Limit or Market")
    qty = decimal(values, "qty")
    on_grid(qty, sym.step_size, "qty")
    if qty < max(sym.min_qty, sym.step_size) or qty > sym.max_qty:
        raise codes.params(f"qty must be in [{fmt(sym.step_size)}, {fmt(sym.max_qty)}]")
    tif = TIFS.get(values.get("timeInForce", "GTC" if order_type == "LIMIT" else "IOC"))
    if tif is None:
        raise codes.params("timeInForce must be GTC, IOC, FOK or PostOnly")
    price = Decimal(0)
    if order_type == "LIMIT":
        price = decimal(values, "price")
        on_grid(price, sym.tick_size, "price")
    reduce_raw = values.get("reduceOnly", "false")
    if reduce_raw not in ("true", "false"):
        raise codes.params("reduceOnly must be true or false")
    if values.get("positionIdx", "0") != "0":
        raise codes.params("positionIdx: only one-way mode (0) is simulated")
    link_id = values.get("orderLinkId")
    if link_id is not None and not ORDER_LINK_ID.fullmatch(link_id):
        raise codes.params("orderLinkId: up to 36 letters, digits or _.:/-")
    return NewOrder(
        symbol=sym.symbol,
        side=side,
        type=order_type,
        tif=tif,
        qty=qty,
        price=price,
        reduce_only=reduce_raw == "true",
        client_order_id=link_id,
    )


def order_record(o: Order) -> dict[str, Any]:
    """An order as /v5/order/realtime, /v5/order/history and the ``order`` topic show it."""
    leaves = o.remaining if o.is_open else Decimal(0)
    return {
        "orderId": str(o.order_id),
        "orderLinkId": o.client_order_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": fmt(o.price),
        "qty": fmt(o.orig_qty),
        "side": _SIDE_NAMES[o.side],
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": _STATUS[o.status],
        "createType": "CreateByUser",
        "cancelType": "CancelByUser" if o.status == "CANCELED" else "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": fmt(o.avg_price) if o.executed_qty else "",
        "leavesQty": fmt(leaves),
        "leavesValue": fmt(leaves * o.price),
        "cumExecQty": fmt(o.executed_qty),
        "cumExecValue": fmt(o.cum_quote),
        "cumExecFee": fmt(o.cum_fee),
        "timeInForce": _TIF_NAMES[o.tif],
        "orderType": _TYPE_NAMES[o.type],
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "placeType": "",
        "createdTime": str(o.time_ms),
        "updatedTime": str(o.update_ms),
    }


def execution_record(o: Order, t: Trade, mark: Decimal, now_ms: int) -> dict[str, Any]:
    """One fill as the ``execution`` topic shows it."""
    return {
        "category": "linear",
        "symbol": o.symbol,
        "execFee": fmt(t.fee),
        "execId": str(t.trade_id),
        "execPrice": fmt(t.price),
        "execQty": fmt(t.qty),
        "execType": "Trade",
        "execValue": fmt(t.qty * t.price),
        "isMaker": t.maker,
        "feeRate": fmt(t.fee / (t.qty * t.price)) if t.qty * t.price else "0",
        "tradeIv": "",
        "markIv": "",
        "blockTradeId": "",
        "markPrice": fmt(mark),
        "indexPrice": "",
        "underlyingPrice": "",
        "leavesQty": fmt(o.remaining if o.is_open else Decimal(0)),
        "orderId": str(o.order_id),
        "orderLinkId": o.client_order_id,
        "orderPrice": fmt(o.price),
        "orderQty": fmt(o.orig_qty),
        "orderType": _TYPE_NAMES[o.type],
        "stopOrderType": "",
        "side": _SIDE_NAMES[o.side],
        "execTime": str(now_ms),
        "isLeverage": "0",
        "closedSize": "0",
        "seq": t.trade_id,
    }


def position_record(
    sym: SymbolConfig,
    qty: Decimal,
    entry: Decimal,
    mark: Decimal,
    upnl: Decimal,
    ms: int,
    realized: tuple[Decimal, Decimal],
) -> dict[str, Any]:
    """One symbol's one-way position as /v5/position/list and the ``position`` topic show it.

    ``realized``: the symbol's realized PnL net of fees over all its history
    (``cumRealisedPnl``) and over the position now held (``curRealisedPnl``)."""
    cumulative, current = realized
    margin = abs(qty) * mark / sym.leverage
    return {
        "positionIdx": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": sym.symbol,
        "side": "" if qty == 0 else ("Buy" if qty > 0 else "Sell"),
        "size": fmt(abs(qty)),
        "avgPrice": fmt(entry),
        "entryPrice": fmt(entry),
        "positionValue": fmt(abs(qty) * entry),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 0,
        "leverage": str(sym.leverage),
        "positionBalance": fmt(margin),
        "markPrice": fmt(mark),
        "liqPrice": "",
        "bustPrice": "",
        "positionMM": "0",
        "positionIM": fmt(margin),
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": fmt(upnl),
        "curRealisedPnl": fmt(current),
        "cumRealisedPnl": fmt(cumulative),
        "isReduceOnly": False,
        "createdTime": "0",
        "updatedTime": str(ms),
        "seq": ms if ms else -1,  # -1: never traded, as the venue says
    }


def wallet_record(totals: dict[str, Decimal]) -> dict[str, Any]:
    """The unified account (one coin, USDT) as /v5/account/wallet-balance and ``wallet`` show."""
    initial = totals["position_margin"] + totals["order_margin"]
    available = totals["available"]
    return {
        "accountType": "UNIFIED",
        "accountIMRate": "0",
        "accountMMRate": "0",
        "accountLTV": "0",
        "totalEquity": fmt(totals["margin_balance"]),
        "totalWalletBalance": fmt(totals["wallet"]),
        "totalMarginBalance": fmt(totals["margin_balance"]),
        "totalAvailableBalance": fmt(available),
        "totalPerpUPL": fmt(totals["unrealized"]),
        "totalInitialMargin": fmt(initial),
        "totalMaintenanceMargin": "0",
        "coin": [
            {
                "coin": "USDT",
                "equity": fmt(totals["margin_balance"]),
                "usdValue": fmt(totals["margin_balance"]),
                "walletBalance": fmt(totals["wallet"]),
                "locked": "0",
                "borrowAmount": "0",
                "availableToWithdraw": fmt(max(Decimal(0), available)),
                "accruedInterest": "0",
                "totalOrderIM": fmt(totals["order_margin"]),
                "totalPositionIM": fmt(totals["position_margin"]),
                "totalPositionMM": "0",
                "unrealisedPnl": fmt(totals["unrealized"]),
                "cumRealisedPnl": "0",
                "bonus": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
            }
        ],
    }


def _scale(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def instrument_record(s: SymbolConfig) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": s.base_asset,
        "quoteCoin": s.quote_asset,
        "settleCoin": s.quote_asset,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(_scale(s.tick_size)),
        "leverageFilter": {
            "minLeverage": "1",
            "maxLeverage": str(s.leverage),
            "leverageStep": "0.01",
        },
        "priceFilter": {
            "minPrice": fmt(s.tick_size),
            "maxPrice": "10000000",
            "tickSize": fmt(s.tick_size),
        },
        "lotSizeFilter": {
            "maxOrderQty": fmt(s.max_qty),
            "minOrderQty": fmt(max(s.min_qty, s.step_size)),
            "qtyStep": fmt(s.step_size),
            "postOnlyMaxOrderQty": fmt(s.max_qty),
            "maxMktOrderQty": fmt(s.max_qty),
            "minNotionalValue": fmt(s.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "copyTrading": "none",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
    }


def ticker_record(symbol: str, q: Quote) -> dict[str, Any]:
    mid = fmt(q.mid)
    return {
        "symbol": symbol,
        "lastPrice": mid,
        "indexPrice": mid,
        "markPrice": mid,
        "prevPrice24h": mid,
        "price24hPcnt": "0",
        "highPrice24h": mid,
        "lowPrice24h": mid,
        "prevPrice1h": mid,
        "openInterest": "0",
        "openInterestValue": "0",
        "turnover24h": "0",
        "volume24h": "0",
        "fundingRate": "0.0001",
        "nextFundingTime": "0",
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "bid1Price": fmt(q.bid),
        "bid1Size": fmt(q.bid_qty),
        "ask1Price": fmt(q.ask),
        "ask1Size": fmt(q.ask_qty),
        "basis": "",
    }


def topic_message(topic: str, symbol: str, q: Quote, now_ms: int, update_id: int) -> bytes:
    """A public-stream message: ``orderbook.1.<SYMBOL>`` (level 1 is always a snapshot) or
    ``tickers.<SYMBOL>`` (sent as a full snapshot on every change)."""
    if topic.startswith("orderbook."):
        data: dict[str, Any] = {
            "s": symbol,
            "b": [[fmt(q.bid), fmt(q.bid_qty)]],
            "a": [[fmt(q.ask), fmt(q.ask_qty)]],
            "u": update_id,
            "seq": update_id,
        }
        body = {"topic": topic, "type": "snapshot", "ts": now_ms, "data": data, "cts": now_ms}
    else:
        body = {
            "topic": topic,
            "type": "snapshot",
            "data": ticker_record(symbol, q),
            "cs": update_id,
            "ts": now_ms,
        }
    return orjson.dumps(body)


def private_message(topic: str, seq: int, now_ms: int, rows: list[dict[str, Any]]) -> bytes:
    """A private-stream message: ``{"id", "topic", "creationTime", "data": [...]}``."""
    return orjson.dumps({"id": f"sim-{seq}", "topic": topic, "creationTime": now_ms, "data": rows})
