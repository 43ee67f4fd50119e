"""Config validation and the CLI's one-line errors, run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exchange_sim.config import DEFAULT_CONFIG, load_config, parse_config
from exchange_sim.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_the_example_config_is_the_built_in_default() -> None:
    example = REPO / "examples" / "sim.toml"
    assert example.read_text(encoding="utf-8") == DEFAULT_CONFIG
    assert load_config(example) == load_config(None)


_MARKET_KEYS = (
    "book_ticker_hz, depth_levels, jump_max_pct, jump_probability, level_qty, "
    "level_spacing_ticks, model, replay_csv, replay_loop, seed, send_stamp, spread_ticks, "
    "volatility_bps"
)
_PERMISSIONS = "must be one of master, read, trade"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("seed = 1", "sede = 1"), f"market.sede: unknown key (allowed: {_MARKET_KEYS})"),
        (
            ('tick_size = "0.10"', 'tick_size = "-1"'),
            "symbols.BTCUSDT.tick_size: must be > 0, got '-1'",
        ),
        (
            ("master = true", "master = false"),
            "accounts: exactly one account must have master = true",
        ),
        (
            ('usdt = "100000"', 'usdt = "lots"'),
            "accounts.trader1.usdt: not a decimal number: 'lots'",
        ),
        (
            ("SimTraderKey000", "SimTraderKey!!!"),
            "accounts.trader1.keys[0].api_key: "
            "must be 64 letters or digits (the venue's key format)",
        ),
        (
            ('permissions = ["read", "trade"]', 'permissions = ["root"]'),
            f"accounts.trader1.keys[0].permissions[0]: {_PERMISSIONS}, got 'root'",
        ),
        (
            ('permissions = ["read", "trade"]', "permissions = [{ a = 1 }]"),
            f"accounts.trader1.keys[0].permissions[0]: {_PERMISSIONS}, got {{'a': 1}}",
        ),
        (
            ("book_ticker_hz = 10", "book_ticker_hz = -1"),
            "market.book_ticker_hz: must be >= 0 and <= 1000000, got -1.0",
        ),
        (("seed = 1", "seed = '1'"), "market.seed: expected an integer, got a string"),
        (
            ("[symbols.ETHUSDT]", "[symbols.ETHUSD]"),
            "symbols.ETHUSD: symbol names are upper-case and end in USDT",
        ),
        (
            ("dcp_enabled = true", "dcp_enabled = 1"),
            "dcp_enabled: expected a boolean, got an integer",
        ),
        (
            ("[market]", "[market\n"),
            "not valid TOML: Expected ']' at the end of a table declaration",
        ),
    ],
)
def test_invalid_configs_name_the_key(change: tuple[str, str], expected: str) -> None:
    text = DEFAULT_CONFIG.replace(*change, 1)
    assert text != DEFAULT_CONFIG
    with pytest.raises(ConfigError) as err:
        parse_config(text, "sim.toml")
    assert str(err.value).startswith(f"sim.toml: {expected}")


def test_toml_nested_too_deeply_is_one_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("a = " + "[" * 100_000, "sim.toml")
    assert str(caught.value) == "sim.toml: not valid TOML: nested too deeply"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange_sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_config_is_one_line_on_stderr_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "sim.toml"
    bad.write_text(DEFAULT_CONFIG.replace("seed = 1", "seed = 'x'"), encoding="utf-8")
    result = _run("--config", str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("exchange-sim: error: ")
    assert "market.seed" in result.stderr


def test_a_missing_config_file_is_reported(tmp_path: Path) -> None:
    result = _run("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert "nope.toml: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_port_is_a_usage_error() -> None:
    result = _run("--port", "70000")
    assert result.returncode == 2
    assert "port out of range" in result.stderr


def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--port", str(port), "--ready-file", str(tmp_path / "ready"))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ready").exists()


def test_check_config_accepts_a_valid_world_and_names_the_key_of_a_bad_one(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(DEFAULT_CONFIG, encoding="utf-8")
    ok = _run("check-config", "--json", "--config", str(good))
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.strip() == f'{{"config": "{good}", "ok": true}}'
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_CONFIG.replace("seed = 1", "seed = 'x'"), encoding="utf-8")
    refused = _run("check-config", "--config", str(bad))
    assert (refused.returncode, refused.stdout) == (1, "")
    (line,) = refused.stderr.splitlines()
    assert line.startswith("exchange-sim: error: ")
    assert "market.seed" in line


def test_a_prefix_of_a_flag_is_not_that_flag() -> None:
    result = _run("check-config", "--conf", "sim.toml")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("exchange-sim: error: check-config: ")
    assert "--config" in line  # the required argument it still lacks


def test_a_ready_file_in_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("--ready-file", str(tmp_path / "absent" / "ready.json"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"exchange-sim: error: argument --ready-file: {tmp_path / 'absent'} is not a directory"
    )


def test_a_ready_file_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    taken = tmp_path / "ready.json"  # a non-empty directory: no rename replaces it, root's neither
    taken.mkdir()
    (taken / "keep").touch()
    result = _run("--ready-file", str(taken))
    assert result.returncode == 1
    line = result.stderr.splitlines()[-1]  # after the sim's own JSON log lines
    assert line.startswith("exchange-sim: error: ")
    assert str(taken) in line
    assert "Traceback" not in result.stderr
