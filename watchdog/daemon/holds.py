"""Outside conditions that hold a trader at least HALTED besides its risk rules.

Each is named by a key (e.g. its process is unknown, it could use the control socket) and
lasts until released by the same key; the supervisor audits and pushes each change.
"""

from __future__ import annotations


class Holds:
    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self._reasons)

    def reason(self, key: str) -> str | None:
        return self._reasons.get(key)

    def set(self, key: str, reason: str) -> bool:
        """Hold for `reason`; False if that hold was already set for the same reason."""
        if self._reasons.get(key) == reason:
            return False
        self._reasons[key] = reason
        return True

    def release(self, key: str) -> bool:
        """False if nothing was held under `key`."""
        return self._reasons.pop(key, None) is not None

    def as_dict(self) -> dict[str, str]:
        return dict(self._reasons)
