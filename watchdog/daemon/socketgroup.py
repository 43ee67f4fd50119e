"""Who may use the control socket: never a group that may also send telemetry.

The control socket trips and re-arms traders. With mode 0660 its group may do that too, and a
socket file takes the group of the process that binds it unless its directory is setgid. The
watchdog normally runs with the telemetry group (so the trader can send datagrams), so a
0660 control socket next to the ingress socket would hand the trader its own re-arm.
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import psutil

from watchdog.daemon.errors import StartupError


def creation_group(directory: Path) -> int:
    """The group a socket bound in `directory` will get: that of the nearest existing
    ancestor if it is setgid (new directories inherit setgid), else this process's."""
    for candidate in (directory, *directory.parents):
        try:
            info = candidate.stat()
        except FileNotFoundError:
            continue
        except OSError:
            break
        if info.st_mode & stat.S_ISGID:
            return info.st_gid
        break
    return os.getegid()


def group_name(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name} ({gid})"
    except KeyError:
        return str(gid)


def check_control_socket(
    path: Path, mode: int, *, telemetry_gids: set[int], uid: int, group: int | None = None
) -> None:
    """The bound control socket as it is on disk: ours, the configured mode, and (when the
    group may connect) the expected `group`, not one that can send telemetry. Raises
    `StartupError`."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise StartupError(f"control socket {path}: cannot check it: {exc.strerror}") from exc
    if not stat.S_ISSOCK(info.st_mode):
        raise StartupError(f"control socket {path}: not a socket")
    if info.st_uid != uid:
        raise StartupError(f"control socket {path}: owned by uid {info.st_uid}, not {uid}")
    if stat.S_IMODE(info.st_mode) != mode:
        raise StartupError(
            f"control socket {path}: mode {stat.S_IMODE(info.st_mode):04o}, not {mode:04o}"
        )
    if mode & 0o070 and group is not None and info.st_gid != group:
        raise StartupError(
            f"control socket {path}: group {group_name(info.st_gid)}, expected "
            f"{group_name(group)} (the traders' groups were checked against that one)"
        )
    if mode & 0o070 and info.st_gid in telemetry_gids:
        raise StartupError(
            f"control socket {path}: group {group_name(info.st_gid)} may also send telemetry: "
            'the trader could trip or re-arm itself (use control_socket_mode = "0600")'
        )


def process_groups(pid: int) -> frozenset[int] | None:
    """Every group a process acts with (real, effective, saved, supplementary); None when it
    cannot be read (gone, or /proc hides it)."""
    try:
        groups = set(psutil.Process(pid).gids())
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except (psutil.Error, OSError):
        return None
    for line in status.splitlines():
        if line.startswith("Groups:"):
            groups.update(int(g) for g in line.split()[1:])
    return frozenset(groups)
