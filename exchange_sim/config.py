"""The simulator's config: TOML parsed once, validated strictly, turned into frozen values.

Unknown keys are errors; every message names the file and the key path, so a typo never runs a
venue that silently differs from what the test or the demo asked for.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from exchange_sim.errors import ConfigError

PERMISSIONS = frozenset({"read", "trade", "master"})
KEY_PATTERN = re.compile(r"[A-Za-z0-9]{64}")
# OKX keys carry a passphrase chosen at creation; a key that names none gets this documented one.
DEFAULT_PASSPHRASE = "SimPassphrase1"  # noqa: S105 (documented; opens only this loopback sim)
PASSPHRASE_PATTERN = re.compile(r"[\x21-\x7e]{8,32}")


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    symbol: str
    base_asset: str
    quote_asset: str
    price: Decimal
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    leverage: int
    max_open_orders: int
    # OKX: the base-asset quantity of one contract (ctVal); one step when not configured
    contract_value: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MarketConfig:
    model: str  # "random_walk" or "replay"
    seed: int
    book_ticker_hz: float  # per symbol
    volatility_bps: float  # standard deviation of one step, in basis points of the price
    jump_probability: float  # per step
    jump_max_pct: float
    spread_ticks: int
    depth_levels: int
    level_qty: Decimal  # base-asset quantity offered at each level
    level_spacing_ticks: int
    replay_csv: Path | None
    replay_loop: bool
    # Each market-stream message carries "sentNs": CLOCK_MONOTONIC nanoseconds read just before
    # its frame is written, so a client on this host can time itself from the venue's send.
    send_stamp: bool = False


@dataclass(frozen=True, slots=True)
class FeeConfig:
    maker: Decimal
    taker: Decimal


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    weight_per_minute: int
    orders_per_10s: int
    orders_per_minute: int
    retry_after_s: int
    ban_after_429s: int  # this many refusals inside one minute turns 429 into a 418 ban
    ban_s: int
    bybit_orders_per_s: int = 10  # Bybit: create/amend/cancel/cancel-all per UID per second
    bybit_ip_per_5s: int = 600  # Bybit: requests per IP in any 5 s; beyond, HTTP 403
    okx_orders_per_2s: int = 60  # OKX: order/amend/cancel requests per account and endpoint


@dataclass(frozen=True, slots=True)
class KeyConfig:
    label: str
    api_key: str
    secret: str
    permissions: frozenset[str]
    passphrase: str = DEFAULT_PASSPHRASE  # OKX: OK-ACCESS-PASSPHRASE
    ips: tuple[str, ...] = ()  # the addresses the key is bound to; empty: not IP-bound


@dataclass(frozen=True, slots=True)
class AccountConfig:
    name: str
    email: str
    master: bool
    usdt: Decimal
    keys: tuple[KeyConfig, ...]


@dataclass(frozen=True, slots=True)
class SimConfig:
    symbols: tuple[SymbolConfig, ...]
    accounts: tuple[AccountConfig, ...]
    market: MarketConfig
    fees: FeeConfig
    rate_limits: RateLimitConfig
    listen_key_validity_s: float
    countdown_check_ms: float
    journal_size: int
    recv_window_max_ms: int = 60000
    dcp_enabled: bool = True  # Bybit: the master UID has disconnection protection configured
    # Bybit cuts a private socket that neither pinged nor was sent anything for this long
    # (its documented default, 10 minutes; a client may ask for 30 s..10 min: max_active_time)
    bybit_private_idle_s: float = 600.0
    # OKX closes a WebSocket it has sent nothing on for this long (its documented 30 s)
    okx_ws_idle_s: float = 30.0


class _Table:
    """Reads one TOML table, remembering which keys were used so leftovers are reported.

    The simulator shares no code with the suite (a bug on one side must not cancel one on the
    other), so this reader is its own; it words every mistake as the suite's readers do:
    ``<file>: <key.path>: <reason>`` with the same reasons (docs/design.md, "Strict config
    reading"), which ``tests/tooling/test_config_wording.py`` checks.
    """

    def __init__(self, raw: Any, where: str, source: str) -> None:
        self._where = where
        self._source = source
        if not isinstance(raw, Mapping):
            raise self.fail("", f"expected a table, got {_kind_of(raw)}")
        self._raw: Mapping[str, Any] = raw
        self._used: set[str] = set()

    def path(self, key: str) -> str:
        if not key:
            return self._where or "<root>"
        return f"{self._where}.{key}" if self._where else key

    def fail(self, key: str, why: str) -> ConfigError:
        return ConfigError(f"{self._source}: {self.path(key)}: {why}")

    def get(self, key: str, default: Any) -> Any:
        self._used.add(key)
        value = self._raw.get(key, default)
        if value is None:
            raise self.fail(key, "missing (required)")
        return value

    def has(self, key: str) -> bool:
        """Whether ``key`` is given; it counts as a known key either way."""
        self._used.add(key)
        return key in self._raw

    def sub(self, raw: Any, where: str) -> _Table:
        """A table that is not one of this table's keys (e.g. an array element)."""
        return _Table(raw, where, self._source)

    def table(self, key: str) -> _Table:
        return _Table(self.get(key, {}), self.path(key), self._source)

    def names(self) -> list[str]:
        return list(self._raw)

    def _typed(self, key: str, default: Any, kinds: tuple[type, ...], expected: str) -> Any:
        value = self.get(key, default)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.fail(key, f"expected {expected}, got {_kind_of(value)}")
        return value

    def integer(self, key: str, default: int, low: int = 0, high: int = 2**62) -> int:
        value: int = self._typed(key, default, (int,), "an integer")
        if not low <= value <= high:
            raise self.fail(key, f"must be >= {low} and <= {high}, got {value!r}")
        return value

    def number(self, key: str, default: float, low: float = 0.0, high: float = 1e12) -> float:
        value = float(self._typed(key, default, (int, float), "a number"))
        if not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be >= {_bound(low)} and <= {_bound(high)}, got {value!r}")
        return value

    def dec(self, key: str, default: str | None, positive: bool = True) -> Decimal:
        value = self._typed(key, default, (str, int, float), 'a decimal number such as "0.001"')
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(key, f"not a decimal number: {value!r}") from None
        if not result.is_finite() or result < 0 or (positive and result == 0):
            raise self.fail(key, f"must be {'>' if positive else '>='} 0, got {value!r}")
        return result

    def text(self, key: str, default: str | None) -> str:
        value: str = self._typed(key, default, (str,), "a string")
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value: bool = self._typed(key, default, (bool,), "a boolean")
        return value

    def done(self) -> None:
        unknown = sorted(set(self._raw) - self._used)
        if unknown:
            allowed = ", ".join(sorted(self._used))
            raise self.fail(unknown[0], f"unknown key (allowed: {allowed})")


_KIND_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (str, "a string"),
    (int, "an integer"),
    (float, "a float"),
    (list, "an array"),
    (dict, "a table"),
)


