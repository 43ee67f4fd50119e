"""JSON-lines logging for journald: `ts`, `level`, `logger`, `event`, then key/values.

Call sites pass structured fields through `log_event`; nothing here formats secrets because
nothing secret is ever passed (HMAC keys stay in `TraderConfig`, whose repr hides them).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

_FIELDS = "kv"


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS: fields})


def configure(level: str) -> None:
    """Route the root logger to stderr as JSON lines (journald stores stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler narrates every job at INFO; its warnings (misfires) still come through.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
