"""bastion._sys.tree.remove_tree: `rm -r` that removes a symbolic link and never follows it
(a container's upper directory and a volume hold whatever the container made)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from bastion._sys.tree import remove_tree

if TYPE_CHECKING:
    from pathlib import Path


def make_tree(root: Path) -> None:
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "deep").write_text("x")
    (root / "a" / "file").write_text("y")
    os.mkfifo(root / "a" / "fifo")
    (root / "empty").mkdir()


def test_removes_a_nested_tree(tmp_path: Path) -> None:
    make_tree(tmp_path / "doomed")
    remove_tree(str(tmp_path / "doomed"))
    assert os.listdir(tmp_path) == []


def test_symbolic_links_are_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "keep").write_text("host data")
    (outside / "file").write_text("host file")
    doomed = tmp_path / "doomed"
    (doomed / "sub").mkdir(parents=True)
    (doomed / "to-dir").symlink_to(outside / "dir")
    (doomed / "sub" / "to-file").symlink_to(outside / "file")
    (doomed / "to-root").symlink_to("/")
    remove_tree(str(doomed))
    assert not doomed.exists()
    assert (outside / "dir" / "keep").read_text() == "host data"
    assert (outside / "file").read_text() == "host file"


def test_a_link_given_as_the_tree_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "keep").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        remove_tree(str(tmp_path / "link"))
    remove_tree(str(tmp_path / "link"), ignore_errors=True)
    assert (tmp_path / "real" / "keep").read_text() == "x"


def test_a_missing_tree_is_no_error(tmp_path: Path) -> None:
    remove_tree(str(tmp_path / "nothing"))
    remove_tree(str(tmp_path / "nothing"), ignore_errors=True)


def test_an_error_names_the_path_or_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(NotADirectoryError) as caught:
        remove_tree(str(tmp_path / "file"))
    assert caught.value.filename == str(tmp_path / "file")
    remove_tree(str(tmp_path / "file"), ignore_errors=True)
    assert (tmp_path / "file").exists()  # what cannot be removed as a tree stays
