"""Shared helpers for benchmark figures: percentiles, summaries, and the unit-key convention.

Every benchmark prints one JSON object whose numeric keys carry their unit as a suffix
(docs/benchmarks.md). Raw samples for distribution plots go under `samples_ms` / `samples_us`:
`{series name: [values]}`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

# Suffixes a numeric key may end with; the longest match names the unit.
UNIT_SUFFIXES = (
    "_per_s",
    "_ns",
    "_us",
    "_ms",
    "_s",
    "_pct",
    "_bytes",
    "_ratio",
    "_count",
)
# Keys that name their own unit: a dimensionless ratio of two like figures, the length of a
# run, and the counts the soak's contract names (`python -m bench.soak`).
UNIT_KEYS = {"ratio": "ratio", "seconds": "s", "transitions": "count", "alerts": "count"}
SAMPLE_KEYS = {"samples_ms": "ms", "samples_us": "us"}


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence (q in 0..1).

    Nearest rank never interpolates: the figure is a latency that really happened, and with
    few samples p99 is the maximum, which is the honest answer.
    """
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} not within 0..1")
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


def summary(values: Iterable[float], prefix: str, unit: str, digits: int = 3) -> dict[str, float]:
    """`{prefix}_p50_{unit}`, `_p99_`, `_max_` and `_mean_` of `values` (at least one)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError(f"{prefix}: no samples")
    return {
        f"{prefix}_p50_{unit}": round(percentile(ordered, 0.50), digits),
        f"{prefix}_p99_{unit}": round(percentile(ordered, 0.99), digits),
        f"{prefix}_max_{unit}": round(ordered[-1], digits),
        f"{prefix}_mean_{unit}": round(math.fsum(ordered) / len(ordered), digits),
    }


def unit_of(key: str) -> str | None:
    """The unit a key names by its suffix, or None if it names none."""
    if key in UNIT_KEYS:
        return UNIT_KEYS[key]
    for suffix in UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return suffix[1:]
    return None


def keys_without_unit(result: Mapping[str, object], path: str = "") -> list[str]:
    """Every numeric leaf whose key (or enclosing key) carries no unit: the convention's check.

    A number inside a dict is judged by its own key; a list of numbers by the key of the
    list or, for `samples_*` series and curves, by the enclosing key that names the unit.
    """
    missing: list[str] = []
    for key, value in result.items():
        where = f"{path}.{key}" if path else key
        if key in SAMPLE_KEYS:
            missing += _bad_samples(value, where)
        elif isinstance(value, Mapping):
            missing += keys_without_unit(value, where)
        elif isinstance(value, list):
            missing += _bad_list(key, value, where)
        elif _is_number(value) and unit_of(key) is None:
            missing.append(where)
    return missing


def _bad_samples(value: object, where: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [where]
    return [
        f"{where}.{name}"
        for name, series in value.items()
        if not isinstance(series, list) or not all(_is_number(v) for v in series)
    ]


def _bad_list(key: str, value: list[object], where: str) -> list[str]:
    missing: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            missing += keys_without_unit(item, f"{where}[{i}]")
        elif _is_number(item) and unit_of(key) is None:
            missing.append(f"{where}[{i}]")
    return missing


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
