"""Loopback addresses for the stack: free TCP ports and unix socket paths that fit.

A port found free here can still be taken by someone else before the server binds it; the
launchers therefore check that their server really started and report its log otherwise.
"""

from __future__ import annotations

import hashlib
import random
import socket
import tempfile
import threading
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Linux caps sun_path at 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107

# Ports handed out by this process. The kernel may offer a port again as soon as the probe
# socket is closed, so without this two servers started back to back could get the same one.
_handed_out: set[int] = set()
_lock = threading.Lock()


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a TCP listener could bind ``host:port`` right now.

    Args:
        port: The TCP port.
        host: The address to probe; loopback by default.

    Returns:
        True when binding succeeded (the probe socket is closed again).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers (Go, mariadbd) listen with SO_REUSEADDR, so connections of a stopped server
        # lingering in TIME_WAIT do not keep them out; probe the same way. A live listener
        # still makes the bind fail on Linux.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and not handed out before by this process.

    Returns:
        The port number.
    """
    with _lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((LOOPBACK, 0))
                port = int(probe.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free TCP port on 127.0.0.1 after 100 attempts")


def free_port_pair(offset: int = 10000) -> int:
    """A port P where both P and P + ``offset`` are free on 127.0.0.1.

    SeaweedFS derives each service's gRPC port as its HTTP port plus 10000, which is why pairs
    are needed. Candidates are drawn below the kernel's ephemeral range where possible so that
    P + offset stays a valid port.

    Args:
        offset: Distance between the two ports.

    Returns:
        The lower port P.
    """
    if not 0 < offset < 60000:
        raise ValueError(f"offset must be between 1 and 59999, not {offset}")
    rng = random.SystemRandom()
    low, high = 15000, 65535 - offset
    with _lock:
        for _ in range(500):
            port = rng.randint(min(low, high), high)
            pair = (port, port + offset)
            if any(p in _handed_out for p in pair):
                continue
            if all(port_is_free(p) for p in pair):
                _handed_out.update(pair)
                return port
    raise RuntimeError(f"no free port pair (P, P+{offset}) on 127.0.0.1 after 500 attempts")


def socket_path(preferred: Path) -> Path:
    """A unix socket path: ``preferred`` if it fits the kernel limit, else a short one in /tmp.

    Deep temporary directories (pytest's among them) can exceed the 107-byte limit; the fallback
    is a fresh private directory under the system temp dir, named after the preferred path.

    Args:
        preferred: Where the socket would ideally live.

    Returns:
        A path whose length the kernel accepts.
    """
    if len(str(preferred).encode()) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:8]
    short_dir = Path(tempfile.mkdtemp(prefix=f"sk-{digest}-"))
    return short_dir / preferred.name
