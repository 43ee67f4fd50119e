"""The client as a bot installs it: a fresh virtual environment with only `./client`, and the
unrelated PyPI package `watchdog` installed beside it, talking to a real ingress."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

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
heavy = ("aiohttp", "orjson", "psutil", "risk", "prometheus_client", "websockets")
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


async def test_a_fresh_environment_with_only_the_client_runs_a_bot_beside_pypi_watchdog(
    tmp_path: Path,
) -> None:
    watchdog = Watchdog(tmp_path / "wd.sock", SystemClock())  # the bot stamps real time
    ingress = await watchdog.start()
    try:
        await _fresh_environment(tmp_path, watchdog)
    finally:
        await ingress.close()


async def _fresh_environment(tmp_path: Path, watchdog: Watchdog) -> None:
    key = tmp_path / "bot.key"
    key.write_text(KEY.hex())
    key.chmod(0o600)
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    # Built by the suite's environment, installed offline: the client needs nothing else.
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
        "-w", wheels, CLIENT_DIR, cwd=tmp_path)  # fmt: skip
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels,
        "killswitch-client", cwd=tmp_path)  # fmt: skip
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
