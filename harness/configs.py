"""The watchdog's and the trader's configuration files for every world the suite starts: the
tests (integration, chaos, docker), the demo and the benchmarks.

Pure rendering: typed values in, TOML text out, nothing written. Each world keeps its own tuned
numbers (deadlines, limits, spreads) as arguments; the file layouts live here only, so a key the
daemon or the trader renames is renamed once. Paths are written as given: relative ones resolve
against the directory the config file is written to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

TomlValue = str | int | float | bool | Sequence[Any] | Mapping[str, Any]


def toml_value(value: TomlValue) -> str:
    """One TOML value: a JSON string literal is a valid TOML basic string, so strings, numbers
    and arrays are JSON; a mapping is an inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def toml_table(header: str | None, values: Mapping[str, TomlValue | None]) -> str:
    """``[header]`` (none for the top level) and its keys; a key whose value is None is left out,
    so the program's own default applies."""
    lines = [] if header is None else ["", header]
    lines += [f"{key} = {toml_value(v)}" for key, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def credentials_toml(api_key: str, secret: str | None = None, passphrase: str | None = None) -> str:
    """A venue credential file (an OKX key's carries its ``passphrase``); without ``secret``, the
    file that only names a key (the watchdog's record of which key is the trader's)."""
    return toml_table(None, {"api_key": api_key, "secret": secret, "passphrase": passphrase})


def venue_credentials_toml(venue: str, api_key: str, secret: str, passphrase: str) -> str:
    """A key's credential file for a sim speaking ``venue``: the passphrase on OKX alone (the
    watchdog refuses one where the venue has none)."""
    return credentials_toml(api_key, secret, passphrase if venue == "okx" else None)


# The trader's [venue] kind and the watchdog's [traders.venue] kind (the same words) for each
# protocol exchange_sim speaks (``--venue``).
VENUE_KIND = {"binance": "binance_futures", "bybit": "bybit", "okx": "okx"}
# The field each kind's link needs to name the trader's sub-account.
_LINK_NEEDS = {
    "binance_futures": "trader_email",
    "bybit": "trader_uid",
    "okx": "trader_sub_account",
}


@dataclass(frozen=True)
class VenueLink:
    """The watchdog's own path to the venue for one trader: ``[traders.venue]``.

    ``kind`` names the venue; ``trader_email`` and ``dms_countdown_ms`` are Binance's keys,
    ``trader_uid`` and ``dcp_window_s`` Bybit's, ``trader_sub_account`` and ``dms_timeout_s``
    OKX's (the sub-account whose key the master deletes, the cancel-all-after window; each
    kind's file names only its own).
    """

    base_url: str
    ws_url: str
    trader_email: str | None = None
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    account_credentials: str = "watchdog-account.cred"
    master_credentials: str = "watchdog-master.cred"
    trader_key_file: str = "trader-key-id"
    dms_countdown_ms: int | None = 10_000
    reconcile_period_s: float = 0.25
    selfcheck_period_s: float = 30.0
    request_timeout_s: float = 2.0
    kind: str = "binance_futures"
    trader_uid: str | None = None
    dcp_window_s: int | None = None
    market_ws_url: str | None = None  # the public market stream the watchdog marks on
    max_market_silence_s: float | None = None
    max_venue_blind_s: float | None = None
    trader_sub_account: str | None = None
    dms_timeout_s: int | None = None  # OKX's cancel-all-after; None: the watchdog's default

    def __post_init__(self) -> None:
        needs = _LINK_NEEDS.get(self.kind)
        if needs is None:
            raise ValueError(f"kind: no such venue kind {self.kind!r}")
        if getattr(self, needs) is None:
            raise ValueError(f"a {self.kind} link needs {needs}")

    def to_toml(self) -> str:
        binance, bybit = self.kind == "binance_futures", self.kind == "bybit"
        return toml_table(
            "[traders.venue]",
            {
                "kind": self.kind,
                "base_url": self.base_url,
                "ws_url": self.ws_url,
                "account_credentials": self.account_credentials,
                "master_credentials": self.master_credentials,
                "trader_email": self.trader_email if binance else None,
                "trader_uid": self.trader_uid if bybit else None,
                "trader_sub_account": self.trader_sub_account if self.kind == "okx" else None,
                "trader_key_file": self.trader_key_file,
                "symbols": list(self.symbols),
                "dms_countdown_ms": self.dms_countdown_ms if binance else None,
                "dcp_window_s": self.dcp_window_s if bybit else None,
                "dms_timeout_s": self.dms_timeout_s if self.kind == "okx" else None,
                "reconcile_period_s": self.reconcile_period_s,
                "selfcheck_period_s": self.selfcheck_period_s,
                "request_timeout_s": self.request_timeout_s,
                "market_ws_url": self.market_ws_url,
                "max_market_silence_s": self.max_market_silence_s,
                "max_venue_blind_s": self.max_venue_blind_s,
            },
        )


@dataclass(frozen=True)
class HeartbeatLimits:
    """The heartbeat deadlines of a trader's inline limits (``[traders.limits.heartbeat]``)."""

    interval_s: float
    warn_after_s: float
    halt_after_s: float
    kill_after_s: float
    cooldown_s: float = 0.5


@dataclass(frozen=True)
class WatchedTrader:
    """One ``[[traders]]`` entry. Limits come from ``limits_file`` or inline: a profile, the
    heartbeat deadlines and any further rule tables (``{"bad_data": {"max_past_s": 300.0}}``)."""

    id: str
    hmac_key_file: str | None  # None with telemetry = "none"
    limits_file: str | None = None
    profile: str = "standard"
    heartbeat: HeartbeatLimits | None = None
    rules: Mapping[str, Mapping[str, TomlValue]] | None = None
    pidfile: str | None = None
    credential_file: str | None = None
    kill_group: str | None = None
    stop_process: bool | None = None
    stop_grace_s: float | None = None
    revoke_credential: bool | None = None
    revoke_mode: str | None = None
    venue: VenueLink | None = None
    telemetry: str | None = None  # "none": watched through its process and the venue alone
    cmdline: str | None = None  # with telemetry = "none": what ties its pid

    def to_toml(self) -> str:
        text = toml_table(
            "[[traders]]",
            {
                "id": self.id,
                "telemetry": self.telemetry,
                "cmdline": self.cmdline,
                "hmac_key_file": self.hmac_key_file,
                "limits_file": self.limits_file,
                "pidfile": self.pidfile,
                "credential_file": self.credential_file,
                "kill_group": self.kill_group,
            },
        )
        kill = {
            "stop_process": self.stop_process,
            "stop_grace_s": self.stop_grace_s,
            "revoke_credential": self.revoke_credential,
            "revoke_mode": self.revoke_mode,
        }
        if any(v is not None for v in kill.values()):
            text += toml_table("[traders.kill]", kill)
        return text + self._inline_limits() + (self.venue.to_toml() if self.venue else "")

    def _inline_limits(self) -> str:
        if self.limits_file is not None:
            return ""
        text = toml_table("[traders.limits]", {"profile": self.profile})
        if self.heartbeat is not None:
            text += toml_table("[traders.limits.heartbeat]", vars(self.heartbeat))
        for rule, values in (self.rules or {}).items():
            text += toml_table(f"[traders.limits.{rule}]", values)
        return text


@dataclass(frozen=True)
class WatchdogConfig:
    """The daemon's whole config file: the process, its ingress, metrics, kill pacing and the
    traders it watches."""

    traders: tuple[WatchedTrader, ...]
    log_level: str = "info"
    shutdown_timeout_s: float | None = 2.0
    control_socket_mode: str | None = None
    unix_socket: str | None = "ingress.sock"
    udp: str | None = None  # "host:port": telemetry from another host or container
    metrics: bool = True  # served on 127.0.0.1, a free port
    kill_deadline_s: float = 5.0
    backoff_initial_s: float | None = 0.05
    backoff_max_s: float | None = 0.5

    def to_toml(self) -> str:
        text = toml_table(
            None,
            {
                "state_dir": "state",
                "control_socket": "control.sock",
                "control_socket_mode": self.control_socket_mode,
                "log_level": self.log_level,
                "shutdown_timeout_s": self.shutdown_timeout_s,
            },
        )
        text += toml_table("[ingress]", {"unix_socket": self.unix_socket, "udp": self.udp})
        if self.metrics:
            text += toml_table("[metrics]", {"host": "127.0.0.1", "port": 0})
        text += toml_table(
            "[kill]",
            {
                "deadline_s": self.kill_deadline_s,
                "backoff_initial_s": self.backoff_initial_s,
                "backoff_max_s": self.backoff_max_s,
            },
        )
        return text + "".join(t.to_toml() for t in self.traders)

    def with_(self, **changes: Any) -> WatchdogConfig:
        return replace(self, **changes)


@dataclass(frozen=True)
class QuotedSymbol:
    """A symbol the trader quotes: ``[symbols.<symbol>]``."""

    symbol: str
    tick_size: str
    lot_size: str
    quote_qty: str
    max_position: str


BTCUSDT_QUOTE = QuotedSymbol("BTCUSDT", "0.1", "0.001", "0.002", "0.010")
ETHUSDT_QUOTE = QuotedSymbol("ETHUSDT", "0.01", "0.001", "0.010", "0.050")


@dataclass(frozen=True)
class TraderConfig:
    """The reference trader's config file (``python -m trader run --config``)."""

    base_url: str
    ws_url: str
    watchdog_socket: str  # a Unix socket path, or udp://host:port
    trader_id: str
    key_file: str
    credentials_file: str = "venue.key"
    symbols: tuple[QuotedSymbol, ...] = (BTCUSDT_QUOTE,)
    request_timeout_s: float = 2.0
    reconcile_interval_s: float = 0.2
    shutdown_timeout_s: float = 10.0
    fast_connections: int | None = None
    stale_after_s: float = 1.0
    max_event_age_s: float = 5.0
    reconnect_initial_s: float = 0.05
    reconnect_max_s: float = 0.5
    open_timeout_s: float | None = None
    busy_poll: bool | None = None
    half_spread_bps: float = 1.0
    skew_bps: float = 1.0
    requote_ticks: int = 40
    limits_file: str = "limits.toml"
    heartbeat_interval_s: float = 0.1
    silence_timeout_s: float = 1.0
    telemetry_interval_s: float | None = None
    cpus: tuple[int, ...] | None = None  # [host] cpus: the CPUs the trader pins itself to
    metrics_host: str | None = "127.0.0.1"
    venue_kind: str | None = None  # [venue] kind: VENUE_KIND of the sim's venue

    def to_toml(self) -> str:
        text = toml_table(
            "[venue]",
            {
                "kind": self.venue_kind,
                "base_url": self.base_url,
                "ws_url": self.ws_url,
                "credentials_file": self.credentials_file,
                "request_timeout_s": self.request_timeout_s,
                "reconcile_interval_s": self.reconcile_interval_s,
                "shutdown_timeout_s": self.shutdown_timeout_s,
                "fast_connections": self.fast_connections,
            },
        )
        text += toml_table(
            "[feed]",
            {
                "stale_after_s": self.stale_after_s,
                "max_event_age_s": self.max_event_age_s,
                "reconnect_initial_s": self.reconnect_initial_s,
                "reconnect_max_s": self.reconnect_max_s,
                "open_timeout_s": self.open_timeout_s,
                "busy_poll": self.busy_poll,
            },
        )
        for s in self.symbols:
            text += toml_table(
                f"[symbols.{s.symbol}]",
                {
                    "tick_size": s.tick_size,
                    "lot_size": s.lot_size,
                    "quote_qty": s.quote_qty,
                    "max_position": s.max_position,
                },
            )
        return text + self._rest()

    def _rest(self) -> str:
        text = toml_table(
            "[strategy]",
            {
                "half_spread_bps": self.half_spread_bps,
                "skew_bps": self.skew_bps,
                "requote_ticks": self.requote_ticks,
            },
        )
        text += toml_table("[risk]", {"limits_file": self.limits_file})
        text += toml_table(
            "[watchdog]",
            {
                "socket": self.watchdog_socket,
                "key_file": self.key_file,
                "trader_id": self.trader_id,
                "heartbeat_interval_s": self.heartbeat_interval_s,
                "silence_timeout_s": self.silence_timeout_s,
                "telemetry_interval_s": self.telemetry_interval_s,
            },
        )
        if self.cpus is not None:
            text += toml_table("[host]", {"cpus": list(self.cpus)})
        return text + toml_table("[metrics]", {"host": self.metrics_host, "port": 0})

    def with_(self, **changes: Any) -> TraderConfig:
        return replace(self, **changes)
