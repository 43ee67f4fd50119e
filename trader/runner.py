"""Build the trader from its configuration and run it: startup, main loop, shutdown.

Startup order matters: the host check comes first (refuse before touching the venue), then
credentials and limits (fail on bad files before opening sockets), then the venue session,
metrics, the watchdog link, and one reconciliation that cancels orders a previous run left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from killswitch_client import AsyncClient, ClientConfig, load_key
from killswitch_client import ConfigError as ClientConfigError
from killswitch_client import TradingState as WatchdogState
from prometheus_client import CollectorRegistry

import watchdog.venues as wv
from risk import TradingState
from trader.app import ShutdownResult, Trader
from trader.config import TraderConfig
from trader.errors import ConfigError
from trader.fastpath import FastOrderEntry
from trader.feed import BookFeed, Clock, busy_poll
from trader.heater import HotPathHeater
from trader.host import HostVerifier, prepare_host
from trader.instrument import Instrument
from trader.metrics import MetricsServer, TraderMetrics
from trader.pretrade import PreTradeRisk, load_limits
from trader.venue import VenueError, open_order_session
from trader.venue_kind import WarmVenue, hot_path_heater, market_feed, order_entry
from watchdog.sdnotify import SdNotifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    ready_file: Path | None = None
    sys_root: Path = Path("/sys")


def watchdog_address(text: str) -> str | tuple[str, int]:
    """``udp://host:port`` for a remote watchdog, anything else is a Unix socket path."""
    if not text.startswith("udp://"):
        return text
    host, _, port = text.removeprefix("udp://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"watchdog.socket: expected udp://host:port, got {text!r}")
    return host, int(port)


def _client_config(config: TraderConfig) -> ClientConfig:
    w = config.watchdog
    try:
        return ClientConfig(
            trader_id=w.trader_id,
            key=load_key(w.key_file),
            address=watchdog_address(w.socket),
            heartbeat_interval=w.heartbeat_interval_s,
            ack_timeout=w.silence_timeout_s,
        )
    except ClientConfigError as exc:
        raise ConfigError(f"watchdog: {exc}") from None


def _credentials(config: TraderConfig) -> wv.Credentials:
    path = config.venue.credentials_file
    try:
        credentials = wv.load_credentials(path)
    except wv.CredentialsError as exc:
        raise ConfigError(f"venue.credentials_file: {exc}") from None
    if config.venue.kind == "okx" and credentials.passphrase is None:
        # OKX signs with a passphrase as well: without it every request would be refused.
        raise ConfigError(
            f"venue.credentials_file: {path}: passphrase: missing (required for kind okx)"
        )
    return credentials


def check_files(config: TraderConfig) -> None:
    """Load every file the config names (limits, venue credentials, watchdog key)."""
    load_limits(config.risk.limits_file)
    _credentials(config)
    _client_config(config)


def _write_ready(path: Path, metrics_port: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps({"pid": os.getpid(), "metrics_port": metrics_port}))
    tmp.replace(path)


async def serve(
    config: TraderConfig,
    options: RunOptions,
    *,
    clock: Clock,
    verifier: HostVerifier | None,
    notifier: SdNotifier | None = None,
) -> int:
    notifier = notifier or SdNotifier()
    outcome = prepare_host(config.host, verifier, sys_root=options.sys_root)
    limits = load_limits(config.risk.limits_file)
    credentials = _credentials(config)
    client_config = _client_config(config)
    registry = CollectorRegistry()
    metrics = TraderMetrics(registry)
    metrics.host_drift.set(1 if outcome.drift else 0)
    instruments = {s.symbol: Instrument.from_config(s) for s in config.symbols}
    session = open_order_session()
    server = MetricsServer(registry, config.metrics.host, config.metrics.port)
    holder: list[Trader] = []

    def on_state(previous: WatchdogState, current: WatchdogState) -> None:
        if holder:
            holder[0].on_watchdog_state(TradingState(previous), TradingState(current))

    client = AsyncClient(client_config, clock=clock, on_state_change=on_state)
    try:
        entry = order_entry(config, session, credentials, clock, metrics)
        fast = entry.fast
        trader = Trader(
            instruments=instruments,
            strategy=config.strategy,
            venue=entry.venue,
            link=client,
            pretrade=PreTradeRisk(limits, now=clock.wall()),
            metrics=metrics,
            clock=clock,
            notifier=notifier,
            trader_id=config.watchdog.trader_id,
            session=secrets.token_hex(4),
            request_timeout_s=config.venue.request_timeout_s,
            reconcile_interval_s=config.venue.reconcile_interval_s,
            fast=fast,
            alphanumeric_ids=entry.alphanumeric_ids,
        )
        holder.append(trader)
        await server.start()
        await _warm_up(entry.venue)
        await client.start()
        result = await _main_loop(config, options, trader, server.port, clock, fast, notifier)
    finally:
        notifier.close()
        await client.close()
        await session.close()
        await server.close()
    if not result.flat:
        log.error("shutdown_not_verified_flat", extra={"detail": result.detail})
        return 1
    log.info("stopped_cleanly", extra={"detail": result.detail})
    return 0


async def _warm_up(venue: WarmVenue) -> None:
    try:
        await venue.warm_up(4)
    except VenueError as exc:
        # Not fatal: nothing is quoted until reconciliation and the feed work anyway.
        log.warning("venue_warm_up_failed", extra={"error": str(exc)})


async def _main_loop(
    config: TraderConfig,
    options: RunOptions,
    trader: Trader,
    metrics_port: int,
    clock: Clock,
    fast: FastOrderEntry | None,
    notifier: SdNotifier,
) -> ShutdownResult:
    stop = asyncio.Event()
    _install_signals(stop.set)
    symbols = [s.symbol for s in config.symbols]
    venue = config.venue
    feed = market_feed(venue.kind, venue.ws_url, symbols, config.feed, trader, clock)
    try:
        return await _trade(config, options, trader, fast, feed, stop, metrics_port, notifier)
    except Exception:
        # A bug escaped a task: the group is gone, but our orders may still rest. Cancel them
        # in a fresh group before the error ends the process (the watchdog sees the exit too).
        log.exception("trader_failed_cancelling_own_orders")
        async with asyncio.TaskGroup() as rescue:
            trader.attach(rescue, feed)
            await trader.shutdown(config.venue.shutdown_timeout_s)
        raise


async def _trade(
    config: TraderConfig,
    options: RunOptions,
    trader: Trader,
    fast: FastOrderEntry | None,
    feed: BookFeed,
    stop: asyncio.Event,
    metrics_port: int,
    notifier: SdNotifier,
) -> ShutdownResult:
    symbols = [s.symbol for s in config.symbols]
    async with asyncio.TaskGroup() as tg:
        trader.attach(tg, feed)
        # WATCHDOG=1 from a task of its own: it proves the loop runs, whatever the venue does.
        # Housekeeping waits on venue calls that may take longer than the unit's WatchdogSec.
        keepalive = tg.create_task(notifier.keepalive(), name="systemd-keepalive")
        # Order-entry connections come up in the background; until one is ready new orders
        # take the aiohttp path (counted), so a slow connect never delays trading.
        entry = tg.create_task(fast.run(), name="order-entry") if fast is not None else None
        # The first reconciliation adopts and cancels orders a previous run left behind.
        await trader.housekeep_once()
        if options.ready_file is not None:
            _write_ready(options.ready_file, metrics_port)
        log.info("trader_started", extra={"metrics_port": metrics_port, "symbols": symbols})
        feed_task = tg.create_task(feed.run(), name="feed")
        housekeeping = tg.create_task(trader.housekeeping(), name="housekeeping")
        heater = _heater(config, trader, fast)
        warming = tg.create_task(heater.run(), name="heater") if heater is not None else None
        polling = tg.create_task(busy_poll(), name="busy-poll") if config.feed.busy_poll else None
        await stop.wait()
        log.info("stop_requested_cancelling_own_orders")
        feed_task.cancel()
        housekeeping.cancel()
        for optional in (warming, polling):
            if optional is not None:
                optional.cancel()
        result = await trader.shutdown(config.venue.shutdown_timeout_s)
        if entry is not None:
            entry.cancel()
        keepalive.cancel()
        return result


def _heater(
    config: TraderConfig, trader: Trader, fast: FastOrderEntry | None
) -> HotPathHeater | None:
    interval_ms = config.strategy.warm_interval_ms
    if interval_ms <= 0:
        return None
    signer = fast.signer if fast is not None else None
    symbols = [s.symbol for s in config.symbols]
    return hot_path_heater(config.venue.kind, trader, symbols, signer, interval_ms / 1000.0)


def _install_signals(on_stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_stop)
