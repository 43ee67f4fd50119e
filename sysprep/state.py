"""Saved originals: written once, atomically and fsynced, before any knob changes.

The first apply that changes a knob records what it held; later applies never overwrite that
record, so revert restores the host as it was before the first apply however many followed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sysprep.errors import StateError
from sysprep.host import atomic_write, fsync_dir

_VERSION = 1
STATE_FILE = "originals.json"


@dataclass(frozen=True)
class Saved:
    name: str
    value: str | None  # None: the file did not exist
    form: str  # "raw", "selected", "file" or "dir" (a directory apply created)


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE

    def load(self) -> dict[str, Saved]:
        """Saved originals by path, in the order they were saved."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise StateError(f"cannot read saved originals {self.path}: {err}") from None
        try:
            data = json.loads(text)
            if data.get("version") != _VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            return {
                path: Saved(entry["name"], entry["value"], entry["form"])
                for path, entry in data["originals"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise StateError(
                f"saved originals {self.path} are corrupt ({err}); fix or move the file by hand"
            ) from None

    def _store(self, saved: dict[str, Saved]) -> None:
        originals = {
            path: {"name": entry.name, "value": entry.value, "form": entry.form}
            for path, entry in saved.items()
        }
        text = json.dumps({"version": _VERSION, "originals": originals}, indent=2) + "\n"
        try:
            atomic_write(self.path, text)
        except OSError as err:
            raise StateError(f"cannot save originals to {self.path}: {err}") from None

    def save_once(self, entries: dict[str, Saved]) -> None:
        """Record originals not already recorded; an existing record always wins."""
        saved = self.load()
        fresh = {path: entry for path, entry in entries.items() if path not in saved}
        if fresh:
            self._store(saved | fresh)

    def keep_only(self, paths: set[str]) -> None:
        """Forget every original except ``paths``; with none left, remove the file."""
        saved = self.load()
        remaining = {path: entry for path, entry in saved.items() if path in paths}
        if remaining:
            self._store(remaining)
        elif self.path.exists():
            self.path.unlink()
            fsync_dir(self.path.parent)
