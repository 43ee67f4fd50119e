"""The one JSON-lines log format of the daemon and the trader, as journald receives it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator

import orjson
import pytest

from watchdog.logs import bound, configure, log_event, syslog_priority

_log = logging.getLogger("tests.logs")


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _journal_stream() -> dict[str, str]:
    """JOURNAL_STREAM naming what fd 2 is now, as systemd sets it for a unit's stderr."""
    stat = os.fstat(2)
    return {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}


def _lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_fields_passed_with_extra_reach_the_line(capfd: pytest.CaptureFixture[str]) -> None:
    configure("info", {})
    _log.error("dms_refresh_failed", extra={"detail": "BTCUSDT: HTTP 503"})
    (line,) = _lines(capfd.readouterr().err)
    assert line["event"] == "dms_refresh_failed"
    assert line["detail"] == "BTCUSDT: HTTP 503"
    assert line["level"] == "error"


def test_log_event_fields_may_share_a_name_with_a_log_record_attribute(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure("info", {})
    log_event(_log, logging.WARNING, "renamed", name="mm1", msg="hello", args=[1])
    (line,) = _lines(capfd.readouterr().err)
    assert (line["name"], line["msg"], line["args"]) == ("mm1", "hello", [1])
    assert line["logger"] == "tests.logs"


def test_on_the_journal_an_error_line_carries_the_err_priority(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure("debug", _journal_stream())
    _log.critical("refusing_to_arm")
    _log.error("kill_step_escalated")
    _log.warning("hold")
    _log.info("armed")
    _log.debug("tick")
    lines = capfd.readouterr().err.splitlines()
    assert [line[:3] for line in lines] == ["<2>", "<3>", "<4>", "<6>", "<7>"]
    assert orjson.loads(lines[1][3:])["event"] == "kill_step_escalated"


def test_off_the_journal_lines_are_bare_json(capfd: pytest.CaptureFixture[str]) -> None:
    configure("info", {"JOURNAL_STREAM": "1:2"})  # another stream's inode: not ours
    _log.error("x")
    assert capfd.readouterr().err.startswith("{")


def test_custom_levels_round_down_to_a_syslog_priority() -> None:
    assert syslog_priority(logging.ERROR + 5) == 3
    assert syslog_priority(logging.WARNING - 1) == 6
    assert syslog_priority(1) == 7


async def test_bound_context_tags_every_line_in_the_block_and_its_tasks(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure("info", {})

    async def step() -> None:
        log_event(_log, logging.INFO, "kill_step", step="cancel_all")

    with bound(trader="mm1", kill_id="k-1"):
        await asyncio.create_task(step())
        log_event(_log, logging.INFO, "kill_verified", trader="mm1-own")
    _log.info("after")
    step_line, verified, after = _lines(capfd.readouterr().err)
    assert (step_line["trader"], step_line["kill_id"], step_line["step"]) == (
        "mm1",
        "k-1",
        "cancel_all",
    )
    assert verified["trader"] == "mm1-own"  # a record's own field wins over the context
    assert not {"trader", "kill_id"} & after.keys()
