"""The state's compiled common case (bastion/sensor/state/fast.py, probe/accel.c `StateFast`):
an open or close exit applied in C leaves the tables, and the event, exactly as
`SensorState.apply` in Python does, and every case it does not take reaches the Python path
untouched. Both ways run side by side: the instance's `apply` (the compiled twin) and the
class's (the Python definition)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.sensor.events.model import Direction, Event
from bastion.sensor.replay import open_replay
from bastion.sensor.state import SensorState, flags
from bastion.sensor.state.model import Thread
from bastion_testing import shared_data

CAPTURES = shared_data.CAPTURES


def _state(**kwargs: Any) -> SensorState:
    state = SensorState(
        runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent", **kwargs
    )
    state.live = False
    return state


def _compiled(state: SensorState) -> Callable[[Event], None]:
    if type(state.apply).__name__ != "StateFast":
        pytest.skip("the sensor's compiled extension is not built (scripts/setup builds it)")
    return state.apply


def _python(state: SensorState) -> Callable[[Event], None]:
    return lambda event: SensorState.apply(state, event)


def _fd(fd: Any) -> tuple[Any, ...] | None:
    if fd is None:
        return None
    return (fd.num, fd.type, fd.name, fd.flags, fd.dev, fd.ino, fd.l4proto, fd.client,
            fd.cport, fd.server, fd.sport, fd.is_server, fd.is_upper_layer)  # fmt: skip


def _seen(event: Event) -> tuple[Any, ...]:
    thread = event.thread
    return (
        None if thread is None else thread.tid,
        event.pid,
        _fd(event.fd),
        None if thread is None else thread.lastevent_fd,
    )


def _tables(state: SensorState) -> dict[int, Any]:
    return {
        t.tid: (sorted((n, _fd(f)) for n, f in t.fds.items()), t.lastevent_fd, t.cgroup_id)
        for t in state.threads
    }


def captures() -> Iterator[Path]:
    yield from sorted(shared_data.shared_path(*CAPTURES).glob("*.scap"))


@shared_data.needs(*CAPTURES)
def test_every_capture_event_leaves_the_same_state_both_ways() -> None:
    handled = events = 0
    for capture in captures():
        fast_state, slow_state = _state(), _state()
        fast, slow = _compiled(fast_state), _python(slow_state)
        before = fast.handled  # type: ignore[attr-defined]
        pairs = zip(
            open_replay(str(capture), fast_state),
            open_replay(str(capture), slow_state),
            strict=True,
        )
        for one, other in pairs:
            fast(one)
            slow(other)
            assert _seen(one) == _seen(other), (capture.name, one)
            events += 1
        assert _tables(fast_state) == _tables(slow_state), capture.name
        assert fast_state.events == slow_state.events
        assert fast_state.fd_limiter.dropped == slow_state.fd_limiter.dropped
        handled += fast.handled - before  # type: ignore[attr-defined]
    assert events > 10_000
    # the captures' opens (their closes carry the fd on the enter side only: the Python path's)
    assert handled > 100


@pytest.mark.parametrize("seed", range(4))
def test_a_random_flood_leaves_the_same_state_both_ways(seed: int) -> None:
    """Opens and closes as the live probe reports them (the close's fd among its parameters),
    of a few threads, names absolute or not, folded or not, results good or failed, cgroups
    settled or not, a small fd limit: every event compared, then the tables."""
    rng = random.Random(seed)
    names = ["/etc/hosts", "/dev/null", "/tmp/x", "rel/a", "/a/./b", "/a//b", "/d/", "", "/é"]
    fast_state, slow_state = _state(max_fds_per_process=6), _state(max_fds_per_process=6)
    for state in (fast_state, slow_state):
        for tid in range(100, 104):
            state.add_thread(Thread(tid=tid, pid=100, cgroup_id=tid % 3, cwd="/w"))
        state._cgroup_containers.update({1: "", 2: "c0ffee"})
    fast, slow = _compiled(fast_state), _python(slow_state)
    for _ in range(20_000):
        tid = rng.choice([100, 101, 102, 103, 104])
        num = rng.randrange(3, 12)
        over = {"tid": tid, "cgroup_id": rng.choice([0, tid % 3, 5]), "pid": rng.choice([0, 100])}
        if rng.random() < 0.5:
            params: dict[str, object] = dict(OPEN, fd=num, name=rng.choice(names))
            params["flags"] = rng.choice([_READ, flags.O_DIRECTORY, _READ | flags.O_CLOEXEC])
            if rng.random() < 0.05:
                del params["flags"]
            kind, res = "openat", rng.choice([num, num, num, -2, None])
        else:
            params, kind, res = {"fd": num}, "close", rng.choice([0, 0, 0, -9, None])
        one, other = (
            _event(kind, dict(params), res, **over),
            _event(kind, dict(params), res, **over),
        )
        fast(one)
        slow(other)
        assert _seen(one) == _seen(other), one
    assert _tables(fast_state) == _tables(slow_state)
    assert fast_state.events == slow_state.events
    assert fast_state.fd_limiter.dropped == slow_state.fd_limiter.dropped
    assert fast.handled > 2_000  # type: ignore[attr-defined]
    # the share the twin took, as the sensor reports it (the rest went to the Python method)
    assert fast_state.stats()["events_compiled"] == fast.handled  # type: ignore[attr-defined]
    assert slow_state.stats()["events_compiled"] == 0


# --- the edge cases, one event each on one known thread ----------------------------------------

_TID, _CGROUP = 4242, 77


def _known(state: SensorState, *, container: str = "", cached: str | None = "") -> Thread:
    thread = Thread(tid=_TID, pid=_TID, cgroup_id=_CGROUP, container_id=container, cwd="/home")
    state.add_thread(thread)
    if cached is not None:
        state._cgroup_containers[_CGROUP] = cached
    return thread


def _event(kind: str, params: dict[str, object], res: int | None, **over: Any) -> Event:
    values: dict[str, Any] = {
        "num": 1, "ts": 10, "cpu": 0, "tid": _TID, "pid": 0, "type": kind,
        "dir": Direction.EXIT, "category": "file", "params": params, "specs": {},
        "res": res, "cgroup_id": _CGROUP,
    }  # fmt: skip
    values.update(over)
    return Event(**values)


_READ = 1  # Falco's PPM_O_RDONLY (file_flags)
OPEN = {"fd": 5, "dirfd": -100, "name": "/etc/hosts", "flags": _READ, "mode": 0, "dev": 3, "ino": 9}

CASES: dict[str, tuple[bool, list[Callable[[], Event]]]] = {
    # name: (taken by the compiled path, events applied in turn)
    "open": (True, [lambda: _event("openat", dict(OPEN), 5)]),
    "open a directory": (
        True,
        [lambda: _event("openat", {**OPEN, "flags": flags.O_DIRECTORY | _READ}, 5)],
    ),
    "open without dev and ino": (
        True,
        [lambda: _event("openat", {k: v for k, v in OPEN.items() if k not in ("dev", "ino")}, 5)],
    ),
    "open then close": (
        True,
        [lambda: _event("openat", dict(OPEN), 5), lambda: _event("close", {"fd": 5}, 0)],
    ),
    "close that failed": (
        True,
        [lambda: _event("openat", dict(OPEN), 5), lambda: _event("close", {"fd": 5}, -9)],
    ),
    "open with a pid already known": (True, [lambda: _event("openat", dict(OPEN), 5, pid=7)]),
    "relative name": (False, [lambda: _event("openat", {**OPEN, "name": "hosts"}, 5)]),
    "name to fold": (False, [lambda: _event("openat", {**OPEN, "name": "/etc/./hosts"}, 5)]),
    "name with a trailing slash": (False, [lambda: _event("openat", {**OPEN, "name": "/etc/"}, 5)]),
    "no flags": (
        False,
        [lambda: _event("openat", {k: v for k, v in OPEN.items() if k != "flags"}, 5)],
    ),
    "failed open": (False, [lambda: _event("openat", dict(OPEN), -2)]),
    "no result": (False, [lambda: _event("openat", dict(OPEN), None)]),
    "close of an unknown fd": (False, [lambda: _event("close", {"fd": 6}, 0)]),
    "close without its fd": (False, [lambda: _event("close", {}, 0)]),
    "an enter event": (False, [lambda: _event("openat", dict(OPEN), None, dir=Direction.ENTER)]),
    "another cgroup": (False, [lambda: _event("openat", dict(OPEN), 5, cgroup_id=_CGROUP + 1)]),
    "an unknown thread": (False, [lambda: _event("openat", dict(OPEN), 5, tid=_TID + 1)]),
    "no cgroup id": (True, [lambda: _event("openat", dict(OPEN), 5, cgroup_id=0)]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_case_is_applied_as_the_python_path_applies_it(case: str) -> None:
    taken, makers = CASES[case]
    fast_state, slow_state = _state(), _state()
    for state in (fast_state, slow_state):
        _known(state)
    fast, slow = _compiled(fast_state), _python(slow_state)
    for make in makers:
        one, other = make(), make()
        fast(one)
        slow(other)
        assert _seen(one) == _seen(other)
    assert _tables(fast_state) == _tables(slow_state)
    assert fast_state.events == slow_state.events
    if taken:
        assert fast.handled == len(makers)  # type: ignore[attr-defined]
    else:
        assert fast.handled < len(makers)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("container", "cached"), [("", None), ("", "abc"), ("abc", "abc")])
def test_a_cgroup_still_to_place_is_the_python_paths(container: str, cached: str | None) -> None:
    """A cgroup id not settled, or known as a container's for a thread not placed in it, is
    placed by the Python path; a thread already in its container needs nothing of it."""
    fast_state, slow_state = _state(), _state()
    for state in (fast_state, slow_state):
        _known(state, container=container, cached=cached)
    fast, slow = _compiled(fast_state), _python(slow_state)
    one, other = _event("openat", dict(OPEN), 5), _event("openat", dict(OPEN), 5)
    fast(one)
    slow(other)
    assert _seen(one) == _seen(other)
    assert _tables(fast_state) == _tables(slow_state)
    assert fast.handled == (1 if container else 0)  # type: ignore[attr-defined]


def test_a_full_fd_table_drops_a_new_fd_as_the_python_path_does() -> None:
    fast_state, slow_state = _state(max_fds_per_process=1), _state(max_fds_per_process=1)
    for state in (fast_state, slow_state):
        _known(state)
    fast, slow = _compiled(fast_state), _python(slow_state)
    for num in (5, 6, 5):  # a second fd is dropped; the first number replaced
        one = _event("openat", dict(OPEN, fd=num), num)
        other = _event("openat", dict(OPEN, fd=num), num)
        fast(one)
        slow(other)
        assert _seen(one) == _seen(other)
    assert _tables(fast_state) == _tables(slow_state)
    assert fast_state.fd_limiter.dropped == slow_state.fd_limiter.dropped == 1
    assert fast.handled == 3  # type: ignore[attr-defined]
