"""`bastion cp`'s copy (engine/copy.py) on plain directories standing in for a container's
root: content, modes, links copied as links, and no path that leaves the root, whatever
symlinks the "container" holds. openat2 needs no privilege, so these run unprivileged."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from bastion.engine.copy import copy_in, copy_out
from bastion.engine.errors import CopyError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[str, str, str]:
    """(container root, host dir, a directory outside both that must never be written)."""
    root, host, outside = (str(tmp_path / n) for n in ("root", "host", "outside"))
    for path in (root, host, outside, f"{root}/etc", f"{root}/tmp"):
        os.mkdir(path)
    os.symlink("/etc", f"{root}/abs")  # absolute: the container's /etc
    os.symlink("../../../../../..", f"{root}/tmp/up")  # relative, climbing past the root
    os.symlink(outside, f"{root}/out")  # a host path: inside the root, it names nothing
    return root, host, outside


def _write(path: str, text: str, mode: int = 0o644) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_copy_in_keeps_content_and_mode(dirs: tuple[str, str, str]) -> None:
    root, host, _ = dirs
    _write(f"{host}/tool", "x\n", 0o4755)
    copy_in(root, f"{host}/tool", "/tmp/")
    copy_in(root, f"{host}/tool", "/tmp/renamed")
    for name in ("tool", "renamed"):
        assert _read(f"{root}/tmp/{name}") == "x\n"
        assert os.stat(f"{root}/tmp/{name}").st_mode & 0o7777 == 0o4755


@pytest.mark.parametrize("target", ["/abs/x", "/tmp/up/x", "/out/x", "/../../x"])
def test_copy_in_never_leaves_the_root(dirs: tuple[str, str, str], target: str) -> None:
    root, host, outside = dirs
    _write(f"{host}/x", "payload\n")
    try:
        copy_in(root, f"{host}/x", target)
    except CopyError:
        pass  # refusing is fine; writing outside is not
    assert os.listdir(outside) == []
    assert not os.path.exists(os.path.join(os.path.dirname(root), "x"))


def test_copy_in_replaces_a_symlink_instead_of_writing_through_it(
    dirs: tuple[str, str, str],
) -> None:
    root, host, outside = dirs
    _write(f"{outside}/victim", "host\n")
    os.symlink(f"{outside}/victim", f"{root}/tmp/file")
    _write(f"{host}/file", "new\n")
    copy_in(root, f"{host}/file", "/tmp/file")
    assert _read(f"{outside}/victim") == "host\n"
    assert not os.path.islink(f"{root}/tmp/file") and _read(f"{root}/tmp/file") == "new\n"


def test_copy_out_of_a_tree_keeps_links_as_links(dirs: tuple[str, str, str]) -> None:
    root, host, _ = dirs
    os.makedirs(f"{root}/data/sub")
    _write(f"{root}/data/sub/f", "deep\n", 0o600)
    os.chmod(f"{root}/data/sub", 0o710)
    os.symlink("/etc/shadow", f"{root}/data/link")
    copy_out(root, "/data", host)
    assert _read(f"{host}/data/sub/f") == "deep\n"
    assert os.stat(f"{host}/data/sub/f").st_mode & 0o7777 == 0o600
    assert os.stat(f"{host}/data/sub").st_mode & 0o7777 == 0o710
    assert os.readlink(f"{host}/data/link") == "/etc/shadow"
    copy_out(root, "/data/.", f"{host}/contents")
    assert sorted(os.listdir(f"{host}/contents")) == ["link", "sub"]


def test_copy_out_resolves_links_inside_the_root(dirs: tuple[str, str, str]) -> None:
    root, host, outside = dirs
    _write(f"{root}/etc/hostname", "container\n")
    _write(f"{outside}/secret", "host secret\n")
    copy_out(root, "/abs/hostname", f"{host}/a")  # /abs -> /etc: the container's
    copy_out(root, "/tmp/up/etc/hostname", f"{host}/b")  # climbs to the root, no further
    assert _read(f"{host}/a") == _read(f"{host}/b") == "container\n"
    with pytest.raises(CopyError):
        copy_out(root, "/out/secret", f"{host}/c")  # a host path means nothing inside
    copy_out(root, "/abs", f"{host}/link")
    assert os.readlink(f"{host}/link") == "/etc"  # the link itself, not followed
    copy_out(root, "/abs", f"{host}/followed", follow=True)
    assert _read(f"{host}/followed/hostname") == "container\n"


def test_copy_errors_name_the_path(dirs: tuple[str, str, str]) -> None:
    root, host, _ = dirs
    with pytest.raises(CopyError, match="no such file in the container"):
        copy_out(root, "/missing", host)
    with pytest.raises(CopyError, match="no such directory in the container"):
        copy_in(root, host, "/missing/dir/x")
    with pytest.raises(CopyError, match="no such file on the host"):
        copy_in(root, f"{host}/missing", "/tmp")


def test_an_os_error_is_one_clear_error(dirs: tuple[str, str, str]) -> None:
    root, host, _ = dirs
    _write(f"{host}/f", "x\n")
    with pytest.raises(CopyError, match="cp failed: File name too long"):
        copy_in(root, f"{host}/f", "/tmp/" + "a" * 300)
