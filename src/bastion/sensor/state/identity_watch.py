"""Identity records read the moment the runtime writes them.

The sensor evaluates events a little after they happen (the reader drains the rings every
0.1 s, a burst waits in the spill area); a container that lives less than that (`bastion-runc
run` of a short command, then `delete`) would be gone, identity record and all, by the time its
first event is looked at, and its events would read as the host's. So a live sensor keeps an
inotify watch on each runtime root (a new container directory) and on each container directory
(its `identity.json` renamed into place), and a thread reads each record as it lands; the
container table takes them in on its next lookup (`ContainerTable.absorb`). The kernel wakes
the thread; nothing polls.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable

from bastion._sys import inotify
from bastion.identity import IDENTITY_FILE, ContainerIdentity

_ROOT_MASK = inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_ONLYDIR
_DIR_MASK = inotify.IN_MOVED_TO | inotify.IN_CLOSE_WRITE | inotify.IN_ONLYDIR


class IdentityWatch:
    """A daemon thread reading identity records under `roots` as they are written; `take()`
    hands over what it read since the last call (thread-safe)."""

    def __init__(
        self, roots: tuple[str, ...], read: Callable[[str], ContainerIdentity | None]
    ) -> None:
        self._read = read
        self._fd = inotify.open_queue()
        self._wake_r, self._wake_w = os.pipe()
        self._roots: dict[int, str] = {}
        self._dirs: dict[int, str] = {}
        self._lock = threading.Lock()
        self._found: list[ContainerIdentity] = []
        self.news = False  # set when `take` has something: a lookup checks it without the lock
        for root in roots:
            with contextlib.suppress(OSError):
                # a root the runtime has not made yet (no container so far) is made now, as
                # the runtime would: a watch needs it, and its first container must be seen
                os.makedirs(root, mode=0o700, exist_ok=True)
                self._roots[inotify.add_watch(self._fd, root, _ROOT_MASK)] = root
        self._thread = threading.Thread(target=self._run, name="bastion-identity", daemon=True)
        self._thread.start()

    def take(self) -> list[ContainerIdentity]:
        with self._lock:
            found, self._found = self._found, []
            self.news = False
        return found

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            for wd, mask, name in inotify.read_events(self._fd):
                if mask & inotify.IN_IGNORED:
                    self._dirs.pop(wd, None)  # the directory went (the container was deleted)
                elif wd in self._roots and name and not name.startswith("."):
                    directory = os.path.join(self._roots[wd], name)
                    with contextlib.suppress(OSError):
                        self._dirs[inotify.add_watch(self._fd, directory, _DIR_MASK)] = directory
                    self._check(directory)  # written before the watch was in place
                elif wd in self._dirs and name == IDENTITY_FILE:
                    self._check(self._dirs[wd])

    def _check(self, directory: str) -> None:
        identity = self._read(os.path.join(directory, IDENTITY_FILE))
        if identity is not None:
            with self._lock:
                self._found.append(identity)
                self.news = True
