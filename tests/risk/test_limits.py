"""Limits: strict parsing, profiles with overrides, clear one-line errors."""

from __future__ import annotations

import contextlib
import json
import pathlib
from datetime import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import PROFILES, LimitsError, TradingState, parse_limits
from risk.limits import Amount, RateWindow, SymbolLimit

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "limits.toml"


def error_of(text: str) -> str:
    with pytest.raises(LimitsError) as caught:
        parse_limits(text, "limits.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "daily", "symbol", "rate", "losses", "soft"),
    [
        ("conservative", 1, 5, 10, 3, 5),
        ("standard", 3, 15, 50, 7, 10),
        ("aggressive", 5, 30, 200, 15, 20),
    ],
)
def test_profiles_follow_the_architecture_table(
    name: str, daily: float, symbol: float, rate: int, losses: int, soft: float
) -> None:
    profile = PROFILES[name]
    assert profile.daily_loss.max_loss == Amount(pct=daily)
    assert profile.daily_loss.action is TradingState.KILLED
    assert profile.position.max_symbol_notional == Amount(pct=symbol)
    assert profile.order_rate.windows[0] == RateWindow(seconds=1.0, max_orders=rate)
    assert profile.consecutive_losses == type(profile.consecutive_losses)(losses, 300.0)
    assert profile.drawdown.soft == Amount(pct=soft)
    assert (profile.drawdown.hard.pct or 0) > soft


def test_a_file_overrides_single_values_of_its_profile() -> None:
    limits = parse_limits(
        'profile = "conservative"\n'
        "[daily_loss]\n"
        "max_loss = { quote = 1500 }\n"
        'reset_time = "17:00"\n'
        'timezone = "America/New_York"\n',
        "limits.toml",
    )
    assert limits.daily_loss.max_loss == Amount(quote=1500.0)
    assert limits.daily_loss.reset_time == time(17, 0)
    assert limits.daily_loss.timezone == "America/New_York"
    assert limits.drawdown == PROFILES["conservative"].drawdown
    assert limits.profile == "conservative"


def test_per_symbol_limits_are_read() -> None:
    limits = parse_limits(
        'profile = "standard"\n[position.symbols.BTCUSDT]\nmax_qty = 2\n'
        "max_notional = { quote = 100000 }\n",
        "limits.toml",
    )
    assert limits.position.symbols == (SymbolLimit("BTCUSDT", 2.0, Amount(quote=100000.0)),)


