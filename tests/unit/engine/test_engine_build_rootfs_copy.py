"""`rootfs_copy.in_root`: a container path resolved inside an image's root, its symlinks
(absolute, relative, `..` past the root, loops) never leading out."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from bastion.engine.builder.rootfs_copy import in_root
from bastion.engine.errors import BuildStepError

if TYPE_CHECKING:
    from pathlib import Path


def test_symlinks_stay_in_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    os.symlink("/usr/lib", root / "lib")  # absolute: the root's /usr/lib, not the host's
    os.symlink("../../../../../../etc", root / "usr" / "escape")  # `..` stops at the root
    os.symlink("lib", root / "usr" / "lib64")  # relative
    os.symlink("loop", root / "loop")
    r = str(root)
    assert in_root(r, "/lib/x") == f"{r}/usr/lib/x"
    assert in_root(r, "/usr/escape/passwd") == f"{r}/etc/passwd"
    assert in_root(r, "/usr/lib64/y") == f"{r}/usr/lib/y"
    assert in_root(r, "/../../etc/shadow") == f"{r}/etc/shadow"
    assert in_root(r, "missing/file") == f"{r}/missing/file"
    with pytest.raises(BuildStepError, match="too many symlinks"):
        in_root(r, "/loop/x")
