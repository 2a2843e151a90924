"""bastion-runc's start-up imports only what it needs (docs/conventions.md §13).

Each verb is run in a fresh `python -S` (as the lean launcher does) against a bundle that does
not exist, so no privileges are needed but the whole import chain of the verb is loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bastion._sys import libc
from bastion_testing.plain_state import make_plain

SRC = Path(__file__).resolve().parents[3] / "src"
FORBIDDEN = {
    "yaml",
    "pyroute2",
    "dnslib",
    "bastion.network",
    "bastion.sensor",
    "bastion.engine",
    "pydantic",
    "jsonschema",
    # measured start-up costs on this machine: typing 17 ms, dataclasses 24 ms, json 13 ms...
    "typing",
    "dataclasses",
    "json",
    "re",
    "enum",
    "argparse",
    "logging",
    "subprocess",
    "pathlib",
    "contextlib",
    "signal",
    "socket",
    "shutil",
    "tempfile",
}

# How many modules (all of sys.modules, the interpreter's own included) each verb may load, as
# measured when the lean start/delete paths landed plus two: a new import on a verb's path has
# to be argued for here. Verbs that touch no kernel interface beyond files load no ctypes
# (1.7-1.9 ms to load): start and delete of a plain container read what create recorded.
MODULE_BUDGET = {
    "create": 86,
    "run": 88,
    "exec": 85,
    "state": 56,
    "start": 56,
    "delete": 56,
    "list": 56,
    "kill": 59,
    "pause": 62,
    "resume": 62,
    "update": 63,
    "events": 62,
    "ps": 62,
}
NO_CTYPES = {"state", "start", "delete", "list", "pause", "resume", "update", "events", "ps"}
# With bastion/_sys's C extension (scripts/setup builds it), the syscall wrappers need no ctypes
# either: create, run, exec and kill load none (tests/unit/test_sys_native.py tests the fallback).
NO_CTYPES_WITH_NATIVE = {"create", "run", "exec", "kill"}

PROBE = """
import sys
sys.path.insert(0, {src!r})
from bastion.cli.runc.main import main
code = main({argv!r})
print(",".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["create", "--bundle", "/nonexistent-bst-test", "bst-test-budget"],
        ["run", "--bundle", "/nonexistent-bst-test", "bst-test-budget"],
        ["state", "bst-test-budget"],
        ["kill", "bst-test-budget", "KILL"],
        ["delete", "bst-test-budget"],
        ["list"],
        ["start", "bst-test-budget"],
        ["pause", "bst-test-budget"],
        ["resume", "bst-test-budget"],
        ["update", "--memory", "64m", "--pids-limit", "8", "bst-test-budget"],
        ["events", "--stats", "bst-test-budget"],
        ["events", "--interval", "1s", "bst-test-budget"],
        ["ps", "bst-test-budget", "-o", "pid"],
        ["ps", "--format", "json", "bst-test-budget"],
        ["exec", "bst-test-budget", "true"],
    ],
)
def test_verbs_import_nothing_heavy(tmp_path: Path, argv: list[str]) -> None:
    full = ["--root", str(tmp_path), *argv]
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE.format(src=str(SRC), argv=full)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(result.stdout.splitlines()[-1].split(","))
    heavy = {
        m
        for m in loaded
        if m in FORBIDDEN
        or m.split(".")[0] in FORBIDDEN
        or m.startswith(("bastion.sensor", "bastion.engine"))
    }
    assert heavy == set(), f"bastion-runc {argv[0]} imported {sorted(heavy)}"
    assert len(loaded) <= MODULE_BUDGET[argv[0]], sorted(loaded)
    if argv[0] in NO_CTYPES or (argv[0] in NO_CTYPES_WITH_NATIVE and libc.native is not None):
        assert "ctypes" not in loaded


def test_the_whole_runtime_library_imports_nothing_heavy() -> None:
    """What create/exec load in the parent and the children, including seccomp and hooks."""
    modules = (
        "bastion.runtime.create, bastion.runtime.tenant, bastion.runtime.init.rootfs, "
        "bastion.runtime.init.process, bastion.runtime.seccomp, bastion.runtime.hooks, "
        "bastion.runtime.control, bastion.cli.runc.tty"
    )
    code = (
        f"import sys\nsys.path.insert(0, {str(SRC)!r})\nimport {modules}\n"
        "print(','.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(result.stdout.strip().split(","))
    heavy = {m for m in loaded if m.split(".")[0] in FORBIDDEN}
    assert heavy == set(), sorted(heavy)


# The lean front (bastion/cli/runc/lean.py), as the launcher calls it for `start` and `delete`
# of a plain container: no `os` (~1 ms), no option parser, no Container, no cgroup manager. All
# of sys.modules, as measured when it landed, plus two.
LEAN_BUDGET = {"start": 41, "delete": 41}
LEAN_PROBE = """
import sys
sys.path.insert(0, {src!r})
from bastion.cli.runc.lean import main
code = main({argv!r})
print(code, ",".join(sorted(sys.modules)))
"""
LEAN_NEVER = {
    "os",
    "ctypes",
    "bastion.cli.runc.main",
    "bastion.cli.runc.args",
    "bastion.runtime.container",
    "bastion.runtime.store",
    "bastion.runtime.errors",
    "bastion.runtime.cgroups",
}


@pytest.mark.parametrize("verb", ["start", "delete"])
def test_the_lean_verbs_import_only_built_in_modules_and_a_few_of_ours(
    tmp_path: Path, verb: str
) -> None:
    root = make_plain(tmp_path, alive=verb == "start")
    # start's write needs a reader on the fifo (the init's end, here)
    reader = os.open(os.path.join(root, "c1", "exec.fifo"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-S",
                "-c",
                LEAN_PROBE.format(src=str(SRC), argv=["--root", root, verb, "c1"]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        os.close(reader)
    code, modules = result.stdout.splitlines()[-1].split(" ", 1)
    assert code == "0", result.stderr  # done by the lean path, not handed on
    loaded = set(modules.split(","))
    assert {
        m for m in loaded if m in LEAN_NEVER or m.startswith("bastion.runtime.cgroups")
    } == set()
    assert len(loaded) <= LEAN_BUDGET[verb], sorted(loaded)
