"""`watchdog.toml`: parsed once at the edge, validated strictly, turned into frozen values.

Paths are resolved against the config file's directory, so a config and its key files can
move together. Secrets (HMAC keys) are read here and never logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from killswitch_client.errors import ConfigError as KeyFileError
from killswitch_client.keyfile import load_key

from risk.limits import Limits, limits_from_mapping, parse_limits
from risk.tomltable import Table, loads
from watchdog.daemon.socketgroup import creation_group, group_name
from watchdog.daemon.venue.settings import VenueSettings, parse_venue_settings
from watchdog.errors import ConfigError


@dataclass(frozen=True)
class ProcessTarget:
    """How to find the trader's process: exactly one of pid, pidfile or systemd unit."""

    pid: int | None = None
    pidfile: Path | None = None
    unit: str | None = None
    # Without telemetry nothing else ties a pid or pid file's pid to the trader: its command
    # line (arguments joined by spaces) must contain this text (docs/watchdog.md).
    cmdline: str | None = None

    @property
    def configured(self) -> bool:
        return self.pid is not None or self.pidfile is not None or self.unit is not None


@dataclass(frozen=True)
class TraderKill:
    """Which local kill actions run for this trader."""

    stop_process: bool = True
    stop_grace_s: float = 2.0
    revoke_credential: bool = True
    revoke_mode: str = "replace"  # "replace" with a marker, or "remove"


TELEMETRY_REQUIRED = "required"
TELEMETRY_NONE = "none"  # supervised by its process and the venue view alone


