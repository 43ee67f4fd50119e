"""The status page in a real browser (headless Chromium) against a real watchdog.

The DOM after the page's script ran (`--dump-dom`) must show each trader's state, its reason,
a bar per limit and the audit; the screenshot is kept as a test artefact (in tmp_path, and
copied to $KILLSWITCH_ARTIFACTS when set) so a person can see it is readable at a glance.
"""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.wait import wait_until
from harness.watchdog_world import Workspace
from tests.watchdog.daemon.test_statuspage import Viewer, start_viewer, viewing_an_active_trader

BROWSER_TIMEOUT_S = 120


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        tool = shutil.which(name)
        if tool is not None:
            return tool
    pytest.skip("chromium not installed (Debian package: chromium)")


def _browse(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # The virtual time budget lets the page's fetches and first poll finish before the dump.
    args = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        "--virtual-time-budget=3000",
        *extra,
        url,
    ]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False
    )


class _Dom(html.parser.HTMLParser):
    """Attributes of every element, and the text, of a dumped DOM."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, **dict(attrs)})

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, attribute: str) -> list[dict[str, str | None]]:
        return [e for e in self.elements if attribute in e]

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def _dom(url: str, profile: Path) -> _Dom:
    result = _browse(url, profile, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    return _Dom(result.stdout)


@pytest.fixture
def running() -> Iterator[tuple[Workspace, Viewer]]:
    with viewing_an_active_trader() as both:
        yield both


def test_the_page_shows_state_limits_and_a_kill_in_a_browser(
    running: tuple[Workspace, Viewer], tmp_path: Path
) -> None:
    _chromium()
    space, viewer = running
    profile = tmp_path / "profile"

    dom = _dom(viewer.url, profile)
    cards = dom.having("data-trader")
    assert [(c["data-trader"], c["data-state"]) for c in cards] == [("alpha", "ACTIVE")]
    rules = {e["data-rule"] for e in dom.having("data-rule")}
    assert {"daily_loss", "drawdown", "order_rate", "heartbeat"} <= rules
    assert len(dom.having("data-ratio")) == len(rules)  # one bar per limit
    assert "dead man's switch not configured" in dom.all_text  # no venue side here
    (armed,) = (e for e in dom.having("data-armed") if e.get("id") == "armed")
    assert armed["data-armed"] == "true"
    (line,) = (e for e in dom.having("data-armed") if e.get("id") is None)
    assert line["data-armed"] == "true"
    assert "armed: every part of the kill chain works" in dom.all_text
    assert "live · updated" in dom.all_text

    result = space.cli("trip", "--trader", "alpha", "--reason", "status page drill",
                       "--config", str(space.config))  # fmt: skip
    assert result.returncode == 0, result.stderr
    wait_until(lambda: space.trader()["kill"] and space.trader()["kill"]["finished"],
               what="kill finished")  # fmt: skip

    dom = _dom(viewer.url, profile)
    (card,) = dom.having("data-trader")
    assert card["data-state"] == "KILLED"
    assert "LATCHED: re-arm required" in dom.all_text
    assert "killed: latch: manual kill: status page drill" in dom.all_text
    kinds = {e["data-audit"] for e in dom.having("data-audit")}
    assert {"trip", "kill_started"} <= kinds
    steps = {e["data-step"] for e in dom.having("data-step")}
    assert {"stop_process", "revoke_credential"} <= steps
    header = dom.having("data-overall")
    assert [h["data-overall"] for h in header] == ["KILLED"]

    shot = tmp_path / "status-page.png"
    result = _browse(viewer.url, profile, f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank image
    artefacts = os.environ.get("KILLSWITCH_ARTIFACTS")
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artefacts) / shot.name)


def test_the_page_says_so_when_the_watchdog_is_unreachable(tmp_path: Path) -> None:
    _chromium()
    viewer = start_viewer("--socket", str(tmp_path / "missing.sock"))
    try:
        result = _browse(viewer.url, tmp_path / "profile", "--dump-dom")
        # The page itself cannot be fetched: the viewer answers with the error, not a page
        # that could be mistaken for a healthy one.
        assert "cannot reach the watchdog" in result.stdout
        assert "ACTIVE" not in result.stdout
    finally:
        viewer.stop()
