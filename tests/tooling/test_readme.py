"""The README's commands work as written, in order, on a fresh copy of the repository.

Every line of every ``sh`` block in README.md is one command. Each is either run (in a copy of
the files git tracks, so nothing generated in this checkout helps it, with this test's
virtual environment first on PATH, as ``. .venv/bin/activate`` would put it) or listed in
``SKIPPED_BY_DESIGN`` with the reason; a command the test does not know fails it, so a new
README command is never silently left untested.

Long-running parts start in the background and are stopped at the end (each must exit 0 on
SIGTERM); every other command must exit as the README says. Two changes from the README: its
fixed ports (the simulator's, the metrics') become free ports in the copy, so runs on a shared
machine cannot collide; and the production maintenance commands, written for the installed
config, run against the example world's config.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.wait import wait_until
from risk.limits import limits_from_mapping

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FIXED_PORTS = ("8080", "8081", "9108", "9110")  # sim REST, sim admin, watchdog and trader metrics
COMMAND_S = 120.0  # generous: a cold start imports everything on a busy machine
STOP_S = 30.0

SKIPPED_BY_DESIGN = {
    "make demo": "runs `python -m demo`, which tests/demo/test_demo.py runs scenario by scenario",
    "make test": "the whole suite, this test included: it would run itself",
    ". .venv/bin/activate": "a shell builtin for an interactive shell: the test puts the same "
    "bin directory (its own interpreter's) first on PATH",
    "systemctl": "needs a booted systemd and root, which the test machines do not have",
}


@dataclass(frozen=True)
class Command:
    line: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.line, comments=True)

    def starts_with(self, prefix: str) -> bool:
        return self.argv[: len(prefix.split())] == prefix.split()


def readme_commands(text: str) -> list[Command]:
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    lines = (line.strip() for block in blocks for line in block.splitlines())
    return [Command(line) for line in lines if line and not line.startswith("#")]


def skip_reason(command: Command) -> str | None:
    return next((why for p, why in SKIPPED_BY_DESIGN.items() if command.starts_with(p)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _with_free_ports(text: str, ports: dict[str, str]) -> str:
    return re.sub(rf"\b({'|'.join(ports)})\b", lambda m: ports[m.group(1)], text)


def fresh_copy(dest: Path) -> Path:
    """The files git tracks (a clone's), without anything generated in this checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # a file deleted in the work tree but not yet in the index: gone
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@dataclass
class Background:
    command: Command
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class World:
    """The copy, its environment, and the background parts started in it."""

    def __init__(self, root: Path, ports: dict[str, str]) -> None:
        self.root = root
        self.ports = ports
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        self.env.pop("NOTIFY_SOCKET", None)
        self.parts: list[Background] = []

    def argv(self, command: Command) -> list[str]:
        return shlex.split(_with_free_ports(command.line, self.ports), comments=True)

    def run(self, command: Command) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command), cwd=self.root, env=self.env, capture_output=True, text=True,
            timeout=COMMAND_S, check=False,
        )  # fmt: skip

    def start(self, command: Command) -> Background:
        log = self.root / f"part-{len(self.parts)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                self.argv(command), cwd=self.root, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        part = Background(command, proc, log)
        self.parts.append(part)
        return part

    def stop(self) -> dict[str, int]:
        """SIGTERM in the reverse order of starting (trader, watchdog, sim): their exit codes."""
        codes: dict[str, int] = {}
        for part in reversed(self.parts):
            if part.proc.poll() is None:
                part.proc.send_signal(signal.SIGTERM)
            try:
                codes[part.command.line] = part.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(part.proc.pid, signal.SIGKILL)
                part.proc.wait()
                codes[part.command.line] = -signal.SIGKILL
        return codes


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    root = fresh_copy(tmp_path / "clone")
    ports = {fixed: str(_free_port()) for fixed in FIXED_PORTS}
    for example in (root / "examples").glob("*.toml"):
        example.write_text(_with_free_ports(example.read_text(), ports))
    world = World(root, ports)
    try:
        yield world
    finally:
        world.stop()


def _alive(part: Background) -> None:
    assert part.proc.poll() is None, f"{part.command.line} exited early:\n{part.tail()}"


def _wait_for_sim(world: World) -> None:
    def listening() -> bool:
        _alive(world.parts[-1])
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", int(world.ports["8080"]))) == 0

    wait_until(listening, within=COMMAND_S, what="exchange-sim listening")


