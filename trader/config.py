"""Strict TOML configuration for the trader, parsed once at the edge into frozen dataclasses.

Unknown keys are errors that name the key path, because a misspelt limit that silently falls
back to a default is how money gets lost.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from trader.errors import ConfigError

T = TypeVar("T")


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


class _Table:
    """A TOML table read key by key; whatever is left over at the end is an unknown key."""

    def __init__(self, data: object, path: str, source: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: {path or '<root>'}: expected a table")
        self._data: dict[str, Any] = dict(data)
        self._path = path
        self._source = source

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self._source}: {self._where(key)}: {reason}")

    def here(self, reason: str) -> ConfigError:
        return ConfigError(f"{self._source}: {self._path or '<root>'}: {reason}")

    def table(self, key: str, *, required: bool = True) -> _Table:
        if key not in self._data and not required:
            return _Table({}, self._where(key), self._source)
        if key not in self._data:
            raise self.fail(key, "missing table")
        return _Table(self._data.pop(key), self._where(key), self._source)

    def names(self) -> list[str]:
        return list(self._data)

    def _get(self, key: str, kind: type[T], default: T | None) -> T:
        if key not in self._data:
            if default is None:
                raise self.fail(key, "missing key")
            return default
        value = self._data.pop(key)
        # bool is an int in Python; a flag where a number belongs is still a mistake.
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(key, f"expected {kind.__name__}, got a boolean")
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    def string(self, key: str, default: str | None = None) -> str:
        value = self._get(key, str, default)
        if not value:
            raise self.fail(key, "must not be empty")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        return self._get(key, bool, default)

    def positive(self, key: str, default: float | None = None) -> float:
        value = self._get(key, float, default)
        if not math.isfinite(value) or value <= 0:
            raise self.fail(key, f"must be a positive number, got {value}")
        return value

    def non_negative(self, key: str, default: float | None = None) -> float:
        value = self._get(key, float, default)
        if not math.isfinite(value) or value < 0:
            raise self.fail(key, f"must be zero or more, got {value}")
        return value

    def integer(self, key: str, default: int | None, low: int, high: int) -> int:
        value = self._get(key, int, default)
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return value

    def decimal(self, key: str) -> Decimal:
        """A size written as a string ("0.001") or a number, kept exact; must be positive."""
        raw = self._data.pop(key, None)
        if raw is None:
            raise self.fail(key, "missing key")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise self.fail(key, 'expected a decimal number such as "0.001"')
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise self.fail(key, f"not a decimal number: {raw!r}") from None
        if not value.is_finite() or value <= 0:
            raise self.fail(key, f"must be positive, got {raw!r}")
        return value

    def path(self, key: str, base: Path) -> Path:
        value = Path(self.string(key))
        return value if value.is_absolute() else base / value

    def int_list(self, key: str) -> tuple[int, ...]:
        raw = self._get(key, list, [])
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in raw):
            raise self.fail(key, "expected a list of CPU numbers (integers >= 0)")
        if len(set(raw)) != len(raw):
            raise self.fail(key, "lists a CPU twice")
        return tuple(raw)

    def done(self) -> None:
        if self._data:
            key = sorted(self._data)[0]
            raise self.fail(key, "unknown key")


def load_config(path: Path) -> TraderConfig:
    """Read and validate ``path``; relative file paths inside resolve against its folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(text, str(path), base=path.parent)


def parse_config(text: str, source: str, *, base: Path) -> TraderConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    root = _Table(data, "", source)
    config = TraderConfig(
        venue=_venue(root.table("venue"), base),
        feed=_feed(root.table("feed", required=False)),
        symbols=_symbols(root.table("symbols")),
        strategy=_strategy(root.table("strategy", required=False)),
        risk=_risk(root.table("risk"), base),
        watchdog=_watchdog(root.table("watchdog"), base),
        host=_host(root.table("host", required=False)),
        metrics=_metrics(root.table("metrics", required=False)),
        source=source,
    )
    root.done()
    return config


def _url(table: _Table, key: str, schemes: tuple[str, ...]) -> str:
    value = table.string(key).rstrip("/")
    if not value.startswith(tuple(f"{s}://" for s in schemes)):
        raise table.fail(key, f"must start with {' or '.join(s + '://' for s in schemes)}")
    return value


