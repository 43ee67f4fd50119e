"""The client as a bot installs it: a fresh virtual environment with only `./client` (and
then ccxt), the unrelated PyPI package `watchdog` installed beside it, talking to a real
ingress, and the example ccxt bot trading under a real watchdog."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from demo.world import World
from harness.wait import wait_until
from risk.events import OrderEvent
from tests.client.rig import Watchdog
from tests.watchdog.wire import KEY, TRADER
from watchdog.clock import SystemClock

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"

# What a bot does: connect, wait for the watchdog's ack, report an order. Run by the fresh
# environment's interpreter, so nothing of the suite can be imported by accident.
BOT = """
import json, sys, time
import killswitch_client
from killswitch_client import Client, TradingState
client = Client(trader_id=sys.argv[1], address=sys.argv[2], key_file=sys.argv[3])
deadline = time.monotonic() + 60
while client.state is not TradingState.ACTIVE and time.monotonic() < deadline:
    time.sleep(0.01)
state = client.state
client.report_order("SUBMIT", "BTCUSDT", "BUY", 1, 100, order_id=sys.argv[4])
client.close()
heavy = ("aiohttp", "orjson", "psutil", "risk", "prometheus_client", "websockets", "watchdog")
print(json.dumps({
    "state": state.name,
    "loaded": sorted(name for name in heavy if name in sys.modules),
    "file": killswitch_client.__file__,
}))
"""


def run(*args: str | Path, cwd: Path) -> str:
    # Never from the repository's root: the suite's own `watchdog` would shadow PyPI's there.
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False, cwd=cwd
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


async def run_bot(python: Path, watchdog: Watchdog, key: Path, order_id: str) -> dict[str, object]:
    bot = await asyncio.create_subprocess_exec(
        python, "-c", BOT, TRADER, str(watchdog.path), str(key), order_id,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=key.parent,
    )  # fmt: skip
    out, err = await asyncio.wait_for(bot.communicate(), 120)
    assert bot.returncode == 0, err.decode()
    report: dict[str, object] = json.loads(out)
    return report


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding the client alone: its interpreter."""
    root = tmp_path_factory.mktemp("fresh")
    wheels, venv = root / "wheels", root / "venv"
    # Built by the suite's environment, installed offline: the client needs nothing else.
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
        "-w", wheels, CLIENT_DIR, cwd=root)  # fmt: skip
    run(sys.executable, "-m", "venv", venv, cwd=root)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels,
        "killswitch-client", cwd=root)  # fmt: skip
    return python


async def test_a_fresh_environment_with_only_the_client_runs_a_bot_beside_pypi_watchdog(
    tmp_path: Path, fresh_python: Path
) -> None:
    watchdog = Watchdog(tmp_path / "wd.sock", SystemClock())  # the bot stamps real time
    ingress = await watchdog.start()
    try:
        await _beside_pypi_watchdog(tmp_path, fresh_python, watchdog)
    finally:
        await ingress.close()


async def _beside_pypi_watchdog(tmp_path: Path, python: Path, watchdog: Watchdog) -> None:
    key = tmp_path / "bot.key"
    key.write_text(KEY.hex())
    key.chmod(0o600)
    venv = python.parents[1]
    alone = await run_bot(python, watchdog, key, "fresh-1")
    assert alone["state"] == "ACTIVE"
    assert alone["loaded"] == []  # standard library only: no daemon dependency came along
    assert str(alone["file"]).startswith(str(venv))

    # The unrelated filesystem-events package of the same name as the suite's daemon.
    run(python, "-m", "pip", "install", "-q", "watchdog", cwd=tmp_path)
    run(python, "-c", "import watchdog.observers, watchdog.events", cwd=tmp_path)
    beside = await run_bot(python, watchdog, key, "fresh-2")
    assert beside["state"] == "ACTIVE"
    ids = [e.order_id for e in watchdog.of(OrderEvent) if isinstance(e, OrderEvent)]
    assert ids == ["fresh-1", "fresh-2"]


def test_the_example_ccxt_bot_trades_under_a_real_watchdog_from_a_client_and_ccxt_environment(
    tmp_path: Path, fresh_python: Path
) -> None:
    run(fresh_python, "-m", "pip", "install", "-q", "ccxt", cwd=tmp_path)
    with World() as world:
        world.start_sim()
        world.write_credentials()
        world.start_watchdog()
        world.start_ccxt_bot(python=str(fresh_python))
        world.wait_armed()  # the watchdog knows the bot's process and hears its telemetry
        wait_until(lambda: world.open_orders(), what="the bot's bids resting at the venue")
        wait_until(
            lambda: world.bot_status().get("state") == "ACTIVE", what="the bot's client ACTIVE"
        )
        assert world.trader_status()["state"] == "ACTIVE"  # its orders were all reported
