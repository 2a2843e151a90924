"""The lean `start` and `delete` (bastion/runtime/lean.py) beside the full path (`Container`):
the same result for a plain container, nothing done for anything else (no privileges: the
state directory and the "cgroup directories" are made by hand, bastion_testing.plain_state)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bastion.runtime import lean
from bastion.runtime.container import Container
from bastion_testing.plain_state import CGROUP, IDENTITY, make_plain, snapshot


def _reader(root: str, container_id: str = "c1") -> int:
    """The init's end of the exec fifo (start's write needs a reader)."""
    return os.open(os.path.join(root, container_id, "exec.fifo"), os.O_RDONLY | os.O_NONBLOCK)


def _start_full(root: str, container_id: str) -> bool:
    Container.load(root, container_id).start()
    return True


def _delete_full(root: str, container_id: str) -> bool:
    Container.load(root, container_id).delete()
    return True


@pytest.mark.parametrize("start", [lean.start, _start_full], ids=["lean", "full"])
def test_start_writes_the_fifo_and_removes_it(
    tmp_path: Path, start: Callable[[str, str], bool]
) -> None:
    root = make_plain(tmp_path)
    before = snapshot(tmp_path)
    reader = _reader(root)
    try:
        assert start(root, "c1")
        assert os.read(reader, 8) == b"0"
    finally:
        os.close(reader)
    after = snapshot(tmp_path)
    assert before.pop("root/c1/exec.fifo") == "fifo"
    after.pop("root/c1/lock")  # made by the first lock, as runc's
    assert after == before  # state.json untouched


def test_lean_and_full_start_leave_the_same_tree(tmp_path: Path) -> None:
    results = []
    for name, start in (("lean", lean.start), ("full", _start_full)):
        root = make_plain(tmp_path / name)
        reader = _reader(root)
        try:
            assert start(root, "c1")
        finally:
            os.close(reader)
        results.append(snapshot(tmp_path / name))
    assert results[0].keys() == results[1].keys()
    lean_tree, full_tree = (
        {k: v for k, v in r.items() if not k.endswith(("state.json", "plain"))} for r in results
    )
    assert lean_tree == full_tree


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"has_poststart": True}, "a poststart hook"),
        ({"status": "creating"}, "a create not finished"),
        ({"freezer_file": None}, "no freezer file recorded"),
        ({"alive": False}, "the init is gone"),
    ],
)
def test_start_leaves_what_is_not_plain_to_the_full_path(
    tmp_path: Path, changes: dict[str, object], why: str
) -> None:
    root = make_plain(tmp_path, **changes)  # type: ignore[arg-type]
    before = snapshot(tmp_path)
    reader = _reader(root)
    try:
        assert not lean.start(root, "c1"), why
        assert os.read(reader, 8) == b""
    finally:
        os.close(reader)
    after = snapshot(tmp_path)
    after.pop("root/c1/lock", None)
    assert after == before


@pytest.mark.parametrize("freezer", ["FROZEN", "1", "FREEZING"])
def test_start_of_a_frozen_or_freezing_container_is_left_to_the_full_path(
    tmp_path: Path, freezer: str
) -> None:
    root = make_plain(tmp_path)
    (tmp_path / "freezer.state").write_text(freezer + "\n")
    reader = _reader(root)
    try:
        assert not lean.start(root, "c1")
    finally:
        os.close(reader)
    assert os.path.exists(os.path.join(root, "c1", "exec.fifo"))


def test_start_without_a_reader_on_the_fifo_does_nothing(tmp_path: Path) -> None:
    """ENXIO: the init died between the status and the open; the full path says so."""
    root = make_plain(tmp_path)
    assert not lean.start(root, "c1")
    assert os.path.exists(os.path.join(root, "c1", "exec.fifo"))


@pytest.mark.parametrize("container_id", ["missing", "../c1", ".c1", ""])
def test_unknown_or_invalid_ids_are_left_to_the_full_path(
    tmp_path: Path, container_id: str
) -> None:
    root = make_plain(tmp_path)
    before = snapshot(tmp_path)
    assert not lean.start(root, container_id)
    assert not lean.delete(root, container_id)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "damage", [b"", b"{", b"[]", b'{"id": "c1"}'], ids=["empty", "cut", "array", "partial"]
)
def test_a_damaged_state_file_is_left_to_the_full_path(tmp_path: Path, damage: bytes) -> None:
    root = make_plain(tmp_path, alive=False)
    Path(root, "c1", "state.json").write_bytes(damage)
    before = snapshot(tmp_path)
    assert not lean.start(root, "c1")
    assert not lean.delete(root, "c1")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("delete", [lean.delete, _delete_full], ids=["lean", "full"])
def test_delete_removes_the_cgroup_and_state_and_keeps_the_identity(
    tmp_path: Path, delete: Callable[[str, str], bool]
) -> None:
    root = make_plain(tmp_path, alive=False)
    assert delete(root, "c1")
    tree = snapshot(tmp_path)
    assert not any(k.startswith("root/c1") for k in tree)
    assert not any(k.endswith(CGROUP.rsplit("/", 1)[1]) for k in tree)  # every hierarchy
    assert tree["root/.gone/c1.json"] == IDENTITY


def test_lean_and_full_delete_leave_the_same_tree(tmp_path: Path) -> None:
    trees = []
    for name, delete in (("lean", lean.delete), ("full", _delete_full)):
        root = make_plain(tmp_path / name, alive=False)
        os.makedirs(os.path.join(root, ".creating-c1.99"))  # a killed create's debris
        # the parent cgroup a create made, recorded: removed with the last container under it
        Path(root, ".cgroup-parents").write_text("/bastion-unit\n")
        assert delete(root, "c1")
        trees.append(snapshot(tmp_path / name))
    assert trees[0] == trees[1]
    assert sorted(trees[0]) == [
        "cgroup",
        "cgroup/cpu",
        "cgroup/memory",
        "cgroup/unified",
        "freezer.state",
        "root",
        "root/.gone",
        "root/.gone/.pruned",
        "root/.gone/c1.json",
    ]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"alive": True}, "created (runc kills its init): the full path"),
        ({"has_poststop": True}, "a poststop hook"),
        ({"host_mounts": True}, "mounts in the host's namespace"),
        ({"cgroup_preexisting": True}, "a cgroup create did not make"),
        ({"cgroup_preexisting": None}, "create never looked"),
        ({"cgroup_dirs": None}, "no directories recorded"),
        ({"status": "creating"}, "a create that died half way"),
    ],
)
def test_delete_leaves_what_is_not_plain_to_the_full_path(
    tmp_path: Path, changes: dict[str, object], why: str
) -> None:
    changes = {"alive": False, **changes}
    root = make_plain(tmp_path, **changes)  # type: ignore[arg-type]
    before = snapshot(tmp_path)
    assert not lean.delete(root, "c1"), why
    after = snapshot(tmp_path)
    after.pop("root/c1/lock", None)
    assert after == before


def test_delete_with_a_busy_cgroup_is_left_to_the_full_path(tmp_path: Path) -> None:
    """A child cgroup (or a process) in one directory: rmdir fails, the full path kills and
    removes with retries; the state directory is left for it."""
    root = make_plain(tmp_path, alive=False)
    busy = tmp_path / "cgroup" / "memory" / CGROUP.lstrip("/") / "child"
    busy.mkdir()
    assert not lean.delete(root, "c1")
    assert busy.is_dir()
    assert os.path.exists(os.path.join(root, "c1", "state.json"))
    assert Path(root, "c1", "identity.json").read_bytes() == IDENTITY


def test_the_plain_record_holds_what_the_compiled_front_reads(tmp_path: Path) -> None:
    root = make_plain(tmp_path)
    saved = Container.load(root, "c1").saved
    assert saved.cgroup_dirs is not None
    assert Path(root, "c1", "plain").read_text().splitlines() == [
        lean.PLAIN_MAGIC,
        str(saved.pid),
        str(saved.pid_start),
        saved.freezer_file,
        saved.cgroup_path,
        *saved.cgroup_dirs,
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "creating"},
        {"has_poststart": True},
        {"has_poststop": True},
        {"host_mounts": True},
        {"cgroup_preexisting": None},
        {"cgroup_preexisting": True},
        {"freezer_file": None},
        {"cgroup_dirs": None},
        {"cgroup_dirs": ["/elsewhere"]},
        {"cgroup_path": "/bastion-unit/new\nline"},
        {"pid": 0, "pid_start": None},
    ],
)
def test_no_plain_record_for_what_is_not_plain(tmp_path: Path, changes: dict[str, object]) -> None:
    root = make_plain(tmp_path, **changes)  # type: ignore[arg-type]
    assert not Path(root, "c1", "plain").exists()
