"""The demo's generated configuration: the sim's world, the watchdog, the trader, the limits.

Pure text rendering: the file layouts are ``harness.configs`` (shared with the tests and the
benchmarks), the demo's tuned values are here. The shell writes the files (keys mode 0600) into
the run's temp dir. The limits are tuned so every scenario trips quickly and normal quoting
never does: see docs/demo.md ("Limits") for why each value is what it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exchange_sim.config import DEFAULT_CONFIG, KeyConfig, SimConfig, parse_config
from harness import configs as harness_configs
from harness import sim

TRADER_ID = "demo-mm"
TRADER_ACCOUNT = "trader1"
SYMBOLS = ("BTCUSDT", "ETHUSDT")  # the watchdog cancels on both; the trader quotes the first
TRADED = SYMBOLS[0]
# The reject storm: a definite rejection, the sim's code for "margin is insufficient" (each venue
# front answers it in its own words: Binance -2019, Bybit 110007).
REJECT_CODE = -2019
DAILY_LOSS_QUOTE = 30.0  # USDT: far above a few seconds of quoting noise, far below a crash

# The sim's default world with a faster market (fills within seconds) and rate limits that let
# the order flood be caught by the watchdog rather than by the venue's own throttle.
_MARKET = """[market]
model = "random_walk"
seed = 7
book_ticker_hz = 20
volatility_bps = 1.5
jump_probability = 0.0
jump_max_pct = 2.0
spread_ticks = 1
depth_levels = 10
level_qty = "5"
level_spacing_ticks = 1
"""

_RATE_LIMITS = """[rate_limits]
weight_per_minute = 1000000
orders_per_10s = 5000
orders_per_minute = 30000
retry_after_s = 5
ban_after_429s = 20
ban_s = 120
bybit_orders_per_s = 1000
bybit_ip_per_5s = 100000
okx_orders_per_2s = 2000
"""


def _replace_table(text: str, header: str, body: str) -> str:
    pattern = re.compile(rf"^\[{re.escape(header)}\]\n(?:[^\[\n].*\n)*", re.MULTILINE)
    if not pattern.search(text):
        raise ValueError(f"the sim's default world has no [{header}] table")
    return pattern.sub(body, text, count=1)


def sim_toml() -> str:
    text = _replace_table(DEFAULT_CONFIG, "market", _MARKET)
    return _replace_table(text, "rate_limits", _RATE_LIMITS)


@dataclass(frozen=True)
class WorldKeys:
    """The venue keys of the sim's default world, by label."""

    trader: KeyConfig
    watchdog: KeyConfig
    master: KeyConfig
    trader_email: str
    trader_uid: str  # how Bybit names the trader's sub-account


def world_keys() -> WorldKeys:
    return keys_of(parse_config(sim_toml(), "<demo sim world>"))


def keys_of(config: SimConfig) -> WorldKeys:
    """A sim world's keys labelled trader, watchdog and master; ValueError names what is
    missing from a world that lacks them."""
    keys = {key.label: key for account in config.accounts for key in account.keys}
    emails = [a.email for a in config.accounts if a.name == TRADER_ACCOUNT]
    labels = ("trader", "watchdog", "master")
    missing = [f"a key labelled {label}" for label in labels if label not in keys]
    if not emails:
        missing.append(f"an account named {TRADER_ACCOUNT}")
    if missing:
        raise ValueError(f"the sim world lacks {' and '.join(missing)}")
    uid = sim.bybit_uid([a.name for a in config.accounts], TRADER_ACCOUNT)
    return WorldKeys(keys["trader"], keys["watchdog"], keys["master"], emails[0], uid)


def credentials_toml(key: KeyConfig, venue: str, *, with_secret: bool = True) -> str:
    """A key's file for ``venue``; an OKX key's carries its passphrase (and only an OKX one:
    the watchdog refuses a passphrase where the venue has none)."""
    if not with_secret:
        return harness_configs.credentials_toml(key.api_key)
    return harness_configs.venue_credentials_toml(venue, key.api_key, key.secret, key.passphrase)


_LIMITS = """# Demo limits: the standard profile, with deadlines short enough to watch.
profile = "standard"
warn_at_pct = 80

[daily_loss]
max_loss = {{ quote = {daily_loss_quote} }}
action = "killed"

[heartbeat]
interval_s = 0.1
warn_after_s = 0.75
halt_after_s = 1.5
kill_after_s = 3.0
cooldown_s = 0.5

[stale_data]
max_age_s = 2.0
cooldown_s = 0.5
kill_after_s = 2.0

[consecutive_losses]
max_count = 1000
pause_s = 1.0

[order_rate]
windows = [{{ seconds = 1.0, max_orders = 80 }}]
kill_after_s = 1.0
cooldown_s = 1.0

[rejects]
max_consecutive = 5
max_ratio_pct = 50
window_s = 10.0
min_sample = 10
cooldown_s = 1.0
kill_after_s = 2.0
"""


def limits_toml(daily_loss_quote: float = DAILY_LOSS_QUOTE) -> str:
    """The demo's limits; a long run (the soak) gives the quoting loss more room."""
    return _LIMITS.format(daily_loss_quote=daily_loss_quote)


LIMITS = limits_toml()


@dataclass(frozen=True)
class Endpoints:
    base_url: str  # the sim's REST, e.g. http://127.0.0.1:PORT
    ws_url: str  # the sim's streams, e.g. ws://127.0.0.1:PORT


def watchdog_toml(venue: Endpoints, keys: WorldKeys, sim_venue: str = "binance") -> str:
    """Every path is relative to the run's directory, where the file is written."""
    link = sim.venue_link(
        sim_venue,
        venue.base_url,
        venue.ws_url,
        email=keys.trader_email,
        uid=keys.trader_uid,
        sub_account=TRADER_ACCOUNT,
        symbols=SYMBOLS,
    )
    trader = harness_configs.WatchedTrader(
        id=TRADER_ID,
        hmac_key_file="trader-hmac.key",
        limits_file="limits.toml",
        pidfile="trader.pid",
        credential_file="trader-venue.cred",
        stop_process=True,
        stop_grace_s=1.0,
        revoke_credential=True,
        revoke_mode="replace",
        venue=link,
    )
    return harness_configs.WatchdogConfig(
        traders=(trader,), shutdown_timeout_s=3.0, control_socket_mode="0600"
    ).to_toml()


def trader_toml(venue: Endpoints, ingress_socket: str, sim_venue: str = "binance") -> str:
    """The trader quotes ``TRADED`` two basis points from mid, in ``sim_venue``'s protocol."""
    return harness_configs.TraderConfig(
        venue_kind=harness_configs.VENUE_KIND[sim_venue],
        base_url=venue.base_url,
        ws_url=venue.ws_url,
        watchdog_socket=ingress_socket,
        trader_id=TRADER_ID,
        key_file="trader-hmac.key",
        credentials_file="trader-venue.cred",
        symbols=(harness_configs.BTCUSDT_QUOTE,),
        # OKX allows 10 account reads per 2 s per account, shared with the watchdog.
        reconcile_interval_s=0.5 if sim_venue == "okx" else 0.25,
        shutdown_timeout_s=5.0,
        half_spread_bps=2.0,
        telemetry_interval_s=0.5,
    ).to_toml()
