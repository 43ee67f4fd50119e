"""The [traders.venue] table: strict, every error names its key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from watchdog.daemon.venue.settings import VenueConfigError, parse_venue_settings


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


def test_a_minimal_table_gets_safe_defaults(files: dict[str, str]) -> None:
    settings = parse_venue_settings(_table(files), "w.toml: traders[0].venue")
    assert settings.symbols == ("BTCUSDT", "ETHUSDT")
    assert settings.dms is not None
    assert settings.dms.countdown_ms == 10_000
    assert settings.dms.refresh_interval_s == pytest.approx(10 / 3)
    assert settings.reconcile_period_s == 1.0
    assert settings.max_venue_blind_s == 5.0
    assert settings.flatten is False
    assert settings.endpoint.sapi_url is None
    assert settings.stream is not None
    assert settings.trader_key == "TRADERKEY"
    assert settings.master.api_key == "MASTERKEY"


def test_relative_paths_resolve_against_the_config_directory(files: dict[str, str]) -> None:
    base = Path(files["account"]).parent
    table = {**_table(files), "account_credentials": "account", "trader_key_file": "trader"}
    assert parse_venue_settings(table, "v", base=base).account.api_key == "ACCOUNTKEY"


def test_a_credentials_file_open_to_others_refuses_to_arm(files: dict[str, str]) -> None:
    Path(files["master"]).chmod(0o644)
    with pytest.raises(VenueConfigError, match=r"v\.master_credentials: .*chmod 600"):
        parse_venue_settings(_table(files), "v")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour = 1", r"venue\.colour: unknown key \(allowed: account_credentials"),
        ("kind = 'okx'", "kind: unsupported venue"),
        ("reconcile_period_s = 0", "reconcile_period_s: expected a number > 0"),
        ("flatten = 'yes'", "flatten: expected true or false"),
        ("dms_countdown_ms = 500", "countdown_ms must be in 1000"),
        ("recv_window_ms = 90000", "recv_window_ms: must be in 1..60000"),
        ("max_venue_blind_s = 0", r"venue\.max_venue_blind_s: expected a number > 0"),
        ("max_venue_blind_s = 'soon'", "max_venue_blind_s: expected a number"),
        ("max_venue_blind_s = inf", "max_venue_blind_s: must be finite"),
        (
            "max_venue_blind_s = 1.5",
            r"max_venue_blind_s: .*at least 2 x reconcile_period_s \(2 s\)",
        ),
    ],
)
def test_bad_values_name_their_key(files: dict[str, str], extra: str, message: str) -> None:
    with pytest.raises(VenueConfigError, match=message):
        parse_venue_settings(_table(files, extra), "venue")


def test_missing_required_keys_and_files_are_named(files: dict[str, str]) -> None:
    table = _table(files)
    del table["trader_email"]
    with pytest.raises(VenueConfigError, match=r"venue\.trader_email: missing"):
        parse_venue_settings(table, "venue")
    table = {**_table(files), "master_credentials": "/nonexistent/master"}
    with pytest.raises(VenueConfigError, match="master_credentials: no such file"):
        parse_venue_settings(table, "venue")


def test_symbols_must_look_like_symbols(files: dict[str, str]) -> None:
    table = {**_table(files), "symbols": ["btc-usdt"]}
    with pytest.raises(VenueConfigError, match="symbols: expected a non-empty list"):
        parse_venue_settings(table, "venue")


def test_a_zero_countdown_disables_the_dead_mans_switch(files: dict[str, str]) -> None:
    assert parse_venue_settings(_table(files, "dms_countdown_ms = 0"), "v").dms is None


def test_the_blindness_limit_may_be_as_short_as_two_reconciliations(files: dict[str, str]) -> None:
    extra = "reconcile_period_s = 0.25\nmax_venue_blind_s = 0.5"
    assert parse_venue_settings(_table(files, extra), "v").max_venue_blind_s == 0.5
