"""JSON-lines logging for journald, shared by the watchdog daemon and the trader.

One line per record: ``ts``, ``level``, ``logger``, ``event`` (a snake_case name such as
``kill_step_escalated``), then the bound context (``trader``, ``kill_id``, ...), then the
record's own fields. Fields come either from ``log_event(logger, level, event, **fields)`` or
from the stdlib's ``extra={...}``: every attribute a stock ``LogRecord`` lacks is a field, so
nothing a call site passes is dropped.

When stderr is the journal (systemd sets ``JOURNAL_STREAM`` to stderr's device and inode),
each line starts with its syslog priority (``<3>`` for an error) so that ``journalctl -p err``
finds it; journald strips the prefix. Nothing secret is ever passed to a logger.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TextIO

import orjson

# `log_event` nests its fields under one attribute, so a field may be called `name` or `msg`
# without colliding with the LogRecord attributes of the same name.
_FIELDS = "fields"
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    _FIELDS,
}
_NOTHING_BOUND: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("log_context", default=_NOTHING_BOUND)

# syslog priorities (sd-daemon.h): what `journalctl -p` filters on.
_PRIORITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
_DEBUG_PRIORITY = 7


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (a custom level rounds down to the next one)."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return _DEBUG_PRIORITY


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record; with ``journald=True`` prefixed by ``<priority>``."""

    def __init__(self, *, journald: bool = False) -> None:
        super().__init__()
        self._journald = journald

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(_CONTEXT.get())
        for key, value in vars(record).items():
            if key not in _STANDARD:
                line[key] = value
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        text = orjson.dumps(line, default=str).decode()
        if self._journald:
            return f"<{syslog_priority(record.levelno)}>{text}"
        return text


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log `event` with key/value fields (the typed form of ``extra=``)."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS: fields})


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block, and in tasks started inside it.

    The context lives in a ``ContextVar``: an asyncio task copies it when it is created, so a
    kill pipeline bound to ``trader`` and ``kill_id`` tags the lines of every step it starts.
    """
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def stream_is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True when `stream` is connected to journald (``JOURNAL_STREAM`` names its inode)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError):  # no descriptor behind the stream (closed or in-memory)
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


def configure(level: str, environ: Mapping[str, str] | None = None) -> None:
    """Route the root logger to stderr as JSON lines (journald stores stderr)."""
    journald = stream_is_journal(sys.stderr, os.environ if environ is None else environ)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter(journald=journald))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler narrates every job at INFO; its warnings (misfires) still come through.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
