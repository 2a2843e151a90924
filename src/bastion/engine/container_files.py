"""The files of a container's directory that are not the monitor's: config.json, the /etc
files bind-mounted into the container, the start lock; and reading the image's own /etc files
from its layers before any overlay is mounted."""

from __future__ import annotations

import contextlib
import fcntl
import os

from bastion.runtime.store import write_atomic

#: Held (flock) by a `start` in progress: see `Engine._sync`.
LOCK_FILE = "start.lock"


def etc_files(directory: str, hostname: str, network: str) -> dict[str, str]:
    """The /etc files Docker bind-mounts; the network step (a later issue: a bridge,
    leases, DNS) replaces /etc/hosts and resolv.conf with its own."""
    files = {"/etc/hostname": f"{hostname}\n"}
    if network == "host":
        with contextlib.suppress(OSError), open("/etc/hosts") as f:
            files["/etc/hosts"] = f.read()
        with contextlib.suppress(OSError), open("/etc/resolv.conf") as f:
            files["/etc/resolv.conf"] = f.read()
    else:
        files["/etc/hosts"] = (
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"127.0.0.1\t{hostname}\n"
        )
    out = {}
    for path, text in files.items():
        host = os.path.join(directory, path.rsplit("/", 1)[1])
        write_atomic(host, text.encode(), 0o644)
        out[path] = host
    return out


def start_lock(directory: str, *, blocking: bool) -> int | None:
    """An exclusive flock on the container's start lock (its fd), or None if held."""
    fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def read_in_layers(lowerdirs: list[str], path: str) -> str:
    """A small file of the image as the merged root would show it (top layer first)."""
    for layer in lowerdirs:
        candidate = os.path.join(layer, path)
        if os.path.isfile(candidate) and not os.path.islink(candidate):
            with contextlib.suppress(OSError, UnicodeDecodeError), open(candidate) as f:
                return f.read()
            return ""
    return ""
