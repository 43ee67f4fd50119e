"""The oneshot unit that runs `sysprep apply` at boot passes systemd's own checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sysprep.knobs import DROPIN_PATH, IRQBALANCE_PATH, SYSTEMD_DROPIN_PATH

UNIT = Path(__file__).parents[2] / "deploy/systemd/sysprep.service"


def test_the_unit_verifies_without_a_single_warning(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/sysprep apply --profile latency" in text
    # verify checks that ExecStart exists: point it at this checkout's installed script.
    script = Path(sys.executable).parent / "sysprep"
    if not script.exists():
        pytest.skip("the sysprep console script is not installed in this environment")
    unit = tmp_path / "sysprep.service"
    unit.write_text(text.replace("/usr/local/bin/sysprep", str(script)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Type=oneshot" in text
    assert "Before=trader.service" in text


def test_the_unit_lets_apply_write_every_file_it_persists() -> None:
    """ProtectSystem=full makes /etc read-only: each directory apply writes to must be listed."""
    text = UNIT.read_text()
    line = next(line for line in text.splitlines() if line.startswith("ReadWritePaths="))
    writable = {path.lstrip("-") for path in line.partition("=")[2].split()}
    for relative in (DROPIN_PATH, IRQBALANCE_PATH, SYSTEMD_DROPIN_PATH):
        parent = "/" + relative.rsplit("/", 1)[0]
        assert parent in writable, parent
    assert "/var/lib/sysprep" in writable


def test_install_creates_the_system_conf_d_directory_the_unit_may_write() -> None:
    script = (Path(__file__).parents[2] / "deploy/install.sh").read_text()
    assert 'install -d -m 0755 "$(r /etc/systemd/system.conf.d)"' in script
