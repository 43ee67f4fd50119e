"""`armed` tells the truth: real processes (exchange_sim, the watchdog, a trader bot, the status
page viewer, the CLI). Every field the status page and the CLI display is read from each of
them and checked against what is true: the trader's pid, the venue's journal (what the
watchdog's dead man's switch sent and when, its reads), the metrics gauge.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.wait import wait_until
from tests.watchdog.daemon.test_statuspage import Viewer, start_viewer
from tests.watchdog.daemon.test_statuspage_browser import _chromium, _dom
from tests.watchdog.daemon.venue.world import VenueWorld, venue_world
from watchdog.daemon import statuspage

COUNTDOWN = "POST /fapi/v1/countdownCancelAll"
ACCOUNT_READ = "GET /fapi/v2/account"
MASTER_READ = "GET /sapi/v1/sub-account/list"
SYMBOLS = {"BTCUSDT", "ETHUSDT"}
COUNTDOWN_MS = 10_000
SLACK_S = 1.0  # request flight time and process scheduling on a loaded machine


def _ok_requests(world: VenueWorld, endpoint: str) -> list[dict[str, Any]]:
    return [
        e for e in world.sim.admin.journal() if e["endpoint"] == endpoint and e["status"] == 200
    ]


def _check_dms(world: VenueWorld, dms: dict[str, Any], read_at: float) -> None:
    """The expiry shown is the send time of a refresh the venue journaled for every symbol,
    plus the countdown it accepted: never later than the venue's own deadline."""
    assert dms["ok"] is True
    assert dms["countdown_ms"] == COUNTDOWN_MS
    expires, refreshed = dms["expires_at"], dms["refreshed_at"]
    assert expires > read_at  # it has not run out
    refresh = [
        e
        for e in _ok_requests(world, COUNTDOWN)
        if e["detail"].endswith(f"countdownTime={COUNTDOWN_MS}")
        and 0.0 <= e["wall"] + COUNTDOWN_MS / 1000 - expires <= SLACK_S
    ]
    assert {e["detail"].split()[0] for e in refresh} == SYMBOLS, refresh
    assert all(e["wall"] <= refreshed <= read_at for e in refresh)  # confirmed after arrival


def _check_status(world: VenueWorld, status: dict[str, Any], pids: Pids, read_at: float) -> None:
    """Every field shown, against the truth, for an armed watchdog."""
    assert status["armed"] is True
    assert status["not_armed"] == []
    assert status["pid"] == pids.watchdog
    assert status["store_healthy"] is True
    assert status["store_error"] == ""
    assert status["ingress_healthy"] is True
    assert 0.0 <= status["loop_lag_s"] < 1.0
    (trader,) = status["traders"]
    assert (trader["id"], trader["state"], trader["armed"]) == ("alpha", "ACTIVE", True)
    assert trader["not_armed"] == []
    assert (trader["latched"], trader["maintenance"], trader["kill"]) == (False, None, None)
    assert trader["decisions"] == []
    assert trader["pid"] == pids.trader
    assert trader["heartbeat_age_s"] < 1.0
    assert trader["next_daily_reset"] > read_at
    assert 0.0 <= trader["utilisation"]["venue_blind"] <= 1.0
    _check_dms(world, trader["dms"], read_at)
    view = trader["venue_view"]
    assert view["max_blind_s"] == 5.0
    assert 0.0 <= view["age_s"] <= 5.0
    assert any(e["wall"] <= view["at"] <= e["wall"] + SLACK_S
               for e in _ok_requests(world, ACCOUNT_READ))  # fmt: skip
    keys = trader["venue_keys"]
    assert keys["ok"] is True
    assert "master manages" in keys["detail"]
    assert any(e["wall"] <= keys["checked_at"] <= e["wall"] + SLACK_S
               for e in _ok_requests(world, MASTER_READ))  # fmt: skip


@dataclass(frozen=True)
class Pids:
    watchdog: int
    trader: int


def _cli(world: VenueWorld, *args: str) -> str:
    result: subprocess.CompletedProcess[str] = world.space.cli(
        "status", *args, "--socket", str(world.space.control)
    )
    # 0: armed and every trader ACTIVE; 3: the report is still printed, and stderr says why not.
    assert result.returncode in (0, 3), result.stderr
    if result.returncode == 3:
        assert result.stderr.startswith("watchdog: error: not all ACTIVE and armed:")
    return result.stdout