def _bound(limit: float) -> str:
    """A bound as written in a config: ``0``, ``1000000``, ``0.05`` (never ``1e+06``)."""
    return str(int(limit)) if float(limit).is_integer() else repr(limit)


def _kind_of(value: object) -> str:
    for kind, name in _KIND_NAMES:
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def _symbol(t: _Table, name: str) -> SymbolConfig:
    quote = t.text("quote_asset", "USDT")
    if quote != "USDT":
        raise t.fail("quote_asset", "only USDT-margined symbols are simulated")
    base = t.text("base_asset", name.removesuffix("USDT"))
    cfg = SymbolConfig(
        symbol=name,
        base_asset=base,
        quote_asset=quote,
        price=t.dec("price", None),
        tick_size=t.dec("tick_size", "0.01"),
        step_size=t.dec("step_size", "0.001"),
        min_qty=t.dec("min_qty", None) if t.has("min_qty") else Decimal(0),
        max_qty=t.dec("max_qty", "1000000"),
        min_notional=t.dec("min_notional", "5"),
        leverage=t.integer("leverage", 20, 1, 125),
        max_open_orders=t.integer("max_open_orders", 200, 1, 1_000_000),
        contract_value=t.dec("contract_value", None) if t.has("contract_value") else None,
    )
    _check_contract_value(t, cfg)
    t.done()
    if not re.fullmatch(r"[A-Z0-9]{2,20}USDT", name):
        raise t.fail("", "symbol names are upper-case and end in USDT")
    return cfg


def _check_contract_value(t: _Table, cfg: SymbolConfig) -> None:
    """OKX sizes orders in contracts: a step must be a whole decimal number of contracts."""
    value = cfg.contract_value
    if value is None:
        return
    lot = cfg.step_size / value
    exponent = lot.normalize().as_tuple().exponent
    if lot * value != cfg.step_size or not isinstance(exponent, int) or exponent < -12:
        raise t.fail("contract_value", "step_size must be a whole decimal number of contracts")


def _ips(t: _Table) -> tuple[str, ...]:
    raw = t.get("ips", [])
    if not isinstance(raw, list):
        raise t.fail("ips", f"expected an array of strings, got {_kind_of(raw)}")
    for index, ip in enumerate(raw):
        if not isinstance(ip, str):
            raise t.fail(f"ips[{index}]", f"expected a string, got {_kind_of(ip)}")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise t.fail(f"ips[{index}]", f"not an IP address: {ip!r}") from None
    return tuple(raw)


