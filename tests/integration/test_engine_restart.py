"""Restart policies and `restart`, end to end through the `bastion` CLI with real conmon: the
monitor's exit command (`bastion cleanup ID`) restarts a container as its policy says, counts
it (`inspect`'s RestartCount), and leaves alone what the user stopped.

A container whose exit the engine has recorded as `exited` (not `restarting`) will not be
restarted: the decision is taken once, when the exit is recorded, so the tests wait for that
state, then for the exit commands to be gone, and count the runs in the container's log.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-restart-") as b:
        yield b


def until(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def state(bastion: Bastion, name: str) -> dict[str, Any]:
    doc = bastion.inspect(name)
    return {**doc["State"], "RestartCount": doc["RestartCount"]}  # type: ignore[dict-item]


def exit_commands(container_id: str) -> list[int]:
    """Its conmon and the `bastion cleanup ID` it runs as its exit command (forked by conmon,
    so one of the two shows while the other starts), still running."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        ours = container_id.encode() in argv
        if ours and (b"cleanup" in argv or argv[0].endswith(b"conmon")):
            found.append(int(pid))
    return found


def runs(bastion: Bastion, name: str) -> int:
    return bastion.ok("logs", name).splitlines().count("run")


def test_on_failure_restarts_exactly_n_times(bastion: Bastion) -> None:
    cid = bastion.ok(
        *("run", "-d", "--name", "fails", "--restart", "on-failure:2", bastion.image),
        *("sh", "-c", "echo run; exit 1"),
    ).strip()
    try:
        until("recorded as exited", lambda: state(bastion, "fails")["Status"] == "exited")
        until("its exit commands are done", lambda: exit_commands(cid) == [])
        final = state(bastion, "fails")
        assert (final["Status"], final["ExitCode"], final["RestartCount"]) == ("exited", 1, 2)
        assert runs(bastion, "fails") == 3  # the first run and two restarts
        policy = bastion.inspect("fails")["HostConfig"]["RestartPolicy"]  # type: ignore[index]
        assert policy == {"Name": "on-failure", "MaximumRetryCount": 2}
    finally:
        bastion.ok("rm", "-f", "fails")


def test_lookers_while_it_restarts_change_nothing(bastion: Bastion) -> None:
    """`ps -a`s racing the monitor's `cleanup` (four at a time, back to back) record each
    exit once: no look fails (an overlay unmounted twice gave EINVAL under CI's load) and
    none releases the run a restart has just begun."""
    cid = bastion.ok(
        *("run", "-d", "--name", "watched", "--network", "none"),
        *("--restart", "on-failure:4", bastion.image, "sh", "-c", "echo run; exit 3"),
    ).strip()
    failures: list[str] = []
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            result = bastion("ps", "-a", "-q")
            if result.returncode != 0:
                failures.append(result.stderr)

    lookers = [threading.Thread(target=look) for _ in range(4)]
    for thread in lookers:
        thread.start()
    try:
        until("recorded as exited", lambda: state(bastion, "watched")["Status"] == "exited")
        until("its exit commands are done", lambda: exit_commands(cid) == [])
    finally:
        done.set()
        for thread in lookers:
            thread.join()
    try:
        assert failures == []
        final = state(bastion, "watched")
        assert (final["Status"], final["ExitCode"], final["RestartCount"]) == ("exited", 3, 4)
        assert runs(bastion, "watched") == 5
    finally:
        bastion.ok("rm", "-f", "watched")


def test_on_failure_leaves_a_success_alone(bastion: Bastion) -> None:
    cid = bastion.ok(
        *("run", "-d", "--name", "succeeds", "--restart", "on-failure", bastion.image),
        *("sh", "-c", "echo run; exit 0"),
    ).strip()
    try:
        until("recorded as exited", lambda: state(bastion, "succeeds")["Status"] == "exited")
        until("its exit command is done", lambda: exit_commands(cid) == [])
        assert state(bastion, "succeeds")["RestartCount"] == 0
        assert runs(bastion, "succeeds") == 1
    finally:
        bastion.ok("rm", "-f", "succeeds")


def test_always_restarts_until_the_user_stops_it(bastion: Bastion) -> None:
    # the first run exits 0 (restarted all the same); later ones find the marker and stay up
    script = "echo run; [ -e /once ] || { touch /once; exit 0; }; exec sleep 1000"
    cid = bastion.ok(
        *("run", "-d", "--name", "always", "--restart", "always", bastion.image),
        *("sh", "-c", script),
    ).strip()
    try:
        until(
            "restarted and running",
            lambda: (s := state(bastion, "always"))["RestartCount"] == 1 and s["Running"],
        )
        assert bastion("stop", "-t", "0", "always").returncode == 0
        assert state(bastion, "always")["Status"] == "exited"
        until("its exit commands are done", lambda: exit_commands(cid) == [])
        final = state(bastion, "always")
        assert (final["Status"], final["RestartCount"]) == ("exited", 1)
        assert runs(bastion, "always") == 2
        # `start` by the user: up again, the count back to 0 (Docker's)
        bastion.ok("start", "always")
        started = state(bastion, "always")
        assert (started["Running"], started["RestartCount"]) == (True, 0)
        assert bastion("kill", "always").returncode == 0  # the user's kill: no restart either
        until("ended", lambda: state(bastion, "always")["Status"] != "running")
        until("its exit commands are done", lambda: exit_commands(cid) == [])
        assert state(bastion, "always")["Status"] == "exited"
    finally:
        bastion.ok("rm", "-f", "always")


def test_restart_verb_stops_then_starts(bastion: Bastion) -> None:
    bastion.ok("run", "-d", "--name", "again", bastion.image, "sleep", "1000")
    try:
        before = state(bastion, "again")
        assert bastion.ok("restart", "-t", "0", "again") == "again\n"
        after = state(bastion, "again")
        assert after["Running"] is True
        assert after["Pid"] != before["Pid"]
        assert after["StartedAt"] > before["StartedAt"]
        assert bastion.ok("exec", "again", "cat", "/proc/1/cmdline").startswith("sleep\0")
    finally:
        bastion.ok("rm", "-f", "again")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--restart", "sometimes"), "invalid restart policy"),
        (("--restart", "always:3"), "only on-failure takes a maximum"),
        (("--restart", "always", "--rm"), "conflicting options"),
    ],
)
def test_bad_restart_flags_are_refused_and_make_nothing(
    bastion: Bastion, flags: tuple[str, ...], words: str
) -> None:
    result = bastion("run", "-d", *flags, bastion.image, "true")
    assert result.returncode == 125
    assert "error[engine-invalid-option]" in result.stderr and words in result.stderr
    assert bastion.ok("ps", "-a", "-q") == ""
