"""Pseudo-terminals the way a container runtime needs them: opened from a given /dev/ptmx.

The master is opened through the container's /dev/ptmx (its own devpts instance), and the peer
(slave) through TIOCGPTPEER on the master rather than by path, so no path in the container can be
swapped for another file between the two opens (runc and crun do the same since CVE-2019-... era
hardening). `fcntl.ioctl` is enough here: no ctypes.
"""

from __future__ import annotations

import _struct as struct  # the built-in module: `struct` is a file to find on sys.path (~1 ms)
import fcntl
import os

# asm-generic/ioctls.h; Python's termios lacks these three.
TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCGPTPEER = 0x5441
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, int, str]:
    """(master fd, slave fd, slave name such as /dev/pts/0); both close-on-exec."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        (number,) = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, f"/dev/pts/{number}"


def set_window_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def window_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of the terminal `fd`."""
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def make_controlling(fd: int) -> None:
    """Make `fd` (a slave) the controlling terminal of this session (after setsid)."""
    fcntl.ioctl(fd, TIOCSCTTY, 0)
