"""Forged and replayed datagrams never keep a dead trader alive; they are dropped and counted."""

from __future__ import annotations

import os
import secrets
import socket
import time

from killswitch_client.protocol import (
    AccountSnapshot,
    AckFrame,
    Heartbeat,
    decode_ack,
    encode_event,
    encode_telemetry,
    new_session_id,
)

from harness.wait import wait_until
from harness.watchdog_world import KEY, Workspace, metric

WRONG_KEY = bytes(range(100, 140))


def _session() -> bytes:
    return new_session_id(time.time_ns(), secrets.token_bytes(8))


def _datagram(key: bytes, session: bytes, seq: int, *, equity: bool = False) -> bytes:
    now = time.time()
    events = [encode_event(Heartbeat(ts=now))]
    if equity:
        events.append(
            encode_event(
                AccountSnapshot(ts=now, equity=10_000.0, realized_pnl=0.0, unrealized_pnl=0.0)
            )
        )
    return encode_telemetry(key, "alpha", session, seq, now, events)


def test_forged_and_replayed_heartbeats_do_not_keep_a_silent_trader_alive(
    workspace: Workspace,
) -> None:
    # This process plays the trader: no process to stop (it would be the test's own).
    workspace.config.write_text(workspace.config.read_text().replace('pidfile = "alpha.pid"', ""))
    workspace.start_watchdog()
    key = bytes.fromhex(workspace.root.joinpath("alpha.key").read_text())
    session = _session()
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.bind("")  # an autobound abstract address, as the real client uses, to receive acks
    sender.connect(str(workspace.ingress))
    genuine = [_datagram(key, session, seq, equity=seq == 1) for seq in range(1, 6)]
    for datagram in genuine:
        sender.send(datagram)
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE on genuine telemetry")

    # The trader is now silent. An attacker replays what it saw and forges new datagrams:
    # with the wrong key, and with the right trader id but a fresh session and wrong key.
    seq = 100
    forged_session = _session()

    def flood_until_killed() -> bool:
        nonlocal seq
        for datagram in genuine:
            sender.send(datagram)
        seq += 1
        sender.send(_datagram(WRONG_KEY, session, seq))
        sender.send(_datagram(WRONG_KEY, forged_session, seq))
        return workspace.state() == "KILLED"

    wait_until(flood_until_killed, what="KILLED despite the flood")
    (started,) = workspace.audit("kill_started")
    assert started["detail"]["cause"] == "heartbeat"
    port = workspace.request("GET", "/status")["metrics_port"]
    counts = metric(port, "killswitch_datagrams_total")
    assert counts['killswitch_datagrams_total{result="accepted"}'] == len(genuine)
    assert counts['killswitch_datagrams_total{result="bad_hmac"}'] >= 2
    assert counts['killswitch_datagrams_total{result="replay"}'] >= len(genuine)
    # Only the genuine datagrams' events reached the rules: five heartbeats and one account.
    events = metric(port, "killswitch_telemetry_events_total")
    assert events == {"killswitch_telemetry_events_total": len(genuine) + 1}
    assert workspace.credential_revoked()
    bursts = workspace.audit("invalid_input")
    assert bursts, "a burst of rejected datagrams is audited"
    assert set(bursts[0]["detail"]["reasons"]) <= {"bad_hmac", "replay", "stale_session"}
    assert assert_key_unchanged(key)


def assert_key_unchanged(key: bytes) -> bool:
    return key == bytes.fromhex(KEY)


def _with_udp(workspace: Workspace, *, pidfile: bool) -> None:
    text = workspace.config.read_text().replace(
        'unix_socket = "ingress.sock"', 'unix_socket = "ingress.sock"\nudp = "127.0.0.1:0"'
    )
    workspace.config.write_text(text if pidfile else text.replace('pidfile = "alpha.pid"', ""))


def _udp_sender(workspace: Workspace) -> socket.socket:
    host, port = workspace.request("GET", "/status")["ingress_udp"]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.settimeout(10)
    sender.connect((host, port))
    return sender


def _first_udp_ack(workspace: Workspace) -> tuple[socket.socket, AckFrame]:
    """Send alpha's first datagram (with equity) over UDP; the sender and the ack it got."""
    key = bytes.fromhex(workspace.root.joinpath("alpha.key").read_text())
    session = _session()
    sender = _udp_sender(workspace)
    sender.send(_datagram(key, session, 1, equity=True))
    return sender, decode_ack(sender.recv(2048), key, "alpha", session)


def test_telemetry_over_udp_is_acked_with_the_state(workspace: Workspace) -> None:
    _with_udp(workspace, pidfile=False)  # a trader on another host: no process to watch
    workspace.start_watchdog()
    sender, frame = _first_udp_ack(workspace)
    assert frame.ack.state.name == "ACTIVE"
    assert frame.ack.last_seq == 1
    assert workspace.state() == "ACTIVE"
    assert workspace.trader()["identity"]["required"] is False
    sender.close()


def test_a_pidfile_trader_heard_over_udp_is_not_armed(workspace: Workspace) -> None:
    # UDP carries no sender pid: nothing ties the pid file's process to the trader.
    _with_udp(workspace, pidfile=True)
    workspace.pidfile.write_text(f"{os.getpid()}\n")
    workspace.start_watchdog()
    sender, frame = _first_udp_ack(workspace)
    assert frame.ack.state.name == "HALTED"
    identity = workspace.trader()["identity"]
    assert identity["known"] is False
    assert "carries no sender pid" in identity["reason"]
    assert workspace.trader()["pid"] is None
    sender.close()
