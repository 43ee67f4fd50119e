"""The one retry pacing: capped, doubling, equal jitter, never zero."""

from __future__ import annotations

import random

import pytest

from watchdog.backoff import backoff_delay


def _delays(draw: float, attempts: int = 8) -> list[float]:
    return [backoff_delay(n, initial_s=0.1, max_s=1.0, draw=lambda: draw) for n in range(attempts)]


def test_the_step_doubles_up_to_the_cap() -> None:
    assert _delays(0.999_999) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0], rel=1e-5)


def test_half_of_each_step_is_kept_whatever_the_draw() -> None:
    assert _delays(0.0) == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5])


def test_jitter_spreads_clients_that_failed_together() -> None:
    rng = random.Random(7)
    first_retries = {
        backoff_delay(0, initial_s=1.0, max_s=10.0, draw=rng.random) for _ in range(100)
    }
    assert len(first_retries) == 100
    assert all(0.5 <= d < 1.0 for d in first_retries)


def test_a_huge_attempt_count_stays_at_the_cap() -> None:
    assert backoff_delay(10_000, initial_s=0.2, max_s=15.0, draw=lambda: 0.0) == 7.5


@pytest.mark.parametrize(
    ("attempt", "initial_s", "max_s"),
    [(0, 0.0, 1.0), (0, 2.0, 1.0), (0, -1.0, 1.0), (-1, 0.1, 1.0)],
)
def test_nonsense_parameters_are_refused(attempt: int, initial_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match=r"back-off|attempt"):
        backoff_delay(attempt, initial_s=initial_s, max_s=max_s, draw=lambda: 0.5)
