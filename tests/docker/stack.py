"""The tier-2 world: exchange_sim, the watchdog and the trader, each in its own container.

Three user-defined networks, so each link can be cut alone, as between separate hosts:

    venue-t   sim <-> trader      the trader's market data and order entry
    venue-w   sim <-> watchdog    the watchdog's own path to the venue (its independent view)
    telemetry trader <-> watchdog heartbeats and telemetry over UDP, acks back

The trader reaches the watchdog by its container name and UDP port, which only resolves on the
telemetry network: disconnecting the trader from it is a partition between the two. The sim's
venue API and its admin API (through a relay: the sim binds admin to loopback) are published
on the host's loopback, so the tests read the venue's truth from outside, as an auditor would.

Liveness across containers: there is no shared pid namespace, so the watchdog cannot watch the
trader's pid, and its ``stop_process`` / ``revoke_credential`` actions could not reach the
trader's container. The watchdog here sees death and hangs by heartbeat deadline only, and its
kill is what it does on the venue with its own keys: cancel every order, sweep, delete the
trader's key. Those are what the scenarios verify.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException
from testcontainers.core.network import Network

from harness.configs import (
    BTCUSDT_QUOTE,
    TraderConfig,
    VenueLink,
    WatchdogConfig,
    WatchedTrader,
    credentials_toml,
)
from harness.sim import (
    MASTER_KEY,
    TRADER_KEY,
    WATCHDOG_KEY,
    SimAdmin,
    SimConfig,
    SimKey,
    signed_query,
)
from harness.wait import wait_until

CONTAINER_UID = 10001  # the suite image's `killswitch` user (deploy/docker/suite.Dockerfile)
HOME = "/var/lib/killswitch"
RUN = f"{HOME}/run"  # each container's per-test files: configs, keys, state, ready files
VENUE_PORT, ADMIN_PORT, RELAY_PORT, INGRESS_PORT = 8080, 8081, 8082, 9109
TRADER_ID = "mm1"
SIM_ACCOUNT = "trader1"
SIM_EMAIL = "trader1@sub.sim"
SYMBOL = "BTCUSDT"
HMAC_KEY = bytes(range(100, 140)).hex()
DEADLINE_S = 60.0  # generous: two shared cores, three containers

# Short intervals so a test sees each escalation in seconds. The trader fails closed after
# 1 s without an ack; the watchdog kills after 3 s without a heartbeat, so the trader's own
# cancels come first when only the link between them is cut.
HEARTBEAT_INTERVAL_S = 0.1
SILENCE_TIMEOUT_S = 1.0
KILL_AFTER_S = 3.0
STALE_AFTER_S = 2.0  # the watchdog halts once the trader reports a feed older than this

LIMITS = f"""
profile = "standard"

[heartbeat]
interval_s = {HEARTBEAT_INTERVAL_S}
warn_after_s = 0.6
halt_after_s = 1.2
kill_after_s = {KILL_AFTER_S}
cooldown_s = 0.5

[stale_data]
max_age_s = {STALE_AFTER_S}
cooldown_s = 0.5

[consecutive_losses]
max_count = 1000
pause_s = 1.0

[order_rate]
windows = [{{ seconds = 1.0, max_orders = 100 }}]
kill_after_s = 10.0
cooldown_s = 1.0

# The watchdog restarts its acknowledged-order comparison whenever its user-data stream
# connects, so orders placed before that never read as divergence: a tight tolerance here
# proves it. Open orders and positions are compared exactly.
[divergence]
order_count = 2

