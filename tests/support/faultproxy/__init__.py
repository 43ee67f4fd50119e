"""Fault-injecting proxies owned by the tests: TCP (latency, stall, RST, refuse) and datagrams.

In process::

    async with TcpFaultProxy(("127.0.0.1", venue_port), rng=random.Random(7)) as proxy:
        await proxy.set_latency(Direction.DOWNSTREAM, Latency(base_s=0.05, jitter_s=0.01))
        await proxy.stall()               # silent stall: sockets open, nothing flows
        await proxy.reset_connections()   # peers get ECONNRESET
        await proxy.heal()                # come back

As a process between real processes: ``FaultProxyProcess`` (or ``python -m
tests.support.faultproxy``) steered over its line-JSON control port by ``ControlClient``.
"""

from tests.support.faultproxy.control import ControlClient, ControlError, ControlServer
from tests.support.faultproxy.datagram import (
    DatagramDirectionStats,
    DatagramRelay,
    DatagramStats,
)
from tests.support.faultproxy.faults import (
    AcceptMode,
    DatagramFaults,
    DatagramPath,
    Direction,
    FaultProxyError,
    FaultSpecError,
    Latency,
    TcpFaults,
)
from tests.support.faultproxy.process import FaultProxyProcess, ProxyProcessError
from tests.support.faultproxy.tcp import DirectionStats, TcpFaultProxy, TcpStats, send_rst

__all__ = [
    "AcceptMode",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "DatagramDirectionStats",
    "DatagramFaults",
    "DatagramPath",
    "DatagramRelay",
    "DatagramStats",
    "Direction",
    "DirectionStats",
    "FaultProxyError",
    "FaultProxyProcess",
    "FaultSpecError",
    "Latency",
    "ProxyProcessError",
    "TcpFaultProxy",
    "TcpFaults",
    "TcpStats",
    "send_rst",
]
