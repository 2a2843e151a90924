"""The cycle collector while a live event loop runs: the long-lived part frozen, the young
generation sized past one batch.

Measured on a flood (docs/watch.md "Where the time goes"): with CPython's defaults a batch of
decoded events alive at once (thousands of `Event`s, their params dicts, new `Fd`s) set off a
young collection every 700 net allocations, ~15 per batch, and every tenth of those escalated
into sweeps that walked the whole seeded state (every thread and fd of the machine) and the
compiled rules: a quarter of the CPU time of decode + state. Events form no reference cycles
(reference counting frees each batch as soon as the pipeline is done with it), so during the
loop the collector is given what it can still find: cycles made by the loop itself, looked for
after `YOUNG` net allocations instead of 700, among the objects made since the loop began. The
loop is its process's whole work (`bastion watch`, the `bastion sensor` service, `bastion
events`), so what is frozen is what the process keeps to the end anyway.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

#: Net allocations between two young collections during the loop: past the ~30-40k objects
#: of the largest batch (a 1 MiB spill block of ~100-byte records, three objects a record).
YOUNG = 50_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] = (700, 10, 10)


@contextlib.contextmanager
def event_loop_gc() -> Iterator[None]:
    """For the block: what exists now (the seeded state, the rules, the modules) frozen out
    of the collector's sweeps (after one full collection, so no garbage is frozen with it),
    and the young generation's threshold at `YOUNG`; both undone after. Nested or concurrent
    loops (a test's several sources) share it: the first sets it, the last undoes it."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            gc.collect()
            gc.freeze()
            _saved = gc.get_threshold()
            gc.set_threshold(YOUNG, _saved[1], _saved[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()  # collectable again: a record dropped later is not kept forever