@dataclass(frozen=True)
class TraderConfig:
    id: str
    hmac_key: bytes | None = field(repr=False)  # None: telemetry = "none", no datagram taken
    limits: Limits
    process: ProcessTarget
    credential_file: Path | None
    kill_group: str | None
    kill: TraderKill
    venue: VenueSettings | None
    telemetry: str = TELEMETRY_REQUIRED

    @property
    def telemetry_expected(self) -> bool:
        return self.telemetry != TELEMETRY_NONE

    @property
    def max_send_age(self) -> float:
        """The oldest send time (and the furthest ahead) telemetry is accepted with, in s.

        Liveness counts a datagram from when it was sent, so a held-back datagram cannot
        prolong a trader's life; this bound decides which late data still counts at all. A
        datagram sent `warn_after_s` ago is from a moment after which the trader, had it said
        nothing since, is already being warned about: older ones are refused (`clock_skew`).
        It is below `halt_after_s` because the heartbeat limits require warn < halt.
        """
        return self.limits.heartbeat.warn_after_s

    @cached_property
    def limits_version(self) -> str:
        """A short fingerprint of the limits in force, echoed to the trader in every ack.

        Computed once: the config never changes for the life of the process (a new config is
        a new object), and an ack is on the per-datagram path.
        """
        return hashlib.sha256(repr(self.limits).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class IngressSettings:
    unix_socket: Path | None
    udp_host: str | None
    udp_port: int | None


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool
    host: str
    port: int


@dataclass(frozen=True)
class KillConfig:
    """Retry pacing shared by every kill action."""

    deadline_s: float = 10.0
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 2.0


@dataclass(frozen=True)
class AlertConfig:
    webhooks: tuple[str, ...] = ()
    timeout_s: float = 2.0
    retries: int = 3


@dataclass(frozen=True)
class Config:
    source: Path
    state_dir: Path
    control_socket: Path
    control_socket_mode: int
    ingress: IngressSettings
    metrics: MetricsConfig
    kill: KillConfig
    alerts: AlertConfig
    traders: tuple[TraderConfig, ...]
    shutdown_timeout_s: float = 5.0
    loop_lag_bound_s: float = 0.25
    log_level: str = "info"
    max_maintenance_s: float = 3600.0  # the longest planned-stop window an operator may open

    @property
    def database(self) -> Path:
        return self.state_dir / "watchdog.sqlite3"


_TOP = frozenset(
    {
        "state_dir",
        "control_socket",
        "control_socket_mode",
        "log_level",
        "shutdown_timeout_s",
        "loop_lag_bound_s",
        "max_maintenance_s",
        "ingress",
        "metrics",
        "kill",
        "alerts",
        "traders",
    }
)
_TRADER = frozenset(
    {
        "id",
        "hmac_key_file",
        "limits_file",
        "limits",
        "pid",
        "pidfile",
        "unit",
        "credential_file",
        "kill_group",
        "kill",
        "venue",
        "telemetry",
        "cmdline",
    }
)
_LOG_LEVELS = ("debug", "info", "warning", "error")


def load_config(path: Path) -> Config:
    """Read and validate a config file; raises `ConfigError` naming the file and key path."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({exc.reason})") from None
    return parse_config(loads(text, str(path), ConfigError), path)


def parse_config(data: dict[str, Any], path: Path) -> Config:
    top = Table.root(data, str(path), ConfigError)
    top.reject_unknown(_TOP)
    base = path.parent
    traders = tuple(_trader(t, base) for t in top.tables("traders"))
    if not traders:
        raise top.fail("traders", "at least one [[traders]] table is required")
    _check_unique(top, traders)
    level = top.choice("log_level", _LOG_LEVELS, "info")
    control_socket = _path(base, top.text("control_socket"))
    ingress = _ingress(top.table("ingress"), base)
    return Config(
        source=path,
        state_dir=_path(base, top.text("state_dir")),
        control_socket=control_socket,
        control_socket_mode=_mode(top, control_socket, ingress),
        ingress=ingress,
        metrics=_metrics(top.table("metrics")),
        kill=_kill(top.table("kill")),
        alerts=_alerts(top.table("alerts")),
        traders=traders,
        shutdown_timeout_s=top.number("shutdown_timeout_s", 5.0),
        loop_lag_bound_s=top.number("loop_lag_bound_s", 0.25),
        log_level=level,
        max_maintenance_s=_max_maintenance(top),
    )


def _max_maintenance(top: Table) -> float:
    seconds = top.number("max_maintenance_s", 3600.0)
    if seconds > 86_400.0:
        raise top.fail("max_maintenance_s", "at most 86400 (a day): a window must end")
    return seconds


def _path(base: Path, value: str) -> Path:
    return (base / value).resolve() if not Path(value).is_absolute() else Path(value)


def _mode(top: Table, control_socket: Path, ingress: IngressSettings) -> int:
    text = top.text("control_socket_mode", "0600")
    if text not in ("0600", "0660"):
        raise top.fail("control_socket_mode", 'must be "0600" or "0660" (who may control)')
    mode = int(text, 8)
    if mode & 0o070 and ingress.unix_socket is not None:
        # Both sockets take the group of the directory (setgid) or of the watchdog's process.
        group = creation_group(control_socket.parent)
        if group == creation_group(ingress.unix_socket.parent):
            raise top.fail(
                "control_socket_mode",
                f'"{text}" gives the control socket to group {group_name(group)}, which may '
                "send telemetry (the ingress socket gets the same group): the trader could "
                'trip or re-arm itself. Use "0600", or put control_socket in a setgid '
                "directory of an operators' group",
            )
    return mode


def _check_unique(top: Table, traders: tuple[TraderConfig, ...]) -> None:
    seen: set[str] = set()
    for index, trader in enumerate(traders):
        if trader.id in seen:
            raise top.fail(f"traders[{index}].id", f"duplicate trader id {trader.id!r}")
        seen.add(trader.id)


def _trader(table: Table, base: Path) -> TraderConfig:
    table.reject_unknown(_TRADER)
    trader_id = table.text("id")
    if not trader_id.replace("-", "").replace("_", "").isalnum() or len(trader_id) > 64:
        raise table.fail("id", "use letters, digits, '-' and '_' (at most 64)")
    limits = _limits(table, base)
    _check_send_age(table, limits)
    kill = _trader_kill(table.table("kill"))
    telemetry = table.choice("telemetry", (TELEMETRY_REQUIRED, TELEMETRY_NONE), TELEMETRY_REQUIRED)
    venue = _venue(table.table("venue"))
    if telemetry == TELEMETRY_NONE:
        _check_without_telemetry(table, venue)
    return TraderConfig(
        id=trader_id,
        hmac_key=_hmac_key(table, base) if telemetry == TELEMETRY_REQUIRED else None,
        limits=limits,
        process=_process(table, base, telemetry),
        credential_file=_credential_file(table, base, kill),
        kill_group=table.optional_text("kill_group"),
        kill=kill,
        venue=venue,
        telemetry=telemetry,
    )


def _check_without_telemetry(table: Table, venue: VenueSettings | None) -> None:
    """`telemetry = "none"`: the process and the watchdog's own venue view must both be there,
    or nothing would watch the trader; a key for datagrams that are refused is a mistake."""
    if venue is None:
        raise table.fail(
            "telemetry",
            '"none" needs a [traders.venue] table: without telemetry only the watchdog\'s own '
            "venue view can judge the trader's risk",
        )
    if not any(table.has(key) for key in ("pid", "pidfile", "unit")):
        raise table.fail(
            "telemetry", '"none" needs one of pid, pidfile, unit: its process is watched instead'
        )
    if table.has("hmac_key_file"):
        raise table.fail(
            "hmac_key_file", 'not used with telemetry = "none" (its datagrams are refused)'
        )


def _credential_file(table: Table, base: Path, kill: TraderKill) -> Path | None:
    """The file a kill revokes. It must exist now: a kill that "revokes" a path nobody reads
    (a typo) would verify while the real secret stays. After a kill in "remove" mode only
    the removal record is left (see `removal_record`), and that is a valid state too."""
    text = table.optional_text("credential_file")
    if text is None:
        return None
    path = _path(base, text)
    if not kill.revoke_credential or path.is_file():
        return path
    if kill.revoke_mode == "remove" and removal_record(path).is_file():
        return path
    if path.exists():
        raise table.fail("credential_file", f"{path} is not a regular file")
    raise table.fail("credential_file", f"{path} does not exist (a kill could not revoke it)")


def removal_record(credential: Path) -> Path:
    """Where a kill in "remove" mode records that it removed `credential` (no secret in it)."""
    return credential.with_name(f".{credential.name}.revoked")


def _hmac_key(table: Table, base: Path) -> bytes:
    """The same reader and checks as the client's: hex text, >= 32 bytes, not world-readable."""
    path = _path(base, table.text("hmac_key_file"))
    try:
        return load_key(path)
    except KeyFileError as exc:
        raise table.fail("hmac_key_file", str(exc)) from None


def _limits(table: Table, base: Path) -> Limits:
    if table.has("limits_file") == table.has("limits"):
        raise table.fail("limits", "give exactly one of limits_file or an inline [limits] table")
    if table.has("limits_file"):
        path = _path(base, table.text("limits_file"))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise table.fail("limits_file", f"cannot read {path}: {exc}") from exc
        return parse_limits(text, str(path))
    inline = table.table("limits")
    return limits_from_mapping(inline.data, inline.source, inline.path)


def _check_send_age(table: Table, limits: Limits) -> None:
    """Telemetry is accepted until `heartbeat.warn_after_s` old (`TraderConfig.max_send_age`);
    a heartbeat that old must not be bad data, or accepting it would halt the trader."""
    max_past, warn = limits.bad_data.max_past_s, limits.heartbeat.warn_after_s
    if max_past < warn:
        key = "limits_file" if table.has("limits_file") else "limits.bad_data.max_past_s"
        raise table.fail(
            key,
            f"bad_data.max_past_s ({max_past:g} s) is below heartbeat.warn_after_s ({warn:g} s),"
            " the oldest send time telemetry is accepted with: raise it to at least that",
        )


def _process(table: Table, base: Path, telemetry: str) -> ProcessTarget:
    given = [key for key in ("pid", "pidfile", "unit") if table.has(key)]
    if len(given) > 1:
        raise table.fail(given[1], f"give only one of pid, pidfile, unit (also got {given[0]})")
    pidfile = table.optional_text("pidfile")
    return ProcessTarget(
        pid=table.integer("pid", low=2) if table.has("pid") else None,
        pidfile=_path(base, pidfile) if pidfile else None,
        unit=table.optional_text("unit"),
        cmdline=_cmdline(table, telemetry, given),
    )


def _cmdline(table: Table, telemetry: str, given: list[str]) -> str | None:
    """What ties a pid or pid file's pid to a trader that sends no telemetry; a unit's main
    pid needs nothing more, and a trader with telemetry is tied by its datagrams' sender."""
    if telemetry == TELEMETRY_REQUIRED or given == ["unit"]:
        if table.has("cmdline"):
            raise table.fail("cmdline", 'only for telemetry = "none" with pid or pidfile')
        return None
    if not table.has("cmdline"):
        raise table.fail(
            "cmdline",
            f'missing (required): with telemetry = "none" and {given[0]}, nothing else ties '
            "the pid to the trader (a text its command line contains)",
        )
    return table.text("cmdline")


def _trader_kill(table: Table) -> TraderKill:
    table.reject_unknown(
        frozenset({"stop_process", "stop_grace_s", "revoke_credential", "revoke_mode"})
    )
    mode = table.choice("revoke_mode", ("replace", "remove"), "replace")
    return TraderKill(
        stop_process=table.boolean("stop_process", True),
        stop_grace_s=table.number("stop_grace_s", 2.0),
        revoke_credential=table.boolean("revoke_credential", True),
        revoke_mode=mode,
    )


def _ingress(table: Table, base: Path) -> IngressSettings:
    table.reject_unknown(frozenset({"unix_socket", "udp"}))
    unix = table.optional_text("unix_socket")
    udp = table.optional_text("udp")
    if unix is None and udp is None:
        raise table.fail("unix_socket", "give unix_socket and/or udp (host:port)")
    host, port = None, None
    if udp is not None:
        host, _, port_text = udp.rpartition(":")
        if not host or not port_text.isdigit() or int(port_text) > 65535:
            raise table.fail("udp", f"expected host:port, got {udp!r}")
        port = int(port_text)
    return IngressSettings(_path(base, unix) if unix else None, host, port)


def _metrics(table: Table) -> MetricsConfig:
    table.reject_unknown(frozenset({"enabled", "host", "port"}))
    port = table.integer("port", 9108, high=65535)
    return MetricsConfig(
        table.boolean("enabled", bool(table.data)), table.text("host", "127.0.0.1"), port
    )


def _kill(table: Table) -> KillConfig:
    table.reject_unknown(frozenset({"deadline_s", "backoff_initial_s", "backoff_max_s"}))
    config = KillConfig(
        deadline_s=table.number("deadline_s", 10.0),
        backoff_initial_s=table.number("backoff_initial_s", 0.05),
        backoff_max_s=table.number("backoff_max_s", 2.0),
    )
    if config.backoff_max_s < config.backoff_initial_s:
        raise table.fail("backoff_max_s", "must be >= backoff_initial_s")
    return config


def _alerts(table: Table) -> AlertConfig:
    table.reject_unknown(frozenset({"webhooks", "timeout_s", "retries"}))
    hooks = table.str_list("webhooks")
    for index, url in enumerate(hooks):
        if not url.startswith(("http://", "https://")):
            raise table.fail(f"webhooks[{index}]", "must be an http:// or https:// URL")
    return AlertConfig(hooks, table.number("timeout_s", 2.0), table.integer("retries", 3))


def _venue(table: Table) -> VenueSettings | None:
    """The `[traders.venue]` table (docs/venues.md); None when the trader has no venue side."""
    if not table.data:
        return None
    return parse_venue_settings(table, base=Path(table.source).parent)
