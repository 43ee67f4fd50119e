"""The self-check fails closed on any key that does not work."""

from __future__ import annotations

from tests.watchdog.daemon.venue.fakes import FakeClock
from watchdog.daemon.venue.selfcheck import CredentialSelfCheck, SelfCheckResult
from watchdog.venues.errors import KeyRefused, VenueUnavailable


async def _ok() -> str:
    return "read"


async def _refused() -> str:
    raise KeyRefused(-2015, "Invalid API-key", http_status=401, endpoint="GET /fapi/v2/account")


async def _down() -> str:
    raise VenueUnavailable("HTTP 503", endpoint="GET /x")


async def test_both_keys_working_is_ok() -> None:
    results: list[SelfCheckResult] = []
    result = await CredentialSelfCheck(_ok, _ok, clock=FakeClock(), on_result=results.append
                                       ).run_once()  # fmt: skip
    assert result.ok
    assert results == [result]


async def test_a_refused_master_key_fails_and_says_which_key() -> None:
    check = CredentialSelfCheck(_ok, _refused, clock=FakeClock(), on_result=lambda _: None)
    result = await check.run_once()
    assert not result.ok
    assert result.account_key.startswith("ok")
    assert "key refused" in result.master_key


async def test_an_unreachable_venue_fails_closed_too() -> None:
    check = CredentialSelfCheck(_down, _ok, clock=FakeClock(), on_result=lambda _: None)
    result = await check.run_once()
    assert not result.ok
    assert "VenueUnavailable" in result.detail
    assert check.last == result
