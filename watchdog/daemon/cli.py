"""`watchdog` command line: run the daemon, or talk to a running one over its control socket.

Errors are one line on stderr, `watchdog: error: <what> (<where>)`, exit 1 (2 for usage).
`status` exits like `systemctl status`: 0 when the watchdog is armed and every trader ACTIVE,
3 otherwise (naming each trader and part that is not), 1 when it cannot ask.

Without `--config` or `--socket` the paths come from the environment, then from the standard
location the deploy units use (`/etc/killswitch/watchdog.toml`, whose `control_socket` is
`/run/killswitch/control.sock`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

import cliargs
from risk.errors import RiskError
from watchdog import logs
from watchdog.daemon import statuspage
from watchdog.daemon.config import Config, load_config
from watchdog.daemon.coverage import coverage, coverage_text
from watchdog.daemon.errors import ControlError
from watchdog.errors import WatchdogError

PROG = "watchdog"
CONFIG_ENV = "KILLSWITCH_WATCHDOG_CONFIG"
SOCKET_ENV = "KILLSWITCH_WATCHDOG_SOCKET"
STANDARD_CONFIG = Path("/etc/killswitch/watchdog.toml")
STANDARD_SOCKET = Path("/run/killswitch/control.sock")
EXIT_NOT_ACTIVE = 3
AUDIT_MAX = 10_000  # the control API's own cap per page


def _since(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise argparse.ArgumentTypeError(f"{text!r} is not a time")
        return seconds
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither epoch seconds nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    """Seconds from `900`, `90s`, `15m` or `2h`."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (seconds, or a number with s, m or h: 15m)"
        ) from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be more than 0")
    return seconds


def _port(text: str) -> int:
    try:
        return statuspage.parse_port(text)
    except ValueError as exc:  # argparse shows only an ArgumentTypeError's own words
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text: str) -> int:
    """An audit page size the control API serves as asked (it would clamp anything else)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= AUDIT_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {AUDIT_MAX}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.parser(PROG, "Independent kill-switch watchdog for trading bots")
    commands = cliargs.subcommands(parser)
    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, help=f"default: ${CONFIG_ENV}, else {STANDARD_CONFIG}")
    cliargs.add_log_level(run, default=None)  # None: the config's log_level
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument(
        "--config", type=Path, help=f"default: ${CONFIG_ENV}, else {STANDARD_CONFIG}"
    )
    status = commands.add_parser(
        "status", help="state of every trader: exit 0 all ACTIVE and armed, 3 not, 1 no answer"
    )
    trip = commands.add_parser("trip", help="kill a trader now (latched)")
    trip.add_argument("--trader", required=True)
    trip.add_argument("--reason", required=True)
    rearm = commands.add_parser("rearm", help="clear a trader's latch (refused while breached)")
    rearm.add_argument("--trader", required=True)
    rearm.add_argument("--reason", required=True)
    rearm.add_argument("--operator", default=None, help="who re-arms (default: login name)")
    rearm.add_argument(
        "--reset-high-water-mark",
        action="store_true",
        help="accept current equity as the new drawdown high-water mark (after a drawdown kill)",
    )
    maintenance = commands.add_parser(
        "maintenance", help="a planned stop: the trader may exit without being killed"
    )
    windows = cliargs.subcommands(maintenance, dest="action")
    start = windows.add_parser("start", help="hold the trader HALTED; its exit is not a kill")
    start.add_argument(
        "--for", dest="window", type=_duration, required=True, help="how long: 900, 15m, 2h"
    )
    end = windows.add_parser("end", help="resume liveness checks (the trader must be back)")
    for sub in (start, end):
        sub.add_argument("--trader", required=True)
        sub.add_argument("--reason", required=True)
        sub.add_argument("--operator", default=None, help="who (default: login name)")
    audit = commands.add_parser("audit", help="the audit log")
    audit.add_argument(
        "--since", type=_since, default=0.0, help="epoch seconds or ISO 8601 (UTC if no zone)"
    )
    audit.add_argument("--limit", type=_limit, default=1000, help=f"1 to {AUDIT_MAX}")
    page = commands.add_parser("status-page", help="read-only status page on 127.0.0.1")
    page.add_argument("--port", type=_port, default=statuspage.DEFAULT_PORT)
    for sub in (check, status, trip, rearm, start, end, audit):
        cliargs.add_json(sub)
    for sub in (status, trip, rearm, start, end, audit, page):
        where = sub.add_mutually_exclusive_group()
        where.add_argument(
            "--config", type=Path, help="read the control socket path from here (see `--socket`)"
        )
        where.add_argument(
            "--socket",
            type=Path,
            help=f"the control socket (default: ${SOCKET_ENV}, else the control_socket of "
            f"${CONFIG_ENV}, else of {STANDARD_CONFIG} if present, else {STANDARD_SOCKET})",
        )
    return parser


def config_path(given: Path | None, environ: Mapping[str, str]) -> Path:
    """The config file: `--config`, else `$KILLSWITCH_WATCHDOG_CONFIG`, else the standard one."""
    if given is not None:
        return given
    return Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else STANDARD_CONFIG


def control_socket(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    exists: Callable[[Path], bool],
    read_socket: Callable[[Path], Path],
) -> Path:
    """Where a control command asks: the first of `--socket`, `--config`'s socket,
    `$KILLSWITCH_WATCHDOG_SOCKET`, `$KILLSWITCH_WATCHDOG_CONFIG`'s socket, the standard
    config's socket (when that file exists), the standard socket."""
    if args.socket is not None:
        return Path(args.socket)
    if args.config is not None:
        return read_socket(args.config)
    if environ.get(SOCKET_ENV):
        return Path(environ[SOCKET_ENV])
    if environ.get(CONFIG_ENV) or exists(STANDARD_CONFIG):
        return read_socket(config_path(None, environ))
    return STANDARD_SOCKET


