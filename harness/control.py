"""The watchdog's control API and a process's Prometheus endpoint, read the way an operator's
tools read them: HTTP on the daemon's Unix control socket, the text format over loopback.

Observing through the same interfaces an operator has keeps the worlds honest: a test, the demo
or a benchmark sees what ``watchdog status`` would show, not the daemon's internals.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from pathlib import Path
from typing import Any

TIMEOUT_S = 10.0

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix stream socket (the watchdog's control socket)."""

    def __init__(self, path: Path, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__("watchdog", timeout=timeout_s)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


def control_request(
    control_socket: Path,
    method: str,
    path: str,
    body: Any = None,
    *,
    timeout_s: float = TIMEOUT_S,
) -> Any:
    """One request on the control socket; the decoded JSON answer. ``OSError`` while the
    daemon is not listening yet."""
    connection = UnixHTTPConnection(control_socket, timeout_s)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def parse_metrics(text: str) -> dict[str, float]:
    """The Prometheus text format as ``{"name{labels}": value}``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out
