"""``harness.control``: the control socket and the metrics text, read as an operator's tools do."""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.control import control_request, parse_metrics


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with its method, path and body, as JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        data = json.dumps({"method": self.command, "path": self.path, "body": body}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def address_string(self) -> str:  # a Unix socket peer has no host and port
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the answer, not a request log."""


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def control_socket() -> Iterator[Path]:
    # Unix socket paths are limited to 108 bytes: a short directory, not pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="ctl-") as root:
        path = Path(root) / "control.sock"
        server = _Server(str(path), _Echo)
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield path
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def test_a_request_goes_over_the_unix_socket_with_its_json_body(control_socket: Path) -> None:
    answer = control_request(control_socket, "POST", "/trip", {"trader": "alpha"})

    assert answer == {"method": "POST", "path": "/trip", "body": '{"trader": "alpha"}'}


def test_a_socket_that_is_not_there_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        control_request(tmp_path / "absent.sock", "GET", "/status")


def test_metrics_keep_their_labels_and_skip_comments() -> None:
    text = '# TYPE up gauge\nup 1\nstate{trader="a",state="HALTED"} 1.0\nrate_total +Inf\n'

    assert parse_metrics(text) == {
        "up": 1.0,
        'state{trader="a",state="HALTED"}': 1.0,
        "rate_total": float("inf"),
    }