def _market(t: _Table, base: Path) -> MarketConfig:
    model = t.choice("model", "random_walk", ("random_walk", "replay"))
    csv = base / t.text("replay_csv", None) if t.has("replay_csv") else None
    if model == "replay" and csv is None:
        raise t.fail("replay_csv", "missing (required when model = 'replay')")
    cfg = MarketConfig(
        model=model,
        seed=t.integer("seed", 1),
        book_ticker_hz=t.number("book_ticker_hz", 10.0, 0.0, 1_000_000.0),
        volatility_bps=t.number("volatility_bps", 1.0, 0.0, 1000.0),
        jump_probability=t.number("jump_probability", 0.0005, 0.0, 1.0),
        jump_max_pct=t.number("jump_max_pct", 2.0, 0.0, 90.0),
        spread_ticks=t.integer("spread_ticks", 1, 1, 10_000),
        depth_levels=t.integer("depth_levels", 10, 1, 1000),
        level_qty=t.dec("level_qty", "5"),
        level_spacing_ticks=t.integer("level_spacing_ticks", 1, 1, 10_000),
        replay_csv=csv,
        replay_loop=t.flag("replay_loop", True),
        send_stamp=t.flag("send_stamp", False),
    )
    t.done()
    return cfg


def _key(t: _Table) -> KeyConfig:
    api_key = t.text("api_key", None)
    secret = t.text("secret", None)
    if not KEY_PATTERN.fullmatch(api_key):
        raise t.fail("api_key", "must be 64 letters or digits (the venue's key format)")
    if not KEY_PATTERN.fullmatch(secret):
        raise t.fail("secret", "must be 64 letters or digits")
    perms = t.get("permissions", ["read", "trade"])
    if not isinstance(perms, list):
        raise t.fail("permissions", f"expected an array of strings, got {_kind_of(perms)}")
    for index, perm in enumerate(perms):
        if not isinstance(perm, str) or perm not in PERMISSIONS:
            choices = ", ".join(sorted(PERMISSIONS))
            raise t.fail(f"permissions[{index}]", f"must be one of {choices}, got {perm!r}")
    passphrase = t.text("passphrase", DEFAULT_PASSPHRASE)
    if not PASSPHRASE_PATTERN.fullmatch(passphrase):
        raise t.fail("passphrase", "must be 8 to 32 printable ASCII characters, no spaces")
    cfg = KeyConfig(
        label=t.text("label", api_key[:8]),
        api_key=api_key,
        secret=secret,
        permissions=frozenset(perms),
        passphrase=passphrase,
        ips=_ips(t),
    )
    t.done()
    return cfg


def _account(t: _Table, name: str) -> AccountConfig:
    raw_keys = t.get("keys", [])
    if not isinstance(raw_keys, list):
        raise t.fail("keys", f"expected an array of tables, got {_kind_of(raw_keys)}")
    keys = tuple(_key(t.sub(k, f"{t.path('keys')}[{i}]")) for i, k in enumerate(raw_keys))
    cfg = AccountConfig(
        name=name,
        email=t.text("email", f"{name}@sub.sim"),
        master=t.flag("master", False),
        usdt=t.dec("usdt", "100000", positive=False),
        keys=keys,
    )
    t.done()
    return cfg


