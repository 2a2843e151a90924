"""The session leak check: it finds what tests leave behind, and it fails the run for it.

The end-to-end cases run pytest in a subprocess on a tiny test file that leaks (a `bst-test-*`
cgroup directory, a tmpfs mount) with the same plugin, check that the run fails and names the
leak, then remove the leak themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from bastion_testing import leaks

if TYPE_CHECKING:
    from pathlib import Path

HELPERS = os.path.dirname(os.path.dirname(leaks.__file__))
# Never under our own cgroup: an absolute path in the memory hierarchy, like test containers'.
CGROUP_PARENT = "/sys/fs/cgroup/memory/bastion-test"


def _inner_pytest(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    """Run `test_source` as a test file in a pytest of its own, with the bastion plugin."""
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "inner" / "test_inner.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": HELPERS}
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "bastion_testing.plugin",
        "-p",
        "no:cacheprovider",
    ]
    argv += ["--basetemp", str(tmp_path / "basetemp"), "test_inner.py"]
    return subprocess.run(
        argv, cwd=tmp_path / "inner", env=env, capture_output=True, text=True, timeout=120
    )


def test_new_since_and_report() -> None:
    before = leaks.Snapshot(cgroups={"/a/bst-test-1": "/a/bst-test-1"})
    after = leaks.Snapshot(
        cgroups={"/a/bst-test-1": "/a/bst-test-1", "/a/bst-test-2": "/a/bst-test-2"},
        processes={"42 1000": "pid 42: sleep 9 (cgroup 4:memory:/bastion-test/x)"},
    )
    new = leaks.new_since(before, after)
    assert new.cgroups == {"/a/bst-test-2": "/a/bst-test-2"}
    assert not new.is_empty()
    assert leaks.report(new) == (
        "cgroups (1):\n  /a/bst-test-2\n"
        "processes (1):\n  pid 42: sleep 9 (cgroup 4:memory:/bastion-test/x)"
    )
    assert leaks.new_since(after, before).is_empty()


def test_new_since_leaves_out_other_sessions_things() -> None:
    mine, theirs, untagged = "/c/bst-test-00aa-1", "/c/bst-test-11bb-2", "/c/bst-test-leak"
    after = leaks.Snapshot(cgroups={p: p for p in (mine, theirs, untagged)})
    new = leaks.new_since(leaks.Snapshot(), after, session="00aa")
    assert sorted(new.cgroups) == [mine, untagged]
    assert len(leaks.new_since(leaks.Snapshot(), after).cgroups) == 3


def test_cgroups_finds_test_directories_at_any_depth(tmp_path: Path) -> None:
    for rel in ("memory/bastion-test/bst-test-a/child", "pids/x/y/bst-test-b", "cpu/bst-testing"):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / "cpu" / "bst-test-file").write_text("")  # files are not cgroups
    (tmp_path / "cpuacct").symlink_to(tmp_path / "cpu")  # co-mounted hierarchies: not followed
    found = leaks.cgroups(str(tmp_path))
    assert sorted(found) == [
        str(tmp_path / "memory/bastion-test/bst-test-a"),
        str(tmp_path / "pids/x/y/bst-test-b"),
    ]


def test_snapshot_of_this_host_runs() -> None:
    snap = leaks.snapshot((os.getcwd(),))
    assert isinstance(snap.mounts, dict)


def test_a_clean_session_passes(tmp_path: Path) -> None:
    result = _inner_pytest(tmp_path, "def test_nothing():\n    pass\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.privileged
def test_a_leaked_cgroup_fails_the_session(tmp_path: Path) -> None:
    name = f"bst-test-leak-{os.getpid()}"
    leaked = os.path.join(CGROUP_PARENT, name)
    source = f"import os\n\ndef test_leaks():\n    os.makedirs({leaked!r})\n"
    try:
        result = _inner_pytest(tmp_path, source)
    finally:
        if os.path.isdir(leaked):
            os.rmdir(leaked)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "left these behind" in result.stdout
    assert leaked in result.stdout


@pytest.mark.privileged
def test_a_leaked_mount_fails_the_session(tmp_path: Path) -> None:
    target = tmp_path / "bst-test-mnt"
    target.mkdir()
    source = (
        "import subprocess\n\n"
        "def test_leaks():\n"
        f"    subprocess.run(['mount', '-t', 'tmpfs', 'bst-test', {str(target)!r}], check=True)\n"
    )
    try:
        result = _inner_pytest(tmp_path, source)
    finally:
        subprocess.run(["umount", str(target)], capture_output=True, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "left these behind" in result.stdout
    assert f"{target} (tmpfs" in result.stdout


def test_empty_parent_cgroups_made_by_the_session_are_removed(tmp_path: Path) -> None:
    """Parents are found in every hierarchy; only empty ones go (a busy one stays, and the
    leak check names its child)."""
    for hierarchy in ("memory", "pids"):
        (tmp_path / hierarchy).mkdir()
        (tmp_path / hierarchy / "cgroup.procs").write_text("")
    (tmp_path / "memory" / "bastion-test").mkdir()
    (tmp_path / "pids" / "bastion-test" / "bst-test-aaaa-left").mkdir(parents=True)
    made = leaks.parent_cgroups(str(tmp_path))
    assert made == {
        str(tmp_path / "memory" / "bastion-test"),
        str(tmp_path / "pids" / "bastion-test"),
    }
    leaks.remove_empty_parents(made)
    assert not (tmp_path / "memory" / "bastion-test").exists()
    assert (tmp_path / "pids" / "bastion-test" / "bst-test-aaaa-left").is_dir()
