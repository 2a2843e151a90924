"""Where an API request's time goes: an optional trace, a measuring aid that is off by default.

With `BASTION_API_TRACE=PATH` in the service's environment, the server appends one line to
PATH per request it receives (`in`), per answer it finishes (`out`, for a stream when the
stream ends) and per step a handler marks inside a request (`mark`: the monitor has made the
container, its process runs, the container ended, it is removed...):

    MONOTONIC_NS KIND CONTAINER WHAT

(CLOCK_MONOTONIC, the clock a bench reads with `time.monotonic_ns()`, so it can place the
lines between the start and the end of a client it ran; CONTAINER is the id's first 12 or
`-`; WHAT is `METHOD PATH` or the step's name.) `bench/api_run.py --trace` turns them into
the breakdown of one `docker run --rm` (docs/api.md, "Where the time goes"). Off, the cost
is one check per request.
"""

from __future__ import annotations

import os
import threading
import time

#: The environment variable naming the trace file (appended to; absent: no trace).
ENV = "BASTION_API_TRACE"

_path = os.environ.get(ENV) or None
_lock = threading.Lock()  # marks come from the event loop and from worker threads


def enabled() -> bool:
    return _path is not None


def record(kind: str, container: str | None, what: str) -> None:
    """One line, written at once (a service runs until it is stopped: nothing is held back)."""
    if _path is None:
        return
    line = f"{time.monotonic_ns()} {kind} {(container or '-')[:12]} {what}\n"
    with _lock, open(_path, "a", encoding="utf-8") as f:
        f.write(line)


def mark(container: str | None, step: str) -> None:
    """A step inside a request (see the module docstring)."""
    record("mark", container, step)
