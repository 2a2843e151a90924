"""bastion-runc's compiled front (src/bastion/cli/runc/front.c, built by scripts/setup into
.venv/bin/bastion-runc) beside the Python launcher it execs (.venv/libexec/bastion-runc): the
same result for a plain container, with no Python process; everything else handed on (no
privileges: a state directory made by hand, bastion_testing.plain_state; strace tells which
processes ran)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bastion._sys.proc import start_time
from bastion_testing.plain_state import IDENTITY, make_plain, snapshot

FRONT = os.path.join(os.path.dirname(sys.executable), "bastion-runc")
PYTHON_LAUNCHER = os.path.join(os.path.dirname(os.path.dirname(FRONT)), "libexec", "bastion-runc")
NAMES = {FRONT: "front", PYTHON_LAUNCHER: "python"}
STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="strace tells which processes ran")


def _run(
    tmp_path: Path, launcher: str, *argv: str, env: dict[str, str] | None = None
) -> tuple[int, str, int]:
    """Exit status, stderr and how many programs ran (execve) for one call."""
    trace = tmp_path / "trace"
    assert STRACE is not None
    result = subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=execve", "-o", str(trace), launcher, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    execs = sum(1 for line in trace.read_text().splitlines() if "execve(" in line and "= 0" in line)
    return result.returncode, result.stderr, execs


def _comparable(tree: dict[str, bytes | str]) -> dict[str, bytes | str]:
    # state.json and the plain record name the temp dir, which differs between the two runs
    return {k: v for k, v in tree.items() if not k.endswith(("state.json", "plain", "trace"))}


def test_the_front_is_built() -> None:
    with open(FRONT, "rb") as f:
        assert f.read(4) == b"\x7fELF", "run scripts/setup"


@pytest.mark.parametrize("verb", ["start", "delete"])
def test_the_front_does_what_the_python_path_does_without_python(tmp_path: Path, verb: str) -> None:
    trees = []
    for launcher, runs in ((FRONT, 1), (PYTHON_LAUNCHER, 1)):
        base = tmp_path / NAMES[launcher]
        root = make_plain(base, alive=verb == "start")
        reader = os.open(os.path.join(root, "c1", "exec.fifo"), os.O_RDONLY | os.O_NONBLOCK)
        try:
            code, err, execs = _run(base, launcher, "--root", root, verb, "c1")
            assert (code, err) == (0, "")
            assert execs == runs  # the front alone; the Python launcher alone
            assert os.read(reader, 8) == (b"0" if verb == "start" else b"")
        finally:
            os.close(reader)
        trees.append(_comparable(snapshot(base)))
    assert trees[0] == trees[1]
    if verb == "delete":
        assert trees[0]["root/.gone/c1.json"] == IDENTITY
        assert not any(k.startswith("root/c1") for k in trees[0])


@pytest.mark.parametrize(
    ("argv", "changes"),
    [
        (["--debug", "start", "c1"], {}),
        (["delete", "c1", "--force"], {"alive": False}),
        (["delete", "--force=true", "c1"], {"alive": False}),
        (["start", "c1", "extra"], {}),
        (["--log-format", "xml", "start", "c1"], {}),
        (["start", "c1"], {"has_poststart": True}),  # no plain record
        (["start", "missing"], {}),
        (["start", "../c1"], {}),
    ],
)
def test_what_the_front_does_not_handle_goes_to_the_python_launcher(
    tmp_path: Path, argv: list[str], changes: dict[str, object]
) -> None:
    results = []
    for launcher in (FRONT, PYTHON_LAUNCHER):
        base = tmp_path / NAMES[launcher]
        root = make_plain(base, **changes)  # type: ignore[arg-type]
        code, err, execs = _run(base, launcher, "--root", root, *argv)
        results.append((code, err.replace(str(base), "BASE"), _comparable(snapshot(base))))
        assert execs == (2 if launcher == FRONT else 1)
    assert results[0] == results[1]


@pytest.mark.parametrize("flag", ["--force", "-force", "-f"])
def test_delete_force_of_a_stopped_container_is_the_fronts_alone(tmp_path: Path, flag: str) -> None:
    """What Podman calls for every container it removes. The reference is the Python full
    path (BASTION_TEST_NO_LEAN), where the flag is runc's: nothing is left to kill."""
    trees = []
    for launcher, env, runs in (
        (FRONT, None, 1),
        (PYTHON_LAUNCHER, {**os.environ, "BASTION_TEST_NO_LEAN": "1"}, 1),
    ):
        base = tmp_path / NAMES[launcher]
        root = make_plain(base, alive=False)
        code, err, execs = _run(base, launcher, "--root", root, "delete", flag, "c1", env=env)
        assert (code, err, execs) == (0, "", runs)
        trees.append(_comparable(snapshot(base)))
    assert trees[0] == trees[1]
    assert not any(k.startswith("root/c1") for k in trees[0])