def _venue(t: _Table, base: Path) -> VenueConfig:
    venue = VenueConfig(
        base_url=_url(t, "base_url", ("http", "https")),
        ws_url=_url(t, "ws_url", ("ws", "wss")),
        credentials_file=t.path("credentials_file", base),
        request_timeout_s=t.positive("request_timeout_s", 2.0),
        recv_window_ms=t.integer("recv_window_ms", 5000, 1, 60000),
        reconcile_interval_s=t.positive("reconcile_interval_s", 0.5),
        shutdown_timeout_s=t.positive("shutdown_timeout_s", 10.0),
        fast_connections=t.integer("fast_connections", 2, 0, 16),
    )
    t.done()
    return venue


def _feed(t: _Table) -> FeedConfig:
    feed = FeedConfig(
        stale_after_s=t.positive("stale_after_s", 2.0),
        max_event_age_s=t.positive("max_event_age_s", 1.0),
        reconnect_initial_s=t.positive("reconnect_initial_s", 0.1),
        reconnect_max_s=t.positive("reconnect_max_s", 5.0),
        open_timeout_s=t.positive("open_timeout_s", 5.0),
        busy_poll=t.boolean("busy_poll", False),
    )
    t.done()
    if feed.reconnect_max_s < feed.reconnect_initial_s:
        raise t.fail("reconnect_max_s", "must be >= reconnect_initial_s")
    return feed


def _symbols(t: _Table) -> tuple[SymbolConfig, ...]:
    specs: list[SymbolConfig] = []
    for name in t.names():
        if not (name.isascii() and name.isalnum() and name.isupper()):
            raise t.fail(name, "symbol names are upper-case letters and digits, e.g. BTCUSDT")
        s = t.table(name)
        spec = SymbolConfig(
            symbol=name,
            tick_size=s.decimal("tick_size"),
            lot_size=s.decimal("lot_size"),
            quote_qty=s.decimal("quote_qty"),
            max_position=s.decimal("max_position"),
        )
        s.done()
        for key in ("quote_qty", "max_position"):
            if getattr(spec, key) % spec.lot_size:
                raise s.fail(key, f"must be a multiple of lot_size {spec.lot_size}")
        if spec.quote_qty > spec.max_position:
            raise s.fail("quote_qty", "must not exceed max_position")
        specs.append(spec)
    if not specs:
        raise t.here("list at least one symbol, e.g. [symbols.BTCUSDT]")
    return tuple(specs)


def _strategy(t: _Table) -> StrategyConfig:
    strategy = StrategyConfig(
        half_spread_bps=t.positive("half_spread_bps", 5.0),
        skew_bps=t.non_negative("skew_bps", 5.0),
        requote_ticks=t.integer("requote_ticks", 1, 0, 1_000_000),
        warm_interval_ms=t.non_negative("warm_interval_ms", 1.0),
    )
    t.done()
    return strategy


def _risk(t: _Table, base: Path) -> RiskConfig:
    risk = RiskConfig(limits_file=t.path("limits_file", base))
    t.done()
    return risk


def _socket(text: str, base: Path) -> str:
    """A relative Unix socket path resolves against the config's folder, like every other
    path in it (the watchdog resolves its ingress socket the same way)."""
    if text.startswith("udp://") or Path(text).is_absolute():
        return text
    return str(base / text)


def _watchdog(t: _Table, base: Path) -> WatchdogConfig:
    watchdog = WatchdogConfig(
        socket=_socket(t.string("socket"), base),
        key_file=t.path("key_file", base),
        trader_id=t.string("trader_id"),
        heartbeat_interval_s=t.positive("heartbeat_interval_s", 0.5),
        silence_timeout_s=t.positive("silence_timeout_s", 3.0),
        telemetry_interval_s=t.positive("telemetry_interval_s", 1.0),
    )
    t.done()
    if watchdog.silence_timeout_s <= watchdog.heartbeat_interval_s:
        raise t.fail("silence_timeout_s", "must be longer than heartbeat_interval_s")
    return watchdog


def _host(t: _Table) -> HostConfig:
    profile = t.string("profile") if "profile" in t.names() else None
    host = HostConfig(profile=profile, strict=t.boolean("strict", False), cpus=t.int_list("cpus"))
    t.done()
    return host


def _metrics(t: _Table) -> MetricsConfig:
    metrics = MetricsConfig(
        host=t.string("host", "127.0.0.1"), port=t.integer("port", 9110, 0, 65535)
    )
    t.done()
    return metrics
