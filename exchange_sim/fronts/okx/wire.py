"""OKX v5's words: new-order parsing and the JSON shapes of orders, positions, balances,
instruments, tickers and books (instType SWAP), from OKX's public v5 docs. Sizes cross between
contracts and the core's base quantities only through ``contracts.Contract``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange_sim.config import MarketConfig
from exchange_sim.core.events import Trade
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import NewOrder, Order, fmt
from exchange_sim.fronts.okx import codes
from exchange_sim.fronts.okx.contracts import Contract

SIDES = {"buy": "BUY", "sell": "SELL"}
# ordType -> the core's (type, time in force)
ORD_TYPES = {
    "limit": ("LIMIT", "GTC"),
    "market": ("MARKET", "IOC"),
    "post_only": ("LIMIT", "GTX"),
    "fok": ("LIMIT", "FOK"),
    "ioc": ("LIMIT", "IOC"),
}
CL_ORD_ID = re.compile(r"[A-Za-z0-9]{1,32}")
TAG = re.compile(r"[A-Za-z0-9]{0,16}")
_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_SIDE_NAMES = {v: k for k, v in SIDES.items()}
_ORD_TYPE_NAMES = {v: k for k, v in ORD_TYPES.items()}
STATES = {
    "NEW": "live",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "EXPIRED": "canceled",
}


def decimal(values: dict[str, str], name: str) -> Decimal:
    raw = values.get(name)
    if raw is None or raw == "":
        raise codes.empty(name)
    if not _NUMBER.fullmatch(raw):
        raise codes.param(name)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise codes.param(name) from None


def on_grid(value: Decimal, step: Decimal, name: str) -> None:
    if value <= 0 or value % step != 0:
        raise codes.param(name)


def size(values: dict[str, str], name: str, c: Contract) -> Decimal:
    """A size in contracts, checked against the lot size (51121) and the limits; in base units."""
    sz = decimal(values, name)
    if sz <= 0:
        raise codes.param(name)
    if sz % c.lot != 0:
        raise codes.failed(51121, "Order quantity must be a multiple of the lot size.")
    if sz < c.min_sz or sz > c.max_sz:
        raise codes.failed(51000, f"Parameter {name} error")
    return c.to_base(sz)


def client_id(values: dict[str, str], name: str = "clOrdId") -> str | None:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    if not CL_ORD_ID.fullmatch(raw):
        raise codes.param(name)
    return raw


def parse_new_order(values: dict[str, str], c: Contract) -> NewOrder:
    """Validate one order of /api/v5/trade/order or batch-orders; raise OKX's error."""
    for name in ("tdMode", "side", "ordType", "sz"):
        if not values.get(name):
            raise codes.empty(name)
    if values["tdMode"] != "cross":
        raise codes.param("tdMode")  # only cross margin is simulated
    side = SIDES.get(values["side"])
    if side is None:
        raise codes.param("side")
    kind = ORD_TYPES.get(values["ordType"])
    if kind is None:
        raise codes.param("ordType")
    if values.get("posSide", "net") != "net":
        raise codes.param("posSide")  # net mode only
    qty = size(values, "sz", c)
    price = Decimal(0)
    if kind[0] == "LIMIT":
        price = decimal(values, "px")
        on_grid(price, c.sym.tick_size, "px")
    reduce_raw = values.get("reduceOnly", "false")
    if reduce_raw not in ("true", "false"):
        raise codes.param("reduceOnly")
    if not TAG.fullmatch(values.get("tag", "")):
        raise codes.param("tag")
    return NewOrder(
        symbol=c.sym.symbol,
        side=side,
        type=kind[0],
        tif=kind[1],
        qty=qty,
        price=price,
        reduce_only=reduce_raw == "true",
        client_order_id=client_id(values),
    )


def shown_client_id(o: Order) -> str:
    """The order's clOrdId: empty when the client gave none (the core names those sim-N)."""
    return "" if o.client_order_id == f"sim-{o.order_id}" else o.client_order_id


def ord_type(o: Order) -> str:
    return "market" if o.type == "MARKET" else _ORD_TYPE_NAMES[(o.type, o.tif)]


