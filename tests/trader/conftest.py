"""Fixtures for the trader's tests."""

from __future__ import annotations

from tests.support.logs import json_logs  # noqa: F401 - a fixture: pytest finds it by name
