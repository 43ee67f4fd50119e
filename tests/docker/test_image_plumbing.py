"""The pure parts of the image builder: which mirror, which hash. No engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docker_images import (
    MIRROR_ENV,
    DockerImageError,
    host_mirror,
    mirror_from_sources,
    source_hash,
)

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_the_mirror_comes_from_a_deb822_sources_file() -> None:
    assert mirror_from_sources([DEB822]) == "http://mirror.example/debian"


def test_the_mirror_comes_from_a_one_line_sources_list() -> None:
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert mirror_from_sources([text]) == "http://one.example/debian"


def test_a_security_only_or_disabled_source_is_not_a_mirror() -> None:
    security = "deb http://sec.example/debian-security bookworm-security main\n"
    disabled = DEB822.replace("Types: deb\nURIs", "Types: deb\nEnabled: no\nURIs", 1)
    assert mirror_from_sources([security]) is None
    assert mirror_from_sources([disabled]) is None


def test_the_first_file_that_names_a_mirror_wins() -> None:
    other = "deb http://second.example/debian bookworm main\n"
    assert mirror_from_sources(["", DEB822, other]) == "http://mirror.example/debian"


def test_the_source_hash_changes_with_the_source_and_only_then(tmp_path: Path) -> None:
    (tmp_path / "risk").mkdir()
    (tmp_path / "risk" / "engine.py").write_text("LIMIT = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    first = source_hash(tmp_path)
    (tmp_path / "risk" / "__pycache__").mkdir()
    (tmp_path / "risk" / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"\0")
    assert source_hash(tmp_path) == first  # bytecode is not source
    (tmp_path / "risk" / "engine.py").write_text("LIMIT = 2\n")
    assert source_hash(tmp_path) != first
    assert source_hash(tmp_path, [b"base-1"]) != source_hash(tmp_path, [b"base-2"])


def test_the_host_mirror_is_read_from_the_apt_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text("deb http://x/ bookworm main")
    assert host_mirror(tmp_path) == "http://mirror.example/debian"
    monkeypatch.setenv(MIRROR_ENV, "http://override.example/debian")
    assert host_mirror(tmp_path) == "http://override.example/debian"


def test_no_mirror_is_an_error_that_says_how_to_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with pytest.raises(DockerImageError, match=MIRROR_ENV):
        host_mirror(tmp_path)
