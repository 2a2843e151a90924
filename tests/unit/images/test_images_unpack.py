"""Layer unpack: the three compressions, and hostile layers that must not escape the layer dir.

Every hostile case checks the host side (a victim directory next to the layer, or /etc) is
untouched, not only that the unpack returned.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import uuid
from typing import TYPE_CHECKING

import pytest

from bastion.images.errors import (
    LayerEscapeError,
    LayerFormatError,
    LayerLinkError,
    LayerWriteError,
)
from bastion.images.unpack import OPAQUE_XATTR, unpack_layer
from bastion_testing.layers import (
    compress,
    device,
    directory,
    fifo,
    file,
    hardlink,
    make_tar,
    symlink,
)

if TYPE_CHECKING:
    from pathlib import Path

    from bastion.images.unpack import UnpackResult
    from bastion_testing.layers import Item


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    path = tmp_path / "layer"
    path.mkdir()
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A host directory outside the layer with one file a hostile layer tries to reach."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "victim").write_text("host data\n")
    return host


def unpack(items: list[Item], dest: Path, how: str = "none", **kw: bool) -> UnpackResult:
    return unpack_layer(io.BytesIO(compress(make_tar(items), how)), str(dest), **kw)


def assert_untouched(host: Path) -> None:
    assert sorted(os.listdir(host)) == ["victim"]
    assert (host / "victim").read_text() == "host data\n"
    assert os.stat(host / "victim").st_nlink == 1


@pytest.mark.parametrize("how", ["none", "gzip", "zstd"])
def test_each_compression_unpacks_and_hashes_the_uncompressed_tar(layer: Path, how: str) -> None:
    tar = make_tar(
        [
            directory("bin"),
            file("bin/tool", b"#!/bin/sh\necho hi\n", mode=0o755),
            symlink("bin/sh", "tool"),
            file("etc/motd", b"hello\n"),  # no entry for etc/: made as a parent
            hardlink("etc/motd2", "etc/motd"),
        ]
    )
    result = unpack_layer(io.BytesIO(compress(tar, how)), str(layer))
    assert result.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert result.compression == how
    assert (layer / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE(os.stat(layer / "bin/tool").st_mode) == 0o755
    assert os.readlink(layer / "bin/sh") == "tool"
    assert (layer / "etc/motd").read_text() == "hello\n"
    assert os.stat(layer / "etc/motd").st_ino == os.stat(layer / "etc/motd2").st_ino
    assert os.stat(layer / "etc/motd").st_mtime == 1_700_000_000


def test_later_entry_replaces_earlier(layer: Path) -> None:
    unpack([file("a", b"one"), file("a", b"two"), directory("d"), file("d", b"file now")], layer)
    assert (layer / "a").read_bytes() == b"two"
    assert (layer / "d").read_bytes() == b"file now"


@pytest.mark.parametrize(
    "name", ["../escape", "a/../../escape", "./../escape", "a/b/../../../escape"]
)
def test_dotdot_names_refuse_the_layer(tmp_path: Path, layer: Path, name: str) -> None:
    with pytest.raises(LayerEscapeError) as caught:
        unpack([file("ok", b"x"), file(name, b"escaped")], layer)
    assert caught.value.reference == "layer-path-escape"
    assert not (tmp_path / "escape").exists()


def test_absolute_name_lands_inside(layer: Path, victim: Path) -> None:
    unpack([file(str(victim / "victim"), b"pwned"), file(str(victim / "new"), b"pwned")], layer)
    assert_untouched(victim)
    inside = layer / str(victim).lstrip("/")
    assert (inside / "victim").read_bytes() == b"pwned"


def test_symlink_to_host_dir_then_file_through_it(layer: Path, victim: Path) -> None:
    """`evil -> /abs/host` then `evil/victim`: resolved with the layer as root."""
    unpack([symlink("evil", str(victim)), file("evil/victim", b"pwned")], layer)
    assert_untouched(victim)
    assert (layer / str(victim).lstrip("/") / "victim").read_bytes() == b"pwned"


def test_relative_symlink_climbing_out_is_clamped(layer: Path, victim: Path) -> None:
    climb = os.path.relpath(victim, layer)  # "../host"
    assert climb.startswith("..")
    unpack([symlink("up", climb), file("up/victim", b"pwned"), file("up/new", b"x")], layer)
    assert_untouched(victim)
    assert (layer / "host/victim").read_bytes() == b"pwned"


def test_symlink_to_etc_then_a_file_written_through_it(layer: Path) -> None:
    probe = f"bst-test-{uuid.uuid4().hex[:12]}"
    unpack(
        [symlink("evil", "/etc"), file(f"evil/{probe}", b"pwned"), file("evil/passwd", b"x")], layer
    )
    assert not os.path.lexists(f"/etc/{probe}")
    assert (layer / "etc" / probe).read_bytes() == b"pwned"
    assert (layer / "etc/passwd").read_bytes() == b"x"


def test_symlink_loop_is_refused(layer: Path) -> None:
    probe = f"bst-test-{uuid.uuid4().hex[:12]}"
    with pytest.raises(LayerFormatError):
        unpack([symlink("etc", "/etc"), file(f"etc/{probe}", b"pwned")], layer)
    assert not os.path.lexists(f"/etc/{probe}")


def test_symlink_as_final_name_is_replaced_not_followed(layer: Path, victim: Path) -> None:
    unpack([symlink("link", str(victim / "victim")), file("link", b"pwned")], layer)
    assert_untouched(victim)
    assert not (layer / "link").is_symlink()
    assert (layer / "link").read_bytes() == b"pwned"


def test_hardlink_to_a_host_file_is_refused(layer: Path, victim: Path) -> None:
    with pytest.raises(LayerLinkError) as caught:
        unpack([hardlink("hl", str(victim / "victim"))], layer)
    assert caught.value.reference == "layer-link-target"
    assert_untouched(victim)


def test_hardlink_through_a_symlink_to_a_host_file_is_refused(layer: Path, victim: Path) -> None:
    with pytest.raises(LayerLinkError):
        unpack([symlink("evil", str(victim)), hardlink("hl", "evil/victim")], layer)
    assert_untouched(victim)


def test_hardlink_with_dotdot_is_refused(layer: Path, victim: Path) -> None:
    with pytest.raises(LayerEscapeError):
        unpack([hardlink("hl", "../host/victim")], layer)
    assert_untouched(victim)


def test_hardlink_to_a_symlink_links_the_symlink_itself(layer: Path, victim: Path) -> None:
    unpack([symlink("s", str(victim / "victim")), hardlink("hl", "s")], layer)
    assert os.readlink(layer / "hl") == str(victim / "victim")
    assert_untouched(victim)


def test_device_nodes_are_skipped_fifos_kept(layer: Path) -> None:
    result = unpack(
        [device("dev/sda", block=True), device("dev/mem", major=1, minor=1), fifo("run/pipe")],
        layer,
    )
    assert not os.path.lexists(layer / "dev/sda")
    assert not os.path.lexists(layer / "dev/mem")
    assert [s.name for s in result.skipped] == ["dev/sda", "dev/mem"]
    assert stat.S_ISFIFO(os.lstat(layer / "run/pipe").st_mode)


def test_setuid_and_setgid_are_dropped_by_default(layer: Path) -> None:
    result = unpack([file("su", b"x", mode=0o4755), file("wall", b"y", mode=0o2755)], layer)
    assert stat.S_IMODE(os.stat(layer / "su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(layer / "wall").st_mode) == 0o755
    assert result.setid_dropped == ["su", "wall"]


@pytest.mark.privileged
def test_setuid_kept_when_asked(layer: Path) -> None:
    unpack([file("su", b"x", mode=0o4755)], layer, keep_setid=True)
    assert stat.S_IMODE(os.stat(layer / "su").st_mode) == 0o4755


@pytest.mark.privileged
def test_owners_applied_as_root(layer: Path) -> None:
    unpack([file("owned", b"x", uid=1000, gid=1001), directory("d")], layer)
    st = os.stat(layer / "owned")
    assert (st.st_uid, st.st_gid) == (1000, 1001)


@pytest.mark.privileged
def test_whiteouts_and_opaque_directories(layer: Path) -> None:
    result = unpack(
        [
            file(".wh.gone", b""),
            directory("keep"),
            file("keep/.wh..wh..opq", b""),
            file("keep/new", b"n"),
            file("fresh/.wh..wh..opq", b""),  # marker before (and without) its dir entry
            file(".wh..wh.plnk", b""),
        ],
        layer,
    )
    st = os.lstat(layer / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not os.path.lexists(layer / ".wh.gone")
    assert os.getxattr(layer / "keep", OPAQUE_XATTR) == b"y"
    assert os.getxattr(layer / "fresh", OPAQUE_XATTR) == b"y"
    assert not os.path.lexists(layer / "keep/.wh..wh..opq")
    assert (layer / "keep/new").read_bytes() == b"n"
    assert [s.name for s in result.skipped] == [".wh..wh.plnk"]


def test_dangling_symlink_parent_is_made_inside(layer: Path, victim: Path) -> None:
    unpack([symlink("d", str(victim / "missing")), file("d/x", b"x")], layer)
    assert_untouched(victim)
    assert (layer / str(victim).lstrip("/") / "missing/x").read_bytes() == b"x"


@pytest.mark.parametrize(
    "blob",
    [
        b"this is not a tar archive at all" * 20,
        compress(make_tar([file("a", b"x" * 5000)]), "gzip")[:60],
        compress(make_tar([file("a", b"x" * 5000)]), "zstd")[:20],
        b"\x1f\x8bnot gzip",
    ],
    ids=["garbage", "truncated-gzip", "truncated-zstd", "bad-gzip"],
)
def test_corrupt_layers_are_format_errors(layer: Path, blob: bytes) -> None:
    with pytest.raises(LayerFormatError) as caught:
        unpack_layer(io.BytesIO(blob), str(layer))
    assert caught.value.reference == "layer-format"


def test_host_failures_are_layer_write_errors(layer: Path) -> None:
    """A failure of this host rather than of the layer's format: here a name longer than the
    filesystem's 255 bytes (ENAMETOOLONG), as ENOSPC or EPERM on a whiteout would be."""
    with pytest.raises(LayerWriteError) as caught:
        unpack([file("x" * 300, b"")], layer)
    assert caught.value.reference == "layer-unpack-failed"


def test_empty_whiteout_name_is_a_format_error(layer: Path) -> None:
    with pytest.raises(LayerFormatError):
        unpack([file("dir/.wh.", b"")], layer)
