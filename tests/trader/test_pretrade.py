"""In-process pre-trade risk with the watchdog's limits format, and the posture it feeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from risk import AccountSnapshot, TradingState, parse_limits
from trader.app import posture_for
from trader.errors import ConfigError
from trader.pretrade import PreTradeRisk, load_limits
from trader.strategy import Posture

NOW = 1_700_000_000.0
LIMITS = """
profile = "standard"
[order_rate]
windows = [{ seconds = 1.0, max_orders = 3 }]
kill_after_s = 10.0
cooldown_s = 1.0
[position]
max_symbol_notional = { quote = 10000 }
max_gross_notional = { quote = 40000 }
max_net_notional = { quote = 40000 }
cooldown_s = 1.0
[position.symbols.BTCUSDT]
max_qty = 0.1
"""


@pytest.fixture
def risk() -> PreTradeRisk:
    r = PreTradeRisk(parse_limits(LIMITS, "t"), now=NOW)
    r.apply(AccountSnapshot(NOW, 100_000.0, 0.0, 0.0), NOW)
    return r


def test_an_order_within_every_limit_passes(risk: PreTradeRisk) -> None:
    assert risk.state is TradingState.ACTIVE
    assert risk.check("BTCUSDT", 0.01, 60_000.0, False, 0.0, now=5.0) is None


def test_the_order_rate_stays_strictly_below_the_watchdog_limit(risk: PreTradeRisk) -> None:
    for _ in range(3):
        assert risk.check("BTCUSDT", 0.001, 60_000.0, False, 0.0, now=5.0) is None
        risk.record_submit(5.0)
    denial = risk.check("BTCUSDT", 0.001, 60_000.0, False, 0.0, now=5.5)
    assert denial is not None
    assert denial.rule == "order_rate"
    assert risk.check("BTCUSDT", 0.001, 60_000.0, False, 0.0, now=6.01) is None


def test_a_fill_that_would_breach_the_symbol_quantity_is_denied(risk: PreTradeRisk) -> None:
    denial = risk.check("BTCUSDT", 0.02, 60_000.0, False, 0.09, now=5.0)
    assert denial is not None
    assert denial.rule == "position"
    assert "qty" in denial.reason


def test_a_fill_that_would_breach_the_notional_is_denied(risk: PreTradeRisk) -> None:
    denial = risk.check("ETHUSDT", 4.0, 3_000.0, False, 0.0, now=5.0)
    assert denial is not None
    assert "notional" in denial.reason


def test_reduce_only_exits_pass_even_when_nothing_else_may(risk: PreTradeRisk) -> None:
    risk.engine.trip(NOW + 1, "test")
    assert risk.state is TradingState.KILLED
    assert risk.check("BTCUSDT", 0.01, 60_000.0, False, 0.0, now=5.0) is not None
    assert risk.check("BTCUSDT", -0.01, 60_000.0, True, 0.05, now=5.0) is None


def test_a_reduce_only_order_that_would_grow_the_position_is_denied(risk: PreTradeRisk) -> None:
    denial = risk.check("BTCUSDT", 0.01, 60_000.0, True, 0.05, now=5.0)
    assert denial is not None
    assert denial.rule == "reduce_only"
    assert risk.check("BTCUSDT", -0.06, 60_000.0, True, 0.05, now=5.0) is not None


def test_without_equity_the_daily_loss_rule_keeps_new_risk_closed() -> None:
    fresh = PreTradeRisk(parse_limits(LIMITS, "t"), now=NOW)
    denial = fresh.check("BTCUSDT", 0.001, 60_000.0, False, 0.0, now=5.0)
    assert fresh.state >= TradingState.HALTED
    assert denial is not None
    assert denial.rule == "state"


def test_a_bad_limits_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text('profile = "standard"\n[order_rate]\nwindos = 1\n')
    with pytest.raises(ConfigError) as caught:
        load_limits(path)
    assert str(caught.value).startswith(f"{path}: order_rate.windos: unknown key (allowed: ")


def test_a_limits_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_bytes(b"profile = '\xff'\n")
    with pytest.raises(ConfigError) as caught:
        load_limits(path)
    assert str(caught.value) == f"{path}: not valid TOML: not UTF-8 (invalid start byte)"


@pytest.mark.parametrize(
    ("watchdog", "local", "fresh", "stopping", "want"),
    [
        (TradingState.ACTIVE, TradingState.ACTIVE, True, False, Posture.QUOTE),
        (TradingState.WARN, TradingState.ACTIVE, True, False, Posture.QUOTE),
        (TradingState.REDUCING, TradingState.ACTIVE, True, False, Posture.REDUCE),
        (TradingState.ACTIVE, TradingState.REDUCING, True, False, Posture.REDUCE),
        (TradingState.HALTED, TradingState.ACTIVE, True, False, Posture.FLAT),
        (TradingState.KILLED, TradingState.ACTIVE, True, False, Posture.FLAT),
        (TradingState.ACTIVE, TradingState.HALTED, True, False, Posture.FLAT),
        (TradingState.ACTIVE, TradingState.ACTIVE, False, False, Posture.FLAT),
        (TradingState.REDUCING, TradingState.ACTIVE, False, False, Posture.FLAT),
        (TradingState.ACTIVE, TradingState.ACTIVE, True, True, Posture.FLAT),
    ],
)
def test_posture_takes_the_worst_of_watchdog_local_risk_feed_and_shutdown(
    watchdog: TradingState, local: TradingState, fresh: bool, stopping: bool, want: Posture
) -> None:
    assert posture_for(watchdog, local, fresh, stopping) is want
