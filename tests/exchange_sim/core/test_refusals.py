"""Every reason the core refuses with has words in every front: none can become a 500."""

from __future__ import annotations

import pytest

from exchange_sim.core.refusals import Reason, Refused
from exchange_sim.fronts.binance import codes as binance
from exchange_sim.fronts.bybit import codes as bybit


@pytest.mark.parametrize("reason", list(Reason))
def test_each_front_maps_every_refusal_to_a_client_error(reason: Reason) -> None:
    refused = Refused(reason, "100")
    for err in (binance.refusal(refused), bybit.refusal(refused)):
        assert err.code != 0
        assert err.msg
        assert err.status < 500 or reason in (Reason.NO_QUOTE, Reason.OVERLOADED)
