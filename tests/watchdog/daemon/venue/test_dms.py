"""The dead man's switch keeper: every symbol armed, confirmations checked, failures reported."""

from __future__ import annotations

import pytest

from tests.support.logs import JsonLines
from tests.watchdog.daemon.venue.fakes import FakeBook, FakeClock
from watchdog.daemon.venue.dms import DeadMansSwitch, DmsSettings, DmsStatus
from watchdog.venues.errors import VenueUnavailable


def _dms(book: FakeBook, statuses: list[DmsStatus], clock: FakeClock) -> DeadMansSwitch:
    return DeadMansSwitch(book, ["BTCUSDT", "ETHUSDT"], DmsSettings(countdown_ms=10_000),
                          clock=clock, on_status=statuses.append)  # fmt: skip


async def test_refresh_arms_every_symbol_and_records_when() -> None:
    book, clock = FakeBook(), FakeClock()
    statuses: list[DmsStatus] = []
    status = await _dms(book, statuses, clock).refresh()
    assert status.ok
    assert status.refreshed_wall == clock.now
    assert sorted(book.calls) == ["countdown BTCUSDT 10000", "countdown ETHUSDT 10000"]
    assert statuses == [status]


async def test_one_failed_symbol_fails_the_refresh_and_keeps_the_last_good_time() -> None:
    book, clock = FakeBook(), FakeClock()
    statuses: list[DmsStatus] = []
    dms = _dms(book, statuses, clock)
    await dms.refresh()
    first = dms.refreshed_wall
    clock.now += 3
    book.failures.append(VenueUnavailable("HTTP 503", endpoint="POST countdown"))
    status = await dms.refresh()
    assert not status.ok
    assert "VenueUnavailable" in status.detail
    assert dms.refreshed_wall == first


async def test_a_confirmation_of_another_countdown_is_a_failure() -> None:
    book = FakeBook(countdown_confirms=0)
    statuses: list[DmsStatus] = []
    status = await _dms(book, statuses, FakeClock()).refresh()
    assert not status.ok
    assert "venue confirmed BTCUSDT 0" in status.detail


async def test_disarm_sets_zero() -> None:
    book = FakeBook()
    await _dms(book, [], FakeClock()).disarm()
    assert sorted(book.calls) == ["countdown BTCUSDT 0", "countdown ETHUSDT 0"]


def test_refresh_defaults_to_a_third_of_the_countdown_and_bad_settings_are_refused() -> None:
    assert DmsSettings(countdown_ms=9_000).refresh_interval_s == 3.0
    with pytest.raises(ValueError, match="countdown_ms"):
        DmsSettings(countdown_ms=10)
    with pytest.raises(ValueError, match="under half"):
        DmsSettings(countdown_ms=10_000, refresh_s=6.0)


async def test_a_failed_refresh_reaches_the_log_with_its_detail(json_logs: JsonLines) -> None:
    book = FakeBook()
    book.failures.append(VenueUnavailable("HTTP 503", endpoint="POST countdown"))
    await _dms(book, [], FakeClock()).refresh()
    (line,) = json_logs()
    assert (line["event"], line["level"]) == ("dms_refresh_failed", "error")
    assert "VenueUnavailable" in line["detail"]
