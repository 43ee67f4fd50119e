"""The ``trader`` command line: one clear line and an exit code for every bad start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sysprep import api as sysprep_api

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "examples" / "trader.toml").read_text()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trader", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trader.toml"
    path.write_text(text)
    return path


def valid_files(tmp_path: Path) -> Path:
    """The example config with the files it names present and valid."""
    (tmp_path / "limits.toml").write_text((REPO / "examples" / "limits.toml").read_text())
    (tmp_path / "local").mkdir()
    creds = tmp_path / "local" / "trader-venue.cred"
    creds.write_text('api_key = "key"\nsecret = "secret"\n')
    creds.chmod(0o600)
    key = tmp_path / "local" / "trader-hmac.key"
    key.write_text(bytes(range(32)).hex())
    key.chmod(0o600)
    return write(tmp_path, EXAMPLE)


def test_check_accepts_the_example_config_and_its_files(tmp_path: Path) -> None:
    result = run("check-config", "--config", str(valid_files(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": ok")


def test_check_refuses_credentials_open_to_others(tmp_path: Path) -> None:
    path = valid_files(tmp_path)
    (tmp_path / "local" / "trader-venue.cred").chmod(0o644)
    result = run("check-config", "--config", str(path))
    assert result.returncode == 1
    assert "venue.credentials_file" in result.stderr
    assert "chmod 600" in result.stderr


def test_an_okx_trader_without_a_passphrase_is_refused_before_any_request(
    tmp_path: Path,
) -> None:
    path = valid_files(tmp_path)
    path.write_text(EXAMPLE.replace('kind = "binance_futures"', 'kind = "okx"', 1))
    creds = tmp_path / "local" / "trader-venue.cred"
    result = run("check-config", "--config", str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"trader: error: venue.credentials_file: {creds}: passphrase: missing "
        "(required for kind okx)"
    )
    creds.write_text('api_key = "key"\nsecret = "secret"\npassphrase = "words"\n')
    assert run("check-config", "--config", str(path)).returncode == 0


def test_an_unknown_key_is_one_line_naming_its_path_and_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.replace("[strategy]", "[strategy]\nspred = 1"))
    result = run("run", "--config", str(path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"trader: error: {path}: strategy.spred: unknown key (allowed: half_spread_bps, "
        "requote_ticks, skew_bps, warm_interval_ms)"
    ]


def test_a_missing_config_file_is_exit_1_without_traceback(tmp_path: Path) -> None:
    result = run("run", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_usage_is_exit_2() -> None:
    result = run("fly")
    assert result.returncode == 2
    assert result.stderr.startswith("trader: error:")


def test_a_missing_limits_file_is_one_clear_error(tmp_path: Path) -> None:
    text = EXAMPLE.replace('profile = "latency"', "").replace("cpus = [1]", "cpus = []")
    result = run("run", "--config", str(write(tmp_path, text)))
    assert result.returncode == 1
    assert "limits.toml: cannot read the limits file" in result.stderr
    assert "Traceback" not in result.stderr


def test_strict_mode_refuses_a_drifted_host_with_exit_3(tmp_path: Path) -> None:
    # Pin the trader to a CPU the profile does not give it: its own affinity is then drift
    # whatever else the host looks like.
    layout = sysprep_api.verify(sysprep_api.load_profile("baseline")).layout
    others = sorted(layout.online - layout.trader)
    if not others:
        pytest.skip("every online CPU is a trader CPU in this host's layout: nothing can drift")
    text = (
        EXAMPLE.replace('profile = "latency"', 'profile = "baseline"')
        .replace("cpus = [1]", f"cpus = [{others[0]}]")
        .replace("strict = false", "strict = true")
    )
    result = run("run", "--config", str(write(tmp_path, text)))
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("trader: error: refusing to start: host drifted from sysprep profile")
    assert "affinity" in line


def test_check_config_as_json_says_ok(tmp_path: Path) -> None:
    path = valid_files(tmp_path)
    result = run("check-config", "--json", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"config": str(path), "ok": True}


def test_a_ready_file_in_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    result = run("run", "--config", str(tmp_path / "t.toml"), "--ready-file", f"{absent}/r.json")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"trader: error: run: argument --ready-file: {absent} is not a directory "
        "(try: trader run --help)"
    ]
