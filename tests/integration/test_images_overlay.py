"""Container overlays over the layer store: a 120-layer image mounts (its lowerdir string would
be far over mount(2)'s one page), whiteouts and opaque directories give the right merged view,
writes stay in the container's upper dir, and unmount + remove leave nothing."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from bastion.images.errors import OverlayError
from bastion.images.layers import LayerStore
from bastion.images.layout import Layout
from bastion.images.overlay import ContainerFilesystem, mount_overlay
from bastion_testing.engine import VOLATILE, mounts_under, overlay_options_under
from bastion_testing.layers import directory, file, make_tar, write_oci_image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged

PAGE = 4096


@pytest.fixture
def store(tmp_path: Path) -> tuple[Layout, LayerStore]:
    return Layout(str(tmp_path / "layout")), LayerStore(str(tmp_path / "layers"))


@pytest.fixture
def rootfs(tmp_path: Path) -> Iterator[ContainerFilesystem]:
    fs = ContainerFilesystem(str(tmp_path / "container"))
    try:
        yield fs
    finally:
        fs.remove()


def one_layer_image(tmp_path: Path, store: tuple[Layout, LayerStore], name: str) -> list[str]:
    """The lower directories of a one-file image `name`, its layer unpacked."""
    layout, layers = store
    write_oci_image(str(tmp_path / "layout"), name, [make_tar([file("a", b"x")])])
    image = layout.image(name)
    layers.ensure_image(layout, image)
    return layers.lowerdirs(image)


def test_120_layer_image_mounts_and_reads_right(
    tmp_path: Path, store: tuple[Layout, LayerStore], rootfs: ContainerFilesystem
) -> None:
    layout, layers = store
    tars = []
    for n in range(120):
        items = [file(f"layers/{n:03d}", f"{n}\n".encode()), file("top", f"{n}\n".encode())]
        if n == 60:
            items.append(file("layers/.wh.010"))  # layer 60 deletes layer 10's file
        tars.append(make_tar(items))
    write_oci_image(str(tmp_path / "layout"), "many", tars)
    image = layout.image("many")
    layers.ensure_image(layout, image)
    lowers = layers.lowerdirs(image)
    assert len(lowers) == 120
    assert len(":".join(lowers)) > 3 * PAGE  # mount(2)'s lowerdir= could not hold this

    merged = rootfs.mount(lowers)
    assert (tmp_path / "container/merged/top").read_text() == "119\n"
    names = sorted(os.listdir(os.path.join(merged, "layers")))
    assert names == [f"{n:03d}" for n in range(120) if n != 10]
    assert (tmp_path / "container/merged/layers/059").read_text() == "59\n"

    rootfs.remove()
    assert mounts_under(str(tmp_path)) == []
    assert not os.path.exists(tmp_path / "container")


def test_whiteout_and_opaque_directory_merge(
    tmp_path: Path, store: tuple[Layout, LayerStore], rootfs: ContainerFilesystem
) -> None:
    layout, layers = store
    base = make_tar(
        [
            file("etc/gone", b"old"),
            file("etc/kept", b"kept"),
            directory("opq"),
            file("opq/old-a", b"a"),
            file("opq/old-b", b"b"),
            directory("plain"),
            file("plain/old", b"o"),
        ]
    )
    top = make_tar(
        [
            file("etc/.wh.gone"),
            directory("opq"),
            file("opq/.wh..wh..opq"),
            file("opq/new", b"n"),
            file("plain/new", b"n"),
        ]
    )
    write_oci_image(str(tmp_path / "layout"), "wh", [base, top])
    image = layout.image("wh")
    lower_paths = layers.ensure_image(layout, image)
    merged = rootfs.mount(layers.lowerdirs(image))

    assert sorted(os.listdir(os.path.join(merged, "etc"))) == ["kept"]
    assert sorted(os.listdir(os.path.join(merged, "opq"))) == ["new"]
    assert sorted(os.listdir(os.path.join(merged, "plain"))) == ["new", "old"]

    # writes and deletions land in the container's upper dir, never in the shared layers
    with open(os.path.join(merged, "etc/kept"), "w") as f:
        f.write("changed")
    os.unlink(os.path.join(merged, "plain/old"))
    assert (tmp_path / "container/upper/etc/kept").read_text() == "changed"
    assert stat.S_ISCHR(os.lstat(tmp_path / "container/upper/plain/old").st_mode)
    with open(os.path.join(lower_paths[0], "etc/kept")) as f:
        assert f.read() == "kept"
    assert os.path.exists(os.path.join(lower_paths[0], "plain/old"))


def test_readonly_overlay_refuses_writes(
    tmp_path: Path, store: tuple[Layout, LayerStore], rootfs: ContainerFilesystem
) -> None:
    lower = one_layer_image(tmp_path, store, "ro")
    merged = rootfs.mount(lower, readonly=True)
    with pytest.raises(OSError, match="Read-only"):
        open(os.path.join(merged, "b"), "w").close()
    with pytest.raises(OverlayError):  # never two overlays stacked on one merged dir
        rootfs.mount(lower)
    assert len(mounts_under(str(tmp_path))) == 1


def test_missing_layer_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    with pytest.raises(OverlayError) as caught:
        mount_overlay([str(tmp_path / "no-such-layer")], str(target))
    assert caught.value.reference == "overlay-mount"
    assert "no-such-layer" in caught.value.message
    assert mounts_under(str(tmp_path)) == []


def test_volatile_overlay_mounts_again_after_a_clean_unmount(
    tmp_path: Path, store: tuple[Layout, LayerStore], rootfs: ContainerFilesystem
) -> None:
    lower = one_layer_image(tmp_path, store, "v")
    merged = rootfs.mount(lower, volatile=True)
    volatile = [bool(VOLATILE & o) for o in overlay_options_under(str(tmp_path))]
    assert volatile == [True]  # the kernel took the option
    with open(os.path.join(merged, "b"), "w") as f:
        f.write("written")
    mark = os.path.join(rootfs.work, "work", "incompat", "volatile")
    assert os.path.isdir(mark)  # overlayfs's own mark while it is mounted
    rootfs.unmount()
    assert not os.path.exists(mark) and mounts_under(str(tmp_path)) == []
    # a `start` again: the kernel refuses a marked work directory, ours is clean
    merged = rootfs.mount(lower, volatile=True)
    with open(os.path.join(merged, "b")) as f:
        assert f.read() == "written"
    rootfs.unmount()
    merged = rootfs.mount(lower)  # and the same upper without the option
    assert [bool(VOLATILE & o) for o in overlay_options_under(str(tmp_path))] == [False]
    assert os.path.exists(os.path.join(merged, "b"))


def test_volatile_mark_left_by_a_crash_is_a_clear_error(
    tmp_path: Path, store: tuple[Layout, LayerStore], rootfs: ContainerFilesystem
) -> None:
    lower = one_layer_image(tmp_path, store, "v")
    rootfs.mount(lower, volatile=True)
    # a lazy unmount keeps the mark, as a host that stopped with it mounted does
    rootfs.unmount(lazy=True)
    assert os.path.isdir(os.path.join(rootfs.work, "work", "incompat", "volatile"))
    with pytest.raises(OverlayError) as caught:
        rootfs.mount(lower, volatile=True)
    assert caught.value.reference == "overlay-mount"
    assert caught.value.hint is not None and "remove the container" in caught.value.hint
    assert mounts_under(str(tmp_path)) == []
