"""The request journal: every venue request and notable event, with its monotonic arrival time.

``time.monotonic()`` is CLOCK_MONOTONIC on Linux, shared by every process on the host, so a test
in another process can compare its own clock with ``mono`` (e.g. when did the cancel-all arrive
after the trader was killed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    mono: float  # arrival, time.monotonic()
    wall: float
    kind: str  # "request" or "event"
    method: str
    path: str
    endpoint: str
    api_key: str | None
    account: str | None
    status: int
    code: int | None  # the venue's error code, None on success
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "mono": self.mono,
            "wall": self.wall,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "api_key": self.api_key,
            "account": self.account,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }


class Journal:
    """A bounded, append-only log; readers page through it with ``since(seq)``."""

    def __init__(self, size: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self._seq = 0

    def record(self, **fields: Any) -> Entry:
        self._seq += 1
        entry = Entry(seq=self._seq, **fields)
        self._entries.append(entry)
        return entry

    def event(
        self,
        mono: float,
        wall: float,
        endpoint: str,
        account: str | None,
        detail: str,
        api_key: str | None = None,
    ) -> Entry:
        return self.record(
            mono=mono,
            wall=wall,
            kind="event",
            method="",
            path="",
            endpoint=endpoint,
            api_key=api_key,
            account=account,
            status=0,
            code=None,
            detail=detail,
        )

    @property
    def last_seq(self) -> int:
        return self._seq

    def since(self, seq: int, limit: int) -> list[Entry]:
        if not self._entries or seq >= self._seq:
            return []
        first = self._entries[0].seq
        start = max(0, seq + 1 - first)
        out: list[Entry] = []
        for i in range(start, min(len(self._entries), start + limit)):
            out.append(self._entries[i])
        return out