@cliargs.program
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (WatchdogError, RiskError) as exc:
        return cliargs.fail(PROG, str(exc))
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(load_config(config_path(args.config, os.environ)), args.log_level)
    if args.command == "check-config":
        return _check_config(config_path(args.config, os.environ), args.json)
    socket_path = control_socket(
        args, os.environ, Path.exists, lambda path: load_config(path).control_socket
    )
    return asyncio.run(_control(args, socket_path))


def _heartbeat_text(trader: Mapping[str, Any]) -> str:
    if trader.get("telemetry") == "none":
        return "no telemetry (process and venue only)"
    age = trader["heartbeat_age_s"]
    return f"heartbeat {'never' if age is None else f'{age:.1f}s ago'}"


def _check_config(path: Path, as_json: bool) -> int:
    """Validate; for each trader without telemetry, say which rules judge it and which cannot."""
    config = load_config(path)
    traders = [t.id for t in config.traders]
    now = time.time()
    silent = [coverage(t, now) for t in config.traders if not t.telemetry_expected]
    if as_json:
        print(
            _dumps(
                {"config": str(path), "ok": True, "traders": traders, "without_telemetry": silent}
            )
        )
        return 0
    print(f"{path}: ok ({len(traders)} traders: {', '.join(traders)})")
    for entry in silent:
        print(coverage_text(entry))
    return 0


def _run(config: Config, log_level: str | None) -> int:
    from watchdog.daemon.server import WatchdogServer  # the daemon's imports only when run

    logs.configure(config.log_level if log_level is None else log_level)
    return asyncio.run(WatchdogServer(config).serve())


async def _control(args: argparse.Namespace, socket_path: Path) -> int:
    if args.command == "status-page":
        return await statuspage.serve(socket_path, args.port, print)
    if args.command == "status":
        return _status(args, await _call(socket_path, "GET", "/status"))
    if args.command == "trip":
        body = {"trader": args.trader, "reason": args.reason}
        result = await _call(socket_path, "POST", "/trip", body)
        print(_dumps(result) if args.json else f"{result['trader']}: {result['state']}")
        return 0
    if args.command == "rearm":
        operator = args.operator or getpass.getuser()
        body = {
            "trader": args.trader,
            "reason": args.reason,
            "operator": operator,
            "reset_high_water_mark": args.reset_high_water_mark,
        }
        result = await _call(socket_path, "POST", "/rearm", body, ok=(200, 409))
        if args.json:
            print(_dumps(result))
        if not result["accepted"]:
            return cliargs.fail(PROG, f"re-arm refused: {result['reason']}")
        if not args.json:
            print(f"{result['trader']}: re-armed, now {result['state']}")
        return 0
    if args.command == "maintenance":
        return await _maintenance(args, socket_path)
    result = await _call(socket_path, "GET", f"/audit?since={args.since}&limit={args.limit}")
    for entry in result["entries"]:
        print(_dumps(entry) if args.json else _audit_text(entry))
    return 0


def _status(args: argparse.Namespace, status: dict[str, Any]) -> int:
    print(_dumps(status) if args.json else _status_text(status))
    problems = status_problems(status)
    if not problems:
        return 0
    return cliargs.fail(PROG, f"not all ACTIVE and armed: {'; '.join(problems)}", EXIT_NOT_ACTIVE)


def status_problems(status: dict[str, Any]) -> list[str]:
    """What keeps `status` from exit 0: each trader not ACTIVE, each part not armed, by name."""
    problems = [f"{m['part']} not armed" for m in status["not_armed"] if m["trader"] is None]
    if not status["armed"] and not status["not_armed"]:
        problems.append("watchdog not armed")  # no part named: still never reported as armed
    for trader in status["traders"]:
        if trader["state"] != "ACTIVE":
            problems.append(f"{trader['id']} {trader['state']}")
        parts = [m["part"] for m in trader["not_armed"] if m["trader"] is not None]
        if parts:
            problems.append(f"{trader['id']} not armed ({', '.join(parts)})")
        elif not trader["armed"]:
            problems.append(f"{trader['id']} not armed")
    return problems


