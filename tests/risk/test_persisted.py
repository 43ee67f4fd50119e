"""PersistedRisk round-trips and refuses malformed records."""

from __future__ import annotations

import json

import pytest

from risk import PersistedRisk, PersistedStateError, RiskEngine, TradingState

from .helpers import T0, account, engine, limits


def test_a_record_round_trips_through_json() -> None:
    eng = engine()
    eng.apply(account(T0 + 1, 101_000.0), T0 + 1)
    eng.trip(T0 + 2, "operator drill")
    stored = eng.persisted()
    again = PersistedRisk.from_dict(json.loads(json.dumps(stored.as_dict())))
    assert again == stored
    assert again.latched
    assert again.high_water_mark == 101_000.0
    assert again.day_start_equity == 100_000.0


def test_a_latched_engine_restored_from_its_record_starts_killed() -> None:
    eng = engine()
    eng.trip(T0 + 1, "operator drill")
    restored = RiskEngine(limits(), now=T0 + 5, persisted=eng.persisted())
    assert restored.state is TradingState.KILLED
    assert "operator drill" in restored.assessment.decisions[0].reason
    restored.apply(account(T0 + 6, 100_000.0), T0 + 6)
    assert restored.state is TradingState.KILLED
    assert restored.rearm(T0 + 7, "drill over").accepted


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latched": "yes"}, "latched"),
        ({"high_water_mark": float("nan")}, "high_water_mark"),
        ({"day_start_equity": -1.0}, "day_start_equity"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    record = engine().persisted().as_dict() | change
    with pytest.raises(PersistedStateError, match=field):
        PersistedRisk.from_dict(record)


def test_a_missing_field_is_refused() -> None:
    record = engine().persisted().as_dict()
    del record["day_start_ts"]
    with pytest.raises(PersistedStateError, match="day_start_ts: missing"):
        PersistedRisk.from_dict(record)
