"""oci-archive and docker-archive, both ways, with skopeo as the other side: archives bastion
saves are read by skopeo, archives skopeo writes are loaded by bastion, and a hostile archive
writes nothing anywhere."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from typing import TYPE_CHECKING

import pytest

from bastion.images.archive import (
    import_rootfs,
    load_archive,
    save_docker_archive,
    save_oci_archive,
)
from bastion.images.errors import ArchiveError
from bastion.images.layers import LayerStore
from bastion.images.layout import Layout
from bastion_testing.layers import compress, file, make_tar, tar_directory, write_oci_image
from bastion_testing.registry import SKOPEO, skopeo_copy

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def source(tmp_path: Path, busybox_rootfs: str) -> Layout:
    root = str(tmp_path / "src")
    write_oci_image(
        root,
        "busybox",
        [tar_directory(busybox_rootfs), make_tar([file("etc/motd", b"hi\n")])],
        config={"Cmd": ["/bin/sh"], "Env": ["A=1"]},
    )
    return Layout(root)


def skopeo_json(*args: str) -> dict[str, object]:
    out = subprocess.run([SKOPEO, *args], capture_output=True, check=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_oci_archive_saved_by_bastion_reads_in_skopeo(source: Layout, tmp_path: Path) -> None:
    image = source.image("busybox")
    path = str(tmp_path / "busybox.oci.tar")
    save_oci_archive(source, ["busybox"], path)
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", f"oci-archive:{path}:busybox"], capture_output=True, check=True
    ).stdout
    assert raw == source.read_blob(image.digest)
    config = skopeo_json("inspect", "--config", f"oci-archive:{path}:busybox")
    assert config["rootfs"] == {"type": "layers", "diff_ids": list(image.config.diff_ids)}


def test_docker_archive_saved_by_bastion_reads_in_skopeo(source: Layout, tmp_path: Path) -> None:
    image = source.image("busybox")
    path = str(tmp_path / "busybox.docker.tar")
    save_docker_archive(source, ["busybox"], path)
    config = skopeo_json("inspect", "--config", f"docker-archive:{path}")
    assert config["rootfs"] == {"type": "layers", "diff_ids": list(image.config.diff_ids)}
    # and the image survives skopeo's copy out of it, layer for layer
    skopeo_copy(f"docker-archive:{path}", f"oci:{tmp_path / 'copied'}:x", workdir=str(tmp_path))
    copied = Layout(str(tmp_path / "copied")).image("x")
    assert copied.config.diff_ids == image.config.diff_ids
    assert copied.config.cmd == ("/bin/sh",)


@pytest.mark.parametrize("kind", ["docker-archive", "oci-archive"])
def test_archive_written_by_skopeo_loads(source: Layout, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"from-skopeo.{kind}.tar"
    skopeo_copy(
        f"oci:{source.root}:busybox", f"{kind}:{path}:busybox:latest", workdir=str(tmp_path)
    )
    layout = Layout(str(tmp_path / "loaded"))
    assert load_archive(layout, str(path)) == ["docker.io/library/busybox:latest"]
    image = layout.image("docker.io/library/busybox:latest")
    assert image.config.diff_ids == source.image("busybox").config.diff_ids
    assert image.config.env == ("A=1",)
    lowers = LayerStore(str(tmp_path / "layers")).ensure_image(layout, image)
    with open(os.path.join(lowers[1], "etc/motd")) as f:
        assert f.read() == "hi\n"


def test_save_then_load_keeps_the_image(source: Layout, tmp_path: Path) -> None:
    path = str(tmp_path / "round.tar")
    save_docker_archive(source, ["busybox"], path)
    layout = Layout(str(tmp_path / "back"))
    assert load_archive(layout, path, name="example.org/busybox:2") == ["example.org/busybox:2"]
    back = layout.image("example.org/busybox:2")
    original = source.image("busybox")
    assert back.manifest.config.digest == original.manifest.config.digest
    assert back.config.diff_ids == original.config.diff_ids


def test_hostile_archive_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("host data\n")
    manifest = [{"Config": "../../victim", "RepoTags": ["evil:1"], "Layers": ["/etc/passwd"]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    (tmp_path / "evil.tar").write_bytes(out.getvalue())
    layout = Layout(str(tmp_path / "layout"))
    with pytest.raises(ArchiveError) as caught:
        load_archive(layout, str(tmp_path / "evil.tar"))
    assert caught.value.reference == "image-archive"
    assert layout.names() == {} and layout.blobs() == []
    assert target.read_text() == "host data\n"
    assert sorted(os.listdir(tmp_path)) == ["evil.tar", "layout", "victim"]


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"plain text, not a tar")
    with pytest.raises(ArchiveError):
        load_archive(Layout(str(tmp_path / "l")), str(tmp_path / "x.tar"))


@pytest.mark.parametrize("how", ["none", "gzip", "zstd"])
def test_import_a_root_filesystem(tmp_path: Path, how: str) -> None:
    tar = make_tar([file("bin/app", b"#!/bin/sh\n", mode=0o755), file("etc/motd", b"imported\n")])
    (tmp_path / "rootfs.tar").write_bytes(compress(tar, how))
    layout = Layout(str(tmp_path / "l"))
    name = import_rootfs(
        layout, str(tmp_path / "rootfs.tar"), "example.org/app:1", config={"Cmd": ["/bin/app"]}
    )
    assert name == "example.org/app:1"
    image = layout.image(name)
    assert image.config.diff_ids == ("sha256:" + hashlib.sha256(tar).hexdigest(),)
    assert image.config.cmd == ("/bin/app",)
    (lower,) = LayerStore(str(tmp_path / "layers")).ensure_image(layout, image)
    with open(os.path.join(lower, "etc/motd")) as f:
        assert f.read() == "imported\n"
    # and skopeo reads the result
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", f"oci:{layout.root}:{name}"], capture_output=True, check=True
    ).stdout
    assert raw == layout.read_blob(image.digest)
