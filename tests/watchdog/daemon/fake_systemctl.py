"""A stand-in `systemctl` on PATH: a real executable that records its calls (no mocking).

It keeps one unit's main pid, active and load state in files, and `stop` really kills the pid.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """\
    #!/bin/sh
    echo "$@" >> "$FAKE_SYSTEMCTL_DIR/calls"
    case "$1" in
      show)
        case "$3" in
          MainPID) cat "$FAKE_SYSTEMCTL_DIR/mainpid" ;;
          ActiveState) cat "$FAKE_SYSTEMCTL_DIR/state" ;;
          LoadState) cat "$FAKE_SYSTEMCTL_DIR/load" ;;
        esac ;;
      stop)
        pid="$(cat "$FAKE_SYSTEMCTL_DIR/mainpid")"
        # MainPID 0 is "no process": "kill 0" would signal the test's own process group.
        [ "$pid" -gt 0 ] && kill "$pid" 2>/dev/null
        echo 0 > "$FAKE_SYSTEMCTL_DIR/mainpid"
        echo inactive > "$FAKE_SYSTEMCTL_DIR/state" ;;
    esac
    """
)


@dataclass
class FakeSystemctl:
    directory: Path

    def run_unit(self, pid: int) -> None:
        (self.directory / "mainpid").write_text(f"{pid}\n")
        (self.directory / "state").write_text("active\n")

    def unit_unknown(self) -> None:
        """As systemd answers for a unit name it has no file for (a typo)."""
        (self.directory / "load").write_text("not-found\n")
        (self.directory / "state").write_text("inactive\n")

    def calls(self) -> list[str]:
        path = self.directory / "calls"
        return path.read_text().splitlines() if path.exists() else []


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemctl:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_SYSTEMCTL_DIR", str(tmp_path))
    fake = FakeSystemctl(tmp_path)
    (tmp_path / "mainpid").write_text("0\n")
    (tmp_path / "state").write_text("inactive\n")
    (tmp_path / "load").write_text("loaded\n")
    return fake