def order_record(o: Order, c: Contract, trade: Trade | None = None) -> dict[str, Any]:
    """An order as /api/v5/trade/order, orders-pending, orders-history and the ``orders``
    channel show it; ``trade``: the fill this update reports (the channel's fill fields)."""
    return {
        "instType": "SWAP",
        "instId": c.inst_id,
        "tgtCcy": "",
        "ccy": "",
        "ordId": str(o.order_id),
        "clOrdId": shown_client_id(o),
        "tag": "",
        "px": fmt(o.price) if o.type == "LIMIT" else "",
        "pxUsd": "",
        "pxVol": "",
        "pxType": "",
        "sz": fmt(c.to_contracts(o.orig_qty)),
        "pnl": "0",
        "ordType": ord_type(o),
        "side": _SIDE_NAMES[o.side],
        "posSide": "net",
        "tdMode": "cross",
        "accFillSz": fmt(c.to_contracts(o.executed_qty)),
        "fillPx": fmt(trade.price) if trade else "",
        "tradeId": str(trade.trade_id) if trade else "",
        "fillSz": fmt(c.to_contracts(trade.qty)) if trade else "0",
        "fillTime": str(o.update_ms) if trade else "",
        "fillFee": fmt(-trade.fee) if trade else "0",
        "fillFeeCcy": "USDT" if trade else "",
        "execType": ("M" if trade.maker else "T") if trade else "",
        "avgPx": fmt(o.avg_price) if o.executed_qty else "",
        "state": STATES[o.status],
        "stpId": "",
        "stpMode": "",
        "lever": str(c.sym.leverage),
        "attachAlgoClOrdId": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tpOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "slOrdPx": "",
        "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""},
        "feeCcy": "USDT",
        "fee": fmt(-o.cum_fee),
        "rebateCcy": "USDT",
        "rebate": "0",
        "source": "",
        "category": "normal",
        "reduceOnly": "true" if o.reduce_only else "false",
        "isTpLimit": "false",
        "cancelSource": "" if o.status != "CANCELED" else "1",
        "cancelSourceReason": "",
        "quickMgnType": "",
        "algoClOrdId": "",
        "algoId": "",
        "uTime": str(o.update_ms),
        "cTime": str(o.time_ms),
    }


def position_record(
    c: Contract,
    pos_id: str,
    qty: Decimal,
    entry: Decimal,
    mark: Decimal,
    upnl: Decimal,
    created_ms: int,
    update_ms: int,
    realized: tuple[Decimal, Decimal],
) -> dict[str, Any]:
    """One net-mode cross position as /api/v5/account/positions and ``positions`` show it.

    ``realized``: the position's realized PnL net of fees since it opened at ``created_ms``,
    and the fees in it: ``realizedPnl`` = ``pnl`` + ``fee`` (the sim has no funding,
    liquidation penalty or settlement to add)."""
    net, fees = realized
    margin = abs(qty) * mark / c.sym.leverage
    notional = abs(qty) * mark
    return {
        "instType": "SWAP",
        "mgnMode": "cross",
        "posId": pos_id,
        "posSide": "net",
        "pos": fmt(c.to_contracts(qty)),
        "baseBal": "",
        "quoteBal": "",
        "baseBorrowed": "",
        "quoteBorrowed": "",
        "posCcy": "",
        "availPos": "",
        "avgPx": fmt(entry) if qty else "",
        "nonSettleAvgPx": "",
        "markPx": fmt(mark),
        "upl": fmt(upnl),
        "uplRatio": fmt(upnl / margin) if margin else "0",
        "uplLastPx": fmt(upnl),
        "uplRatioLastPx": fmt(upnl / margin) if margin else "0",
        "instId": c.inst_id,
        "lever": str(c.sym.leverage),
        "liqPx": "",
        "imr": fmt(margin),
        "margin": "",
        "mgnRatio": "",
        "mmr": "0",
        "liab": "",
        "liabCcy": "",
        "interest": "",
        "tradeId": "",
        "optVal": "",
        "pendingCloseOrdLiabVal": "",
        "notionalUsd": fmt(notional),
        "adl": "1",
        "ccy": "USDT",
        "last": fmt(mark),
        "idxPx": fmt(mark),
        "usdPx": "",
        "bePx": fmt(entry) if qty else "",
        "deltaBS": "",
        "deltaPA": "",
        "gammaBS": "",
        "gammaPA": "",
        "thetaBS": "",
        "thetaPA": "",
        "vegaBS": "",
        "vegaPA": "",
        "spotInUseAmt": "",
        "spotInUseCcy": "",
        "clSpotInUseAmt": "",
        "maxSpotInUseAmt": "",
        "bizRefId": "",
        "bizRefType": "",
        "realizedPnl": fmt(net),
        "settledPnl": "",
        "pnl": fmt(net + fees),
        "fee": fmt(-fees),
        "fundingFee": "0",
        "liqPenalty": "0",
        "closeOrderAlgo": [],
        "cTime": str(created_ms),
        "uTime": str(update_ms),
    }


