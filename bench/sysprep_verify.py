"""How long `sysprep.api.verify` takes: the trader runs it at start, the watchdog periodically.

Runs against a fake 2-CPU host tree (so the figures do not depend on this machine's tuning) and,
read only, against this host. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench._stats import summary
from harness.fakehost import make_host
from sysprep import api
from sysprep.profile import Profile


def _sample(profile: Profile, root: Path, runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        api.verify(profile, root, role=None)
        took.append((time.perf_counter() - start) * 1e6)
    return sorted(took)


def _figures(prefix: str, took: list[float]) -> dict[str, float]:
    return summary(took, prefix, "us", digits=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    runs = 20 if parser.parse_args().quick else 300
    profile = api.load_profile("latency")
    with tempfile.TemporaryDirectory() as directory:
        fake = _sample(profile, make_host(Path(directory) / "root"), runs)
    real = _sample(profile, Path("/"), runs)
    print(json.dumps({"runs": runs, **_figures("fake_host", fake), **_figures("this_host", real)}))


if __name__ == "__main__":
    main()
