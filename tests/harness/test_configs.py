"""``harness.configs``: the one renderer of the watchdog's and the trader's config files, read
back by the daemon's and the trader's own strict readers."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.configs import (
    ETHUSDT_QUOTE,
    HeartbeatLimits,
    TraderConfig,
    VenueLink,
    WatchdogConfig,
    WatchedTrader,
    credentials_toml,
    toml_table,
    venue_credentials_toml,
)
from trader.config import load_config as load_trader_config
from watchdog.daemon.config import load_config as load_watchdog_config
from watchdog.venues import load_credentials

HEARTBEAT = HeartbeatLimits(interval_s=0.05, warn_after_s=0.4, halt_after_s=0.8, kill_after_s=1.5)


def _secret(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def test_a_key_without_a_value_is_left_out_and_strings_are_escaped() -> None:
    text = toml_table("[t]", {"path": 'a "quoted" \\ path', "gone": None, "on": True})

    assert tomllib.loads(text) == {"t": {"path": 'a "quoted" \\ path', "on": True}}


def test_a_credential_file_without_a_secret_names_only_the_key() -> None:
    assert tomllib.loads(credentials_toml("K")) == {"api_key": "K"}
    assert tomllib.loads(credentials_toml("K", "S")) == {"api_key": "K", "secret": "S"}
    with_passphrase = credentials_toml("K", "S", "P4ssphrase")
    assert tomllib.loads(with_passphrase) == {
        "api_key": "K",
        "secret": "S",
        "passphrase": "P4ssphrase",
    }


def test_an_okx_link_names_the_trader_sub_account_and_only_its_own_keys() -> None:
    with pytest.raises(ValueError, match="trader_sub_account"):
        VenueLink("http://127.0.0.1:1", "ws://127.0.0.1:1", kind="okx")
    link = VenueLink("http://h:1", "ws://h:1/ws/v5/private", kind="okx", trader_sub_account="t1",
                     trader_email="ignored@sub.sim", trader_uid="1", dcp_window_s=10)  # fmt: skip
    venue = tomllib.loads(link.to_toml())["traders"]["venue"]
    assert (venue["kind"], venue["trader_sub_account"]) == ("okx", "t1")
    assert not {"trader_email", "trader_uid", "dms_countdown_ms", "dcp_window_s"} & set(venue)


def test_the_daemon_reads_inline_limits_rules_the_kill_group_and_the_venue(tmp_path: Path) -> None:
    _secret(tmp_path / "t.key", "ab" * 32)
    for name in ("watchdog-account.cred", "watchdog-master.cred"):
        _secret(tmp_path / name, credentials_toml("K", "S"))
    _secret(tmp_path / "trader-key-id", credentials_toml("T"))
    venue = VenueLink("http://127.0.0.1:1", "ws://127.0.0.1:1", "t@sub.sim", dms_countdown_ms=None)
    trader = WatchedTrader(
        id="t",
        hmac_key_file="t.key",
        heartbeat=HEARTBEAT,
        rules={"bad_data": {"max_past_s": 300.0}},
        kill_group="desk",
        stop_process=False,
        revoke_credential=False,
        venue=venue,
    )
    path = tmp_path / "watchdog.toml"
    path.write_text(WatchdogConfig(traders=(trader,), udp="127.0.0.1:9109").to_toml())

    config = load_watchdog_config(path)

    (loaded,) = config.traders
    assert loaded.id == "t"
    assert loaded.limits.heartbeat.kill_after_s == 1.5
    assert tomllib.loads(path.read_text())["traders"][0]["kill_group"] == "desk"
    assert tomllib.loads(path.read_text())["traders"][0]["venue"]["trader_email"] == "t@sub.sim"


def test_the_trader_reads_its_config_with_two_symbols_and_pinned_cpus(tmp_path: Path) -> None:
    _secret(tmp_path / "venue.key", credentials_toml("K", "S"))
    _secret(tmp_path / "t.key", "ab" * 32)
    (tmp_path / "limits.toml").write_text('profile = "standard"\n')
    path = tmp_path / "trader.toml"
    config = TraderConfig(
        "http://127.0.0.1:1", "ws://127.0.0.1:1", str(tmp_path / "in.sock"), "t", "t.key"
    )
    symbols = (*config.symbols, ETHUSDT_QUOTE)
    path.write_text(config.with_(symbols=symbols, cpus=(1,), venue_kind="bybit").to_toml())

    loaded = load_trader_config(path)

    assert loaded.watchdog.trader_id == "t"
    assert loaded.venue.kind == "bybit"
    assert [s.symbol for s in loaded.symbols] == ["BTCUSDT", "ETHUSDT"]
    assert tomllib.loads(path.read_text())["host"]["cpus"] == [1]


def test_a_key_file_carries_its_passphrase_on_okx_alone(tmp_path: Path) -> None:
    for venue, passphrase in (("okx", "words"), ("binance", None), ("bybit", None)):
        path = tmp_path / f"{venue}.key"
        _secret(path, venue_credentials_toml(venue, "K", "S", "words"))
        assert load_credentials(path).passphrase == passphrase
