"""Average-cost position and realized PnL per fill."""

from __future__ import annotations

import pytest

from trader.book import Holding, apply_fill


def test_adding_to_a_position_averages_the_price_and_realizes_nothing() -> None:
    h, pnl = apply_fill(Holding(), 1.0, 100.0)
    h, pnl2 = apply_fill(h, 1.0, 110.0)
    assert (h.qty, h.avg_price, pnl, pnl2) == (2.0, 105.0, 0.0, 0.0)


def test_reducing_a_long_realizes_the_difference_to_the_average() -> None:
    h, _ = apply_fill(Holding(), 2.0, 100.0)
    h, pnl = apply_fill(h, -1.0, 90.0)
    assert pnl == pytest.approx(-10.0)
    assert (h.qty, h.avg_price) == (1.0, 100.0)
    assert h.realized == pytest.approx(-10.0)


def test_covering_a_short_at_a_lower_price_is_a_gain() -> None:
    h, _ = apply_fill(Holding(), -1.0, 100.0)
    h, pnl = apply_fill(h, 1.0, 95.0)
    assert pnl == pytest.approx(5.0)
    assert h.qty == 0.0


def test_a_fill_that_flips_the_position_opens_the_rest_at_the_fill_price() -> None:
    h, _ = apply_fill(Holding(), 1.0, 100.0)
    h, pnl = apply_fill(h, -3.0, 120.0)
    assert pnl == pytest.approx(20.0)
    assert (h.qty, h.avg_price) == (-2.0, 120.0)
