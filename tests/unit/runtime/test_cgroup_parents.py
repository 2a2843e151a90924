"""The registry of parent cgroups bastion made (runtime/cgroup_parents.py) never outlives them."""

from __future__ import annotations

from pathlib import Path

from bastion.runtime import cgroup_parents
from bastion.runtime.store import CGROUP_PARENTS_FILE


def test_an_empty_registry_left_by_a_killed_create_is_removed(tmp_path: Path) -> None:
    # A create SIGKILLed between opening (O_CREAT) the registry and writing its line leaves an
    # empty file; the delete --force that follows must not leave it in the runtime root.
    registry = tmp_path / CGROUP_PARENTS_FILE
    registry.touch()
    cgroup_parents.remove_empty(str(tmp_path), "/bastion-test-absent/parent/container")
    assert not registry.exists()


def test_a_parent_that_still_exists_stays_recorded(tmp_path: Path) -> None:
    # "/" exists in every hierarchy: an entry for a parent still there is kept.
    registry = tmp_path / CGROUP_PARENTS_FILE
    registry.write_text("/\n/bastion-test-absent\n")
    cgroup_parents.remove_empty(str(tmp_path), "/bastion-test-other/container")
    assert registry.read_text() == "/\n"


def test_given_mounts_are_walked_instead_of_the_mount_table(tmp_path: Path) -> None:
    # The delete of a container whose create recorded its cgroup directories passes their
    # hierarchies: the registered parents go from those, and a parent still holding another
    # cgroup stays (rmdir refuses it), as on a real hierarchy.
    root = tmp_path / "root"
    root.mkdir()
    (root / CGROUP_PARENTS_FILE).write_text("/bst-p\n")
    mounts = [tmp_path / "h1", tmp_path / "h2"]
    for mount in mounts:
        (mount / "bst-p" / "q").mkdir(parents=True)
    (mounts[1] / "bst-p" / "other").mkdir()  # another container's cgroup, in one hierarchy
    cgroup_parents.remove_empty(str(root), "/bst-p/q/container", [str(m) for m in mounts])
    assert not (mounts[0] / "bst-p" / "q").exists() and not (mounts[1] / "bst-p" / "q").exists()
    # h1's /bst-p went before h2's refused: the walk stops there and the entry stays
    assert not (mounts[0] / "bst-p").exists() and (mounts[1] / "bst-p" / "other").is_dir()
    assert (root / CGROUP_PARENTS_FILE).read_text() == "/bst-p\n"
    (mounts[1] / "bst-p" / "other").rmdir()
    cgroup_parents.remove_empty(str(root), "/bst-p/q/container", [str(m) for m in mounts])
    assert not (mounts[1] / "bst-p").exists()
    assert not (root / CGROUP_PARENTS_FILE).exists()  # nothing registered is left
