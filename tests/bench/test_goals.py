"""Judging a run against the suite's goals: met, missed, or missing (never guessed)."""

from __future__ import annotations

from typing import Any

from bench.report.goals import GOALS, Goal, Verdict, format_value, judge, judge_all, lookup

AT_MOST = Goal("kill p99", "kill", "p99_ms", True, 5.0, "ms", 4)
AT_LEAST = Goal("ingest", "ingest", "events_per_s", False, 100_000, "events/s", 4)


def ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "result": result}


def test_lookup_follows_dotted_paths_and_refuses_non_numbers() -> None:
    result = {"a": {"b": 2.5}, "flag": True, "text": "3", "nan": float("nan")}
    assert lookup(result, "a.b") == 2.5
    assert lookup(result, "a.c") is None
    assert lookup(result, "a.b.c") is None
    assert lookup(result, "flag") is None  # a bool is not a figure
    assert lookup(result, "text") is None
    assert lookup(result, "nan") is None


def test_an_upper_bound_is_met_at_the_limit_and_missed_above_it() -> None:
    assert judge(AT_MOST, {"kill": ok({"p99_ms": 5.0})}).verdict is Verdict.MET
    missed = judge(AT_MOST, {"kill": ok({"p99_ms": 5.01})})
    assert missed.verdict is Verdict.MISSED
    assert missed.value == 5.01


def test_a_lower_bound_is_met_at_the_limit_and_missed_below_it() -> None:
    assert judge(AT_LEAST, {"ingest": ok({"events_per_s": 100_000})}).verdict is Verdict.MET
    assert judge(AT_LEAST, {"ingest": ok({"events_per_s": 99_999})}).verdict is Verdict.MISSED


def test_an_absent_failed_or_incomplete_benchmark_is_missing_with_the_reason() -> None:
    absent = judge(AT_MOST, {})
    assert absent.verdict is Verdict.MISSING
    assert "not run" in absent.note
    failed = judge(AT_MOST, {"kill": {"ok": False, "error": "timed out after 9 s"}})
    assert failed.verdict is Verdict.MISSING
    assert "timed out after 9 s" in failed.note
    incomplete = judge(AT_MOST, {"kill": ok({"p50_ms": 1.0})})
    assert incomplete.verdict is Verdict.MISSING
    assert "p99_ms" in incomplete.note


def test_every_goal_of_the_issues_is_judged() -> None:
    judged = judge_all({})
    assert len(judged) == len(GOALS) == 21
    assert all(j.verdict is Verdict.MISSING for j in judged)
    assert {g.issue for g in GOALS} == {2, 3, 4, 5, 7, 12, 14, 15}


def test_goal_text_and_values_read_naturally() -> None:
    assert AT_MOST.text == "<= 5 ms"
    assert AT_LEAST.text == ">= 100,000 events/s"
    assert format_value(123_456.0, "events/s") == "123,456 events/s"
    assert format_value(0.7612, "µs") == "0.761 µs"
