"""What survives a restart: the latch and the equity references the rules measure from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from risk.errors import PersistedStateError

_BIG = 1e15


def _check_amount(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PersistedStateError(f"persisted risk: {name}: expected a number or null")
    if not math.isfinite(value) or not 0 <= value <= _BIG:
        raise PersistedStateError(f"persisted risk: {name}: bad value {value!r}")


@dataclass(frozen=True, slots=True)
class PersistedRisk:
    """The watchdog stores this (SQLite) and passes it back at start.

    A latched record makes the restored engine start KILLED; the high-water mark and the
    day start keep drawdown and daily loss measured across restarts; a maintenance window
    still open at restart stays open (a trader stopped on purpose is not killed for it).
    """

    latched: bool
    latch_reason: str
    high_water_mark: float | None
    day_start_equity: float | None
    day_start_ts: float | None
    maintenance_until: float | None = None
    maintenance_reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.latched, bool):
            raise PersistedStateError("persisted risk: latched: expected true or false")
        if not isinstance(self.latch_reason, str):
            raise PersistedStateError("persisted risk: latch_reason: expected a string")
        _check_amount("high_water_mark", self.high_water_mark)
        _check_amount("day_start_equity", self.day_start_equity)
        _check_amount("day_start_ts", self.day_start_ts)
        _check_amount("maintenance_until", self.maintenance_until)
        if not isinstance(self.maintenance_reason, str):
            raise PersistedStateError("persisted risk: maintenance_reason: expected a string")

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PersistedRisk:
        """Rebuild from `as_dict` output; raises `PersistedStateError` naming a bad field."""
        fields = (
            "latched",
            "latch_reason",
            "high_water_mark",
            "day_start_equity",
            "day_start_ts",
            "maintenance_until",
            "maintenance_reason",
        )
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise PersistedStateError(f"persisted risk: {unknown[0]}: unknown field")
        missing = [name for name in fields if name not in data]
        if missing:
            raise PersistedStateError(f"persisted risk: {missing[0]}: missing")
        return cls(
            latched=data["latched"],  # type: ignore[arg-type]  # checked in __post_init__
            latch_reason=data["latch_reason"],  # type: ignore[arg-type]
            high_water_mark=data["high_water_mark"],  # type: ignore[arg-type]
            day_start_equity=data["day_start_equity"],  # type: ignore[arg-type]
            day_start_ts=data["day_start_ts"],  # type: ignore[arg-type]
            maintenance_until=data["maintenance_until"],  # type: ignore[arg-type]
            maintenance_reason=data["maintenance_reason"],  # type: ignore[arg-type]
        )
