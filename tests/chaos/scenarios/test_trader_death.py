"""The trader dies or hangs: the watchdog cancels everything at the venue and revokes the key;
a trader that wakes up after the kill must not trade. The real trader in each, except the
reckless zombie (a scripted bot that ignores KILLED, to prove the venue refuses its key).

On OKX as well: the SIGKILL, the kill every venue must carry out end to end (its per-order
sweep and its key deletion). Not on OKX: the hang and the wake-up after the kill, which are the
heartbeat's and the client's (venue-neutral once the kill above works there), kept off OKX for
CI time; the zombie speaks Binance's protocol only."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness.wait import wait_until
from tests.support.stack import (
    BOTH_VENUES,
    EACH_VENUE,
    WITH_OKX,
    Stack,
    StackSpec,
    is_cancel_all,
    is_key_deleted,
    record_timings,
)

pytestmark = pytest.mark.chaos


def _kill_timings(stack: Stack, fault_mono: float, since: int) -> dict[str, float]:
    """From the fault to the venue's first cancel-all and to the key deletion (journal times)."""
    cancel = stack.first_journal(is_cancel_all, since)
    deleted = stack.first_journal(is_key_deleted, since)
    assert cancel is not None
    assert deleted is not None
    return {
        "to_first_cancel_s": cancel["mono"] - fault_mono,
        "to_key_deleted_s": deleted["mono"] - fault_mono,
    }


@WITH_OKX
def test_trader_sigkill_ends_with_an_empty_book_and_a_dead_key(
    stack: Stack, tmp_path: Path
) -> None:
    stack.wait_trading()
    since = stack.venue.admin.last_seq()
    assert stack.trader is not None
    fault = time.monotonic()
    os.kill(stack.trader.pid, signal.SIGKILL)
    kill = stack.wait_killed_clean()
    timings = _kill_timings(stack, fault, since)
    assert kill["reason"]
    (started,) = stack.audit("kill_started")
    assert started["detail"]["cause"] == "process_exit"
    assert timings["to_key_deleted_s"] < 10  # measured: well under a second
    record_timings(tmp_path, f"trader_sigkill_{stack.spec.venue}", **timings)


@BOTH_VENUES
def test_trader_sigstop_is_killed_by_the_heartbeat_deadline(stack: Stack, tmp_path: Path) -> None:
    stack.wait_trading()
    since = stack.venue.admin.last_seq()
    assert stack.trader is not None
    fault = time.monotonic()
    os.kill(stack.trader.pid, signal.SIGSTOP)
    stack.wait_killed_clean()
    timings = _kill_timings(stack, fault, since)
    (started,) = stack.audit("kill_started")
    assert started["detail"]["cause"] == "heartbeat"
    # Heartbeat kill_after_s is 2 s: not before it, and not long after.
    assert 1.9 < timings["to_first_cancel_s"] < 15
    wait_until(lambda: not stack.trader.alive(), what="stopped trader terminated by the watchdog")  # type: ignore[union-attr]
    record_timings(tmp_path, f"trader_sigstop_{stack.spec.venue}", **timings)


def _stopped_until_killed(stack: Stack) -> tuple[int, int]:
    """Stop the trading trader (SIGSTOP) until the watchdog's kill is clean: its pid, and the
    venue journal's last sequence number at that moment."""
    stack.wait_trading()
    assert stack.trader is not None
    pid = stack.trader.pid
    os.kill(pid, signal.SIGSTOP)
    stack.wait_killed_clean()
    return pid, stack.venue.admin.last_seq()


@EACH_VENUE
def test_a_stopped_trader_that_wakes_after_the_kill_hears_killed_and_cannot_trade(
    tmp_path: Path, venue: str
) -> None:
    # Out of the watchdog's reach (another host, another uid): it cannot stop the process.
    with Stack.start(tmp_path, StackSpec(stop_process=False, venue=venue)) as stack:
        pid, kill_seq = _stopped_until_killed(stack)
        kill_done = time.monotonic()
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: stack.bot_status()["heard_killed"], what="the zombie hears KILLED")
        woke = time.monotonic()
        bot = stack.bot_status()
        assert bot["trading"] is False
        # The venue's side: nothing of the trader's key was accepted after the kill (Bybit
        # refuses with HTTP 200 and a retCode: the journal's code says it was refused).
        accepted = [
            e
            for e in stack.journal(kill_seq)
            if e.get("api_key") == stack.venue.trader_key.api_key
            and e.get("status") == 200
            and e.get("code") is None
        ]
        assert accepted == []
        assert stack.open_orders() == []
        record_timings(tmp_path, "zombie_wakes", wake_to_heard_killed_s=woke - kill_done)


def test_a_reckless_zombie_that_ignores_killed_is_refused_by_the_venue(tmp_path: Path) -> None:
    """Scripted: the real trader obeys KILLED; only a bot with a bug keeps sending orders. On
    Binance only: the scripted bot speaks Binance's protocol (the venue's refusal of a deleted
    key on Bybit is the sigkill and sigstop scenarios' ``key_refused`` check)."""
    spec = StackSpec(stop_process=False, reckless=True, trader="scripted")
    with Stack.start(tmp_path, spec) as stack:
        pid, kill_seq = _stopped_until_killed(stack)
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: stack.bot_status()["attempts_while_killed"] >= 3, what="zombie tries")
        wait_until(
            lambda: stack.bot_status()["refusals"].get("KeyRefused", 0) >= 3,
            what="the venue refuses the zombie's key",
        )
        key = stack.venue.trader_key.api_key
        tries = [
            e
            for e in stack.journal(kill_seq)
            if e.get("api_key") == key and e.get("endpoint") == "POST /fapi/v1/order"
        ]
        assert tries, "the zombie's attempts must reach the venue"
        assert all(e["code"] == -2015 for e in tries), tries[:3]
        assert stack.open_orders() == []