def balance_record(totals: dict[str, Decimal], update_ms: int) -> dict[str, Any]:
    """The trading account (one currency, USDT) as /api/v5/account/balance and ``account``."""
    eq = fmt(totals["margin_balance"])
    frozen = totals["position_margin"] + totals["order_margin"]
    detail = {
        "ccy": "USDT",
        "eq": eq,
        "cashBal": fmt(totals["wallet"]),
        "uTime": str(update_ms),
        "isoEq": "0",
        "availEq": fmt(totals["available"]),
        "disEq": eq,
        "fixedBal": "0",
        "availBal": fmt(totals["available"]),
        "frozenBal": fmt(frozen),
        "ordFrozen": fmt(totals["order_margin"]),
        "liab": "0",
        "upl": fmt(totals["unrealized"]),
        "uplLiab": "0",
        "crossLiab": "0",
        "isoLiab": "0",
        "mgnRatio": "",
        "interest": "0",
        "twap": "0",
        "maxLoan": "",
        "eqUsd": eq,
        "borrowFroz": "",
        "notionalLever": "",
        "stgyEq": "0",
        "isoUpl": "0",
        "spotInUseAmt": "",
        "clSpotInUseAmt": "",
        "maxSpotInUse": "",
        "spotIsoBal": "0",
        "imr": fmt(frozen),
        "mmr": "0",
        "smtSyncEq": "0",
        "spotCopyTradingEq": "0",
        "spotBal": "",
        "openAvgPx": "",
        "accAvgPx": "",
        "spotUpl": "",
        "spotUplRatio": "",
        "totalPnl": "",
        "totalPnlRatio": "",
        "colRes": "0",
        "colBorrAutoConversion": "0",
        "collateralEnabled": False,
        "autoLendStatus": "off",
        "autoLendMtAmt": "0",
    }
    return {
        "adjEq": eq,
        "availEq": fmt(totals["available"]),
        "borrowFroz": "",
        "details": [detail],
        "imr": fmt(frozen),
        "isoEq": "0",
        "mgnRatio": "",
        "mmr": "0",
        "notionalUsd": fmt(totals["position_margin"]),
        "notionalUsdForBorrow": "0",
        "notionalUsdForFutures": "0",
        "notionalUsdForOption": "0",
        "notionalUsdForSwap": fmt(totals["position_margin"]),
        "ordFroz": fmt(totals["order_margin"]),
        "totalEq": eq,
        "uTime": str(update_ms),
        "upl": fmt(totals["unrealized"]),
    }


def currency_record(ccy: str) -> dict[str, Any]:
    """One currency of /api/v5/asset/currencies, on the simulator's only chain: no deposits,
    no withdrawals."""
    return {
        "ccy": ccy,
        "name": ccy,
        "logoLink": "",
        "chain": f"{ccy}-Simulated",
        "ctAddr": "",
        "canDep": False,
        "canWd": False,
        "canInternal": False,
        "depEstOpenTime": "",
        "wdEstOpenTime": "",
        "minDep": "0",
        "minWd": "0",
        "maxWd": "0",
        "wdTickSz": "8",
        "wdQuota": "0",
        "usedWdQuota": "0",
        "fee": "0",
        "minFee": "0",
        "maxFee": "0",
        "burningFeeRate": "",
        "mainNet": True,
        "needTag": False,
        "minDepArrivalConfirm": "0",
        "minWdUnlockConfirm": "0",
        "depQuotaFixed": "",
        "usedDepQuotaFixed": "",
        "depQuoteDailyLayer2": "",
    }


