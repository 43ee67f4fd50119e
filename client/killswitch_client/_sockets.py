"""Opening the datagram socket to the watchdog."""

from __future__ import annotations

import socket

from killswitch_client.config import Address


def unix_socket(path: str) -> socket.socket:
    """A non-blocking Unix datagram socket connected to `path`, bound to an abstract address
    the watchdog can answer to."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind("")  # Linux autobind: a unique abstract address
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def connected_socket(address: Address) -> socket.socket:
    """A non-blocking datagram socket connected to the watchdog (may resolve a host name:
    call it off the bot's hot path)."""
    if isinstance(address, str):
        return unix_socket(address)
    host, port = address
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.connect(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock
