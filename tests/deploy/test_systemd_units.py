"""The shipped systemd units are accepted by systemd and hardened to the promised level.

`systemd-analyze verify` exits 0 on unknown keys and bad values and only warns on stderr, so
any stderr output is a failure. Units name the production install prefix (the venv, and
/usr/local/bin where deploy/install.sh links the suite's commands); the test relocates both to
this checkout's virtual environment, which also proves every command a unit runs exists.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "deploy" / "systemd"
INSTALL_BINS = ("/opt/killswitch/venv/bin/", "/usr/local/bin/")
UNITS = ("watchdog.service", "trader.service", "sysprep.service")
MAX_EXPOSURE = {"watchdog.service": 2.5, "trader.service": 4.5}


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    return tool


@pytest.fixture(scope="module")
def relocated_units(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    venv_bin = pathlib.Path(sys.executable).parent
    out = tmp_path_factory.mktemp("units")
    for name in UNITS:
        text = (UNIT_DIR / name).read_text()
        for prefix in INSTALL_BINS:
            text = text.replace(prefix, f"{venv_bin}/")
        (out / name).write_text(text)
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies_without_any_warning(relocated_units: pathlib.Path, unit: str) -> None:
    tool = _systemd_analyze()
    result = subprocess.run(
        [tool, "verify", str(relocated_units / unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"systemd-analyze warned about {unit}:\n{result.stderr}"


@pytest.mark.parametrize("unit", sorted(MAX_EXPOSURE))
def test_unit_exposure_is_within_its_bound(relocated_units: pathlib.Path, unit: str) -> None:
    tool = _systemd_analyze()
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(relocated_units / unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE[unit], f"{unit} exposure {exposure} > {MAX_EXPOSURE[unit]}"


def test_trader_never_starts_without_watchdog_and_prepared_host() -> None:
    text = (UNIT_DIR / "trader.service").read_text()
    assert "Requires=watchdog.service sysprep.service" in text
    assert "sysprep verify --for trader" in text
    assert "StartLimitBurst=" in text