def parse_config(text: str, source: str, base: Path | None = None) -> SimConfig:
    """Parse and validate a config; ``base`` resolves relative paths (the file's folder)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML: nested too deeply") from None
    root = _Table(raw, "", source)
    symbols_t = root.table("symbols")
    symbols = tuple(_symbol(symbols_t.table(n), n) for n in symbols_t.names())
    accounts_t = root.table("accounts")
    accounts = tuple(_account(accounts_t.table(n), n) for n in accounts_t.names())
    limits_t = root.table("rate_limits")
    limits = RateLimitConfig(
        weight_per_minute=limits_t.integer("weight_per_minute", 2400, 1),
        orders_per_10s=limits_t.integer("orders_per_10s", 300, 1),
        orders_per_minute=limits_t.integer("orders_per_minute", 1200, 1),
        retry_after_s=limits_t.integer("retry_after_s", 5, 1),
        ban_after_429s=limits_t.integer("ban_after_429s", 20, 1),
        ban_s=limits_t.integer("ban_s", 120, 1),
        bybit_orders_per_s=limits_t.integer("bybit_orders_per_s", 10, 1),
        bybit_ip_per_5s=limits_t.integer("bybit_ip_per_5s", 600, 1),
        okx_orders_per_2s=limits_t.integer("okx_orders_per_2s", 60, 1),
    )
    limits_t.done()
    fees_t = root.table("fees")
    fees = FeeConfig(
        maker=fees_t.dec("maker", "0.0002", positive=False),
        taker=fees_t.dec("taker", "0.0005", positive=False),
    )
    fees_t.done()
    market = _market(root.table("market"), base or Path("."))
    cfg = SimConfig(
        symbols=symbols,
        accounts=accounts,
        market=market,
        fees=fees,
        rate_limits=limits,
        listen_key_validity_s=root.number("listen_key_validity_s", 3600.0, 0.05, 1e7),
        countdown_check_ms=root.number("countdown_check_ms", 10.0, 1.0, 1000.0),
        journal_size=root.integer("journal_size", 200_000, 100, 10_000_000),
        dcp_enabled=root.flag("dcp_enabled", True),
        bybit_private_idle_s=root.number("bybit_private_idle_s", 600.0, 0.05, 3600.0),
        okx_ws_idle_s=root.number("okx_ws_idle_s", 30.0, 0.05, 3600.0),
    )
    root.done()
    _check_whole(cfg, source)
    return cfg


def _check_whole(cfg: SimConfig, source: str) -> None:
    if not cfg.symbols:
        raise ConfigError(f"{source}: symbols: at least one symbol is required")
    masters = [a for a in cfg.accounts if a.master]
    if len(masters) != 1:
        raise ConfigError(f"{source}: accounts: exactly one account must have master = true")
    seen: set[str] = set()
    emails: set[str] = set()
    for account in cfg.accounts:
        if account.email in emails:
            raise ConfigError(f"{source}: accounts.{account.name}.email: duplicated")
        emails.add(account.email)
        for key in account.keys:
            if key.api_key in seen:
                raise ConfigError(f"{source}: accounts.{account.name}.keys: api_key duplicated")
            seen.add(key.api_key)
            if "master" in key.permissions and not account.master:
                raise ConfigError(
                    f"{source}: accounts.{account.name}.keys: permission 'master' needs the "
                    "master account"
                )


def load_config(path: Path | None) -> SimConfig:
    """Read ``path`` (or the built-in default, identical to examples/sim.toml)."""
    if path is None:
        return parse_config(DEFAULT_CONFIG, "<default config>")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path), path.parent)


# The documented default world (docs/exchange_sim.md). Keys are fixed so the demo and the docs
# can name them; they only ever open doors on this loopback simulator.
DEFAULT_CONFIG = """\
# exchange-sim default world: one master account, one trading sub-account with two keys.
listen_key_validity_s = 3600
countdown_check_ms = 10
dcp_enabled = true
bybit_private_idle_s = 600
okx_ws_idle_s = 30

[market]
model = "random_walk"
seed = 1
book_ticker_hz = 10
volatility_bps = 1.0
jump_probability = 0.0005
jump_max_pct = 2.0
spread_ticks = 1
depth_levels = 10
level_qty = "5"
level_spacing_ticks = 1

[fees]
maker = "0.0002"
taker = "0.0005"

[rate_limits]
weight_per_minute = 2400
orders_per_10s = 300
orders_per_minute = 1200
retry_after_s = 5
ban_after_429s = 20
ban_s = 120
bybit_orders_per_s = 10
bybit_ip_per_5s = 600
okx_orders_per_2s = 60

[symbols.BTCUSDT]
price = "60000"
tick_size = "0.10"
step_size = "0.001"
min_notional = "100"
leverage = 20
contract_value = "0.01"

[symbols.ETHUSDT]
price = "3000"
tick_size = "0.01"
step_size = "0.001"
min_notional = "20"
leverage = 20
contract_value = "0.1"

[accounts.master]
email = "master@sim"
master = true
usdt = "1000000"

[[accounts.master.keys]]
label = "master"
api_key = "SimMasterKey0000000000000000000000000000000000000000000000000000"
secret = "SimMasterSecret0000000000000000000000000000000000000000000000000"
permissions = ["master", "read", "trade"]
ips = ["127.0.0.1"]

[accounts.trader1]
email = "trader1@sub.sim"
usdt = "100000"

[[accounts.trader1.keys]]
label = "trader"
api_key = "SimTraderKey0000000000000000000000000000000000000000000000000000"
secret = "SimTraderSecret0000000000000000000000000000000000000000000000000"
permissions = ["read", "trade"]

[[accounts.trader1.keys]]
label = "watchdog"
api_key = "SimWatchdogKey00000000000000000000000000000000000000000000000000"
secret = "SimWatchdogSecret00000000000000000000000000000000000000000000000"
permissions = ["read", "trade"]
"""