def instrument_record(c: Contract, listed_ms: int) -> dict[str, Any]:
    s = c.sym
    return {
        "instType": "SWAP",
        "instId": c.inst_id,
        "uly": c.family,
        "instFamily": c.family,
        "category": "1",
        "baseCcy": "",
        "quoteCcy": "",
        "settleCcy": s.quote_asset,
        "ctVal": fmt(c.ct_val),
        "ctMult": "1",
        "ctValCcy": s.base_asset,
        "optType": "",
        "stk": "",
        "listTime": str(listed_ms),
        "auctionEndTime": "",
        "contTdSwTime": "",
        "openType": "",
        "expTime": "",
        "lever": str(s.leverage),
        "tickSz": fmt(s.tick_size),
        "lotSz": fmt(c.lot),
        "minSz": fmt(c.min_sz),
        "ctType": "linear",
        "alias": "",
        "state": "live",
        "ruleType": "normal",
        "maxLmtSz": fmt(c.max_sz),
        "maxMktSz": fmt(c.max_sz),
        "maxLmtAmt": "",
        "maxMktAmt": "",
        "maxTwapSz": fmt(c.max_sz),
        "maxIcebergSz": fmt(c.max_sz),
        "maxTriggerSz": fmt(c.max_sz),
        "maxStopSz": fmt(c.max_sz),
        "futureSettlement": False,
        "tradeQuoteCcyList": [],
        "instIdCode": None,
    }


def ticker_record(c: Contract, q: Quote, now_ms: int) -> dict[str, Any]:
    mid = fmt(q.mid)
    return {
        "instType": "SWAP",
        "instId": c.inst_id,
        "last": mid,
        "lastSz": "0",
        "askPx": fmt(q.ask),
        "askSz": fmt(c.to_contracts(q.ask_qty)),
        "bidPx": fmt(q.bid),
        "bidSz": fmt(c.to_contracts(q.bid_qty)),
        "open24h": mid,
        "high24h": mid,
        "low24h": mid,
        "volCcy24h": "0",
        "vol24h": "0",
        "sodUtc0": mid,
        "sodUtc8": mid,
        "ts": str(now_ms),
    }


def book_record(c: Contract, q: Quote, m: MarketConfig, depth: int, now_ms: int) -> dict[str, Any]:
    """The simulated book the matching walks: ``depth_levels`` levels each side, the first at
    the quote's sizes, then ``level_qty`` every ``level_spacing_ticks`` ticks."""
    step = c.sym.tick_size * m.level_spacing_ticks
    levels = min(depth, m.depth_levels)
    asks, bids = [], []
    for level in range(levels):
        ask_qty = q.ask_qty if level == 0 else m.level_qty
        bid_qty = q.bid_qty if level == 0 else m.level_qty
        asks.append([fmt(q.ask + step * level), fmt(c.to_contracts(ask_qty)), "0", "1"])
        bid_px = q.bid - step * level
        if bid_px > 0:
            bids.append([fmt(bid_px), fmt(c.to_contracts(bid_qty)), "0", "1"])
    return {"asks": asks, "bids": bids, "ts": str(now_ms)}


def bbo_record(c: Contract, q: Quote, now_ms: int, seq: int) -> dict[str, Any]:
    """The ``bbo-tbt`` channel: one level each side."""
    return {
        "asks": [[fmt(q.ask), fmt(c.to_contracts(q.ask_qty)), "0", "1"]],
        "bids": [[fmt(q.bid), fmt(c.to_contracts(q.bid_qty)), "0", "1"]],
        "ts": str(now_ms),
        "seqId": seq,
    }
