"""Loopback port helpers: every address here is 127.0.0.1, never anything else."""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"

# Sockets kept bound (but never listening) for the life of the process, so the ports handed
# out by closed_port() can't be taken by anyone else while tests use them.
_held_closed: list[socket.socket] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free when asked (the kernel picks it; tiny race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens: connecting fails at once (refused).

    The port stays bound by a socket of this process that never calls listen(), so the
    kernel answers every SYN with RST (ECONNREFUSED) and no other process can take the port
    for as long as the test process runs.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    _held_closed.append(s)
    return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 10.0) -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    if host not in (LOOPBACK, "localhost"):
        raise ValueError(f"tests only ever talk to 127.0.0.1, not {host!r}")
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            last = exc
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s ({last})")
