"""The control API: aiohttp on a Unix socket. File permissions decide who may talk to it.

The caller's uid comes from the socket itself (SO_PEERCRED) and goes into the audit next to
the operator name it claims, so a re-arm is always attributable.
"""

from __future__ import annotations

import socket
import stat
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from watchdog.daemon import statuspage
from watchdog.daemon.errors import StartupError
from watchdog.daemon.store import Store
from watchdog.daemon.supervisor import Outcome, TraderSupervisor

_MAX_TEXT = 500


class ControlApi:
    def __init__(
        self,
        supervisors: Mapping[str, TraderSupervisor],
        store: Store,
        status: Callable[[str | None], dict[str, Any]],
        max_maintenance_s: float,
    ) -> None:
        self._supervisors = supervisors
        self._store = store
        self._status = status
        self._max_maintenance_s = max_maintenance_s

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/status", self.get_status)
        app.router.add_post("/trip", self.post_trip)
        app.router.add_post("/rearm", self.post_rearm)
        app.router.add_post("/maintenance/start", self.post_maintenance_start)
        app.router.add_post("/maintenance/end", self.post_maintenance_end)
        app.router.add_get("/audit", self.get_audit)
        app.router.add_get(statuspage.PAGE_PATH, statuspage.page_handler(self._status, self._store))
        return app

    async def get_status(self, request: web.Request) -> web.Response:
        trader = request.query.get("trader")
        if trader is not None:
            self._trader(trader)  # 404 for an unknown id
        return _json(self._status(trader))

    async def post_trip(self, request: web.Request) -> web.Response:
        body = await _body(request, ("trader", "reason"))
        supervisor = self._trader(body["trader"])
        state = supervisor.trip(body["reason"], f"uid {_peer_uid(request)}")
        return _json({"trader": supervisor.id, "state": state.name})

    async def post_rearm(self, request: web.Request) -> web.Response:
        body = await _body(request, ("trader", "reason", "operator"))
        supervisor = self._trader(body["trader"])
        operator = f"{body['operator']} (uid {_peer_uid(request)})"
        reset = await _flag(request, "reset_high_water_mark")
        outcome = supervisor.rearm(body["reason"], operator, reset_high_water_mark=reset)
        return _outcome(supervisor, outcome)

    async def post_maintenance_start(self, request: web.Request) -> web.Response:
        body = await _body(request, ("trader", "reason", "operator"))
        supervisor = self._trader(body["trader"])
        window_s = await _number(request, "window_s", self._max_maintenance_s)
        operator = f"{body['operator']} (uid {_peer_uid(request)})"
        outcome = supervisor.begin_maintenance(window_s, body["reason"], operator)
        window = supervisor.engine.maintenance
        return _outcome(supervisor, outcome, until=window.until if window else None)

    async def post_maintenance_end(self, request: web.Request) -> web.Response:
        body = await _body(request, ("trader", "reason", "operator"))
        supervisor = self._trader(body["trader"])
        operator = f"{body['operator']} (uid {_peer_uid(request)})"
        return _outcome(supervisor, supervisor.end_maintenance(body["reason"], operator))

    async def get_audit(self, request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "1000"))
        except ValueError:
            raise _error(400, "since must be a number (epoch seconds), limit an integer") from None
        entries = self._store.audit_since(since, max(1, min(limit, 10_000)))
        return _json({"entries": [e.__dict__ for e in entries]})

    def _trader(self, trader: str) -> TraderSupervisor:
        supervisor = self._supervisors.get(trader)
        if supervisor is None:
            raise _error(404, f"unknown trader {trader!r} (known: {', '.join(self._supervisors)})")
        return supervisor


async def _body(request: web.Request, keys: tuple[str, ...]) -> dict[str, str]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _error(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _error(400, "the body must be a JSON object")
    for key in keys:
        value = body.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
            raise _error(400, f"{key}: a non-empty string of at most {_MAX_TEXT} characters")
    return {key: body[key].strip() for key in keys}


async def _flag(request: web.Request, key: str) -> bool:
    """An optional boolean of the JSON body: absent is False, anything but a bool is refused."""
    value = orjson.loads(await request.read()).get(key, False)
    if not isinstance(value, bool):
        raise _error(400, f"{key}: true or false")
    return value


async def _number(request: web.Request, key: str, most: float) -> float:
    """A required number of seconds in (0, most]."""
    value = orjson.loads(await request.read()).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= most:
        raise _error(400, f"{key}: seconds, more than 0 and at most {most:g}")
    return float(value)


def _outcome(supervisor: TraderSupervisor, outcome: Outcome, **extra: Any) -> web.Response:
    payload = {
        "trader": supervisor.id,
        "accepted": outcome.accepted,
        "reason": outcome.reason,
        "state": outcome.state.name,
        **extra,
    }
    return _json(payload, status=200 if outcome.accepted else 409)


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.HTTPException:
    body = orjson.dumps({"error": message})
    kinds = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}
    return kinds[status](body=body, content_type="application/json")


def _peer_uid(request: web.Request) -> int | str:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return "unknown"
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def prepare_socket_path(path: Path) -> None:
    """Remove a stale socket left by a killed watchdog; refuse to clobber anything else."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"control socket {path}: exists and is not a socket; remove it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink()
        return
    except OSError as exc:
        raise StartupError(f"control socket {path}: {exc.strerror}") from exc
    finally:
        probe.close()
    raise StartupError(f"control socket {path}: another watchdog is listening on it")
