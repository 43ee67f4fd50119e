"""The shared parser: one error line naming the subcommand, one log-level spelling."""

from __future__ import annotations

import contextlib
import io

import pytest

import cliargs


def _parse(args: list[str]) -> tuple[int | str | None, str, str]:
    top = cliargs.parser("prog", "a program")
    run = cliargs.subcommands(top).add_parser("run")
    cliargs.add_log_level(run)
    cliargs.add_json(run)
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exited,
    ):
        top.parse_args(args)
    return exited.value.code, out.getvalue(), err.getvalue()


def test_a_subcommand_usage_error_is_one_line_naming_it_and_exit_2() -> None:
    code, out, err = _parse(["run", "--log-level", "loud"])
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith("prog: error: run: argument --log-level: invalid choice: 'loud'")
    assert line.endswith(" (try: prog run --help)")


def test_a_missing_subcommand_is_a_top_level_usage_error() -> None:
    code, _, err = _parse([])
    assert code == 2
    assert err.startswith("prog: error: the following arguments are required: command")


def test_the_log_level_accepts_any_case_and_defaults_to_info() -> None:
    top = cliargs.parser("prog", "a program")
    cliargs.add_log_level(top)
    assert top.parse_args(["--log-level", "WARNING"]).log_level == "warning"
    assert top.parse_args([]).log_level == "info"


def test_version_is_the_installed_distribution() -> None:
    code, out, _ = _parse(["--version"])
    assert (code, out) == (0, f"prog {cliargs.version()}\n")
    assert cliargs.version()[0].isdigit()
