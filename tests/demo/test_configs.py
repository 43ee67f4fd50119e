"""The generated configuration is what the parts accept, and the limits do what the demo says."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from demo import configs
from exchange_sim.config import parse_config
from risk import TradingState, parse_limits
from trader.config import load_config as load_trader_config


def test_the_sim_world_parses_and_keeps_the_documented_keys() -> None:
    config = parse_config(configs.sim_toml(), "demo")
    assert config.rate_limits.orders_per_10s == 5000
    assert config.rate_limits.bybit_orders_per_s == 1000  # the flood is the watchdog's to catch
    assert config.market.book_ticker_hz == 20
    keys = configs.world_keys()
    assert keys.trader.api_key.startswith("SimTraderKey")
    assert keys.watchdog.api_key.startswith("SimWatchdogKey")
    assert "master" in keys.master.permissions
    assert keys.trader_email == "trader1@sub.sim"


def test_the_limits_parse_and_kill_on_the_demo_triggers() -> None:
    limits = parse_limits(configs.LIMITS, "limits.toml")
    assert limits.daily_loss.action is TradingState.KILLED
    assert limits.daily_loss.max_loss.quote == configs.DAILY_LOSS_QUOTE
    assert limits.heartbeat.kill_after_s == 3.0
    assert limits.order_rate.kill_after_s == 1.0
    assert limits.rejects.kill_after_s == 2.0  # the reject storm ends in a kill
    assert limits.stale_data.kill_after_s == 2.0  # so does the dead feed


def test_a_longer_run_changes_only_the_daily_loss_limit() -> None:
    roomy = parse_limits(configs.limits_toml(1_000.0), "limits.toml")
    demo = parse_limits(configs.LIMITS, "limits.toml")
    assert roomy.daily_loss.max_loss.quote == 1_000.0
    assert (roomy.heartbeat, roomy.order_rate, roomy.rejects, roomy.stale_data) == (
        demo.heartbeat, demo.order_rate, demo.rejects, demo.stale_data)  # fmt: skip


@pytest.mark.parametrize(
    ("venue", "kind"), [("binance", "binance_futures"), ("bybit", "bybit"), ("okx", "okx")]
)
def test_the_trader_config_loads_for_each_venue(tmp_path: Path, venue: str, kind: str) -> None:
    endpoints = configs.Endpoints("http://127.0.0.1:1", "ws://127.0.0.1:1")
    (tmp_path / "trader.toml").write_text(configs.trader_toml(endpoints, "/tmp/x.sock", venue))
    (tmp_path / "limits.toml").write_text(configs.LIMITS)
    cred = tmp_path / "trader-venue.cred"
    cred.write_text(configs.credentials_toml(configs.world_keys().trader, venue))
    cred.chmod(0o600)
    (tmp_path / "trader-hmac.key").write_text("ab" * 32)
    (tmp_path / "trader-hmac.key").chmod(0o600)
    config = load_trader_config(tmp_path / "trader.toml")
    assert (config.watchdog.trader_id, config.venue.kind) == (configs.TRADER_ID, kind)


@pytest.mark.parametrize(
    ("venue", "kind", "account", "ws_url"),
    [
        ("binance", "binance_futures", {"trader_email": "trader1@sub.sim"}, "ws://127.0.0.1:1"),
        ("bybit", "bybit", {"trader_uid": "1000002"}, "ws://127.0.0.1:1/v5/private"),
        ("okx", "okx", {"trader_sub_account": "trader1"}, "ws://127.0.0.1:1/ws/v5/private"),
    ],
)
def test_the_watchdog_config_names_the_trader_and_its_venue(
    venue: str, kind: str, account: dict[str, str], ws_url: str
) -> None:
    endpoints = configs.Endpoints("http://127.0.0.1:1", "ws://127.0.0.1:1")
    doc = tomllib.loads(configs.watchdog_toml(endpoints, configs.world_keys(), venue))
    trader = doc["traders"][0]
    assert trader["id"] == configs.TRADER_ID
    assert trader["venue"]["symbols"] == list(configs.SYMBOLS)
    assert (trader["venue"]["kind"], trader["venue"]["ws_url"]) == (kind, ws_url)
    assert account.items() <= trader["venue"].items()
    assert trader["kill"]["stop_process"] is True