def test_the_example_file_parses_and_differs_from_its_profile() -> None:
    limits = parse_limits(EXAMPLE.read_text(), str(EXAMPLE.name))
    assert limits.profile == "standard"
    assert limits != PROFILES["standard"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('profile = "standard"\nmax_daily_los = 3', "limits.toml: max_daily_los: unknown key"),
        (
            'profile = "standard"\n[daily_loss]\nmax_los = { pct = 3 }',
            "limits.toml: daily_loss.max_los: unknown key",
        ),
        (
            'profile = "standard"\n[daily_loss]\nmax_loss = { pct = 0 }',
            "limits.toml: daily_loss.max_loss.pct: must be > 0 and <= 100, got 0",
        ),
        (
            'profile = "standard"\n[daily_loss]\nmax_loss = { pct = 101 }',
            "limits.toml: daily_loss.max_loss.pct: must be > 0 and <= 100, got 101",
        ),
        (
            'profile = "standard"\n[daily_loss]\nmax_loss = { quote = -5 }',
            "limits.toml: daily_loss.max_loss.quote: must be > 0, got -5",
        ),
        (
            'profile = "standard"\n[daily_loss]\nmax_loss = { quote = 5, pct = 1 }',
            "limits.toml: daily_loss.max_loss: give exactly one of",
        ),
        (
            'profile = "standard"\n[daily_loss]\nmax_loss = "3%"',
            "limits.toml: daily_loss.max_loss: expected a table, got a string",
        ),
        (
            'profile = "standard"\n[daily_loss]\ntimezone = "Mars/Olympus"',
            "limits.toml: daily_loss.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            'profile = "standard"\n[daily_loss]\nreset_time = "24:00"',
            'limits.toml: daily_loss.reset_time: expected "HH:MM" (00:00 to 23:59)',
        ),
        (
            'profile = "standard"\n[daily_loss]\naction = "pause"',
            "limits.toml: daily_loss.action: must be one of halted, killed, got 'pause'",
        ),
        (
            'profile = "standard"\n[rejects]\nmax_consecutive = true',
            "limits.toml: rejects.max_consecutive: expected an integer, got a boolean",
        ),
        (
            'profile = "standard"\n[rejects]\nmax_consecutive = 2.5',
            "limits.toml: rejects.max_consecutive: expected an integer, got a float",
        ),
        (
            'profile = "standard"\n[order_rate]\nwindows = [{ seconds = 1, max_orders = 0 }]',
            "limits.toml: order_rate.windows[0].max_orders: "
            "must be >= 1 and <= 9007199254740992, got 0",
        ),
        (
            'profile = "standard"\n[order_rate]\nwindows = []',
            "limits.toml: order_rate.windows: must list at least one window",
        ),
        (
            'profile = "standard"\n[drawdown]\nsoft = { pct = 20 }\nhard = { pct = 10 }',
            "limits.toml: drawdown.soft: must be below hard (10%), got 20%",
        ),
        (
            'profile = "standard"\n[heartbeat]\nwarn_after_s = 9',
            "limits.toml: heartbeat: need interval_s < warn_after_s < halt_after_s",
        ),
        (
            'profile = "standard"\n[divergence]\ngrade = "panic"',
            "limits.toml: divergence.grade: "
            "must be one of warn, reducing, halted, killed, got 'panic'",
        ),
        (
            'profile = "standard"\n[rejects]\nkill_after_s = 0',
            "limits.toml: rejects.kill_after_s: must be > 0, got 0",
        ),
        (
            'profile = "standard"\n[rejects]\nkill_after_s = "10s"',
            "limits.toml: rejects.kill_after_s: expected a number, got a string",
        ),
        (
            'profile = "standard"\n[stale_data]\nkill_after_s = -1',
            "limits.toml: stale_data.kill_after_s: must be > 0, got -1",
        ),
        (
            'profile = "standard"\n[stale_data]\nkill_after = 30',
            "limits.toml: stale_data.kill_after: unknown key",
        ),
        (
            'profile = "standard"\n[key_misuse]\nenabled = "no"',
            "limits.toml: key_misuse.enabled: expected a boolean, got a string",
        ),
        (
            'profile = "standard"\n[order_size]\nkill_multiple = 0.5',
            "limits.toml: order_size.kill_multiple: must be >= 1",
        ),
        (
            'profile = "standard"\n[order_size.symbols.ETHUSDT]\nmax_qt = 2',
            "limits.toml: order_size.symbols.ETHUSDT.max_qt: unknown key",
        ),
        (
            'profile = "standard"\n[price_collar]\ncollar_pct = 0',
            "limits.toml: price_collar.collar_pct: must be > 0",
        ),
        (
            'profile = "standard"\n[price_collar]\nrequire_mid = 1',
            "limits.toml: price_collar.require_mid: expected a boolean, got an integer",
        ),
        (
            'profile = "standard"\n[open_orders]\nmax_per_symbol = 0',
            "limits.toml: open_orders.max_per_symbol: must be >= 1",
        ),
        (
            'profile = "yolo"',
            "limits.toml: profile: must be one of conservative, standard, aggressive, got 'yolo'",
        ),
        ("[daily_loss]\nmax_loss = { pct = 3 }", "limits.toml: warn_at_pct: missing (required)"),
        (
            'profile = "standard"\nwarn_at_pct = nan',
            "limits.toml: warn_at_pct: must be a finite number, got nan",
        ),
        ("profile = [", "limits.toml: not valid TOML: Invalid value"),
        (
            'profile = "standard"\n[position.symbols.BTCUSDT]\nmax_qty = 1\nmax_q = 2',
            "limits.toml: position.symbols.BTCUSDT.max_q: unknown key",
        ),
    ],
)
def test_invalid_limits_are_refused_with_the_key_path(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_without_a_profile_every_table_is_required() -> None:
    full = EXAMPLE.read_text().replace('profile = "standard"\n', "")
    message = error_of(full.split("[daily_loss]")[0])
    assert message == "limits.toml: daily_loss: missing (required)"


def test_a_limits_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        parse_limits("nope = 1", "x")


# --- fuzzing: nothing but LimitsError, whatever the text ------------------------------------

KEYS = st.sampled_from(
    [
        "profile", "warn_at_pct", "daily_loss", "max_loss", "pct", "quote", "reset_time",
        "timezone", "action", "drawdown", "soft", "hard", "order_rate", "windows", "seconds",
        "max_orders", "position", "symbols", "BTCUSDT", "max_qty", "heartbeat", "grade",
        "divergence", "bad_data", "cooldown_s", "kill_after_s", "max_age_s", "stale_data",
        "key_misuse", "enabled", "reorder_s", "order_size", "max_notional", "kill_multiple",
        "price_collar", "collar_pct", "max_mid_age_s", "require_mid", "open_orders",
        "max_per_symbol",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["standard", "conservative", "UTC", "../etc", "", "00:00", "killed", "\0"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_parse_limits_raises_only_limits_error_on_structured_junk(doc: dict[str, Any]) -> None:
    text = "\n".join(f"{key} = {_toml_value(value)}" for key, value in doc.items())
    message = ""
    try:
        parse_limits(text, "fuzz.toml")
    except LimitsError as exc:
        message = str(exc)
    assert message == "" or message.startswith("fuzz.toml: ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_parse_limits_raises_only_limits_error_on_any_text(text: str) -> None:
    with contextlib.suppress(LimitsError):
        parse_limits(text, "fuzz.toml")


def test_deeply_nested_toml_is_refused_cleanly() -> None:
    error_of("x = " + "[" * 5000 + "]" * 5000)


def test_sustained_kill_escalations_are_off_unless_given() -> None:
    assert PROFILES["standard"].rejects.kill_after_s is None
    assert PROFILES["standard"].stale_data.kill_after_s is None
    text = 'profile = "standard"\n[rejects]\nkill_after_s = 10\n[stale_data]\nkill_after_s = 30'
    limits = parse_limits(text, "limits.toml")
    assert (limits.rejects.kill_after_s, limits.stale_data.kill_after_s) == (10.0, 30.0)
