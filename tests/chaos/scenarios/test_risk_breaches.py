"""Risk breaches with real processes: a runaway order flood with the trader's key that no
telemetry reports, a reject storm, a price crash through the daily-loss limit, and a drawdown
from the high-water mark. The venue's own view catches what the trader does not say.

On OKX as well: the flood (the venue view's key misuse, over OKX's order listing) and the price
crash (the venue view marking a position OKX counts in contracts); on OKX alone, a fill that
must read the same in both views (OKX's contracts are its own). Not on OKX, for CI time: the
real trader's rejections and the drawdown, whose rules judge the same venue view the crash
proves; the reject storm is the scripted bot's, which speaks Binance's protocol only."""

from __future__ import annotations

import time
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

from harness.wait import wait_until
from tests.chaos.scenarios.venue_client import flood_until_refused, market_order
from tests.support.stack import (
    EACH_VENUE,
    EACH_VENUE_WITH_OKX,
    TRADER_ACCOUNT,
    WITH_OKX,
    Stack,
    StackSpec,
    is_key_deleted,
    record_timings,
)
from watchdog.venues import Side

pytestmark = pytest.mark.chaos


@WITH_OKX
def test_a_runaway_flood_with_the_traders_key_is_killed_by_the_venue_view(
    stack: Stack, tmp_path: Path
) -> None:
    stack.wait_trading()
    since = stack.venue.admin.last_seq()
    start = time.monotonic()
    placed = flood_until_refused(stack.venue)
    refused = time.monotonic()
    stack.wait_killed_clean()
    (started,) = stack.audit("kill_started")
    # Orders the trader never reported, seen on the watchdog's view of the venue: the trader's
    # client answers the watchdog's question about the first one, and the answer (nothing
    # missing before it, no report of the order) is the kill, milliseconds after the ACK.
    assert started["detail"]["cause"] == "key_misuse"
    assert "settled by the trader's answer" in started["detail"]["reason"]
    # As fast as the sim answers (about one a millisecond): a handful get in before the key
    # goes. Waiting out the reorder window instead let the flood fill the book (200 and more).
    assert 1 <= placed < 150
    deleted = stack.first_journal(is_key_deleted, since)
    assert deleted is not None
    record_timings(
        tmp_path,
        f"order_flood_{stack.spec.venue}",
        orders_placed=placed,
        flood_to_refused_s=refused - start,
        flood_to_key_deleted_s=deleted["mono"] - start,
    )


def test_a_reject_storm_halts_the_trader_without_a_kill(tmp_path: Path) -> None:
    """Overload answers (503/-1008, outcome unknown) as well as real rejections halt the
    scripted bot, which counts both as rejects; no kill is due (no `kill_after_s`). On Binance
    only: the scripted bot speaks Binance's protocol (the real trader's rejections below run on
    both venues)."""
    with Stack.start(tmp_path, StackSpec(trader="scripted")) as stack:
        _reject_storm(stack, tmp_path)


@EACH_VENUE
def test_real_rejections_halt_the_real_trader_and_the_halt_clears_as_they_age_out(
    tmp_path: Path, venue: str
) -> None:
    """The venue refuses every new order (-2019, margin insufficient): the trader reports each
    as a REJECT and the watchdog halts it. A halted trader places nothing, so no accepted
    order ends the run of rejects: the run leaves with the window (10 s here), the halt clears
    after its cool-down and trading resumes. No kill is due."""
    with Stack.start(tmp_path, StackSpec(venue=venue)) as stack:
        # -2019 is the sim's "margin is insufficient"; Bybit's front answers it as 110007.
        start, halted = _halted_by_rejects(stack, {"code": -2019})
        stack.venue.admin.clear_faults()
        wait_until(lambda: stack.state() == "ACTIVE", within=40, what="the halt cleared")
        cleared = time.monotonic()
        stack.wait_trading()
        stack.assert_no_kill()
        record_timings(
            tmp_path,
            f"reject_storm_real_{venue}",
            to_halted_s=halted - start,
            to_clear_s=cleared - halted,
        )


def _halted_by_rejects(stack: Stack, reject: bool | dict[str, int]) -> tuple[float, float]:
    """Make the venue refuse every new order (`reject`: the fault) until the watchdog halts
    the trader on its rejects; when the storm started and when it was HALTED (monotonic)."""
    stack.wait_trading()
    stack.venue.admin.set_fault(reject_orders=reject)
    start = time.monotonic()
    # The trader's orders rest; make it place new ones into the storm: a feed stall makes it
    # cancel them and pause, the feed's return makes it place again.
    pauses = len(stack.bot_status()["pauses"])
    stack.venue.admin.streams("stall", "market")
    wait_until(lambda: len(stack.bot_status()["pauses"]) > pauses, what="paused by the stall")
    stack.venue.admin.streams("resume", "market")
    wait_until(lambda: stack.bot_status()["refused"] >= 5, what="orders rejected")
    wait_until(lambda: stack.state() == "HALTED", what="HALTED on rejects")
    halted = time.monotonic()
    assert any(d["rule"] == "rejects" for d in stack.trader_status()["decisions"])
    return start, halted


