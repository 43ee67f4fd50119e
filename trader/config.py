"""Strict TOML configuration for the trader, parsed once at the edge into frozen dataclasses.

Read through ``risk.tomltable``, so its errors read like every other program's:
``<file>: <key.path>: <reason>``.

Unknown keys are errors that name the key path, because a misspelt limit that silently falls
back to a default is how money gets lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from risk.tomltable import Table, loads, wrong_type
from trader.errors import ConfigError
from watchdog.venues import okx_wire

VENUE_KINDS = ("binance_futures", "bybit", "okx")


@dataclass(frozen=True, slots=True)
class VenueConfig:
    base_url: str
    ws_url: str
    credentials_file: Path
    request_timeout_s: float = 2.0
    recv_window_ms: int = 5000
    reconcile_interval_s: float = 0.5
    shutdown_timeout_s: float = 10.0
    fast_connections: int = 2  # order-entry fast path; 0 sends new orders through aiohttp
    kind: str = "binance_futures"  # one of VENUE_KINDS: the protocol base_url and ws_url speak


@dataclass(frozen=True, slots=True)
class FeedConfig:
    stale_after_s: float = 2.0
    max_event_age_s: float = 1.0
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 5.0
    open_timeout_s: float = 5.0
    busy_poll: bool = False  # poll the sockets without ever sleeping: one whole CPU, always


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    """One traded instrument; sizes are in exchange units, kept as exact decimals."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    quote_qty: Decimal
    max_position: Decimal


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    half_spread_bps: float = 5.0
    skew_bps: float = 5.0
    requote_ticks: int = 1
    warm_interval_ms: float = 1.0  # hot-path cache heater period; 0 turns it off


@dataclass(frozen=True, slots=True)
class RiskConfig:
    limits_file: Path


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    socket: str
    key_file: Path
    trader_id: str
    heartbeat_interval_s: float = 0.5
    silence_timeout_s: float = 3.0
    telemetry_interval_s: float = 1.0


@dataclass(frozen=True, slots=True)
class HostConfig:
    profile: str | None = None
    strict: bool = False
    cpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    host: str = "127.0.0.1"
    port: int = 9110


@dataclass(frozen=True, slots=True)
class TraderConfig:
    venue: VenueConfig
    feed: FeedConfig
    symbols: tuple[SymbolConfig, ...]
    strategy: StrategyConfig
    risk: RiskConfig
    watchdog: WatchdogConfig
    host: HostConfig
    metrics: MetricsConfig
    source: str

    def symbol(self, name: str) -> SymbolConfig:
        for spec in self.symbols:
            if spec.symbol == name:
                return spec
        raise KeyError(name)


