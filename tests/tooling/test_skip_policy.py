"""The suite's skip policy: skips are listed, and fail the run under CI=true."""

from __future__ import annotations

import pathlib

import pytest

CONFTEST = (pathlib.Path(__file__).parents[1] / "conftest.py").read_text()

SKIPPING_TEST = """
import pytest

def test_needs_a_missing_tool():
    pytest.skip("frobnicate is not installed")

def test_passes():
    assert True
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> pytest.RunResult:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST.replace('pytest_plugins = ["pytester"]', ""))
    pytester.makepyfile(SKIPPING_TEST)
    return pytester.runpytest_subprocess()


def test_a_skip_outside_ci_passes_and_is_listed_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, ci=None)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*skipped tests*", "*test_needs_a_missing_tool: frobnicate is not installed"]
    )


def test_a_skip_under_ci_fails_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, ci="true")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CI=true: a skipped test is a failure*"])