[rejects]
max_consecutive = 50
max_ratio_pct = 90
window_s = 60.0
min_sample = 50
cooldown_s = 1.0
"""


def watchdog_toml(sim_host: str) -> str:
    # No pid to watch and no file to revoke across containers: the kill is the venue's part.
    trader = WatchedTrader(
        id=TRADER_ID,
        hmac_key_file=f"{TRADER_ID}.key",
        limits_file="limits.toml",
        stop_process=False,
        revoke_credential=False,
        venue=VenueLink(
            base_url=f"http://{sim_host}:{VENUE_PORT}",
            ws_url=f"ws://{sim_host}:{VENUE_PORT}",
            trader_email=SIM_EMAIL,
            symbols=(SYMBOL,),
        ),
    )
    return WatchdogConfig(
        traders=(trader,), unix_socket=None, udp=f"0.0.0.0:{INGRESS_PORT}", metrics=False
    ).to_toml()


def trader_toml(sim_host: str, watchdog_host: str) -> str:
    # Quotes far from mid: they rest rather than fill, so a test sees the same orders before and
    # after a fault.
    return TraderConfig(
        base_url=f"http://{sim_host}:{VENUE_PORT}",
        ws_url=f"ws://{sim_host}:{VENUE_PORT}",
        watchdog_socket=f"udp://{watchdog_host}:{INGRESS_PORT}",
        trader_id=TRADER_ID,
        key_file=f"{TRADER_ID}.key",
        symbols=(replace(BTCUSDT_QUOTE, symbol=SYMBOL),),
        half_spread_bps=50.0,
        requote_ticks=200,
        heartbeat_interval_s=HEARTBEAT_INTERVAL_S,
        silence_timeout_s=SILENCE_TIMEOUT_S,
        metrics_host=None,
    ).to_toml()


def sim_config() -> SimConfig:
    return SimConfig(
        book_ticker_hz=10.0,
        volatility_bps=1.5,
        orders_per_10s=5000,
        orders_per_minute=30000,
        weight_per_minute=1_000_000,
    )


def key_toml(key: SimKey, *, secret: bool = True) -> str:
    return credentials_toml(key.api_key, key.secret if secret else None)


def run_dir(root: Path, files: Mapping[str, str]) -> Path:
    """``root/run`` holding ``files``, each mode 0600, all owned by the container's user.

    testcontainers copies a directory with ``tarfile``, which keeps owners and modes, so key
    files arrive as the daemons demand them: readable by their owner only.
    """
    run = root / "run"
    run.mkdir(mode=0o700, parents=True)
    os.chown(run, CONTAINER_UID, CONTAINER_UID)
    for name, text in files.items():
        path = run / name
        path.write_text(text)
        path.chmod(0o600)
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
    return run


@dataclass
class Node:
    """One running container of the world."""

    name: str
    container: DockerContainer

    @property
    def raw(self) -> Any:
        return self.container.get_wrapped_container()

    def exec(self, *argv: str) -> tuple[int, str, str]:
        result = self.raw.exec_run(list(argv), demux=True)
        out, err = result.output
        return int(result.exit_code), (out or b"").decode(), (err or b"").decode()

    def has_file(self, path: str) -> bool:
        return self.exec("test", "-s", path)[0] == 0

    def running(self) -> bool:
        self.raw.reload()
        return bool(self.raw.status == "running")

    def logs(self, lines: int = 40) -> str:
        return str(self.raw.logs(tail=lines).decode(errors="replace"))


class Stack:
    """Build it with :func:`stack`; every container and network is removed at the end."""

    def __init__(self, image: str, client: Any, root: Path) -> None:
        self.image = image
        self.client = client
        self.root = root
        tag = uuid.uuid4().hex[:8]
        self.names = {role: f"ks-{role}-{tag}" for role in ("sim", "watchdog", "trader")}
        self.nets: dict[str, Network] = {}
        self.nodes: dict[str, Node] = {}
        self.admin: SimAdmin | None = None
        self.venue_url = ""

    # -- building --------------------------------------------------------------------------

    def _start(
        self, role: str, command: str, files: Mapping[str, str], nets: Mapping[str, str]
    ) -> tuple[Node, DockerContainer]:
        """Start ``command`` (a shell line) in a container on every network of ``nets``
        (network key -> alias there; "" for none: the container's name resolves anyway).

        The engine (API 1.41) joins one network at creation, so the process waits behind a
        start gate until the others are connected: it resolves its peers at once.
        """
        run = run_dir(self.root / role, files)
        gate = f"{RUN}/.go"
        keys = list(nets)
        first = self.nets[keys[0]]
        spec = (
            DockerContainer(self.image)
            .with_name(self.names[role])
            .with_command(["sh", "-c", f"until [ -e {gate} ]; do sleep 0.05; done; {command}"])
            .with_network(first)
            .with_copy_into_container(run, HOME)
        )
        if nets[keys[0]]:
            spec.with_network_aliases(nets[keys[0]])
        if role == "sim":
            spec.with_exposed_ports(VENUE_PORT, RELAY_PORT)
        node = Node(self.names[role], spec)
        self.nodes[role] = node
        spec.start()
        for key in keys[1:]:
            self.connect(role, key, nets[key] or None)
        return node, spec

    def _open_gate(self, role: str) -> None:
        code, _, err = self.nodes[role].exec("touch", f"{RUN}/.go")
        assert code == 0, f"{role}: start gate: {err}"

    def start_sim(self) -> None:
        files = {"sim.toml": sim_config().to_toml(), "admin_relay.py": _relay_source()}
        command = (
            f"python3 {RUN}/admin_relay.py {RELAY_PORT} {ADMIN_PORT} & "
            f"exec exchange-sim --host 0.0.0.0 --port {VENUE_PORT} --admin-port {ADMIN_PORT} "
            f"--config {RUN}/sim.toml --ready-file {RUN}/sim.ready"
        )
        node, spec = self._start("sim", command, files, {"venue_t": "sim", "venue_w": "sim"})
        host = spec.get_container_host_ip()
        self.venue_url = f"http://{host}:{spec.get_exposed_port(VENUE_PORT)}"
        self.admin = SimAdmin(f"http://{host}:{spec.get_exposed_port(RELAY_PORT)}")
        self._open_gate("sim")
        wait_until(lambda: node.has_file(f"{RUN}/sim.ready"), DEADLINE_S, "sim ready")
        wait_until(self._admin_answers, DEADLINE_S, "sim admin API through the published port")

    def _admin_answers(self) -> bool:
        try:
            return bool(self.venue.journal(limit=1) is not None)
        except (OSError, RuntimeError):
            return False

    def start_daemons(self) -> None:
        """Watchdog and trader start together, as on two hosts booting: the watchdog counts
        its own start as a heartbeat, so a trader that came up seconds later would already be
        past the kill deadline."""
        watchdog = self._create_watchdog()
        trader = self._create_trader()
        self._open_gate("watchdog")
        self._open_gate("trader")
        wait_until(lambda: self._armed(watchdog), DEADLINE_S, "watchdog armed")

        def ready() -> bool:
            assert trader.running(), f"trader exited\n{trader.logs()}"
            return trader.has_file(f"{RUN}/trader.ready")

        wait_until(ready, DEADLINE_S, "trader ready")

    def _create_watchdog(self) -> Node:
        files = {
            "watchdog.toml": watchdog_toml("sim"),
            "limits.toml": LIMITS,
            f"{TRADER_ID}.key": HMAC_KEY,
            "watchdog-account.cred": key_toml(WATCHDOG_KEY),
            "watchdog-master.cred": key_toml(MASTER_KEY),
            "trader-key-id": key_toml(TRADER_KEY, secret=False),
        }
        command = f"exec watchdog run --config {RUN}/watchdog.toml"
        return self._start("watchdog", command, files, {"venue_w": "", "telemetry": ""})[0]

    def _armed(self, node: Node) -> bool:
        assert node.running(), f"watchdog exited\n{node.logs()}"
        return node.exec(*self._wd_cli("status", "--json"))[0] in (0, 3)  # 3: not all ACTIVE

    def _create_trader(self) -> Node:
        files = {
            "trader.toml": trader_toml("sim", self.names["watchdog"]),
            "limits.toml": LIMITS,
            f"{TRADER_ID}.key": HMAC_KEY,
            "venue.key": key_toml(TRADER_KEY),
        }
        command = f"exec trader run --config {RUN}/trader.toml --ready-file {RUN}/trader.ready"
        return self._start("trader", command, files, {"venue_t": "", "telemetry": ""})[0]

    # -- the venue's truth (published ports on the host) ------------------------------------

    @property
    def venue(self) -> SimAdmin:
        assert self.admin is not None
        return self.admin

    def open_orders(self) -> list[dict[str, Any]]:
        return self.venue.open_orders(SIM_ACCOUNT)

    def quoting(self) -> bool:
        return {o["side"] for o in self.open_orders()} == {"BUY", "SELL"}

    def trader_key_deleted(self) -> bool:
        return bool(self.venue.key_status(TRADER_KEY.api_key)["status"] == "deleted")

    def trader_key_refused(self) -> int | None:
        """The venue's code for a signed read with the trader's key (-2015: refused)."""
        query = signed_query(TRADER_KEY, {})
        request = urllib.request.Request(
            f"{self.venue_url}/fapi/v2/balance?{query}",
            headers={"X-MBX-APIKEY": TRADER_KEY.api_key},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                resp.read()
                return None
        except urllib.error.HTTPError as exc:
            return int(json.loads(exc.read())["code"])

    def trader_requests(self, since: int) -> list[dict[str, Any]]:
        """Requests that reached the venue with the trader's key after journal ``since``."""
        return [
            e
            for e in self.venue.journal(since=since)
            if e["kind"] == "request" and e["api_key"] == TRADER_KEY.api_key
        ]

    # -- the watchdog (its CLI inside its container; its SQLite copied out) -------------------

    def _wd_cli(self, *args: str) -> list[str]:
        return ["watchdog", *args, "--config", f"{RUN}/watchdog.toml"]

    def watchdog_status(self) -> dict[str, Any]:
        code, out, err = self.nodes["watchdog"].exec(*self._wd_cli("status", "--json"))
        assert code in (0, 3), f"watchdog status: {err.strip()}"  # 3 answers: not all ACTIVE
        traders = json.loads(out)["traders"]
        return dict(next(t for t in traders if t["id"] == TRADER_ID))

    def watchdog_state(self) -> str:
        return str(self.watchdog_status()["state"])

    def audit(self) -> list[dict[str, Any]]:
        """``watchdog audit --json``: one indented JSON object per entry."""
        code, out, err = self.nodes["watchdog"].exec(*self._wd_cli("audit", "--json"))
        assert code == 0, f"watchdog audit: {err.strip()}"
        decoder, entries, at = json.JSONDecoder(), [], 0
        while (at := _skip_space(out, at)) < len(out):
            entry, at = decoder.raw_decode(out, at)
            entries.append(entry)
        return entries

    def kill_finished(self) -> bool:
        kill = self.watchdog_status().get("kill")
        return bool(kill and kill.get("finished"))

    def watchdog_db(self) -> WatchdogRecord:
        """The watchdog's SQLite state, copied out of its container (WAL included)."""
        stream, _ = self.nodes["watchdog"].raw.get_archive(f"{RUN}/state")
        target = self.root / "watchdog-state-copy"
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            tar.extractall(target, filter="data")
        return WatchdogRecord.read(target / "state" / "watchdog.sqlite3")

    # -- faults ----------------------------------------------------------------------------

    def pause(self, role: str) -> None:
        self.nodes[role].raw.pause()

    def unpause(self, role: str) -> None:
        self.nodes[role].raw.unpause()

    def kill(self, role: str) -> None:
        self.nodes[role].raw.kill()  # SIGKILL to the container's init: the process dies

    def disconnect(self, role: str, net: str) -> None:
        self.client.networks.get(self.nets[net].id).disconnect(self.nodes[role].raw.id)

    def connect(self, role: str, net: str, alias: str | None = None) -> None:
        self.nets[net].connect(self.nodes[role].raw.id, [alias] if alias else None)

    # -- teardown --------------------------------------------------------------------------

    def diagnostics(self) -> str:
        parts = []
        for role, node in self.nodes.items():
            try:
                parts.append(f"--- {role} ({node.name})\n{node.logs(25)}")
            except ContainerStartException:
                parts.append(f"--- {role} ({node.name}): never started")
        return "\n".join(parts)

    def close(self) -> None:
        for node in reversed(list(self.nodes.values())):
            with contextlib.suppress(Exception):  # best effort: a container may be gone
                node.container.stop()
        for net in self.nets.values():
            with contextlib.suppress(Exception):
                net.remove()


@dataclass(frozen=True)
class WatchdogRecord:
    """What the watchdog made durable: the latch, the kills and their steps, the audit."""

    latched: bool
    latch_reason: str
    kills: tuple[dict[str, Any], ...]
    steps: dict[str, str]  # step -> status, for the latest kill
    audit_kinds: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> WatchdogRecord:
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        try:
            row = db.execute(
                "SELECT latched, latch_reason FROM traders WHERE trader = ?", (TRADER_ID,)
            ).fetchone()
            kills = tuple(dict(r) for r in db.execute("SELECT * FROM kills ORDER BY started_ts"))
            steps: dict[str, str] = {}
            if kills:
                query = "SELECT step, status FROM kill_steps WHERE kill_id = ?"
                steps = {r["step"]: r["status"] for r in db.execute(query, (kills[-1]["kill_id"],))}
            kinds = tuple(r["kind"] for r in db.execute("SELECT kind FROM audit ORDER BY id"))
        finally:
            db.close()
        latched = bool(row and row["latched"])
        return cls(latched, row["latch_reason"] if row else "", kills, steps, kinds)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _relay_source() -> str:
    return (Path(__file__).parent / "admin_relay.py").read_text()


@contextlib.contextmanager
def stack(image: str, client: Any, root: Path) -> Iterator[Stack]:
    """A running world: the sim, then the watchdog and the trader together."""
    world = Stack(image, client, root)
    try:
        for key in ("venue_t", "venue_w", "telemetry"):
            world.nets[key] = Network().create()
        world.start_sim()
        world.start_daemons()
        yield world
    except BaseException as exc:
        exc.add_note(world.diagnostics())  # pytest shows the containers' last words
        raise
    finally:
        world.close()
