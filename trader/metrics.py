"""Prometheus metrics on an explicit registry, served by aiohttp on the trader's own loop.

Serving from the event loop (rather than prometheus-client's thread) keeps the trader at one
thread: a scrape costs the loop a little time instead of contending for the GIL at random.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

# Tick-to-order spans microseconds to a stalled loop's milliseconds.
_TICK_BUCKETS = (10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 20e-3, 0.1)
_RTT_BUCKETS = (0.5e-3, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 0.1, 0.25, 0.5, 1.0, 2.5)


class TraderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.tick_to_order = Histogram(
            "trader_tick_to_order_seconds",
            "Feed message received to order request bytes written",
            buckets=_TICK_BUCKETS,
            registry=registry,
        )
        self.order_round_trip = Histogram(
            "trader_order_round_trip_seconds",
            "New-order request sent to the venue's answer",
            buckets=_RTT_BUCKETS,
            registry=registry,
        )
        self.feed_age = Gauge(
            "trader_feed_age_seconds",
            "Time since the last message per symbol",
            ["symbol"],
            registry=registry,
        )
        self.feed_fresh = Gauge(
            "trader_feed_fresh", "1 while the symbol's feed is fresh", ["symbol"], registry=registry
        )
        self.feed_stale = Counter(
            "trader_feed_stale_total",
            "Times a symbol's feed went stale",
            ["symbol"],
            registry=registry,
        )
        self.feed_connects = Counter(
            "trader_feed_connects_total", "Websocket connections opened", registry=registry
        )
        self.orders = Counter(
            "trader_orders_total", "New orders submitted", ["symbol", "side"], registry=registry
        )
        self.rejects = Counter(
            "trader_order_rejects_total",
            "Orders refused (venue or pre-trade risk)",
            ["symbol", "source"],
            registry=registry,
        )
        self.fills = Counter(
            "trader_fills_total", "Fills received", ["symbol", "side"], registry=registry
        )
        self.cancels = Counter(
            "trader_cancels_total", "Orders confirmed cancelled", ["symbol"], registry=registry
        )
        self.position = Gauge(
            "trader_position", "Signed position per symbol", ["symbol"], registry=registry
        )
        self.equity = Gauge("trader_equity", "Account equity (quote)", registry=registry)
        self.watchdog_state = Gauge(
            "trader_watchdog_state",
            "Trading state the watchdog last sent (0 ACTIVE .. 4 KILLED; 3 when silent)",
            registry=registry,
        )
        self.posture = Gauge(
            "trader_posture", "0 quoting, 1 reduce-only, 2 flat", registry=registry
        )
        self.host_drift = Gauge(
            "trader_host_drift", "1 when sysprep verify found drift at start", registry=registry
        )


class MetricsServer:
    """``/metrics`` over HTTP; ``start`` then ``port``, and ``close`` at shutdown."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
