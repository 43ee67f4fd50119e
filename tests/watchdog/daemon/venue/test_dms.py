"""The dead man's switch keeper: every symbol armed, confirmations checked, failures reported."""

from __future__ import annotations

import pytest

from tests.support.logs import JsonLines
from tests.watchdog.daemon.venue.fakes import FakeBook, FakeClock
from watchdog.daemon.venue.dms import DeadMansSwitch, DmsSettings, DmsStatus
from watchdog.venues.base import DmsMode, DmsState
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
    assert book.calls == ["arm 10000 BTCUSDT,ETHUSDT"]
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


async def test_a_confirmation_of_another_window_is_a_failure() -> None:
    book = FakeBook(dms_confirms=DmsState(DmsMode.ARMED, 5_000, "5 s"))
    statuses: list[DmsStatus] = []
    status = await _dms(book, statuses, FakeClock()).refresh()
    assert not status.ok
    assert "venue confirmed armed 5000" in status.detail


async def test_an_unsupported_switch_is_reported_as_such_and_never_armed(
    json_logs: JsonLines,
) -> None:
    book = FakeBook(dms_confirms=DmsState(DmsMode.UNSUPPORTED, None, "no DCP on this account"))
    statuses: list[DmsStatus] = []
    dms = _dms(book, statuses, FakeClock())
    status = await dms.refresh()
    assert (status.ok, status.supported) == (False, False)
    assert "unsupported here: no DCP on this account" in status.detail
    assert dms.expires_at is None
    (line,) = json_logs()
    assert (line["event"], line["level"]) == ("dms_unsupported", "error")


async def test_disarm_sets_zero() -> None:
    book = FakeBook()
    await _dms(book, [], FakeClock()).disarm()
    assert book.calls == ["arm 0 BTCUSDT,ETHUSDT"]


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
