"""The thread table: every known thread by tid, bounded, with eviction and purge counters.

Falco keeps one threadinfo per tid and drops it when the thread exits; a full table evicts.
Here insertion order stands for age (a dict keeps it for free), so eviction removes the
oldest-inserted record first: a cheap approximation of libsinsp's least-recently-used
sweep that never costs more than one dict operation per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bastion.sensor.state.model import Thread


class ThreadTable:
    """Threads by host tid. `evicted` counts records dropped because the table was full,
    `purged` those removed because their thread exited."""

    __slots__ = ("_by_tid", "evicted", "get", "max_threads", "purged")

    def __init__(self, max_threads: int) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self.max_threads = max_threads
        self._by_tid: dict[int, Thread] = {}
        self.evicted = 0
        self.purged = 0
        # the thread of a tid, or None: the dict's own get, so the lookup every event and
        # most field reads make is one C call, not a method call around one (the dict object
        # is never replaced)
        self.get: Callable[[int], Thread | None] = self._by_tid.get

    def add(self, thread: Thread) -> Thread:
        """Insert (or replace) `thread`; evict the oldest records while the table is full."""
        table = self._by_tid
        if thread.tid not in table:
            while len(table) >= self.max_threads:
                del table[next(iter(table))]
                self.evicted += 1
        table[thread.tid] = thread
        return thread

    def remove(self, tid: int) -> Thread | None:
        """Purge `tid` (its thread exited); the caller may keep using the returned record."""
        thread = self._by_tid.pop(tid, None)
        if thread is not None:
            self.purged += 1
        return thread

    def __len__(self) -> int:
        return len(self._by_tid)

    def __contains__(self, tid: object) -> bool:
        return tid in self._by_tid

    def __iter__(self) -> Iterator[Thread]:
        return iter(list(self._by_tid.values()))
