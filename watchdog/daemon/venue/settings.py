"""The ``[traders.venue]`` table: where the venue is and which of the watchdog's keys to use.

Parsed once at the edge, strictly: unknown keys and ill-typed values are errors naming the key.
The key files are read here, once (their format and mode checked by
``watchdog.venues.credentials``): a bad file refuses to arm with a one-line error.

```toml
[traders.venue]
kind = "binance_futures"
base_url = "https://fapi.binance.com"        # REST /fapi
sapi_url = "https://api.binance.com"         # REST /sapi (sub-account keys); default base_url
ws_url = "wss://fstream.binance.com"         # user-data stream; omit to not follow it
account_credentials = "/run/credentials/watchdog/account"   # the watchdog's key on the account
master_credentials = "/run/credentials/watchdog/master"     # the master key (deletes the trader's)
trader_email = "trader-1@example.com"        # the trader's sub-account
trader_key_file = "/run/credentials/watchdog/trader-key-id" # api_key only, no secret
symbols = ["BTCUSDT", "ETHUSDT"]
dms_countdown_ms = 10000                     # 0 disables the dead man's switch
dms_refresh_s = 3.0                          # default countdown / 3
dms_disarm_on_shutdown = false
reconcile_period_s = 1.0
max_venue_blind_s = 5.0                      # no fresh view for this long: HALTED venue_blind
selfcheck_period_s = 60.0
flatten = false
recv_window_ms = 5000
request_timeout_s = 2.0
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from watchdog.daemon.venue.dms import DmsSettings
from watchdog.errors import ConfigError
from watchdog.venues.binance_futures import VenueEndpoint
from watchdog.venues.credentials import Credentials, load_api_key_id, load_credentials
from watchdog.venues.errors import CredentialsError
from watchdog.venues.user_stream import UserStreamConfig

KINDS = ("binance_futures",)
DEFAULT_MAX_VENUE_BLIND_S = 5.0
# A view may miss one reconciliation without going blind: a single slow read is not an outage.
_BLIND_MIN_PERIODS = 2


class VenueConfigError(ConfigError):
    """A ``[traders.venue]`` value is invalid: the message names the key and the reason."""


@dataclass(frozen=True, slots=True)
class VenueSettings:
    endpoint: VenueEndpoint
    stream: UserStreamConfig | None
    account: Credentials  # the watchdog's own key on the trading account
    master: Credentials  # the master key: deletes the trader's key
    trader_email: str
    trader_key: str  # the trader's key id (never its secret)
    symbols: tuple[str, ...]
    dms: DmsSettings | None
    reconcile_period_s: float
    selfcheck_period_s: float
    flatten: bool
    # Without a fresh reconciliation for this long the view is blind: HALTED (venue_blind).
    max_venue_blind_s: float = DEFAULT_MAX_VENUE_BLIND_S


_KEYS = {
    "kind", "base_url", "sapi_url", "ws_url", "account_credentials", "master_credentials",
    "trader_email", "trader_key_file", "symbols", "dms_countdown_ms", "dms_refresh_s",
    "dms_disarm_on_shutdown", "reconcile_period_s", "max_venue_blind_s", "selfcheck_period_s",
    "flatten", "recv_window_ms", "request_timeout_s",
}  # fmt: skip
KNOWN_VENUE_KEYS = frozenset(_KEYS)


def parse_venue_settings(
    table: Mapping[str, object], where: str, *, base: Path | None = None
) -> VenueSettings:
    """``where`` names the table in messages (``watchdog.toml: traders[0].venue``); relative
    paths resolve against ``base`` (the config file's directory)."""
    r = _Reader(table, where, base)
    for key in table:
        if key not in _KEYS:
            raise VenueConfigError(
                f"{where}.{key}: unknown key (allowed: {', '.join(sorted(_KEYS))})"
            )
    kind = r.text("kind", "binance_futures")
    if kind not in KINDS:
        raise VenueConfigError(f"{where}.kind: unsupported venue {kind!r}; known: {KINDS}")
    try:
        endpoint = VenueEndpoint(
            r.text("base_url"),
            sapi_url=r.optional_text("sapi_url"),
            recv_window_ms=r.integer("recv_window_ms", 5000),
            request_timeout_s=r.number("request_timeout_s", 2.0),
        )
        ws_url = r.optional_text("ws_url")
        stream = UserStreamConfig(ws_url) if ws_url is not None else None
        countdown = r.integer("dms_countdown_ms", 10_000)
        dms = (
            DmsSettings(countdown, r.optional_number("dms_refresh_s"),
                        r.boolean("dms_disarm_on_shutdown", False))
            if countdown
            else None
        )  # fmt: skip
    except ValueError as exc:
        if isinstance(exc, VenueConfigError):
            raise
        raise VenueConfigError(f"{where}: {exc}") from None
    reconcile_period_s = r.positive("reconcile_period_s", 1.0)
    return VenueSettings(
        endpoint=endpoint,
        stream=stream,
        account=r.credentials("account_credentials"),
        master=r.credentials("master_credentials"),
        trader_email=r.text("trader_email"),
        trader_key=r.key_id("trader_key_file"),
        symbols=r.symbols("symbols"),
        dms=dms,
        reconcile_period_s=reconcile_period_s,
        selfcheck_period_s=r.positive("selfcheck_period_s", 60.0),
        flatten=r.boolean("flatten", False),
        max_venue_blind_s=r.blind_limit(reconcile_period_s),
    )


class _Reader:
    _MISSING = object()

    def __init__(self, table: Mapping[str, object], where: str, base: Path | None) -> None:
        self._t = table
        self._where = where
        self._base = base

    def _get(self, key: str, default: object) -> object:
        value = self._t.get(key, default)
        if value is self._MISSING:
            raise VenueConfigError(f"{self._where}.{key}: missing (required)")
        return value

    def _bad(self, key: str, expected: str, value: object) -> VenueConfigError:
        return VenueConfigError(f"{self._where}.{key}: expected {expected}, got {value!r}")

    def text(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value:
            raise self._bad(key, "a non-empty string", value)
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self._t else None

    def integer(self, key: str, default: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._bad(key, "a non-negative integer", value)
        return value

    def number(self, key: str, default: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "a number", value)
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return self.number(key, 0.0) if key in self._t else None

    def positive(self, key: str, default: float) -> float:
        value = self.number(key, default)
        if not value > 0:
            raise self._bad(key, "a number > 0", value)
        return value

    def blind_limit(self, reconcile_period_s: float) -> float:
        key = "max_venue_blind_s"
        value = self.positive(key, DEFAULT_MAX_VENUE_BLIND_S)
        least = _BLIND_MIN_PERIODS * reconcile_period_s
        if value < least or value == float("inf"):
            raise VenueConfigError(
                f"{self._where}.{key}: must be finite and at least {_BLIND_MIN_PERIODS} x "
                f"reconcile_period_s ({least:g} s), got {value!r}: shorter, a single slow "
                "read would halt the trader"
            )
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false", value)
        return value

    def path(self, key: str) -> Path:
        path = Path(self.text(key))
        if self._base is not None and not path.is_absolute():
            path = (self._base / path).resolve()
        if not path.is_file():
            raise VenueConfigError(f"{self._where}.{key}: no such file: {path}")
        return path

    def credentials(self, key: str) -> Credentials:
        try:
            return load_credentials(self.path(key))
        except CredentialsError as exc:
            raise VenueConfigError(f"{self._where}.{key}: {exc}") from None

    def key_id(self, key: str) -> str:
        try:
            return load_api_key_id(self.path(key))
        except CredentialsError as exc:
            raise VenueConfigError(f"{self._where}.{key}: {exc}") from None

    def symbols(self, key: str) -> tuple[str, ...]:
        value = self._get(key, self._MISSING)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(s, str) and s.isalnum() and s.isupper() for s in value)
        ):
            raise self._bad(key, "a non-empty list of symbols like 'BTCUSDT'", value)
        return tuple(dict.fromkeys(value))
