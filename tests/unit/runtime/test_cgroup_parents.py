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
