"""The one place that maps ``[venue] kind`` to its order venue, fast path and market feed.

Everything after this (the order manager, the strategy, the feed's staleness, the watchdog
link) is the same on every venue.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

import watchdog.venues as wv
from trader import bybit_feed, okx_feed
from trader.app import Trader
from trader.bybit_venue import BybitOrderVenue
from trader.config import FeedConfig, TraderConfig
from trader.fastpath import FastOrderEntry, FastPathConfig, OrderSigner
from trader.feed import BookFeed, Clock, FeedListener, stream_url
from trader.heater import HotPathHeater
from trader.metrics import FastPathMetrics, TraderMetrics
from trader.okx_venue import OkxOrderVenue
from trader.venue import BinanceOrderVenue, OrderVenue

log = logging.getLogger(__name__)


class WarmVenue(OrderVenue, Protocol):
    async def warm_up(self, connections: int) -> None:
        """Open keep-alive connections and learn the venue's clock before the first order."""


@dataclass(frozen=True, slots=True)
class OrderEntry:
    venue: WarmVenue
    fast: FastOrderEntry | None  # None: every new order goes through the aiohttp session
    alphanumeric_ids: bool = False  # client order ids of letters and digits only (OKX's)


def order_entry(
    config: TraderConfig,
    session: aiohttp.ClientSession,
    credentials: wv.Credentials,
    clock: Clock,
    metrics: TraderMetrics,
) -> OrderEntry:
    v = config.venue
    if v.kind in ("bybit", "okx") and v.fast_connections:
        log.info("order_entry_without_fast_path", extra={"venue": v.kind})
    if v.kind == "okx":
        okx = OkxOrderVenue(
            session, v.base_url, credentials, clock=clock, request_timeout_s=v.request_timeout_s
        )
        return OrderEntry(okx, None, alphanumeric_ids=True)
    if v.kind == "bybit":
        endpoint = wv.BybitEndpoint(
            v.base_url, recv_window_ms=v.recv_window_ms, request_timeout_s=v.request_timeout_s
        )
        return OrderEntry(
            BybitOrderVenue(wv.Bybit(session, endpoint, credentials, clock=clock)), None
        )
    binance = wv.VenueEndpoint(
        base_url=v.base_url, recv_window_ms=v.recv_window_ms, request_timeout_s=v.request_timeout_s
    )
    adapter = wv.BinanceFutures(session, binance, credentials, clock=clock)
    fast = _fast_entry(config, adapter, credentials, clock, metrics)
    return OrderEntry(BinanceOrderVenue(adapter), fast)


def _fast_entry(
    config: TraderConfig,
    adapter: wv.BinanceFutures,
    credentials: wv.Credentials,
    clock: Clock,
    metrics: TraderMetrics,
) -> FastOrderEntry | None:
    """The order-entry fast path over its own connections, or None when configured off."""
    venue = config.venue
    if venue.fast_connections == 0:
        return None

    def timestamp_ms() -> int:
        return int(clock.wall() * 1000.0 + adapter.time_offset_ms)

    return FastOrderEntry(
        venue.base_url,
        OrderSigner(venue.base_url, credentials, venue.recv_window_ms),
        timestamp_ms,
        adapter.sync_time,
        FastPathConfig(
            connections=venue.fast_connections, request_timeout_s=venue.request_timeout_s
        ),
        FastPathMetrics(metrics),
    )


def hot_path_heater(
    kind: str,
    trader: Trader,
    symbols: Sequence[str],
    signer: OrderSigner | None,
    interval_s: float,
) -> HotPathHeater:
    """The hot-path heater, warming ``kind``'s own decoder (with books of its own)."""
    if kind == "bybit":
        books = bybit_feed.BybitBooks()
        return HotPathHeater(
            trader,
            symbols,
            signer,
            interval_s,
            samples=bybit_feed.sample_message,
            decode=books.decode,
        )
    if kind == "okx":
        return HotPathHeater(
            trader,
            symbols,
            signer,
            interval_s,
            samples=okx_feed.sample_message,
            decode=okx_feed.decode,
        )
    return HotPathHeater(trader, symbols, signer, interval_s)


def market_feed(
    kind: str,
    ws_url: str,
    symbols: Sequence[str],
    config: FeedConfig,
    listener: FeedListener,
    clock: Clock,
) -> BookFeed:
    """The top-of-book feed for ``kind``'s public stream at ``ws_url``."""
    if kind == "bybit":
        books = bybit_feed.BybitBooks()
        return BookFeed(
            bybit_feed.stream_url(ws_url),
            symbols,
            config,
            listener,
            clock,
            decode=books.decode,
            greeting=books.greeting(symbols),
        )
    if kind == "okx":
        return BookFeed(
            okx_feed.stream_url(ws_url),
            symbols,
            config,
            listener,
            clock,
            decode=okx_feed.decode,
            greeting=okx_feed.greeting(symbols),
        )
    return BookFeed(stream_url(ws_url, symbols), symbols, config, listener, clock)
