from __future__ import annotations

import socket
from pathlib import Path

from devstack.ports import LOOPBACK, free_ports

EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, port))


def test_free_ports_lie_below_the_range_outgoing_connections_take_theirs_from() -> None:
    first = int(EPHEMERAL.read_text().split()[0]) if EPHEMERAL.exists() else None
    ports = free_ports(50)
    if first is not None and first > 11_000:
        assert all(10_000 <= p < first for p in ports)
