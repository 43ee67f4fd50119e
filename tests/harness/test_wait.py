"""``harness.wait.wait_until``: the one polling wait of the tests, the demo and the benchmarks."""

from __future__ import annotations

import itertools

import pytest

from harness.wait import NotReachedError, wait_until


def test_it_returns_the_first_truthy_value_of_the_condition() -> None:
    answers = iter([None, 0, "", "ready"])

    assert wait_until(lambda: next(answers), within=5.0, poll_s=0.0) == "ready"


def test_at_the_deadline_it_fails_naming_what_it_waited_for() -> None:
    calls = itertools.count()

    with pytest.raises(NotReachedError, match="waiting for the pid file"):
        wait_until(lambda: next(calls) < 0, within=0.0, what="the pid file", poll_s=0.0)

    assert next(calls) >= 1  # the condition was asked at least once before giving up
