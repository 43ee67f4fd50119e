"""The graded state: what each level still allows."""

from __future__ import annotations

import pytest

from risk import TradingState, allows_cancel, allows_new_orders, allows_reduce_only


@pytest.mark.parametrize(
    ("state", "new", "reduce"),
    [
        (TradingState.ACTIVE, True, True),
        (TradingState.WARN, True, True),
        (TradingState.REDUCING, False, True),
        (TradingState.HALTED, False, True),
        (TradingState.KILLED, False, False),
    ],
)
def test_what_each_state_allows(state: TradingState, new: bool, reduce: bool) -> None:
    assert allows_new_orders(state) is new
    assert allows_reduce_only(state) is reduce
    assert allows_cancel(state) is True


def test_states_order_by_severity() -> None:
    assert max(TradingState.WARN, TradingState.HALTED) is TradingState.HALTED
    assert [s.value for s in TradingState] == [0, 1, 2, 3, 4]
