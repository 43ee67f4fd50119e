"""The ``[traders.venue]`` table: where the venue is and which of the watchdog's keys to use.

Parsed once at the edge, strictly (``risk.tomltable``): unknown keys and ill-typed values are
errors naming the file and the key path.
The key files are read here, once (their format and mode checked by
``watchdog.venues.credentials``): a bad file refuses to arm with a one-line error.

```toml
[traders.venue]
kind = "binance_futures"                     # or "bybit", "okx" (kinds.py: one entry per venue)
base_url = "https://fapi.binance.com"        # REST
ws_url = "wss://fstream.binance.com"         # the private stream; omit to not follow it
market_ws_url = "wss://fstream.binance.com"  # the public market stream; omit to not follow it
max_market_silence_s = 2.0                   # no market message for this long: HALTED
account_credentials = "/run/credentials/watchdog/account"   # the watchdog's key on the account
master_credentials = "/run/credentials/watchdog/master"     # the master key (deletes the trader's)
trader_key_file = "/run/credentials/watchdog/trader-key-id" # api_key only, no secret
symbols = ["BTCUSDT", "ETHUSDT"]
reconcile_period_s = 1.0
max_venue_blind_s = 5.0                      # no fresh view for this long: HALTED venue_blind
selfcheck_period_s = 60.0
flatten = false
recv_window_ms = 5000
request_timeout_s = 2.0
# binance_futures only
sapi_url = "https://api.binance.com"         # REST /sapi (sub-account keys); default base_url
trader_email = "trader-1@example.com"        # the trader's sub-account
dms_countdown_ms = 10000                     # 0 disables the dead man's switch
dms_refresh_s = 3.0                          # default countdown / 3
dms_disarm_on_shutdown = false
# bybit only
trader_uid = "100200300"                     # the trader's sub-account UID
settle_coins = ["USDT", "USDC"]              # the linear books cancelled and listed
dcp_window_s = 10                            # 3..300; 0 = off (arm without a venue switch)
dcp_refresh_s = 3.0                          # default window / 3
# okx only (its key files also hold the key's passphrase)
trader_sub_account = "trader1"               # the trader's sub-account name
dms_timeout_s = 30                           # cancel-all-after: 10..120; 0 = off
dms_refresh_s = 10.0                         # default timeout / 3
dms_disarm_on_shutdown = false
```
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from risk.tomltable import Table, wrong_type
from watchdog.daemon.venue.dms import DmsSettings
from watchdog.daemon.venue.kinds import HTTP, KINDS, Common, Connect, url
from watchdog.errors import ConfigError
from watchdog.venues.base import SubAccountRef
from watchdog.venues.credentials import Credentials, load_api_key_id, load_credentials
from watchdog.venues.errors import CredentialsError

DEFAULT_MAX_VENUE_BLIND_S = 5.0
DEFAULT_MAX_MARKET_SILENCE_S = 2.0
# A view may miss one reconciliation without going blind: a single slow read is not an outage.
_BLIND_MIN_PERIODS = 2


class VenueConfigError(ConfigError):
    """A ``[traders.venue]`` value is invalid: the message names the key and the reason."""


@dataclass(frozen=True, slots=True)
class VenueSettings:
    kind: str
    connect: Connect  # the kind's adapter on the configured endpoint, for one key
    ws_url: str | None  # the private stream; None: not followed
    account: Credentials  # the watchdog's own key on the trading account
    master: Credentials  # the master key: deletes the trader's key
    trader: SubAccountRef  # the trader's key id (never its secret) and what names it
    symbols: tuple[str, ...]
    dms: DmsSettings | None
    reconcile_period_s: float
    selfcheck_period_s: float
    flatten: bool
    # Without a fresh reconciliation for this long the view is blind: HALTED (venue_blind).
    max_venue_blind_s: float = DEFAULT_MAX_VENUE_BLIND_S
    # The public market stream the watchdog marks the account on; None: not followed.
    market_ws_url: str | None = None
    # No market message for this long with the socket open: reconnect, HALTED until priced.
    max_market_silence_s: float = DEFAULT_MAX_MARKET_SILENCE_S


_COMMON_KEYS = frozenset({
    "kind", "base_url", "ws_url", "account_credentials", "master_credentials",
    "trader_key_file", "symbols", "reconcile_period_s", "max_venue_blind_s",
    "selfcheck_period_s", "flatten", "recv_window_ms", "request_timeout_s",
    "market_ws_url", "max_market_silence_s",
})  # fmt: skip


def venue_keys(kind: str) -> frozenset[str]:
    """Every key ``[traders.venue]`` accepts for ``kind``: the example names them all."""
    return _COMMON_KEYS | KINDS[kind].keys


def parse_venue_settings(table: Table, *, base: Path | None = None) -> VenueSettings:
    """``table`` is the ``[traders.venue]`` table of a config file, which names it in every
    error; relative paths resolve against ``base`` (the config file's directory)."""
    t = replace(table, error=VenueConfigError)
    kind = KINDS[t.choice("kind", tuple(KINDS), "binance_futures")]
    t.reject_unknown(_COMMON_KEYS | kind.keys)
    ws_url = url(t, "ws_url", ("ws", "wss")) if t.has("ws_url") else None
    common = Common(
        url(t, "base_url", HTTP),
        recv_window_ms=t.integer("recv_window_ms", 5000, low=1, high=60_000),
        request_timeout_s=t.number("request_timeout_s", 2.0),
        ws_url=ws_url,
    )
    parsed = kind.parse(t, common, _key_id(t, "trader_key_file", base))
    flatten = t.boolean("flatten", False)
    if flatten and not kind.can_flatten:
        raise t.fail(
            "flatten", f"not available for kind {kind.name!r}: the watchdog has no exits on it yet"
        )
    reconcile_period_s = t.number("reconcile_period_s", 1.0)
    return VenueSettings(
        kind=kind.name,
        connect=parsed.connect,
        ws_url=ws_url,
        account=_credentials(t, "account_credentials", base, passphrase=kind.needs_passphrase),
        master=_credentials(t, "master_credentials", base, passphrase=kind.needs_passphrase),
        trader=parsed.trader,
        symbols=_symbols(t, "symbols"),
        dms=parsed.dms,
        reconcile_period_s=reconcile_period_s,
        selfcheck_period_s=t.number("selfcheck_period_s", 60.0),
        flatten=flatten,
        max_venue_blind_s=_blind_limit(t, reconcile_period_s),
        market_ws_url=url(t, "market_ws_url", ("ws", "wss")) if t.has("market_ws_url") else None,
        max_market_silence_s=t.number("max_market_silence_s", DEFAULT_MAX_MARKET_SILENCE_S),
    )


def _blind_limit(t: Table, reconcile_period_s: float) -> float:
    key = "max_venue_blind_s"
    value = t.number(key, DEFAULT_MAX_VENUE_BLIND_S)
    least = _BLIND_MIN_PERIODS * reconcile_period_s
    if value < least:
        raise t.fail(
            key,
            f"must be at least {_BLIND_MIN_PERIODS} x reconcile_period_s ({least:g} s), got "
            f"{value!r}: shorter, a single slow read would halt the trader",
        )
    return value


def _file(t: Table, key: str, base: Path | None) -> Path:
    path = Path(t.text(key))
    if base is not None and not path.is_absolute():
        path = (base / path).resolve()
    if not path.is_file():
        raise t.fail(key, f"no such file: {path}")
    return path


def _credentials(t: Table, key: str, base: Path | None, *, passphrase: bool) -> Credentials:
    """The key file; its ``passphrase`` is required where the kind's keys have one (OKX) and
    refused elsewhere (it would be a secret kept for nothing, or a file meant for OKX)."""
    path = _file(t, key, base)
    try:
        credentials = load_credentials(path)
    except CredentialsError as exc:
        raise t.fail(key, str(exc)) from None
    if passphrase and credentials.passphrase is None:
        raise t.fail(key, f"{path}: passphrase: missing (required: this venue's keys have one)")
    if not passphrase and credentials.passphrase is not None:
        raise t.fail(key, f"{path}: passphrase: not used by this venue; remove it")
    return credentials


def _key_id(t: Table, key: str, base: Path | None) -> str:
    try:
        return load_api_key_id(_file(t, key, base))
    except CredentialsError as exc:
        raise t.fail(key, str(exc)) from None


def _symbols(t: Table, key: str) -> tuple[str, ...]:
    value = t.value(key)
    expected = "a non-empty array of symbols like 'BTCUSDT'"
    if not isinstance(value, list):
        raise t.fail(key, wrong_type(expected, value))
    if not value or not all(isinstance(s, str) and s.isalnum() and s.isupper() for s in value):
        raise t.fail(key, f"expected {expected}, got {value!r}")
    return tuple(dict.fromkeys(value))
