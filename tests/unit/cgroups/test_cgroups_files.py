"""bastion.runtime.cgroups.files: reads, writes and the errors they raise."""

from __future__ import annotations

from errno import ENOENT
from typing import TYPE_CHECKING

import pytest

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupError, CgroupFileError

if TYPE_CHECKING:
    from pathlib import Path


def test_write_replaces_and_read_returns_the_text(tmp_path: Path) -> None:
    path = tmp_path / "memory.max"
    path.write_text("max\n")
    files.write(str(path), "1024")
    assert files.read(str(path)) == "1024"


def test_write_to_a_missing_file_names_path_value_and_errno(tmp_path: Path) -> None:
    path = str(tmp_path / "pids.max")
    with pytest.raises(CgroupFileError) as info:
        files.write(path, "10")
    error = info.value
    assert (error.reference, error.where, error.path) == ("cgroup-write-failed", path, path)
    assert (error.value, error.errno) == ("10", ENOENT)
    assert error.hint is not None
    assert isinstance(error, CgroupError)


def test_failed_read(tmp_path: Path) -> None:
    with pytest.raises(CgroupFileError) as info:
        files.read(str(tmp_path / "absent"))
    assert (info.value.reference, info.value.value) == ("cgroup-read-failed", None)


def test_optional_and_typed_reads(tmp_path: Path) -> None:
    (tmp_path / "n").write_text("42\n")
    (tmp_path / "m").write_text("max\n")
    (tmp_path / "kv").write_text("oom 1\noom_kill 2\nname text\n")
    (tmp_path / "procs").write_text("12\n7\n")
    assert files.read_optional(str(tmp_path / "absent")) is None
    assert files.read_int(str(tmp_path / "n")) == 42
    assert files.read_int(str(tmp_path / "m")) is None
    assert files.read_int(str(tmp_path / "absent")) is None
    assert files.read_keyed(str(tmp_path / "kv")) == {"oom": 1, "oom_kill": 2}
    assert files.read_pids(str(tmp_path / "procs")) == [12, 7]
    assert files.read_pids(str(tmp_path / "absent")) == []


def test_mkdir(tmp_path: Path) -> None:
    assert files.mkdir(str(tmp_path / "a")) is True
    assert files.mkdir(str(tmp_path / "a")) is False
    with pytest.raises(CgroupError) as info:
        files.mkdir(str(tmp_path / "no" / "parent"))
    assert info.value.reference == "cgroup-create-failed"
