"""``python -m demo.write_config DIR``: the secrets of a local world, written into ``DIR``.

The example configs (``examples/*.toml``) name their secrets relatively, under
``examples/local/``, so after ``python -m demo.write_config examples/local`` the sim, the
watchdog and the trader of the README run against each other on this machine. Git cannot keep
a file's mode 0600, so secrets are generated here and never committed.

The venue keys are the sim world's (``--sim-config``, or the sim's built-in world, which is
``examples/sim.toml``); the telemetry HMAC key is fresh. Nothing is overwritten: a second run
into the same folder is refused, so a running trader and watchdog never lose their shared key
under them.

Exit codes: 0 written, 1 refused (a file exists, the sim config is invalid), 2 usage.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from demo import configs
from exchange_sim.config import load_config

PROG = "python -m demo.write_config"
HMAC_KEY_BYTES = 32


def secret_files(keys: configs.WorldKeys, hmac_key_hex: str) -> dict[str, tuple[str, int]]:
    """File name -> (text, mode). Which part reads which file:

    the trader: ``trader-venue.cred`` (its venue key; the watchdog revokes this file on a
    kill) and ``trader-hmac.key``; the watchdog: ``trader-hmac.key``, its own two keys
    ``watchdog-account.cred`` and ``watchdog-master.cred``, and ``trader-key-id`` (the
    trader's key id, no secret) to delete at the venue.
    """
    venue = "binance"  # the example configs' venue: their key files carry no passphrase
    return {
        "trader-hmac.key": (hmac_key_hex + "\n", 0o600),
        "trader-venue.cred": (configs.credentials_toml(keys.trader, venue), 0o600),
        "watchdog-account.cred": (configs.credentials_toml(keys.watchdog, venue), 0o600),
        "watchdog-master.cred": (configs.credentials_toml(keys.master, venue), 0o600),
        "trader-key-id": (configs.credentials_toml(keys.trader, venue, with_secret=False), 0o600),
    }


def write(directory: Path, files: dict[str, tuple[str, int]]) -> list[Path]:
    """Create every file with its mode from the start (never readable by others, even
    briefly); refuse before writing anything when one already exists."""
    taken = [directory / name for name in files if (directory / name).exists()]
    if taken:
        raise FileExistsError(
            f"{taken[0]}: already exists; remove {directory} to generate a new world "
            "(then restart the watchdog and the trader: they share the new HMAC key)"
        )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for name, (text, mode) in files.items():
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Write the secrets the example configs reference."
    )
    parser.add_argument("directory", type=Path, help="where to write them (examples/local)")
    parser.add_argument(
        "--sim-config",
        type=Path,
        default=None,
        help="the sim world whose keys to use (default: the sim's built-in world)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        keys = configs.keys_of(load_config(args.sim_config))
        written = write(args.directory, secret_files(keys, secrets.token_hex(HMAC_KEY_BYTES)))
    except (ValueError, OSError) as exc:  # a bad sim world; a file exists or cannot be written
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    for path in written:
        sys.stdout.write(f"wrote {path} ({path.stat().st_mode & 0o777:04o})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
