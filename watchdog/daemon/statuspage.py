"""The operator's status page, and the read-only loopback viewer that shows it in a browser.

The control API serves `GET /status.html` (route registered in `control.py`): one
self-contained HTML file (`statuspage.html`, inline CSS and JS, no external asset) with the
current status and the last audit events embedded, so the first paint is already right; the
page then polls `/status` and `/audit` every second and says loudly when it is not live.

The control API listens on a Unix socket whose file mode decides who may trip and re-arm, so a
browser cannot reach it directly. `watchdog status-page` bridges that gap without widening
it: a tiny HTTP server on 127.0.0.1 that forwards GET requests for the page, `/status` and
`/audit` only. It cannot trip or re-arm (anything else is refused), and it refuses requests
whose Host header is not loopback (a web page rebinding its DNS name to 127.0.0.1 must not
read the status).
"""

from __future__ import annotations

import asyncio
import importlib.resources
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from watchdog.daemon.errors import ControlError

PAGE_PATH = "/status.html"
RECENT_AUDIT = 20
DEFAULT_PORT = 8099
_AUDIT_WINDOW_S = 86_400.0
_AUDIT_SCAN_LIMIT = 10_000
_PLACEHOLDER = "/*KILLSWITCH_INITIAL*/null"
_FORWARDED = frozenset({PAGE_PATH, "/status", "/audit"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
_UPSTREAM_TIMEOUT_S = 5.0
# Inline script and style only; fetches to this origin only; nothing else may load.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AuditSource(Protocol):
    def audit_since(self, since: float, limit: int = 1000) -> Sequence[Any]:
        """Audit entries (objects with id, ts, trader, kind, detail) from `since`, oldest first."""


def template() -> str:
    """The page's HTML, shipped as package data next to this module."""
    return (importlib.resources.files("watchdog.daemon") / "statuspage.html").read_text("utf-8")


def render_page(page: str, status: dict[str, Any], audit: Sequence[dict[str, Any]]) -> str:
    """Embed the first snapshot in the page. `<` is escaped so no value can close the script."""
    if _PLACEHOLDER not in page:
        raise ValueError("status page template lacks its data placeholder")
    data = orjson.dumps({"status": status, "audit": list(audit)}).decode()
    return page.replace(_PLACEHOLDER, data.replace("<", "\\u003c"), 1)


def recent_audit(store: AuditSource, now: float, count: int = RECENT_AUDIT) -> list[dict[str, Any]]:
    """The newest `count` entries of the last day (the store reads oldest first)."""
    entries = store.audit_since(now - _AUDIT_WINDOW_S, _AUDIT_SCAN_LIMIT)
    return [dict(vars(entry)) for entry in entries[-count:]]


def page_handler(
    status: Callable[[str | None], dict[str, Any]],
    store: AuditSource,
    wall: Callable[[], float] = time.time,
) -> Handler:
    """The control API's `GET /status.html`."""
    page = template()

    async def handle(_: web.Request) -> web.Response:
        body = render_page(page, status(None), recent_audit(store, wall()))
        return web.Response(text=body, content_type="text/html", headers=_HEADERS)

    return handle


# -- the loopback viewer (`watchdog status-page`) -------------------------------------------


class StatusPageProxy:
    """Read-only HTTP bridge from 127.0.0.1:`port` to the control socket."""

    def __init__(self, socket_path: Path, port: int = DEFAULT_PORT) -> None:
        self._socket_path = socket_path
        self._port = port
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> int:
        connector = aiohttp.UnixConnector(path=str(self._socket_path))
        timeout = aiohttp.ClientTimeout(total=_UPSTREAM_TIMEOUT_S)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        try:
            await site.start()
        except OSError as exc:
            await self.close()
            raise ControlError(
                f"status page: cannot listen on 127.0.0.1:{self._port}: {exc}"
            ) from exc
        server = site._server  # aiohttp exposes the bound port nowhere else
        if isinstance(server, asyncio.base_events.Server) and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.Response:
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        if request.path == "/":
            raise web.HTTPFound(PAGE_PATH)
        assert self._session is not None  # started before the site accepts requests
        try:
            async with self._session.get(f"http://watchdog{request.path_qs}") as upstream:
                body = await upstream.read()
                headers = {k: v for k, v in upstream.headers.items() if k in _PASSED_HEADERS}
                return web.Response(body=body, status=upstream.status, headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"cannot reach the watchdog ({self._socket_path}): {exc or 'timeout'}"
            return _json_error(502, message)


_PASSED_HEADERS = frozenset({"Content-Type", *_HEADERS})


def _host_name(host: str) -> str:
    """`127.0.0.1:8099` -> `127.0.0.1`, `[::1]:8099` -> `[::1]`."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def _refusal(request: web.Request) -> web.Response | None:
    if _host_name(request.host or "") not in _LOOPBACK_HOSTS:
        return _json_error(403, f"host {request.host!r} refused: open http://127.0.0.1:<port>/")
    if request.method not in ("GET", "HEAD"):
        return _json_error(405, "read only: trip and re-arm with the watchdog CLI")
    if request.path != "/" and request.path not in _FORWARDED:
        return _json_error(404, f"{request.path}: not served here (only {sorted(_FORWARDED)})")
    return None


def _json_error(status: int, message: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"error": message}), status=status, content_type="application/json"
    )


def parse_port(text: str) -> int:
    """argparse type for `--port`: 0 (any free port) .. 65535."""
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range 0..65535: {port}")
    return port


async def serve(socket_path: Path, port: int, announce: Callable[[str], None]) -> int:
    """Run the viewer until SIGINT/SIGTERM; `announce` gets its address once listening."""
    proxy = StatusPageProxy(socket_path, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        bound = await proxy.start()
        announce(f"status page: http://127.0.0.1:{bound}{PAGE_PATH} (read only)")
        await stop.wait()
    finally:
        await proxy.close()
    return 0