def _gauge(world: VenueWorld) -> float:
    port = world.space.request("GET", "/status")["metrics_port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    (line,) = (x for x in text.splitlines() if x.startswith("killswitch_armed "))
    return float(line.split()[1])


def _page_status(viewer: Viewer) -> dict[str, Any]:
    code, _, body = viewer.get(statuspage.PAGE_PATH)
    assert code == 200
    text = body.decode()
    start = text.index("const INITIAL = ") + len("const INITIAL = ")
    status: dict[str, Any] = json.loads(text[start : text.index(";\n", start)])["status"]
    return status


def _feed(viewer: Viewer) -> dict[str, Any]:
    code, _, body = viewer.get("/status")
    assert code == 200
    status: dict[str, Any] = json.loads(body)
    return status


def _read(source: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    status = source()
    return status, time.time()


def _missing(world: VenueWorld) -> set[tuple[str, str | None]]:
    return {(m["part"], m["trader"]) for m in world.space.request("GET", "/status")["not_armed"]}


_DAY_S = 86_400.0


def _shown_time(text: str, after: str) -> float:
    """A `HH:MM:SS.mmm UTC` time the CLI printed right after `after`, as seconds of the day."""
    shown = text.split(after, 1)[1].split(" UTC", 1)[0]
    clock = datetime.datetime.strptime(shown, "%H:%M:%S.%f")
    return clock.hour * 3600 + clock.minute * 60 + clock.second + clock.microsecond / 1e6


def _journaled(
    world: VenueWorld, endpoint: str, shown: float, *, offset_s: float = 0.0, symbol: str = ""
) -> bool:
    """A successful request the venue journaled at a time of day (+ `offset_s`) within
    `SLACK_S` of the time shown: after it when `offset_s` is given (the dead man's switch:
    the watchdog counts from before sending, the venue from arrival), else before it (a
    self-check is stamped once answered). The CLI shows milliseconds, cut, not rounded."""
    cut = 0.001
    for e in _ok_requests(world, endpoint):
        if not e["detail"].startswith(symbol):
            continue
        gap = e["wall"] + offset_s - shown if offset_s else shown + cut - e["wall"]
        if 0.0 <= gap % _DAY_S <= SLACK_S:
            return True
    return False


def test_every_field_the_page_and_the_cli_show_is_true() -> None:
    with venue_world(countdown_ms=COUNTDOWN_MS) as world:
        watchdog = world.space.start_watchdog()
        # No trader yet: its process is not identified, so the chain is not complete.
        wait_until(lambda: ("process", "alpha") in _missing(world),
                   what="not armed: process")  # fmt: skip
        assert world.space.request("GET", "/status")["armed"] is False
        assert _gauge(world) == 0.0

        trader = world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.request("GET", "/status")["armed"], what="armed")
        viewer = start_viewer("--socket", str(world.space.control))
        try:
            for source in (
                lambda: world.space.request("GET", "/status"),
                lambda: _feed(viewer),
                lambda: _page_status(viewer),
                lambda: json.loads(_cli(world, "--json")),
            ):
                status, read_at = _read(source)
                _check_status(world, status, Pids(watchdog.pid, trader.pid), read_at)
        finally:
            viewer.stop()
        assert _gauge(world) == 1.0

        text = _cli(world)
        assert text.startswith(f"watchdog pid {watchdog.pid}: store ok, ingress ok; ARMED\n")
        assert "  alpha: ACTIVE, heartbeat " in text
        assert f", pid {trader.pid}; armed" in text
        assert "(max 5s); venue keys ok (checked " in text
        checked = _shown_time(text, "venue keys ok (checked ")
        assert _journaled(world, MASTER_READ, checked)
        expires = _shown_time(text, "dead man's switch armed until ")
        for symbol in SYMBOLS:  # the venue's own deadline for each, at or just after it
            assert _journaled(
                world, COUNTDOWN, expires, offset_s=COUNTDOWN_MS / 1000, symbol=symbol
            )
        assert f"({COUNTDOWN_MS} ms countdown, refreshed " in text

        # The venue's signed reads fail: the view goes stale and `armed` says so, by name.
        for endpoint in (ACCOUNT_READ, "GET /fapi/v1/openOrders"):
            world.sim.admin.set_fault(fail_next={"count": 1_000_000, "endpoint": endpoint})
        wait_until(lambda: ("venue_view", "alpha") in _missing(world),
                   within=20.0, what="not armed: venue_view")  # fmt: skip
        assert _gauge(world) == 0.0
        text = _cli(world)
        assert text.splitlines()[0].endswith("; NOT ARMED")
        assert "    not armed: venue_view: the venue view is " in text
        world.sim.admin.clear_faults()
        wait_until(lambda: world.space.request("GET", "/status")["armed"], what="armed again")

        # The dead man's switch refresh fails: armed no more, until it is confirmed again.
        world.sim.admin.set_fault(fail_next={"count": 4, "endpoint": COUNTDOWN})
        wait_until(lambda: ("dms", "alpha") in _missing(world),
                   within=20.0, what="not armed: dms")  # fmt: skip
        assert _gauge(world) == 0.0
        assert "last refresh FAILED" in _cli(world)
        wait_until(lambda: world.space.request("GET", "/status")["armed"], within=20.0,
                   what="armed once the switch is confirmed again")  # fmt: skip
        assert _gauge(world) == 1.0


def test_the_page_in_a_browser_shows_what_is_armed(tmp_path: Path) -> None:
    _chromium()
    with venue_world(countdown_ms=COUNTDOWN_MS) as world:
        world.space.start_watchdog()
        trader = world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.request("GET", "/status")["armed"], what="armed")
        viewer = start_viewer("--socket", str(world.space.control))
        try:
            dom = _dom(viewer.url, tmp_path / "profile")
        finally:
            viewer.stop()
        assert [e["data-armed"] for e in dom.having("data-armed")] == ["true", "true"]
        text = dom.all_text
        assert "ARMED" in text
        assert "armed: every part of the kill chain works" in text
        assert "dead man's switch armed, expires in " in text
        assert "venue keys ok (checked " in text
        assert "(max 5 s)" in text  # the venue view's age against its limit
        assert f"pid {trader.pid}" in text
        assert "ingress ok" in text

        for endpoint in (ACCOUNT_READ, "GET /fapi/v1/openOrders"):
            world.sim.admin.set_fault(fail_next={"count": 1_000_000, "endpoint": endpoint})
        wait_until(lambda: ("venue_view", "alpha") in _missing(world), within=20.0,
                   what="not armed: venue_view")  # fmt: skip
        viewer = start_viewer("--socket", str(world.space.control))
        try:
            dom = _dom(viewer.url, tmp_path / "profile")
        finally:
            viewer.stop()
        assert [e["data-armed"] for e in dom.having("data-armed")] == ["false", "false"]
        assert "NOT ARMED: venue_view: the venue view is " in dom.all_text
        assert "BLIND: " in dom.all_text
