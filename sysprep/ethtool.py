"""NIC interrupt coalescing and ring sizes, through the ``ethtool`` command.

The command's text output is parsed (ethtool 6.1 has no JSON for ``-c``/``-g``). Everything
goes through the :class:`Ethtool` seam so that tests can stand in for a driver.
"""

from __future__ import annotations

import errno
import subprocess
from dataclasses import dataclass
from typing import Protocol

from sysprep.errors import SysprepError

#: ethtool's option to show and to set each group of settings.
GROUPS = {"coalesce": ("-c", "-C"), "rings": ("-g", "-G")}
_TIMEOUT_S = 10.0


class EthtoolUnsupported(SysprepError):
    """This NIC (or this host) cannot show the group: the reason says why."""


@dataclass(frozen=True)
class EthtoolView:
    current: dict[str, str]  # parameter -> value as ethtool prints it ("n/a": not offered)
    maxima: dict[str, str]  # rings only: the driver's pre-set maximums


class Ethtool(Protocol):
    def show(self, nic: str, group: str) -> EthtoolView: ...
    def set(self, nic: str, group: str, name: str, value: str) -> None: ...


def _key(label: str) -> str:
    return "-".join(label.strip().lower().split())


def parse_coalesce(text: str) -> EthtoolView:
    """``ethtool -c`` output; "Adaptive RX: off  TX: n/a" becomes adaptive-rx and adaptive-tx."""
    found: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        if line.startswith("Adaptive RX:"):
            words = line.replace(":", " ").split()  # Adaptive RX off TX n/a
            found["adaptive-rx"], found["adaptive-tx"] = words[2], words[4]
        elif ":" in line and not line.startswith("CQE mode"):
            label, _, value = line.partition(":")
            if value.strip():
                found[_key(label)] = value.strip()
    return EthtoolView(found, {})


def parse_rings(text: str) -> EthtoolView:
    """``ethtool -g`` output: the pre-set maximums, then the current settings."""
    sections: dict[str, dict[str, str]] = {"max": {}, "current": {}}
    section = sections["current"]
    for line in text.splitlines()[1:]:
        if line.startswith("Pre-set maximums"):
            section = sections["max"]
        elif line.startswith("Current hardware settings"):
            section = sections["current"]
        elif ":" in line:
            label, _, value = line.partition(":")
            section[_key(label)] = value.strip()
    return EthtoolView(sections["current"], sections["max"])


_PARSERS = {"coalesce": parse_coalesce, "rings": parse_rings}


class RealEthtool:
    """The ``ethtool`` command of this host.

    One instance serves one plan, apply, verify or revert: what it showed is kept until it
    sets something in that group, so a survey runs ethtool once per NIC and group instead of
    once per setting, and a re-read after a set always asks the driver again.
    """

    def __init__(self) -> None:
        self._shown: dict[tuple[str, str], EthtoolView] = {}

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(  # noqa: S603 (fixed program, names from sysfs and the profile)
                ["ethtool", *args],  # noqa: S607 (found on PATH like any admin tool)
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError:
            raise EthtoolUnsupported("ethtool is not installed (Debian package: ethtool)") from None
        except subprocess.TimeoutExpired:
            raise OSError(errno.ETIMEDOUT, f"ethtool {' '.join(args)} timed out") from None

    def show(self, nic: str, group: str) -> EthtoolView:
        if (nic, group) in self._shown:
            return self._shown[nic, group]
        option = GROUPS[group][0]
        done = self._run([option, nic])
        if done.returncode != 0:
            why = _last_line(done.stderr)
            if "operation not supported" in why.lower():  # EOPNOTSUPP: the driver
                raise EthtoolUnsupported(f"the driver of {nic} cannot report {group} ({why})")
            raise OSError(errno.EIO, f"ethtool {option} {nic}: {why}")
        view = self._shown[nic, group] = _PARSERS[group](done.stdout)
        return view

    def set(self, nic: str, group: str, name: str, value: str) -> None:
        self._shown.pop((nic, group), None)
        option = GROUPS[group][1]
        done = self._run([option, nic, name, value])
        if done.returncode != 0:
            why = _last_line(done.stderr)
            raise OSError(errno.EIO, f"ethtool {option} {nic} {name} {value}: {why}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


ETHTOOL_PREFIX = "ethtool/"


def ethtool_path(nic: str, group: str, name: str) -> str:
    """The pseudo path a setting is planned, saved and restored under, like a file's."""
    return f"{ETHTOOL_PREFIX}{nic}/{group}/{name}"


def read_setting(tool: Ethtool | None, relative: str) -> str:
    """One setting by its pseudo path; an absent or "n/a" one is FileNotFoundError."""
    nic, group, name = relative[len(ETHTOOL_PREFIX) :].split("/")
    if tool is None:
        raise FileNotFoundError(errno.ENOENT, "ethtool is not consulted for this root", relative)
    try:
        value = tool.show(nic, group).current.get(name, "n/a")
    except EthtoolUnsupported as err:
        raise FileNotFoundError(errno.ENOENT, str(err), relative) from None
    if value == "n/a":
        raise FileNotFoundError(errno.ENOENT, f"{nic} does not offer {name}", relative)
    return value + "\n"


def write_setting(tool: Ethtool | None, relative: str, text: str) -> None:
    nic, group, name = relative[len(ETHTOOL_PREFIX) :].split("/")
    if tool is None:
        raise FileNotFoundError(errno.ENOENT, "ethtool is not consulted for this root", relative)
    tool.set(nic, group, name, text.strip())
