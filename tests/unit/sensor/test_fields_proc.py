"""proc.* and thread.* over hand-built threads (Falco's ancestor and unreadable semantics)."""

from __future__ import annotations

import pytest

from bastion.sensor.fields import AnyOf, FieldRegistry
from bastion.sensor.state.model import Fd, FdType, Thread
from bastion_testing.sensor_fakes import MISSING, FakeState, event, family, get, matches


@pytest.mark.parametrize(
    ("name", "arg", "expected"),
    [
        ("proc.pid", None, 300),
        ("proc.ppid", None, 200),
        ("proc.name", None, "python3"),
        ("proc.exe", None, "python3"),
        ("proc.exepath", None, "/usr/bin/python3.11"),
        ("proc.cmdline", None, "python3 -c print(1)"),
        ("proc.exeline", None, "python3 -c print(1)"),
        ("proc.args", None, "-c print(1)"),
        ("proc.args", "1", "print(1)"),
        ("proc.args", "5", ""),
        ("proc.cmdnargs", None, 2),
        ("proc.env", None, "HOME=/root PATH=/usr/bin"),
        ("proc.env", "HOME", "/root"),
        ("proc.env", "NOPE", ""),
        ("proc.cwd", None, "/root"),
        ("proc.tty", None, 34816),
        ("proc.sid", None, 200),
        ("proc.vpid", None, 300),
        ("proc.pname", None, "bash"),
        ("proc.pexe", None, "-bash"),
        ("proc.pexepath", None, "/usr/bin/bash"),
        ("proc.pcmdline", None, "bash -l"),
        ("proc.aname", "0", "python3"),
        ("proc.aname", "1", "bash"),
        ("proc.aname", "2", "sshd"),
        ("proc.aname", "3", "systemd"),
        ("proc.aexepath", "2", "/usr/sbin/sshd"),
        ("proc.aexe", "1", "-bash"),
        ("proc.apid", "2", 100),
        ("proc.apid", None, (200, 100, 1)),
        ("proc.acmdline", "1", "bash -l"),
        ("proc.sname", None, "bash"),
        ("proc.loginshellid", None, 200),
        ("proc.is_sid_leader", None, False),
        ("proc.pid.ts", None, 1_700_000_000_000_000_000),
        ("proc.duration", None, 123_456_789),
        ("proc.is_exe_upper_layer", None, False),
        ("thread.tid", None, 300),
        ("thread.ismain", None, True),
        ("thread.cap_effective", None, "CAP_CHOWN CAP_SYS_ADMIN"),
        ("thread.cap_permitted", None, ""),
        ("thread.cgroups", None, "cpu,cpuacct=/user.slice memory=/m"),
    ],
)
def test_process_fields(name: str, arg: str | None, expected: object) -> None:
    state, py = family()
    assert get(state, name, event(thread=py), arg) == expected


def test_dotted_cgroup_argument() -> None:
    state, py = family()
    assert get(state, "thread.cgroup.cpuacct", event(thread=py)) == "/user.slice"
    assert get(state, "thread.cgroup.blkio", event(thread=py)) is MISSING


def test_beyond_the_root_and_without_thread_is_missing() -> None:
    state, py = family()
    assert get(state, "proc.aname", event(thread=py), "9") is MISSING
    for name in ("proc.name", "proc.pid", "proc.pname", "proc.cmdline", "thread.tid"):
        assert get(state, name, event(thread=None)) is MISSING
    orphan = Thread(tid=5, pid=5, ptid=4, comm="x")
    state.add(orphan)
    assert get(state, "proc.pname", event(thread=orphan)) is MISSING
    # libsinsp's proc.ppid is the recorded parent id, whether that process is known or not
    assert get(state, "proc.ppid", event(thread=orphan)) == 4
    orphan.ptid = 0
    assert get(state, "proc.ppid", event(thread=orphan)) is MISSING
    assert get(state, "proc.sid", event(thread=orphan)) is MISSING


def test_a_thread_known_only_from_its_events_has_no_name() -> None:
    """A thread met with no process-list entry, clone or execve (replay) has no comm:
    libsinsp has no threadinfo for it and prints <NA>, never an empty name."""
    state, _ = family()
    bare = Thread(tid=9, pid=9)
    state.add(bare)
    assert get(state, "proc.name", event(thread=bare)) is MISSING
    assert not matches(state, "proc.name = ''", event(thread=bare))


def test_any_ancestor_matches_one_and_prints_all() -> None:
    state, py = family()
    value = get(state, "proc.aname", event(thread=py))
    assert isinstance(value, AnyOf)
    assert str(value) == "bash sshd systemd"
    assert matches(state, "proc.aname = sshd", event(thread=py))
    assert matches(state, "proc.aname startswith sys", event(thread=py))
    assert not matches(state, "proc.aname = python3", event(thread=py))  # not itself


def test_non_main_thread_reads_its_process() -> None:
    state, _ = family()
    worker = state.threads.get(301)
    assert worker is not None
    evt = event(thread=worker)
    assert get(state, "thread.tid", evt) == 301
    assert get(state, "thread.ismain", evt) is False
    assert get(state, "proc.aname", evt, "0") == "python3"
    assert get(state, "proc.aname", evt, "1") == "bash"


def test_stdio_fields() -> None:
    state, py = family()
    py.fds[1] = Fd(num=1, type=FdType.PIPE, name="pipe:[42]")
    assert get(state, "proc.stdout.type", event(thread=py)) == "pipe"
    assert get(state, "proc.stdout.name", event(thread=py)) == "pipe:[42]"
    assert get(state, "proc.stdin.name", event(thread=py)) is MISSING


@pytest.mark.parametrize(
    ("name", "arg"),
    [
        ("proc.name", "1"),  # takes no argument
        ("proc.aname", "two"),  # index must be a number
        ("proc.nosuch", None),
        ("thread.cgroup", None),  # argument required
    ],
)
def test_bad_names_and_arguments_do_not_resolve(name: str, arg: str | None) -> None:
    assert FieldRegistry(FakeState()).resolve(name, arg) is None


def test_exe_inode_fields_resolve_but_are_unknown() -> None:
    state, py = family()
    assert get(state, "proc.exe_ino.ctime", event(thread=py)) is MISSING
    assert not matches(state, "proc.exe_ino.mtime > 0", event(thread=py))
