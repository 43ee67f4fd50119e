"""The [traders.venue] table: strict, every error names its key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from risk.tomltable import Table
from watchdog.daemon.venue.settings import VenueConfigError, VenueSettings, parse_venue_settings
from watchdog.errors import ConfigError
from watchdog.venues.base import SubAccountRef


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name in ("account", "master"):
        path = tmp_path / name
        path.write_text(f'api_key = "{name.upper()}KEY"\nsecret = "{name}-secret"\n')
        path.chmod(0o600)
        out[name] = str(path)
    (tmp_path / "trader").write_text('api_key = "TRADERKEY"\n')
    out["trader"] = str(tmp_path / "trader")
    return out


def _table(files: dict[str, str], extra: str = "") -> dict[str, object]:
    return tomllib.loads(f"""
base_url = "http://127.0.0.1:1"
ws_url = "ws://127.0.0.1:1"
account_credentials = "{files["account"]}"
master_credentials = "{files["master"]}"
trader_email = "t@sub.example"
trader_key_file = "{files["trader"]}"
symbols = ["BTCUSDT", "ETHUSDT"]
{extra}
""")


def parse(table: dict[str, object], base: Path | None = None) -> VenueSettings:
    return parse_venue_settings(Table("w.toml", "traders[0].venue", table, ConfigError), base=base)


def test_a_minimal_table_gets_safe_defaults(files: dict[str, str]) -> None:
    settings = parse(_table(files))
    assert settings.symbols == ("BTCUSDT", "ETHUSDT")
    assert settings.dms is not None
    assert settings.dms.countdown_ms == 10_000
    assert settings.dms.refresh_interval_s == pytest.approx(10 / 3)
    assert settings.reconcile_period_s == 1.0
    assert settings.max_venue_blind_s == 5.0
    assert settings.flatten is False
    assert settings.kind == "binance_futures"
    assert settings.ws_url == "ws://127.0.0.1:1"
    assert settings.market_ws_url is None  # the market stream is followed only when named
    assert settings.max_market_silence_s == 2.0
    assert settings.trader == SubAccountRef("TRADERKEY", email="t@sub.example")
    assert settings.master.api_key == "MASTERKEY"


def test_relative_paths_resolve_against_the_config_directory(files: dict[str, str]) -> None:
    base = Path(files["account"]).parent
    table = {**_table(files), "account_credentials": "account", "trader_key_file": "trader"}
    assert parse(table, base=base).account.api_key == "ACCOUNTKEY"


def test_a_credentials_file_open_to_others_refuses_to_arm(files: dict[str, str]) -> None:
    Path(files["master"]).chmod(0o644)
    with pytest.raises(
        VenueConfigError, match=r"^w\.toml: traders\[0\]\.venue\.master_credentials: .*chmod 600"
    ):
        parse(_table(files))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour = 1", r"venue\.colour: unknown key \(allowed: account_credentials"),
        ("kind = 'kraken'", r"venue\.kind: must be one of binance_futures, bybit, okx, got 'k"),
        ("reconcile_period_s = 0", r"venue\.reconcile_period_s: must be > 0, got 0$"),
        ("flatten = 'yes'", r"venue\.flatten: expected a boolean, got a string$"),
        (
            "dms_countdown_ms = 500",
            r"venue\.dms_countdown_ms: must be 0 \(off\) or >= 1000 and <= 3600000, got 500$",
        ),
        ("dms_refresh_s = 5", r"venue\.dms_refresh_s: must be under half the countdown, got 5\.0$"),
        ("recv_window_ms = 90000", r"venue\.recv_window_ms: must be >= 1 and <= 60000, got 90000$"),
        ("max_venue_blind_s = 0", r"venue\.max_venue_blind_s: must be > 0, got 0$"),
        (
            "max_venue_blind_s = 'soon'",
            r"venue\.max_venue_blind_s: expected a number, got a string$",
        ),
        ("max_venue_blind_s = inf", r"venue\.max_venue_blind_s: must be a finite number, got inf$"),
        ("max_market_silence_s = 0", r"venue\.max_market_silence_s: must be > 0, got 0$"),
        (
            "max_venue_blind_s = 1.5",
            r"max_venue_blind_s: .*at least 2 x reconcile_period_s \(2 s\)",
        ),
    ],
)
def test_bad_values_name_their_key(files: dict[str, str], extra: str, message: str) -> None:
    with pytest.raises(VenueConfigError, match=message):
        parse(_table(files, extra))


@pytest.mark.parametrize(
    ("key", "url", "schemes"),
    [
        ("base_url", "ftp://x", "http:// or https://"),
        ("ws_url", "http://x", "ws:// or wss://"),
        ("market_ws_url", "http://x", "ws:// or wss://"),
    ],
)
def test_urls_must_name_their_scheme(
    files: dict[str, str], key: str, url: str, schemes: str
) -> None:
    with pytest.raises(VenueConfigError, match=rf"venue\.{key}: must start with {schemes}$"):
        parse({**_table(files), key: url})


def test_missing_required_keys_and_files_are_named(files: dict[str, str]) -> None:
    table = _table(files)
    del table["trader_email"]
    with pytest.raises(VenueConfigError, match=r"venue\.trader_email: missing"):
        parse(table)
    table = {**_table(files), "master_credentials": "/nonexistent/master"}
    with pytest.raises(VenueConfigError, match="master_credentials: no such file"):
        parse(table)


def test_symbols_must_look_like_symbols(files: dict[str, str]) -> None:
    table = {**_table(files), "symbols": ["btc-usdt"]}
    with pytest.raises(
        VenueConfigError,
        match=r"venue\.symbols: expected a non-empty array of symbols like 'BTCUSDT', "
        r"got \['btc-usdt'\]$",
    ):
        parse(table)


def test_a_zero_countdown_disables_the_dead_mans_switch(files: dict[str, str]) -> None:
    assert parse(_table(files, "dms_countdown_ms = 0")).dms is None


def test_the_blindness_limit_may_be_as_short_as_two_reconciliations(files: dict[str, str]) -> None:
    extra = "reconcile_period_s = 0.25\nmax_venue_blind_s = 0.5"
    assert parse(_table(files, extra)).max_venue_blind_s == 0.5


def _bybit(files: dict[str, str], extra: str = "") -> dict[str, object]:
    table = _table(files, f'kind = "bybit"\ntrader_uid = "100200"\n{extra}')
    del table["trader_email"]
    return table


def test_a_bybit_table_names_the_key_by_uid_and_arms_dcp_in_seconds(files: dict[str, str]) -> None:
    settings = parse(_bybit(files))
    assert settings.kind == "bybit"
    assert settings.trader == SubAccountRef("TRADERKEY", uid="100200")
    assert settings.dms is not None
    assert settings.dms.countdown_ms == 10_000
    assert settings.dms.disarm_on_shutdown is False
    assert parse(_bybit(files, "dcp_window_s = 0")).dms is None  # the operator's explicit "off"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("dcp_window_s = 2", r"venue\.dcp_window_s: must be 0 \(off\) or >= 3 and <= 300, got 2$"),
        ("dcp_window_s = 301", r"venue\.dcp_window_s: must be >= 0 and <= 300, got 301$"),
        ("dcp_refresh_s = 6", r"venue\.dcp_refresh_s: must be under half the window, got 6\.0$"),
        ("dms_countdown_ms = 5000", r"venue\.dms_countdown_ms: unknown key"),
        ("flatten = true", r"venue\.flatten: not available for kind 'bybit'"),
        ("settle_coins = []", r"venue\.settle_coins: name at least one settle coin"),
    ],
)
def test_bad_bybit_values_name_their_key(files: dict[str, str], extra: str, message: str) -> None:
    with pytest.raises(VenueConfigError, match=message):
        parse(_bybit(files, extra))


def test_bybit_needs_the_trader_uid_and_a_private_stream_for_dcp(files: dict[str, str]) -> None:
    table = _bybit(files)
    del table["trader_uid"]
    with pytest.raises(VenueConfigError, match=r"venue\.trader_uid: missing"):
        parse(table)
    with pytest.raises(VenueConfigError, match=r"venue\.trader_email: unknown key"):
        parse({**_bybit(files), "trader_email": "t@sub.example"})
    with pytest.raises(VenueConfigError, match=r"venue\.trader_uid: expected the sub-account's"):
        parse({**_bybit(files), "trader_uid": "trader-1"})
    table = _bybit(files)
    del table["ws_url"]
    with pytest.raises(VenueConfigError, match=r"venue\.ws_url: required while dcp_window_s > 0"):
        parse(table)
    assert parse({**table, "dcp_window_s": 0}).ws_url is None


@pytest.fixture
def okx_files(files: dict[str, str], tmp_path: Path) -> dict[str, str]:
    for name in ("account", "master"):
        path = tmp_path / f"okx-{name}"
        path.write_text(f'api_key = "{name.upper()}KEY"\nsecret = "s"\npassphrase = "p-{name}"\n')
        path.chmod(0o600)
        files[name] = str(path)
    return files


def _okx(files: dict[str, str], extra: str = "") -> dict[str, object]:
    table = _table(files, f'kind = "okx"\ntrader_sub_account = "trader1"\n{extra}')
    del table["trader_email"]
    return table


def test_an_okx_table_names_the_key_by_sub_account_and_counts_down_in_seconds(
    okx_files: dict[str, str],
) -> None:
    settings = parse(_okx(okx_files))
    assert settings.kind == "okx"
    assert settings.trader == SubAccountRef("TRADERKEY", sub_account="trader1")
    assert (settings.account.passphrase, settings.master.passphrase) == ("p-account", "p-master")
    assert settings.dms is not None
    assert (settings.dms.countdown_ms, settings.dms.refresh_interval_s) == (30_000, 10.0)
    assert parse(_okx(okx_files, "dms_timeout_s = 0")).dms is None
    assert parse(_okx(okx_files, "dms_timeout_s = 120")).dms is not None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "dms_timeout_s = 9",
            r"venue\.dms_timeout_s: must be 0 \(off\) or >= 10 and <= 120, got 9$",
        ),
        ("dms_timeout_s = 121", r"venue\.dms_timeout_s: must be >= 0 and <= 120, got 121$"),
        ("dms_refresh_s = 15", r"venue\.dms_refresh_s: must be under half the timeout, got 15\.0$"),
        ("dms_countdown_ms = 5000", r"venue\.dms_countdown_ms: unknown key"),
        ("trader_uid = '1'", r"venue\.trader_uid: unknown key"),
        ("flatten = true", r"venue\.flatten: not available for kind 'okx'"),
    ],
)
def test_bad_okx_values_name_their_key(okx_files: dict[str, str], extra: str, message: str) -> None:
    with pytest.raises(VenueConfigError, match=message):
        parse(_okx(okx_files, extra))


def test_okx_needs_the_sub_account_and_a_passphrase_in_each_key_file(
    okx_files: dict[str, str], files: dict[str, str], tmp_path: Path
) -> None:
    table = _okx(okx_files)
    del table["trader_sub_account"]
    with pytest.raises(VenueConfigError, match=r"venue\.trader_sub_account: missing"):
        parse(table)
    with pytest.raises(VenueConfigError, match=r"venue\.trader_sub_account: expected the sub"):
        parse({**_okx(okx_files), "trader_sub_account": "trader 1"})
    plain = tmp_path / "plain"
    plain.write_text('api_key = "K"\nsecret = "s"\n')
    plain.chmod(0o600)
    with pytest.raises(
        VenueConfigError,
        match=r"^w\.toml: traders\[0\]\.venue\.master_credentials: .*plain: passphrase: missing",
    ):
        parse({**_okx(okx_files), "master_credentials": str(plain)})


def test_a_passphrase_in_a_key_file_for_another_venue_is_refused(
    okx_files: dict[str, str],
) -> None:
    with pytest.raises(
        VenueConfigError, match=r"venue\.account_credentials: .*passphrase: not used by this venue"
    ):
        parse(_table(okx_files))
