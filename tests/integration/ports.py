# SPDX-License-Identifier: MIT
"""Port blocks for the integration tests, reserved across processes.

CTest runs several tests at once, each starting daemons on ports it picks
before they bind. Checking that a port is free is not enough: another test
can pick the same port between the check and the daemon's bind, and two
picks in one test can overlap. So ports are handed out in aligned blocks of
BLOCK, each reserved by an flock(2) on a file in LOCK_DIR that this process
holds until it exits (the kernel drops the lock when it dies, so a killed
test leaves nothing behind). A block is also checked free with bind(2): a
program outside the tests may hold a port in it.

Blocks lie below the ephemeral range, so a client connection (ours, while
a daemon starts) cannot take a port meant for a server.
"""
import fcntl
import os
import random
import socket

BLOCK = 64
FIRST = 10000
LOCK_DIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gv-test-ports")

_held = []  # open lock files: the reservations of this process


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(p, kinds):
    for kind in kinds:
        t = socket.socket(socket.AF_INET, kind)
        try:
            t.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            t.close()
    return True


def _lock(idx):
    """The lock file of block idx, held, or None when another holds it."""
    path = os.path.join(LOCK_DIR, f"{idx}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def reserve(n, udp=True):
    """A base port such that base..base+n-1 are reserved for this process
    and free for TCP (and UDP when udp is set)."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    try:
        os.chmod(LOCK_DIR, 0o1777)
    except OSError:
        pass
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    nb = (n + BLOCK - 1) // BLOCK
    top = (_ephemeral_low() - FIRST) // BLOCK - nb  # last usable first block
    if top < 0:
        raise RuntimeError("no room for test ports below the ephemeral range")
    for _ in range(400):
        first = random.randint(0, top)
        fds = []
        for idx in range(first, first + nb):
            fd = _lock(idx)
            if fd is None:
                break
            fds.append(fd)
        base = FIRST + first * BLOCK
        if len(fds) == nb and all(_bindable(p, kinds) for p in range(base, base + n)):
            _held.extend(fds)
            return base
        for fd in fds:
            os.close(fd)
    raise RuntimeError(f"no block of {n} free ports")