async def _maintenance(args: argparse.Namespace, socket_path: Path) -> int:
    body: dict[str, Any] = {
        "trader": args.trader,
        "reason": args.reason,
        "operator": args.operator or getpass.getuser(),
    }
    if args.action == "start":
        body["window_s"] = args.window
    result = await _call(socket_path, "POST", f"/maintenance/{args.action}", body, ok=(200, 409))
    if args.json:
        print(_dumps(result))
    if not result["accepted"]:
        return cliargs.fail(PROG, f"maintenance {args.action} refused: {result['reason']}")
    if args.json:
        return 0
    if args.action == "start":
        print(
            f"{result['trader']}: in maintenance until {_utc(result['until'])}, {result['state']}"
        )
    else:
        print(f"{result['trader']}: maintenance ended, now {result['state']}")
    return 0


def _utc(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).isoformat(timespec="seconds")


async def _call(
    socket_path: Path, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)
) -> Any:
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.UnixConnector(path=str(socket_path))
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.request(method, f"http://watchdog{path}", json=body) as response,
        ):
            payload = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ControlError(f"cannot reach the watchdog ({socket_path}): {exc}") from exc
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ControlError(f"unexpected answer from {socket_path} (HTTP {status})") from None
    if status not in ok:
        message = data.get("error", f"HTTP {status}") if isinstance(data, dict) else status
        raise ControlError(f"{message} ({socket_path})")
    return data


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _status_text(status: dict[str, Any]) -> str:
    lines = [
        f"watchdog pid {status['pid']}: store "
        f"{'ok' if status['store_healthy'] else 'FAILED: ' + status['store_error']}, "
        f"ingress {'ok' if status['ingress_healthy'] else 'DOWN'}; "
        f"{'ARMED' if status['armed'] else 'NOT ARMED'}"
    ]
    lines.extend(_missing_lines([m for m in status["not_armed"] if m["trader"] is None], "  "))
    for trader in status["traders"]:
        pid = trader["pid"]
        lines.append(
            f"  {trader['id']}: {trader['state']}{' (latched)' if trader['latched'] else ''}"
            f", {_heartbeat_text(trader)}"
            f", pid {'unknown' if pid is None else pid}"
            f"; {'armed' if trader['armed'] else 'NOT ARMED'}"
        )
        lines.extend(_venue_lines(trader))
        own = [m for m in trader["not_armed"] if m["trader"] is not None]
        lines.extend(_missing_lines(own, "    "))
        window = trader.get("maintenance")
        if window is not None:
            lines.append(f"    maintenance until {_utc(window['until'])}: {window['reason']}")
        lines.extend(f"    HALTED {reason}" for reason in trader["holds"].values())
        lines.extend(f"    {d['state']} {d['rule']}: {d['reason']}" for d in trader["decisions"])
        kill = trader["kill"]
        if kill is not None and not kill["finished"]:
            lines.append(f"    kill {kill['kill_id']} running: {kill['steps']}")
    return "\n".join(lines)


def _missing_lines(missing: list[dict[str, Any]], indent: str) -> list[str]:
    return [f"{indent}not armed: {m['part']}: {m['reason']}" for m in missing]


def _venue_lines(trader: dict[str, Any]) -> list[str]:
    keys, view, dms = trader["venue_keys"], trader["venue_view"], trader["dms"]
    lines = []
    if keys is not None:
        age = view["age_s"]
        seen = "never" if age is None else f"{age:.2f}s old"
        checked = "not yet" if keys["checked_at"] is None else _clock(keys["checked_at"])
        lines.append(
            f"    venue view {seen} (max {view['max_blind_s']:g}s); venue keys "
            f"{'ok' if keys['ok'] else 'FAILING'} (checked {checked})"
        )
    if dms is not None:
        expires = dms["expires_at"]
        until = "never confirmed" if expires is None else f"armed until {_clock(expires)}"
        refreshed = "never" if dms["refreshed_at"] is None else _clock(dms["refreshed_at"])
        state = "" if dms["ok"] else f"; last refresh FAILED: {dms['detail']}"
        lines.append(
            f"    dead man's switch {until} ({dms['countdown_ms']} ms countdown, "
            f"refreshed {refreshed}){state}"
        )
    return lines


def _clock(ts: float) -> str:
    """Wall seconds as a UTC time of day to the millisecond: `12:00:03.120 UTC`."""
    moment = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def _audit_text(entry: dict[str, Any]) -> str:
    ts = datetime.datetime.fromtimestamp(entry["ts"], tz=datetime.UTC).isoformat()
    return f"{ts} {entry['trader']} {entry['kind']} {orjson.dumps(entry['detail']).decode()}"
