"""Free TCP ports on the loopback interface."""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

LOOPBACK = "127.0.0.1"
# Where ports are drawn from: below the kernel's ephemeral range, which it hands to outgoing
# connections (every client socket of every test takes one): a port drawn from that range can
# be taken by someone's connect() between our choosing it and the service's bind.
_LOWEST = 10_000
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_draw = random.SystemRandom()


def _below_ephemeral() -> range | None:
    try:
        first = int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return range(_LOWEST, first) if first - _LOWEST >= 1_000 else None


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return `count` distinct TCP ports that are free right now on `host`.

    Every socket stays bound until all ports are chosen, so no port is given twice. Drawn at
    random below the ephemeral range where the machine says where it is (else the kernel's
    choice), so that only another caller drawing the same port can take it before the caller
    binds it: a race a development stack accepts.
    """
    candidates = _below_ephemeral()
    with ExitStack() as bound:
        ports: list[int] = []
        while len(ports) < count:
            sock = bound.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, _draw.choice(candidates) if candidates else 0))
            except OSError:
                continue  # taken: draw another
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free right now on `host`."""
    return free_ports(1, host)[0]


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
