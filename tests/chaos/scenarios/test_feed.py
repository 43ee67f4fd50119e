"""The market feed dies (clean close, reset, silent stall, the stream server gone) or slows
down. The trader cancels its orders and pauses, the watchdog halts it on stale data, both come
back when the feed does, and nobody is killed: no kill is due.

One stack for the module (none of these scenarios kills): each scenario starts and ends with
the trader trading.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.wait import wait_until
from tests.support.stack import Stack, StackSpec, record_timings

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def feed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack.start(tmp_path_factory.mktemp("feed"), StackSpec(proxies=("stream",))) as stack:
        yield stack


@pytest.fixture
def trading(feed_stack: Stack) -> Stack:
    feed_stack.proxy("stream").heal()
    feed_stack.venue.admin.clear_faults()
    feed_stack.wait_trading()
    return feed_stack


def _pause_and_resume(
    stack: Stack, tmp_path: Path, name: str, fault: Callable[[], object], heal: Callable[[], object]
) -> None:
    pauses = len(stack.bot_status()["pauses"])
    start = time.monotonic()
    fault()
    wait_until(lambda: len(stack.bot_status()["pauses"]) > pauses, what="the trader pauses")
    wait_until(lambda: stack.open_orders() == [], what="the trader cancelled its orders")
    cancelled = time.monotonic()
    # The watchdog sees the same staleness in the feed reports and halts (configured grade).
    wait_until(lambda: stack.state() == "HALTED", what="watchdog HALTED on stale data")
    halted = time.monotonic()
    assert any(d["rule"] == "stale_data" for d in stack.trader_status()["decisions"])
    heal()
    healed = time.monotonic()
    resumed_at = stack.wait_trading()
    bot = stack.bot_status()
    assert bot["pauses"][-1] - start < 10
    stack.assert_no_kill()
    assert stack.state() in ("ACTIVE", "WARN")
    record_timings(
        tmp_path,
        f"feed_{name}",
        to_trader_pause_s=bot["pauses"][-1] - start,
        to_orders_cancelled_s=cancelled - start,
        to_watchdog_halted_s=halted - start,
        heal_to_trading_s=resumed_at - healed,
    )


def test_feed_closed_cleanly_and_not_reachable(trading: Stack, tmp_path: Path) -> None:
    proxy = trading.proxy("stream")

    def fault() -> None:
        proxy.set_faults(accept="closed")
        proxy.close()

    _pause_and_resume(trading, tmp_path, "clean_close", fault, proxy.heal)


def test_feed_reset_and_reconnects_reset(trading: Stack, tmp_path: Path) -> None:
    proxy = trading.proxy("stream")

    def fault() -> None:
        proxy.set_faults(accept="reset")
        proxy.reset()

    refused = proxy.stats()["stats"]["connections_refused"]
    _pause_and_resume(trading, tmp_path, "reset", fault, proxy.heal)
    assert proxy.stats()["stats"]["connections_refused"] > refused  # redials were reset too


def test_feed_silent_stall_on_the_link(trading: Stack, tmp_path: Path) -> None:
    proxy = trading.proxy("stream")
    _pause_and_resume(trading, tmp_path, "link_stall", proxy.stall, proxy.heal)


def test_feed_silent_stall_at_the_venue(trading: Stack, tmp_path: Path) -> None:
    admin = trading.venue.admin
    _pause_and_resume(
        trading,
        tmp_path,
        "venue_stall",
        lambda: admin.streams("stall", "market"),
        lambda: admin.streams("resume", "market"),
    )


def test_the_venues_stream_side_dies(trading: Stack, tmp_path: Path) -> None:
    """Every stream socket reset by the venue, and nothing listening for a while."""
    proxy = trading.proxy("stream")

    def fault() -> None:
        proxy.set_faults(accept="closed")
        trading.venue.admin.streams("reset", "market")

    _pause_and_resume(trading, tmp_path, "venue_streams_killed", fault, proxy.heal)


def test_a_feed_blip_that_reconnects_at_once_kills_nothing(trading: Stack, tmp_path: Path) -> None:
    connects = trading.bot_status()["feed_connects"]
    trading.venue.admin.streams("close", "market")
    wait_until(lambda: trading.bot_status()["feed_connects"] > connects, what="feed redialled")
    trading.wait_trading()
    trading.assert_no_kill()


def test_short_latency_spikes_on_the_feed_are_tolerated(trading: Stack, tmp_path: Path) -> None:
    proxy = trading.proxy("stream")
    pauses = len(trading.bot_status()["pauses"])
    spike = {"spike_s": 0.3, "spike_probability": 0.05}
    proxy.set_faults(downstream=spike)

    def delayed() -> bool:
        return int(proxy.stats()["stats"]["downstream"]["chunks_delayed"]) >= 5

    wait_until(delayed, what="spikes injected")
    proxy.heal()
    assert len(trading.bot_status()["pauses"]) == pauses
    trading.assert_no_kill()
    assert trading.bot_status()["trading"]


def test_sustained_feed_latency_halts_then_recovers(trading: Stack, tmp_path: Path) -> None:
    proxy = trading.proxy("stream")
    _pause_and_resume(
        trading,
        tmp_path,
        "sustained_latency",
        lambda: proxy.set_faults(downstream={"base_s": 2.5}),
        proxy.heal,
    )