def load_config(path: Path) -> TraderConfig:
    """Read and validate ``path``; relative file paths inside resolve against its folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({exc.reason})") from None
    return parse_config(text, str(path), base=path.parent)


def parse_config(text: str, source: str, *, base: Path) -> TraderConfig:
    root = Table.root(loads(text, source, ConfigError), source, ConfigError)
    root.reject_unknown(
        ("venue", "feed", "symbols", "strategy", "risk", "watchdog", "host", "metrics")
    )
    venue = _venue(root.table("venue", required=True), base)
    return TraderConfig(
        venue=venue,
        feed=_feed(root.table("feed")),
        symbols=_symbols(root.table("symbols", required=True), venue.kind),
        strategy=_strategy(root.table("strategy")),
        risk=_risk(root.table("risk", required=True), base),
        watchdog=_watchdog(root.table("watchdog", required=True), base),
        host=_host(root.table("host")),
        metrics=_metrics(root.table("metrics")),
        source=source,
    )


def _zero_or_more(t: Table, key: str, default: float) -> float:
    return t.number(key, default, low=0.0, low_open=False)


def _path(t: Table, key: str, base: Path) -> Path:
    value = Path(t.text(key))
    return value if value.is_absolute() else base / value


def _decimal(t: Table, key: str) -> Decimal:
    """A size written as a string ("0.001") or a number, kept exact; must be positive."""
    raw = t.value(key)
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise t.fail(key, wrong_type('a decimal number such as "0.001"', raw))
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise t.fail(key, f"not a decimal number: {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise t.fail(key, f"must be > 0, got {raw!r}")
    return value


def _cpu_list(t: Table, key: str) -> tuple[int, ...]:
    raw = t.value(key) if t.has(key) else []
    if not isinstance(raw, list):
        raise t.fail(key, wrong_type("an array of CPU numbers", raw))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in raw):
        raise t.fail(key, "expected an array of CPU numbers (integers >= 0)")
    if len(set(raw)) != len(raw):
        raise t.fail(key, "lists a CPU twice")
    return tuple(raw)


def _url(table: Table, key: str, schemes: tuple[str, ...]) -> str:
    value = table.text(key).rstrip("/")
    if not value.startswith(tuple(f"{s}://" for s in schemes)):
        raise table.fail(key, f"must start with {' or '.join(s + '://' for s in schemes)}")
    return value


def _venue(t: Table, base: Path) -> VenueConfig:
    t.reject_unknown(
        ("kind", "base_url", "ws_url", "credentials_file", "request_timeout_s", "recv_window_ms",
         "reconcile_interval_s", "shutdown_timeout_s", "fast_connections")
    )  # fmt: skip
    return VenueConfig(
        base_url=_url(t, "base_url", ("http", "https")),
        ws_url=_url(t, "ws_url", ("ws", "wss")),
        credentials_file=_path(t, "credentials_file", base),
        request_timeout_s=t.number("request_timeout_s", 2.0),
        recv_window_ms=t.integer("recv_window_ms", 5000, low=1, high=60000),
        reconcile_interval_s=t.number("reconcile_interval_s", 0.5),
        shutdown_timeout_s=t.number("shutdown_timeout_s", 10.0),
        fast_connections=t.integer("fast_connections", 2, low=0, high=16),
        kind=t.choice("kind", VENUE_KINDS, "binance_futures"),
    )


def _feed(t: Table) -> FeedConfig:
    t.reject_unknown(
        ("stale_after_s", "max_event_age_s", "reconnect_initial_s", "reconnect_max_s",
         "open_timeout_s", "busy_poll")
    )  # fmt: skip
    feed = FeedConfig(
        stale_after_s=t.number("stale_after_s", 2.0),
        max_event_age_s=t.number("max_event_age_s", 1.0),
        reconnect_initial_s=t.number("reconnect_initial_s", 0.1),
        reconnect_max_s=t.number("reconnect_max_s", 5.0),
        open_timeout_s=t.number("open_timeout_s", 5.0),
        busy_poll=t.boolean("busy_poll", False),
    )
    if feed.reconnect_max_s < feed.reconnect_initial_s:
        raise t.fail("reconnect_max_s", "must be >= reconnect_initial_s")
    return feed


def _symbols(t: Table, kind: str) -> tuple[SymbolConfig, ...]:
    specs: list[SymbolConfig] = []
    for name in t.data:
        if not (name.isascii() and name.isalnum() and name.isupper()):
            raise t.fail(name, "symbol names are upper-case letters and digits, e.g. BTCUSDT")
        if kind == "okx" and not name.endswith(okx_wire.QUOTE):
            raise t.fail(name, f"OKX trades {okx_wire.QUOTE}-margined swaps: e.g. BTCUSDT")
        s = t.table(name, required=True)
        s.reject_unknown(("tick_size", "lot_size", "quote_qty", "max_position"))
        spec = SymbolConfig(
            symbol=name,
            tick_size=_decimal(s, "tick_size"),
            lot_size=_decimal(s, "lot_size"),
            quote_qty=_decimal(s, "quote_qty"),
            max_position=_decimal(s, "max_position"),
        )
        for key in ("quote_qty", "max_position"):
            if getattr(spec, key) % spec.lot_size:
                raise s.fail(key, f"must be a multiple of lot_size {spec.lot_size}")
        if spec.quote_qty > spec.max_position:
            raise s.fail("quote_qty", "must not exceed max_position")
        specs.append(spec)
    if not specs:
        raise t.fail("", "list at least one symbol, e.g. [symbols.BTCUSDT]")
    return tuple(specs)


def _strategy(t: Table) -> StrategyConfig:
    t.reject_unknown(("half_spread_bps", "skew_bps", "requote_ticks", "warm_interval_ms"))
    return StrategyConfig(
        half_spread_bps=t.number("half_spread_bps", 5.0),
        skew_bps=_zero_or_more(t, "skew_bps", 5.0),
        requote_ticks=t.integer("requote_ticks", 1, low=0, high=1_000_000),
        warm_interval_ms=_zero_or_more(t, "warm_interval_ms", 1.0),
    )


def _risk(t: Table, base: Path) -> RiskConfig:
    t.reject_unknown(("limits_file",))
    return RiskConfig(limits_file=_path(t, "limits_file", base))


def _socket(text: str, base: Path) -> str:
    """A relative Unix socket path resolves against the config's folder, like every other
    path in it (the watchdog resolves its ingress socket the same way)."""
    if text.startswith("udp://") or Path(text).is_absolute():
        return text
    return str(base / text)


def _watchdog(t: Table, base: Path) -> WatchdogConfig:
    t.reject_unknown(
        ("socket", "key_file", "trader_id", "heartbeat_interval_s", "silence_timeout_s",
         "telemetry_interval_s")
    )  # fmt: skip
    watchdog = WatchdogConfig(
        socket=_socket(t.text("socket"), base),
        key_file=_path(t, "key_file", base),
        trader_id=t.text("trader_id"),
        heartbeat_interval_s=t.number("heartbeat_interval_s", 0.5),
        silence_timeout_s=t.number("silence_timeout_s", 3.0),
        telemetry_interval_s=t.number("telemetry_interval_s", 1.0),
    )
    if watchdog.silence_timeout_s <= watchdog.heartbeat_interval_s:
        raise t.fail("silence_timeout_s", "must be longer than heartbeat_interval_s")
    return watchdog


def _host(t: Table) -> HostConfig:
    t.reject_unknown(("profile", "strict", "cpus"))
    return HostConfig(
        profile=t.optional_text("profile"),
        strict=t.boolean("strict", False),
        cpus=_cpu_list(t, "cpus"),
    )


def _metrics(t: Table) -> MetricsConfig:
    t.reject_unknown(("host", "port"))
    return MetricsConfig(
        host=t.text("host", "127.0.0.1"), port=t.integer("port", 9110, low=0, high=65535)
    )
