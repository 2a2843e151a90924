"""Small runtime pieces: mount option parsing, namespace plans, capability masks, rollback,
signal names, and the pid + start-time identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion._sys import mount as m
from bastion._sys.proc import is_alive, start_time
from bastion._sys.signals import parse_signal
from bastion.oci.spec import Linux, LinuxNamespace
from bastion.runtime import namespaces
from bastion.runtime.capabilities import mask
from bastion.runtime.init.mount_options import parse_options
from bastion.runtime.rollback import Rollback


def test_parse_options_flags_propagation_and_data() -> None:
    flags, propagation, data = parse_options(
        ("nosuid", "nodev", "ro", "rw", "noexec", "rshared", "size=1m", "mode=755")
    )
    assert flags == m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC  # rw after ro clears MS_RDONLY
    assert propagation == m.MS_SHARED | m.MS_REC
    assert data == "size=1m,mode=755"


def test_parse_options_bind() -> None:
    flags, propagation, data = parse_options(("rbind", "ro"))
    assert flags == m.MS_BIND | m.MS_REC | m.MS_RDONLY
    assert (propagation, data) == (0, "")


def test_namespace_plan() -> None:
    linux = Linux(
        namespaces=(
            LinuxNamespace(type="pid"),
            LinuxNamespace(type="network", path="/proc/1/ns/net"),
            LinuxNamespace(type="mount"),
        )
    )
    plan = namespaces.plan(linux)
    assert plan.creates("pid") and plan.creates("mount")
    assert not plan.creates("network") and plan.has("network")
    assert not plan.has("user")
    assert plan.join == (("network", "/proc/1/ns/net"),)


def test_capability_mask() -> None:
    assert mask(["CAP_CHOWN", "CAP_KILL"]) == (1 << 0) | (1 << 5)
    assert mask([]) == 0


def test_rollback_runs_newest_first_and_notes_failures() -> None:
    done: list[str] = []
    undo = Rollback()
    undo.push("a", lambda: done.append("a"))

    def broken() -> None:
        raise OSError("cannot")

    undo.push("b", broken)
    undo.push("c", lambda: done.append("c"))
    error = RuntimeError("original")
    undo.unwind(error)
    assert done == ["c", "a"]
    assert error.__notes__ == ["while undoing b: cannot"]


def test_rollback_commit_keeps_everything() -> None:
    done: list[str] = []
    undo = Rollback()
    undo.push("a", lambda: done.append("a"))
    undo.commit()
    undo.unwind(RuntimeError())
    assert done == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("kill", 9),
        ("9", 9),
        ("TERM", 15),
        ("SIGUSR1", 10),
        ("RTMIN+1", 35),
    ],
)
def test_signal_names(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["NOPE", "0", "-1", "999", "SIG"])
def test_bad_signals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_signal(text)


def test_pid_is_trusted_only_with_its_start_time() -> None:
    me = os.getpid()
    start = start_time(me)
    assert start is not None
    assert is_alive(me, start)
    assert not is_alive(me, start + 1)  # same pid, another process (pid reuse)
    assert not is_alive(0, None)
    assert start_time(2**22 + 1) is None


def test_create_reads_config_json_through_oci(tmp_path: Path) -> None:
    """One reader of a bundle's config.json (oci.read_config): `create` and `load_spec` give the
    same error for a bundle without one."""
    from bastion.oci import SpecNotFound, load_spec
    from bastion.runtime.create import load_bundle

    errors = []
    for load in (load_bundle, load_spec):
        with pytest.raises(SpecNotFound) as info:
            load(str(tmp_path / "no-bundle"))
        errors.append((info.value.reference, info.value.where, info.value.exit_code))
    where = str(tmp_path / "no-bundle" / "config.json")
    assert errors == [("spec-not-found", where, 3)] * 2
