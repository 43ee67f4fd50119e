"""Suite-wide pytest policy.

A test that needs a system tool skips with a reason when the tool is missing. The end of the
run lists every skip, and under ``CI=true`` any skip fails the run: CI installs every tool, so a
skip there means an install step is missing.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]


def _skipped_reports(config: pytest.Config) -> list[pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return []
    return list(reporter.stats.get("skipped", []))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _skipped_reports(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    skipped = _skipped_reports(config)
    if not skipped:
        return
    terminalreporter.section("skipped tests (each needs something this machine lacks)")
    for report in skipped:
        terminalreporter.line(f"{report.nodeid}: {_skip_reason(report)}")
    if os.environ.get("CI") == "true":
        terminalreporter.line("CI=true: a skipped test is a failure; install what is missing.")
