"""Tier-2 smoke test: two suite containers talk over UDP and TCP by service name, and the
faults the real scenarios use (``docker pause``, ``docker network disconnect``) cut them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

pytestmark = pytest.mark.docker

DEADLINE_S = 60.0
UDP_PORT, TCP_PORT = 9999, 9998

# Runs in the "server" container: echo UDP and TCP with a prefix, so a reply proves the path.
SERVER = f"""
import socket, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", {UDP_PORT}))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(b"udp:" + data, peer)
threading.Thread(target=udp, daemon=True).start()
server = socket.create_server(("0.0.0.0", {TCP_PORT}))
while True:
    conn, _ = server.accept()
    with conn:
        conn.sendall(b"tcp:" + conn.recv(65536))
"""

# Runs in the "client" container: exit 0 only when the echo came back in time.
PROBE = """
import socket, sys
proto, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.sendto(b"ping", (host, port))
        reply = s.recv(100)
    else:
        s = socket.create_connection((host, port), timeout)
        s.settimeout(timeout)
        s.sendall(b"ping")
        reply = s.recv(100)
except OSError as exc:
    print(type(exc).__name__, exc)
    sys.exit(1)
sys.exit(0 if reply == proto.encode() + b":ping" else 2)
"""


def probe(client: DockerContainer, proto: str, timeout_s: float = 2.0) -> bool:
    port = UDP_PORT if proto == "udp" else TCP_PORT
    argv = ["python3", "-c", PROBE, proto, "server", str(port), str(timeout_s)]
    exit_code, _ = client.get_wrapped_container().exec_run(argv)
    return bool(exit_code == 0)


def wait_until_reachable(client: DockerContainer, proto: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not probe(client, proto):
        assert time.monotonic() < deadline, f"{proto} never reached the server"


def container(image: str, network: Network, alias: str, command: list[str]) -> DockerContainer:
    return (
        DockerContainer(image)
        .with_command(command)
        .with_network(network)
        .with_network_aliases(alias)
    )


def test_containers_talk_by_name_and_pause_and_disconnect_cut_them(
    suite_image: str, docker_network: Network, docker_engine: Any
) -> None:
    server_spec = container(suite_image, docker_network, "server", ["python3", "-c", SERVER])
    client_spec = container(suite_image, docker_network, "client", ["sleep", "infinity"])
    with server_spec as server, client_spec as client:
        wait_until_reachable(client, "tcp")
        assert probe(client, "udp")

        server.get_wrapped_container().pause()  # a frozen process: sockets open, no answer
        assert not probe(client, "udp")
        assert not probe(client, "tcp")
        server.get_wrapped_container().unpause()
        wait_until_reachable(client, "udp")

        network = docker_engine.networks.get(docker_network.id)
        network.disconnect(server.get_wrapped_container().id)  # a partition
        assert not probe(client, "udp")
        assert not probe(client, "tcp")
        docker_network.connect(server.get_wrapped_container().id, network_aliases=["server"])
        wait_until_reachable(client, "udp")
        wait_until_reachable(client, "tcp")