def _wait_for_watchdog(world: World) -> None:
    def control_socket() -> bool:
        _alive(world.parts[-1])
        return (world.root / "examples" / "local" / "control.sock").exists()

    wait_until(control_socket, within=COMMAND_S, what="the watchdog's control socket")


def _status_shows_the_trader_active(world: World, command: Command) -> None:
    def active() -> bool:
        for part in world.parts:
            _alive(part)
        out = world.run(command).stdout
        return "ARMED" in out and "trader-1: ACTIVE" in out

    wait_until(active, within=COMMAND_S, what="`watchdog status`: ARMED and trader-1 ACTIVE")


def _start_sim(world: World, command: Command) -> None:
    world.start(command)
    _wait_for_sim(world)


def _start_watchdog(world: World, command: Command) -> None:
    world.start(command)
    _wait_for_watchdog(world)


def _start_trader(world: World, command: Command) -> None:
    world.start(command)  # `watchdog status` waits for it to report


Step = Callable[[World, Command], None]
INSTALLED_CONFIG = "/etc/killswitch/watchdog.toml"  # where deploy/install.sh (root) puts it
EXAMPLE_CONFIG = "examples/watchdog.toml"


def _exits(check: Callable[[subprocess.CompletedProcess[str]], bool]) -> Step:
    def step(world: World, command: Command) -> None:
        result = world.run(command)
        output = f"{result.stdout}\n{result.stderr}"
        assert check(result), f"{command.line}: exit {result.returncode}\n{output}"

    return step


def _on_the_example_world(step: Step) -> Step:
    """A production command, run against the README's local world: only the installed
    config's path (deploy/install.sh, as root) becomes the example's."""

    def run(world: World, command: Command) -> None:
        line = command.line.replace(INSTALLED_CONFIG, EXAMPLE_CONFIG)
        assert line != command.line, f"{command.line}: does not name {INSTALLED_CONFIG}"
        step(world, Command(line))

    return run


# Each runnable command of the README by its first words, and how it must behave.
STEPS: dict[str, Step] = {
    "python -m demo.write_config": _exits(
        lambda r: r.returncode == 0 and r.stdout.count("(0600)") == 5
    ),
    "exchange-sim": _start_sim,
    "watchdog check-config": _exits(
        lambda r: r.returncode == 0 and "trader-1" in r.stdout  # names what it checked
    ),
    "watchdog run": _start_watchdog,
    "trader run": _start_trader,
    "watchdog status": _status_shows_the_trader_active,
    # exit 0 nothing to do, 2 changes pending (1 would be an error)
    "sysprep plan": _exits(lambda r: r.returncode in (0, 2) and "plan:" in r.stdout),
    "watchdog maintenance start": _on_the_example_world(
        _exits(lambda r: r.returncode == 0 and "trader-1: in maintenance until" in r.stdout)
    ),
    "watchdog maintenance end": _on_the_example_world(
        _exits(lambda r: r.returncode == 0 and "trader-1: maintenance ended" in r.stdout)
    ),
}


def _step(command: Command) -> Step | None:
    return next((step for p, step in STEPS.items() if command.starts_with(p)), None)


def test_the_readme_names_only_commands_this_test_knows() -> None:
    commands = readme_commands(README.read_text())
    unknown = [c.line for c in commands if skip_reason(c) is None and _step(c) is None]
    assert unknown == [], "add each to STEPS or SKIPPED_BY_DESIGN"
    assert {p for p in STEPS if not any(c.starts_with(p) for c in commands)} == set()


def test_the_readme_limits_example_is_valid_limits() -> None:
    blocks = re.findall(r"^```toml\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    limits = limits_from_mapping(tomllib.loads(blocks[0]), "README.md")
    assert limits.drawdown.hard.pct == 12


def test_every_readme_command_works_as_written_in_a_fresh_copy(world: World) -> None:
    for command in readme_commands(README.read_text()):
        step = _step(command)
        if step is not None:
            step(world, command)
    assert [p.command.argv[0] for p in world.parts] == ["exchange-sim", "watchdog", "trader"]
    # Healthy all along, through the maintenance window: the trader is ACTIVE again after it.
    _status_shows_the_trader_active(world, Command("watchdog status --config " + EXAMPLE_CONFIG))
    codes = world.stop()  # an orderly stop on SIGTERM: exit 0 for each
    assert codes == dict.fromkeys(codes, 0), {p.command.line: p.tail() for p in world.parts}
