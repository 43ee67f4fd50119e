"""Build the tier-2 images locally: no registry can be reached, so nothing is pulled.

1. Base image ``killswitch-base:bookworm``: a Debian bookworm rootfs made by ``debootstrap``
   from the mirror the host's apt already uses, imported with ``docker import``. Built once per
   engine: skipped when the engine already has it.
2. Suite image ``killswitch-suite:<hash>``: ``docker build`` (legacy builder) FROM the base,
   installing the project offline from wheels built on the host. The tag is a hash of the
   project's source, the Dockerfile and the base image id, so a change rebuilds it and an
   unchanged tree reuses it.

Run ``python -m tests.support.docker_images`` to build both and print the timings as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "suite.Dockerfile"
BASE_IMAGE = "killswitch-base:bookworm"
SUITE_REPOSITORY = "killswitch-suite"
SUITE = "bookworm"
ROOTFS_PACKAGES = ("python3", "python3-venv")
# What goes into the suite image: a change to any of these rebuilds it.
SOURCE_DIRS = ("client", "risk", "watchdog", "trader", "sysprep", "exchange_sim")
SOURCE_FILES = ("pyproject.toml", "README.md")
SUITE_SOURCES = (str(REPO_ROOT / "client"), str(REPO_ROOT))  # the two distributions
MIRROR_ENV = "KILLSWITCH_DEBIAN_MIRROR"
DEBOOTSTRAP_TIMEOUT_S = 1800.0
BUILD_TIMEOUT_S = 1200.0


class DockerImageError(Exception):
    """An image could not be built: the message says which step failed and why."""


class ToolMissingError(DockerImageError, FileNotFoundError):
    """A host tool needed to build the images is not installed."""


@dataclass(frozen=True)
class BuildReport:
    base_image: str
    suite_image: str
    base_cached: bool
    suite_cached: bool
    base_s: float
    suite_s: float


# --- pure parts ----------------------------------------------------------------------------


def mirror_from_sources(texts: Iterable[str], suite: str = SUITE) -> str | None:
    """The first ``deb`` mirror that serves ``suite`` in apt sources (one-line or deb822)."""
    for text in texts:
        found = _one_line_mirror(text, suite) or _deb822_mirror(text, suite)
        if found:
            return found
    return None


def _one_line_mirror(text: str, suite: str) -> str | None:
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            return words[1]
    return None


def _deb822_mirror(text: str, suite: str) -> str | None:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith(("#", " ", "\t")):
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            if fields.get("enabled", "yes").lower() == "no":
                continue
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return None


def source_hash(root: Path, extra: Iterable[bytes] = ()) -> str:
    """A stable digest of everything that goes into the suite image."""
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item + b"\0")
    return digest.hexdigest()[:16]


def _source_files(root: Path) -> Iterator[Path]:
    for name in SOURCE_FILES:
        if (root / name).is_file():
            yield root / name
    for top in SOURCE_DIRS:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


# --- shell ---------------------------------------------------------------------------------


def host_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this host's apt uses (or ``$KILLSWITCH_DEBIAN_MIRROR``)."""
    override = os.environ.get(MIRROR_ENV)
    if override:
        return override
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    wanted = [p for p in files if p.is_file() and p.suffix in (".list", ".sources")]
    texts = [p.read_text(errors="replace") for p in wanted]
    mirror = mirror_from_sources(texts)
    if mirror is None:
        raise DockerImageError(
            f"no Debian {SUITE} mirror in {apt_dir}/sources.list*: set {MIRROR_ENV}"
        )
    return mirror


