"""Network namespaces the engine makes itself, bind-mounted on a file (as `ip netns add` and
Podman's netavark do), so the network is wired before the container's process exists and
the runtime joins it through config.json's `linux.namespaces[].path`.

`unshare(CLONE_NEWNET)` and `setns` act on the calling thread only, so both run in a
short-lived thread and the engine's own process never leaves the host's namespace.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, TypeVar

from bastion._sys.mount import MNT_DETACH, MS_BIND, mount, umount2
from bastion._sys.ns import setns, unshare
from bastion.network.errors import NetworkError

if TYPE_CHECKING:
    from collections.abc import Callable

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def _in_thread(work: Callable[[], T]) -> T:
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            result.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=body, name="bastion-netns")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def create(path: str) -> None:
    """A new network namespace kept alive by a bind mount on `path` (made here)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "x"):
        pass

    def work() -> None:
        unshare(CLONE_NEWNET)
        mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, MS_BIND)

    try:
        _in_thread(work)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise NetworkError(f"cannot make a network namespace: {exc}", where=path) from exc


def remove(path: str) -> None:
    """Unmount and delete `path`; absent or not mounted is no error. The namespace ends
    when its last process is gone too (its veth ends go with it)."""
    with contextlib.suppress(OSError):
        umount2(path, MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def is_mounted(path: str) -> bool:
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


def run_inside(path: str, work: Callable[[], T]) -> T:
    """`work()` in a thread that joined the namespace at `path` (a netlink socket it opens
    stays in that namespace)."""

    def joined() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, CLONE_NEWNET, path)
        finally:
            os.close(fd)
        return work()

    return _in_thread(joined)
