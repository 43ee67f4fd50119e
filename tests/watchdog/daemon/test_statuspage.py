"""The status page: served by the control API, shown through the read-only loopback viewer.

Real processes: a watchdog daemon with one trader bot, and `watchdog status-page` in front of
its control socket. The viewer must never become a way to trip or re-arm.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.procs import REPO
from harness.wait import wait_until
from harness.watchdog_world import Workspace
from watchdog.daemon import statuspage


@dataclass
class Viewer:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{statuspage.PAGE_PATH}"

    def get(
        self, path: str, *, method: str = "GET", host: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Host": host} if host else {}
            connection.request(method, path, body=b"{}" if method == "POST" else None,
                               headers=headers)  # fmt: skip
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_viewer(*where: str) -> Viewer:
    """`watchdog status-page --port 0 <where>`; the port comes from its first output line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "status-page", "--port", "0", *where],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    line = process.stdout.readline()  # blocks until it listens, or EOF if it exits
    if not line.startswith("status page: http://127.0.0.1:"):
        process.wait(timeout=30)
        raise AssertionError(f"viewer did not start: {line!r} {process.stderr.read()!r}")
    port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
    return Viewer(process, port)


@contextlib.contextmanager
def viewing_an_active_trader() -> Iterator[tuple[Workspace, Viewer]]:
    """A watchdog, its trader ACTIVE, and a status page viewer on its config."""
    # Unix socket paths are limited to 108 bytes: a short directory, not pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        space = Workspace(Path(root))
        viewer = None
        try:
            space.start_watchdog()
            space.start_trader()
            wait_until(lambda: space.state() == "ACTIVE", what="trader ACTIVE")
            viewer = start_viewer("--config", str(space.config))
            yield space, viewer
        finally:
            if viewer is not None:
                viewer.stop()
            space.cleanup()


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Workspace, Viewer]]:
    with viewing_an_active_trader() as both:
        yield both


def _embedded(page: bytes) -> dict[str, object]:
    text = page.decode()
    start = text.index("const INITIAL = ") + len("const INITIAL = ")
    end = text.index(";\n", start)
    return dict(json.loads(text[start:end]))


def test_the_viewer_serves_the_page_with_the_current_status_embedded(
    running: tuple[Workspace, Viewer],
) -> None:
    _, viewer = running
    status, headers, body = viewer.get(statuspage.PAGE_PATH)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    data = _embedded(body)
    traders = data["status"]["traders"]  # type: ignore[index]
    assert [t["id"] for t in traders] == ["alpha"]
    assert traders[0]["state"] == "ACTIVE"
    assert "daily_loss" in traders[0]["utilisation"]


def test_the_viewer_forwards_status_and_audit(running: tuple[Workspace, Viewer]) -> None:
    _, viewer = running
    status, _, body = viewer.get("/status?trader=alpha")
    assert status == 200
    assert json.loads(body)["traders"][0]["id"] == "alpha"
    status, _, body = viewer.get("/audit?since=0&limit=5")
    assert status == 200
    assert isinstance(json.loads(body)["entries"], list)
    status, _, body = viewer.get("/status?trader=nobody")
    assert status == 404
    assert "unknown trader" in json.loads(body)["error"]


def test_the_viewer_cannot_trip_or_rearm(running: tuple[Workspace, Viewer]) -> None:
    space, viewer = running
    for path in ("/trip", "/rearm", "/status"):
        status, _, body = viewer.get(path, method="POST")
        assert status == 405, path
        assert "read only" in json.loads(body)["error"]
    assert space.state() == "ACTIVE"


def test_the_viewer_serves_nothing_else(running: tuple[Workspace, Viewer]) -> None:
    _, viewer = running
    status, _, _ = viewer.get("/metrics")
    assert status == 404
    status, headers, _ = viewer.get("/")
    assert status == 302
    assert headers["Location"] == statuspage.PAGE_PATH


def test_the_viewer_refuses_a_foreign_host_header(running: tuple[Workspace, Viewer]) -> None:
    """A page on the web that rebinds its name to 127.0.0.1 must not read the status."""
    _, viewer = running
    status, _, body = viewer.get("/status", host="attacker.example:8099")
    assert status == 403
    assert "refused" in json.loads(body)["error"]
    for host in ("localhost", f"127.0.0.1:{viewer.port}", f"[::1]:{viewer.port}"):
        assert viewer.get("/status", host=host)[0] == 200, host


def test_a_watchdog_that_is_gone_is_a_clear_error_not_a_page(tmp_path: Path) -> None:
    viewer = start_viewer("--socket", str(tmp_path / "missing.sock"))
    try:
        status, _, body = viewer.get("/status")
        assert status == 502
        assert "cannot reach the watchdog" in json.loads(body)["error"]
    finally:
        viewer.stop()


def test_a_bad_port_is_a_one_line_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "watchdog", "status-page", "--port", "70000", "--socket", "x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "watchdog: error: status-page: argument --port: port out of range 0..65535: 70000"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_embedded_data_cannot_close_the_script() -> None:
    status = {"traders": [{"id": "x", "reason": "</script><script>alert(1)</script>"}]}
    page = statuspage.render_page(statuspage.template(), status, [])
    assert "</script><script>alert(1)" not in page
    assert "\\u003c/script>" in page


def test_the_template_loads_nothing_from_elsewhere() -> None:
    page = statuspage.template()
    for needle in ("http://", "https://", "<link", " src=", "@import", "url("):
        assert needle not in page, needle


def test_a_template_without_its_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        statuspage.render_page("<html></html>", {}, [])


def test_recent_audit_keeps_the_newest_entries() -> None:
    @dataclass
    class Entry:
        id: int
        ts: float
        trader: str
        kind: str
        detail: dict[str, object]

    class Store:
        def __init__(self) -> None:
            self.calls: list[tuple[float, int]] = []

        def audit_since(self, since: float, limit: int = 1000) -> list[Entry]:
            self.calls.append((since, limit))
            return [Entry(i, 1000.0 + i, "a", "decision", {}) for i in range(50)]

    store = Store()
    recent = statuspage.recent_audit(store, now=100_000.0, count=3)
    assert [e["id"] for e in recent] == [47, 48, 49]
    assert store.calls == [(100_000.0 - 86_400.0, 10_000)]


@pytest.mark.parametrize("text", ["0", "8099", "65535"])
def test_ports_in_range_parse(text: str) -> None:
    assert statuspage.parse_port(text) == int(text)


@pytest.mark.parametrize("text", ["-1", "65536", "http"])
def test_ports_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="port"):
        statuspage.parse_port(text)
