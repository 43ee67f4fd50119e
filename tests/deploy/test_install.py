"""deploy/install.sh: syntax, a dry run that changes nothing, and a real run into a test root.

Never touches this machine's /etc, users or systemd: the real run uses `--root`, under which
users, ownership and systemctl are printed, not done.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "install.sh"


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )


def test_the_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = _run("--dry-run", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert not root.exists()
    out = result.stdout
    for expected in (
        "group killswitch-telemetry",
        "user killswitch-watchdog",
        "user killswitch-trader",
        "virtual environment /opt/killswitch/venv",
        "directory /etc/killswitch/trader-credentials (0700)",
        "owner of /etc/killswitch/trader-credentials",
        "telemetry HMAC key (root 0600)",
        "unit watchdog.service",
        "unit trader.service",
        "unit sysprep.service",
        "polkit rule",
        "systemctl daemon-reload",
    ):
        assert expected in out, expected


def test_a_dry_run_on_the_real_root_names_users_and_systemctl_without_doing_them() -> None:
    result = _run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert "ensure_user killswitch-watchdog killswitch-telemetry" in result.stdout
    assert "chown killswitch-watchdog:killswitch-watchdog /etc/killswitch/trader-credentials" in (
        result.stdout
    )
    assert "systemctl daemon-reload" in result.stdout
    assert "skipped under --root" not in result.stdout


def test_an_unknown_argument_is_a_one_line_usage_error() -> None:
    result = _run("--prefx", "/x")
    assert result.returncode == 2
    assert result.stderr.strip() == "install.sh: error: unknown argument: --prefx (see --help)"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_real_install_into_a_test_root(tmp_path: Path) -> None:
    """The venv is built from this checkout (pip, no network: build deps come from the venv)."""
    root = tmp_path / "root"
    result = _run("--root", str(root))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    venv_bin = root / "opt/killswitch/venv/bin"
    for tool in ("watchdog", "trader", "sysprep"):
        assert (venv_bin / tool).is_file(), tool
        assert os.readlink(root / "usr/local/bin" / tool) == f"/opt/killswitch/venv/bin/{tool}"
    etc = root / "etc/killswitch"
    assert _mode(etc / "watchdog") == 0o700
    assert _mode(etc / "trader-credentials") == 0o700
    assert _mode(etc / "telemetry.key") == 0o600
    assert len(bytes.fromhex((etc / "telemetry.key").read_text().strip())) == 32
    assert _mode(etc / "watchdog.toml") == 0o640
    assert _mode(etc / "trader.toml") == 0o640
    units = root / "etc/systemd/system"
    assert {p.name for p in units.iterdir()} == {
        "watchdog.service",
        "trader.service",
        "sysprep.service",
    }
    assert (root / "etc/polkit-1/rules.d/50-killswitch-watchdog.rules").is_file()
    assert (root / "opt/killswitch/runbooks/README.md").is_file()
    installed = subprocess.run([str(venv_bin / "watchdog"), "--help"], capture_output=True,
                               text=True, timeout=120, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    # A second run keeps the operator's files (and keys) untouched.
    key = (etc / "telemetry.key").read_text()
    (etc / "watchdog.toml").write_text("# edited by the operator\n")
    again = _run("--root", str(root))
    assert again.returncode == 0, again.stderr[-3000:]
    assert (etc / "telemetry.key").read_text() == key
    assert (etc / "watchdog.toml").read_text() == "# edited by the operator\n"
    assert "kept existing" in again.stdout


def _credentials(unit: str) -> set[str]:
    text = (REPO / "deploy" / "systemd" / unit).read_text()
    return {line.split("=", 1)[1].split(":", 1)[0] for line in text.splitlines()
            if line.startswith("LoadCredential=")}  # fmt: skip


def test_the_shipped_configs_name_only_credentials_their_unit_loads() -> None:
    for unit, config in (("watchdog.service", "watchdog.toml"), ("trader.service", "trader.toml")):
        text = (REPO / "deploy" / "config" / config).read_text()
        named = set(re.findall(rf"/run/credentials/{re.escape(unit)}/([\w.-]+)", text))
        assert named, config
        assert named <= _credentials(unit), (config, named - _credentials(unit))
