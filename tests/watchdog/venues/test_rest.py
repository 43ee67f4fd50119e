"""``rest.Link``, the one send path of the JSON venues, on a real connection to a fake venue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from tests.watchdog.venues.fake_venue import FakeVenue, Reply, running
from watchdog.clock import FakeClock
from watchdog.venues import RateLimited, VenueError, VenueRejected, rest


@pytest.fixture
async def venue() -> AsyncIterator[FakeVenue]:
    async with running(FakeVenue(secrets={})) as v:
        yield v


class Judge:
    """A venue's reading of its answers that records what it was shown and names the error
    ``refuse`` makes of it (None: a success)."""

    def __init__(self, refuse: VenueError | None = None) -> None:
        self.refuse = refuse
        self.seen: list[tuple[int, object, str, str]] = []

    def __call__(
        self, status: int, answer: object, headers: Mapping[str, str], endpoint: str
    ) -> VenueError | None:
        self.seen.append((status, answer, headers.get("X-Answer", ""), endpoint))
        return self.refuse


def link(venue: FakeVenue, session: aiohttp.ClientSession, clock: FakeClock) -> rest.Link:
    gate = rest.RateGate(clock, "still backing off")
    return rest.Link(session, venue.base_url, 5.0, 2.0, gate)


async def test_a_body_goes_as_json_with_the_signed_headers_and_the_answer_is_judged(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.script("POST /v5/order/create", Reply(200, {"retCode": 0}, {"X-Answer": "yes"}))
    judge = Judge()
    answer = await link(venue, session, FakeClock()).send(
        "POST", "/v5/order/create", "", '{"qty":"1"}', {"X-Sign": "s1"}, judge
    )
    assert answer == {"retCode": 0}
    assert judge.seen == [(200, {"retCode": 0}, "yes", "POST /v5/order/create")]
    (sent,) = venue.requests
    assert (sent.body, sent.headers["X-Sign"]) == (b'{"qty":"1"}', "s1")
    assert sent.headers["Content-Type"] == "application/json"


async def test_a_query_is_sent_as_it_was_encoded_and_signed_and_no_body_has_no_json_type(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.script("GET /api/v5/trade/order", Reply(200, {"code": "0"}))
    await link(venue, session, FakeClock()).send(
        "GET", "/api/v5/trade/order", "instId=BTC-USDT-SWAP&clOrdId=a%2Fb", None, {}, Judge()
    )
    (sent,) = venue.requests
    assert (sent.path, sent.query) == ("/api/v5/trade/order", "instId=BTC-USDT-SWAP&clOrdId=a%2Fb")
    assert (sent.body, "Content-Type" in sent.headers) == (b"", False)


async def test_an_error_the_venue_names_is_raised(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.script("POST /x", Reply(200, {"retCode": 10001}))
    refused = VenueRejected(10001, "params", http_status=200, endpoint="POST /x")
    with pytest.raises(VenueRejected) as raised:
        await link(venue, session, FakeClock()).send("POST", "/x", "", "{}", {}, Judge(refused))
    assert raised.value is refused


async def test_a_rate_limit_holds_the_next_calls_back_without_sending_them(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["GET /x"] = Reply(200, {})
    clock = FakeClock()
    via = link(venue, session, clock)
    limited = RateLimited(429, "slow", http_status=429, endpoint="GET /x", retry_after=2.0)
    with pytest.raises(RateLimited):
        await via.send("GET", "/x", "", None, {}, Judge(limited))
    with pytest.raises(RateLimited, match="still backing off"):
        await via.send("GET", "/x", "", None, {}, Judge())
    assert len(venue.calls("GET /x")) == 1  # the venue was left alone
    clock.advance(2.5)
    assert await via.send("GET", "/x", "", None, {}, Judge()) == {}
