"""`monitor.read_log(follow=True)` is woken by what happens, not by a timer: after one first
wait (a short container ends within it, and an inotify descriptor with a watch costs ~10 ms to
close), a line written to the log reaches the reader and the reader ends when the monitor
exits, with every later wait on `select` made without a timeout (inotify on the log, the
monitor's pidfd)."""

from __future__ import annotations

import os
import queue
import select
import subprocess
import threading
from typing import TYPE_CHECKING

import pytest

from bastion.engine import monitor

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from bastion.engine.monitor import LogLine

DONE = object()


@pytest.fixture
def fake_monitor(tmp_path: Path) -> Iterator[tuple[monitor.MonitorPaths, subprocess.Popen[bytes]]]:
    """A container directory whose "monitor" is a real process we end when we choose."""
    paths = monitor.MonitorPaths(str(tmp_path))
    proc = subprocess.Popen(["sleep", "600"])
    try:
        with open(paths.conmon_pid, "w") as f:
            f.write(f"{proc.pid}\n")
        with open(paths.log, "wb") as f:
            f.write(b"2026-01-01T00:00:00.000000000Z stdout F before\n")
        yield paths, proc
    finally:
        proc.kill()
        proc.wait()


def append(path: str, text: bytes) -> None:
    with open(path, "ab") as f:
        f.write(text)


def test_follow_wakes_on_writes_and_on_the_monitor_s_exit(
    fake_monitor: tuple[monitor.MonitorPaths, subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths, proc = fake_monitor
    timeouts: list[float | None] = []
    real_select = select.select

    first_wait_over = threading.Event()

    def recording_select(
        r: list[int], w: list[int], x: list[int], timeout: float | None = None
    ) -> tuple[list[int], list[int], list[int]]:
        timeouts.append(timeout)
        ready = real_select(r, w, x, timeout)
        if timeout is not None and not ready[0]:
            first_wait_over.set()
        return ready

    monkeypatch.setattr(select, "select", recording_select)
    lines: queue.Queue[LogLine | object] = queue.Queue()

    def follow() -> None:
        for line in monitor.read_log(paths, follow=True):
            lines.put(line)
        lines.put(DONE)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    first = lines.get(timeout=60)
    assert isinstance(first, monitor.LogLine) and first.text == b"before"
    # nothing happens during the reader's first wait: from then on, only events wake it
    assert first_wait_over.wait(60)
    append(paths.log, b"2026-01-01T00:00:01.000000000Z stderr P no newline yet")
    append(paths.log, b"\n")
    second = lines.get(timeout=60)
    assert isinstance(second, monitor.LogLine)
    assert (second.stream, second.text, second.partial) == ("stderr", b"no newline yet", True)
    append(paths.log, b"2026-01-01T00:00:02.000000000Z stdout F last words\n")
    proc.kill()  # the monitor exits after its last write: the reader reads it, then ends
    rest = [lines.get(timeout=60), lines.get(timeout=60)]
    reader.join(60)
    assert [getattr(x, "text", x) for x in rest] == [b"last words", DONE]
    # one timed wait (the first, which ran out), then events only (at least the wait that saw
    # the monitor's exit)
    assert timeouts[0] is not None and set(timeouts[1:]) == {None}


def test_follow_ends_at_once_when_the_monitor_is_gone(tmp_path: Path) -> None:
    paths = monitor.MonitorPaths(str(tmp_path))
    with open(paths.log, "wb") as f:
        f.write(b"2026-01-01T00:00:00.000000000Z stdout F only\n")
    # no conmon.pid: nothing is running, so following is reading what is there
    assert [line.text for line in monitor.read_log(paths, follow=True)] == [b"only"]
    assert not os.path.exists(paths.conmon_pid)
