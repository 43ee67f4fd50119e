"""Tier 2 plumbing: an engine that answers, images built locally, a user-defined network.

Without an engine every tier-2 test skips with one clear reason (and under ``CI=true`` the
suite's skip policy turns that into a failure: CI starts an engine first, see ``.ci/run``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# testcontainers reads these at import: Ryuk's image cannot be pulled here, and inside a VM
# that has /.dockerenv it would otherwise aim at the bridge gateway instead of localhost.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

import docker
from testcontainers.core.network import Network

from tests.support.docker_images import (
    BuildReport,
    DockerImageError,
    ToolMissingError,
    ensure_images,
)

NO_ENGINE = "no Docker engine answering: tier 2 skipped"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """A client of an engine that answers a ping, or a skip that says there is none."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
        pytest.skip(f"{NO_ENGINE} ({type(exc).__name__})")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def suite_images(docker_engine: Any) -> BuildReport:
    """Base and suite images, built once per engine and source tree (minutes when cold)."""
    try:
        return ensure_images()
    except ToolMissingError as exc:
        pytest.skip(f"tier 2 skipped: {exc}")
    except DockerImageError as exc:
        pytest.fail(f"tier 2 images could not be built: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def suite_image(suite_images: BuildReport) -> str:
    return suite_images.suite_image


@pytest.fixture
def docker_network(docker_engine: Any) -> Iterator[Network]:
    """A user-defined bridge network: containers on it reach each other by service name."""
    with Network() as network:
        yield network
