"""Free TCP ports for the servers and workers the tests start on loopback (one home for picking them).

Why below the kernel's ephemeral range: a port the OS handed out with ``bind(0)`` and closed again
can be handed to any other socket (an outgoing connection included) in the seconds before the
server binds it; a two-worker test once hung in CI that way (the worker whose port was taken died,
its peer waited for it). Ports outside the ephemeral range are never handed out by the OS.
"""
from __future__ import annotations

import random
import socket


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ``bind(0)`` and outgoing connections (Linux's default where unreadable)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports, free on every interface now (TensorFlow's servers bind 0.0.0.0),
    picked at random from the 12,000 ports below the ephemeral range."""
    low, _ = ephemeral_range()
    ports: list[int] = []
    for port in random.SystemRandom().sample(range(max(1024, low - 12000), low), 200):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError(f"no {n} free TCP ports found below {low}")


def free_port() -> int:
    return free_ports(1)[0]
