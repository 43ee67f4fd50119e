"""The real daemon plus one test-only kill action that verifies only once a gate file exists.

    python -m harness.gated_watchdog --config watchdog.toml --gate FILE

It lets a test kill the watchdog with -9 while a kill pipeline is provably unfinished, then
restart it and watch the pipeline resume. The action is registered through the same factory
list the venue actions use.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from watchdog import logs
from watchdog.daemon.config import load_config
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill import KillAction, KillContext
from watchdog.daemon.kill.actions import DEFAULT_FACTORIES
from watchdog.daemon.server import WatchdogServer


class GateAction:
    name = "test_gate"

    def __init__(self, gate: Path) -> None:
        self._gate = gate

    async def attempt(self) -> str:
        if not self._gate.exists():
            raise KillStepError(f"gate {self._gate.name} closed")
        return "gate open"

    async def verify(self) -> bool:
        return self._gate.exists()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--gate", type=Path, required=True)
    args = parser.parse_args()
    config = load_config(args.config)

    def gate_factory(context: KillContext) -> KillAction | None:
        return GateAction(args.gate)

    logs.configure(config.log_level)
    server = WatchdogServer(config, factories=(*DEFAULT_FACTORIES, gate_factory))
    raise SystemExit(asyncio.run(server.serve()))


if __name__ == "__main__":
    main()
