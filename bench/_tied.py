"""A stand-in trader process the watchdog will watch: `sleep`, tied to its trader.

The watchdog watches a configured pid only once that process's own telemetry ties it to the
trader (the kernel names the sender of each datagram). Between fork and exec (the pid stays
the same) the child writes its pid file and sends one authentic heartbeat.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from functools import partial
from pathlib import Path

from killswitch_client.protocol import (
    AccountSnapshot,
    Heartbeat,
    encode_event,
    encode_telemetry,
    new_session_id,
)


def tied_sleeper(pidfile: Path, ingress: Path, key: bytes, trader: str) -> subprocess.Popen[bytes]:
    now = time.time()
    events = [
        encode_event(Heartbeat(ts=now)),
        encode_event(
            AccountSnapshot(ts=now, equity=10_000.0, realized_pnl=0.0, unrealized_pnl=0.0)
        ),
    ]
    # A new session per sleeper, stamped now: later than any session the watchdog has seen.
    session = new_session_id(time.time_ns(), secrets.token_bytes(8))
    datagram = encode_telemetry(key, trader, session, 1, now, events)
    hello = partial(_introduce, pidfile, str(ingress), datagram)
    return subprocess.Popen(["sleep", "600"], preexec_fn=hello)


def _introduce(pidfile: Path, ingress: str, datagram: bytes) -> None:
    pidfile.write_text(f"{os.getpid()}\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ingress)