def image_id(tag: str) -> str | None:
    """The engine's id for ``tag``, or None when it does not have that image."""
    done = _run(["docker", "image", "inspect", "--format", "{{.Id}}", tag], check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def ensure_base_image(tag: str = BASE_IMAGE) -> bool:
    """Make sure the engine has the base image. Returns True if it was already there."""
    if image_id(tag) is not None:
        return True
    if shutil.which("debootstrap") is None:
        raise ToolMissingError("debootstrap is not installed (Debian package: debootstrap)")
    if os.geteuid() != 0:
        raise ToolMissingError(f"building {tag} needs root (debootstrap makes device nodes)")
    mirror = host_mirror()
    with tempfile.TemporaryDirectory(prefix="killswitch-rootfs-", dir="/var/tmp") as scratch:
        rootfs = Path(scratch) / "rootfs"
        include = f"--include={','.join(ROOTFS_PACKAGES)}"
        argv = ["debootstrap", "--variant=minbase", include, SUITE, str(rootfs), mirror]
        _run(argv, timeout=DEBOOTSTRAP_TIMEOUT_S)
        _import_rootfs(rootfs, tag)
    return False


def _import_rootfs(rootfs: Path, tag: str) -> None:
    """``tar -C rootfs -c . | docker import - tag`` without a shell."""
    with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
        assert tar.stdout is not None
        imported = subprocess.run(
            ["docker", "import", "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        tar.stdout.close()
    if tar.returncode != 0 or imported.returncode != 0:
        raise DockerImageError(f"docker import {tag} failed: {imported.stderr.strip()}")


def suite_tag(base_id: str) -> str:
    dockerfile = DOCKERFILE.read_bytes()
    return f"{SUITE_REPOSITORY}:{source_hash(REPO_ROOT, [dockerfile, base_id.encode()])}"


def ensure_suite_image(base: str = BASE_IMAGE) -> tuple[str, bool]:
    """Build the suite image for the current source unless the engine has it already."""
    base_id = image_id(base)
    if base_id is None:
        raise DockerImageError(f"base image {base} is missing: build it first")
    tag = suite_tag(base_id)
    if image_id(tag) is not None:
        return tag, True
    with tempfile.TemporaryDirectory(prefix="killswitch-build-") as scratch:
        context = Path(scratch)
        shutil.copy(DOCKERFILE, context / "Dockerfile")
        _run(
            # The client first: the suite depends on it, and it comes from this checkout.
            [sys.executable, "-m", "pip", "wheel", "--quiet", *SUITE_SOURCES, "-w", "wheels"],
            cwd=context,
            timeout=BUILD_TIMEOUT_S,
        )
        _run(
            ["docker", "build", "--quiet", "--build-arg", f"BASE={base}", "-t", tag, "."],
            cwd=context,
            timeout=BUILD_TIMEOUT_S,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},  # legacy builder: no BuildKit image
        )
    _run(["docker", "tag", tag, f"{SUITE_REPOSITORY}:latest"])
    _remove_stale_suite_images(keep=tag)
    return tag, False


def _remove_stale_suite_images(keep: str) -> None:
    """Drop suite images of older source trees, so a long-lived engine does not fill its disk."""
    listed = _run(["docker", "images", SUITE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"])
    stale = [t for t in listed.stdout.split() if t not in (keep, f"{SUITE_REPOSITORY}:latest")]
    if stale:
        _run(["docker", "rmi", *stale], check=False)  # one still in use stays: harmless


def ensure_images() -> BuildReport:
    """Both images, built or reused, with how long each step took."""
    started = time.monotonic()
    base_cached = ensure_base_image()
    base_done = time.monotonic()
    suite, suite_cached = ensure_suite_image()
    return BuildReport(
        base_image=BASE_IMAGE,
        suite_image=suite,
        base_cached=base_cached,
        suite_cached=suite_cached,
        base_s=round(base_done - started, 1),
        suite_s=round(time.monotonic() - base_done, 1),
    )


def _run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    timeout: float = 120.0,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        raise ToolMissingError(f"{argv[0]} is not installed")
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise DockerImageError(f"{' '.join(argv[:3])} ... took longer than {timeout} s") from None
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise DockerImageError(f"{' '.join(argv[:3])} ... failed: {' | '.join(tail)}")
    return done


def main() -> int:
    try:
        report = ensure_images()
    except DockerImageError as exc:
        print(f"docker_images: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