def test_delete_force_of_a_live_init_goes_to_the_python_path(tmp_path: Path) -> None:
    """The front does not kill: a live init (a `sleep` of this test's) is handed on, and the
    Python path kills it and deletes, as it does when called itself."""
    results = []
    for launcher in (FRONT, PYTHON_LAUNCHER):
        base = tmp_path / NAMES[launcher]
        init = subprocess.Popen(["sleep", "60"])
        try:
            root = make_plain(base, pid=init.pid, pid_start=start_time(init.pid))
            code, err, execs = _run(base, launcher, "--root", root, "delete", "--force", "c1")
            assert init.wait(timeout=10) == -signal.SIGKILL
        finally:
            init.kill()
            init.wait()
        assert execs == (2 if launcher == FRONT else 1)
        results.append((code, err, _comparable(snapshot(base))))
    assert results[0] == results[1]
    assert results[0][:2] == (0, "")
    assert not any(k.startswith("root/c1") for k in results[0][2])


def test_a_frozen_container_or_a_dead_init_is_the_python_paths_to_refuse(
    tmp_path: Path,
) -> None:
    root = make_plain(tmp_path)
    (tmp_path / "freezer.state").write_text("FROZEN\n")
    code, err, execs = _run(tmp_path, FRONT, "--root", root, "start", "c1")
    assert code != 0 and "invalid-state" in err and execs == 2
    assert os.path.exists(os.path.join(root, "c1", "exec.fifo"))


@pytest.mark.parametrize("sibling", [False, True], ids=["last", "with-a-sibling"])
def test_a_delete_removes_the_parent_cgroups_the_registry_names_as_python_does(
    tmp_path: Path, sibling: bool
) -> None:
    """cgroup_parents.py's remove_empty, in C: the recorded parent goes with its last cgroup
    (and the registry with it); one still holding another container's cgroup stays, and so
    does its line."""
    trees = []
    for launcher in (FRONT, PYTHON_LAUNCHER):
        base = tmp_path / NAMES[launcher]
        root = make_plain(base, alive=False)
        Path(root, ".cgroup-parents").write_text("/elsewhere\n/bastion-unit\n")
        (base / "cgroup" / "cpu" / "elsewhere").mkdir()
        if sibling:
            (base / "cgroup" / "memory" / "bastion-unit" / "other").mkdir()
        code, err, execs = _run(base, launcher, "--root", root, "delete", "c1")
        assert (code, err, execs) == (0, "", 1)
        trees.append(_comparable(snapshot(base)))
    assert trees[0] == trees[1]
    assert ("cgroup/memory/bastion-unit" in trees[0]) is sibling
    assert trees[0]["root/.cgroup-parents"] == (
        b"/elsewhere\n/bastion-unit\n" if sibling else b"/elsewhere\n"
    )


def test_the_test_switch_skips_the_front(tmp_path: Path) -> None:
    root = make_plain(tmp_path, alive=False)
    env = {**os.environ, "BASTION_TEST_NO_LEAN": "1"}
    code, err, execs = _run(tmp_path, FRONT, "--root", root, "delete", "c1", env=env)
    assert (code, err, execs) == (0, "", 2)
    assert not Path(root, "c1").exists()
