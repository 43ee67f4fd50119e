"""Bybit's disconnection protection as a pure decision: who watches, and what a loss arms."""

from __future__ import annotations

from exchange_sim.fronts.bybit.dcp import DEFAULT_WINDOW_S, Dcp


def test_only_the_last_watcher_leaving_arms_the_window() -> None:
    dcp = Dcp(enabled=True)
    dcp.join("a", 1)
    dcp.join("a", 2)
    assert dcp.leave("a", 1) is None
    assert dcp.leave("a", 2) == DEFAULT_WINDOW_S


def test_the_derivatives_window_is_the_one_armed() -> None:
    dcp = Dcp(enabled=True)
    dcp.set_window("a", "OPTIONS", 5)
    dcp.set_window("a", "DERIVATIVES", 40)
    dcp.join("a", 1)
    assert dcp.leave("a", 1) == 40


def test_a_connection_that_never_watched_arms_nothing() -> None:
    dcp = Dcp(enabled=True)
    dcp.join("a", 1)
    assert dcp.leave("a", 2) is None
    assert dcp.leave("b", 1) is None


def test_nothing_is_armed_where_dcp_is_not_configured() -> None:
    dcp = Dcp(enabled=False)
    dcp.join("a", 1)
    assert dcp.leave("a", 1) is None
