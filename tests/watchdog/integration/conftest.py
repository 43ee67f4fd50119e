"""Integration tests: a real watchdog and real trader processes in a temporary directory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.watchdog_world import Workspace


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    # Unix socket paths are limited to 108 bytes: a short directory, not pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        space = Workspace(Path(root))
        try:
            yield space
        finally:
            space.cleanup()
