"""Strict configuration: every mistake is a one-line error that names the key path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from trader.config import TraderConfig, load_config, parse_config
from trader.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "trader.toml"


def example_text() -> str:
    return EXAMPLE.read_text()


def parse(text: str) -> object:
    return parse_config(text, "t.toml", base=Path("/etc/trader"))


def test_the_example_config_loads_with_paths_relative_to_its_folder() -> None:
    config = load_config(EXAMPLE)
    assert config.venue.credentials_file == EXAMPLE.parent / "local" / "trader-venue.cred"
    assert config.watchdog.key_file == EXAMPLE.parent / "local" / "trader-hmac.key"
    assert config.symbol("BTCUSDT").tick_size == Decimal("0.1")
    assert config.host.cpus == (1,)
    assert config.watchdog.trader_id == "trader-1"
    assert config.feed.busy_poll is False  # one whole CPU: never on unless asked for


@pytest.mark.parametrize(
    ("socket", "expected"),
    [
        ("local/ingress.sock", "/etc/trader/local/ingress.sock"),  # like every relative path
        ("/run/killswitch/ingress.sock", "/run/killswitch/ingress.sock"),
        ("udp://10.0.0.5:9109", "udp://10.0.0.5:9109"),
    ],
)
def test_a_relative_watchdog_socket_resolves_against_the_config_folder(
    socket: str, expected: str
) -> None:
    text = example_text().replace('socket = "local/ingress.sock"', f'socket = "{socket}"', 1)
    config = parse(text)
    assert isinstance(config, TraderConfig)
    assert config.watchdog.socket == expected


def test_an_unknown_key_is_named_with_its_path() -> None:
    text = example_text().replace("stale_after_s = 2.0", "stale_afer_s = 2.0")
    with pytest.raises(ConfigError) as caught:
        parse(text)
    allowed = "busy_poll, max_event_age_s, open_timeout_s, reconnect_initial_s, reconnect_max_s"
    expected = f"t.toml: feed.stale_afer_s: unknown key (allowed: {allowed}, stale_after_s)"
    assert str(caught.value) == expected


def test_an_unknown_key_inside_a_symbol_is_named_with_its_path() -> None:
    text = example_text().replace('lot_size = "0.001"', 'lot_size = "0.001"\nlots = 3')
    with pytest.raises(
        ConfigError,
        match=r"^t\.toml: symbols\.BTCUSDT\.lots: unknown key \(allowed: lot_size, max_position,",
    ):
        parse(text)


def test_an_unknown_top_level_table_is_an_error() -> None:
    with pytest.raises(
        ConfigError, match=r"^t\.toml: extra: unknown key \(allowed: feed, host, metrics, risk,"
    ):
        parse(example_text() + "\n[extra]\na = 1\n")


def test_a_missing_required_key_is_named() -> None:
    text = example_text().replace('trader_id = "trader-1"', "")
    with pytest.raises(ConfigError, match=r"^t\.toml: watchdog\.trader_id: missing \(required\)$"):
        parse(text)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "stale_after_s = 2.0",
            "stale_after_s = -1.0",
            r"feed\.stale_after_s: must be > 0, got -1\.0$",
        ),
        (
            "stale_after_s = 2.0",
            'stale_after_s = "2"',
            r"feed\.stale_after_s: expected a number, got a string$",
        ),
        ("strict = false", "strict = 1", r"host\.strict: expected a boolean, got an integer$"),
        (
            "busy_poll = false",
            'busy_poll = "no"',
            r"feed\.busy_poll: expected a boolean, got a string$",
        ),
        ("cpus = [1]", "cpus = [1, 1]", r"host\.cpus: lists a CPU twice"),
        (
            "cpus = [1]",
            "cpus = [-1]",
            r"host\.cpus: expected an array of CPU numbers \(integers >= 0\)$",
        ),
        ('ws_url = "ws://127.0.0.1:8080"', 'ws_url = "http://x"', r"venue\.ws_url: must start"),
        (
            'kind = "binance_futures"',
            'kind = "kraken"',
            r"^t\.toml: venue\.kind: must be one of binance_futures, bybit, okx, got 'kraken'$",
        ),
        ('kind = "binance_futures"', "kind = 1", r"venue\.kind: expected a string, got an integer"),
        ('quote_qty = "0.002"', 'quote_qty = "0.0015"', r"quote_qty: must be a multiple"),
        (
            'max_position = "0.010"',
            'max_position = "0"',
            r"symbols\.BTCUSDT\.max_position: must be > 0, got '0'$",
        ),
        ('quote_qty = "0.002"', 'quote_qty = "0.02"', r"quote_qty: must not exceed"),
        ("port = 9110", "port = 70000", r"metrics\.port: must be >= 0 and <= 65535, got 70000$"),
        ("silence_timeout_s = 3.0", "silence_timeout_s = 0.1", r"must be longer"),
        ("[symbols.BTCUSDT]", "[symbols.btcusdt]", r"symbols\.btcusdt: symbol names"),
    ],
)
def test_invalid_values_are_refused_with_the_key_path(old: str, new: str, match: str) -> None:
    text = example_text()
    assert old in text
    with pytest.raises(ConfigError, match=match):
        parse(text.replace(old, new, 1))


def test_broken_toml_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"^t\.toml: not valid TOML"):
        parse("[venue\n")


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(b"[venue]\nbase_url = '\xff'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: not valid TOML: not UTF-8 (invalid start byte)"


def test_no_symbols_is_an_error() -> None:
    start = example_text().index("[symbols.BTCUSDT]")
    end = example_text().index("[strategy]")
    text = example_text()[:start] + "[symbols]\n" + example_text()[end:]
    with pytest.raises(ConfigError, match="list at least one symbol"):
        parse(text)


@pytest.mark.parametrize(
    ("line", "kind"),
    [("", "binance_futures"), ('kind = "bybit"', "bybit"), ('kind = "okx"', "okx")],
)
def test_the_venue_kind_defaults_to_binance_futures_so_older_configs_keep_working(
    line: str, kind: str
) -> None:
    text = example_text().replace('kind = "binance_futures"', line, 1)
    config = parse_config(text, "t.toml", base=Path("/etc/trader"))
    assert config.venue.kind == kind


def test_an_okx_symbol_must_name_a_usdt_margined_swap() -> None:
    text = example_text().replace('kind = "binance_futures"', 'kind = "okx"', 1)
    with pytest.raises(ConfigError) as caught:
        parse(text.replace("[symbols.BTCUSDT]", "[symbols.BTCEUR]", 1))
    assert str(caught.value) == (
        "t.toml: symbols.BTCEUR: OKX trades USDT-margined swaps: e.g. BTCUSDT"
    )