def _reject_storm(stack: Stack, tmp_path: Path) -> None:
    start, halted = _halted_by_rejects(stack, True)
    wait_until(lambda: not stack.bot_status()["trading"], what="the trader pauses")
    stack.venue.admin.clear_faults()
    refused = stack.bot_status()["refused"]
    wait_until(lambda: stack.open_orders() == [], what="the trader's orders cancelled")
    # Past the rejects cool-down (1 s) it is still halted and places nothing.
    wait_until(lambda: time.monotonic() - halted > 2.0, what="cool-down passed")
    assert stack.state() == "HALTED"
    assert stack.bot_status()["refused"] == refused
    assert stack.open_orders() == []
    stack.assert_no_kill()
    record_timings(tmp_path, "reject_storm", to_halted_s=halted - start)


@EACH_VENUE_WITH_OKX
def test_a_price_crash_through_the_daily_loss_limit_kills(tmp_path: Path, venue: str) -> None:
    with Stack.start(tmp_path, StackSpec(venue=venue, test_moves_positions=True)) as stack:
        stack.wait_trading()
        market_order(stack.venue, "BTCUSDT", Side.BUY, Decimal("1"))
        start = time.monotonic()
        stack.venue.admin.price_jump("BTCUSDT", -10)  # about -6000 on 100000: a 6% daily loss
        stack.wait_killed_clean()
        (started,) = stack.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        record_timings(
            tmp_path, f"price_crash_{venue}", to_kill_finished_s=time.monotonic() - start
        )


@EACH_VENUE
def test_a_drawdown_from_the_high_water_mark_kills(tmp_path: Path, venue: str) -> None:
    spec = StackSpec(
        drawdown_soft_pct=2.0, drawdown_hard_pct=4.0, venue=venue, test_moves_positions=True
    )
    with Stack.start(tmp_path, spec) as stack:
        stack.wait_trading()
        market_order(stack.venue, "BTCUSDT", Side.BUY, Decimal("1"))
        # About +1800: the new high-water mark. Kept under the soft limit on purpose: the
        # engine grades equity by the lower source and the mark by the highest, so for one
        # reporting period after a rise the lagging source reads as a drawdown of the whole
        # gain (a +6% jump killed here before the fall came).
        stack.venue.admin.price_jump("BTCUSDT", 3)

        def high_water_mark() -> float:
            with closing(stack.db()) as db:
                row = db.execute("SELECT high_water_mark FROM traders").fetchone()
            return float(row[0] or 0.0) if row else 0.0

        wait_until(lambda: high_water_mark() > 101_500, what="high-water mark persisted")
        assert stack.state() in ("ACTIVE", "WARN")
        start = time.monotonic()
        # About -4300: -4.2% from the mark (hard 4%), -2.6% on the day (daily limit 3%).
        stack.venue.admin.price_jump("BTCUSDT", -7)
        stack.wait_killed_clean()
        (started,) = stack.audit("kill_started")
        assert started["detail"]["cause"] == "drawdown"
        record_timings(tmp_path, f"drawdown_{venue}", to_kill_finished_s=time.monotonic() - start)


def test_a_fill_on_okx_reads_the_same_in_telemetry_and_in_the_venue_view(tmp_path: Path) -> None:
    """No false alarm: OKX counts the position in contracts (0.01 BTC each), the trader and the
    watchdog in BTC. A fill moves both views; a wrong unit on either side is a divergence the
    watchdog would halt or kill for. On OKX alone: the other venues count in the base coin."""
    with Stack.start(tmp_path, StackSpec(venue="okx")) as stack:
        stack.wait_trading()
        stack.venue.admin.price_jump("BTCUSDT", -6)  # through the trader's bid, 5% under mid

        def venue_position() -> float:
            rows = stack.venue.admin.positions(TRADER_ACCOUNT)
            return sum(float(r["positionAmt"]) for r in rows if r["symbol"] == "BTCUSDT")

        wait_until(lambda: venue_position() > 0, what="the trader's bid filled")
        filled_at = stack.trader_status()["venue_view"]["at"]

        # The standard profile's divergence counts a gap that held for its 2 s reorder window
        # (a WARN first): calm is ACTIVE with no decision, read after read, past that window.
        def calm_past_the_reorder_window() -> bool:
            status = stack.trader_status()
            assert (status["state"], status["decisions"]) == ("ACTIVE", []), status["decisions"]
            return bool(status["venue_view"]["at"] >= filled_at + 3.0)

        wait_until(calm_past_the_reorder_window, what="3 s of venue reads after the fill, calm")
        assert stack.trader_status()["utilisation"]["position"] > 0  # the position is judged
        assert not stack.audit("kill_started")
