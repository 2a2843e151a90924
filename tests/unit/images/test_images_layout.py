"""The OCI layout, the image documents and the layer store, on images written by hand.

`bastion_testing.layers.write_oci_image` writes layouts without bastion.images, so these tests
read what another writer made; skopeo reading bastion's own layouts is in the registry tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from typing import TYPE_CHECKING

import pytest

from bastion.images.documents import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
    Platform,
    chain_ids,
    document_type,
    parse_config,
    parse_index,
)
from bastion.images.errors import (
    DigestError,
    ImageNotFoundError,
    LayerDigestError,
    LayerEscapeError,
    ManifestError,
)
from bastion.images.layers import LayerStore
from bastion.images.layout import Layout
from bastion_testing.layers import file, make_tar, write_oci_image

if TYPE_CHECKING:
    from pathlib import Path

CONFIG: dict[str, object] = {
    "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
    "Entrypoint": ["/bin/entry"],
    "Cmd": ["serve", "--port", "80"],
    "WorkingDir": "/srv",
    "User": "1000:1000",
    "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
    "Volumes": {"/data": {}},
    "Labels": {"org.example.team": "infra"},
    "StopSignal": "SIGQUIT",
}


def test_new_layout_has_the_marker_and_an_empty_index(tmp_path: Path) -> None:
    Layout(str(tmp_path / "l"))
    assert json.loads((tmp_path / "l/oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "l/index.json").read_text())
    assert index["schemaVersion"] == 2 and index["manifests"] == []


def test_blob_is_stored_under_its_digest(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path))
    digest = layout.put_blob(b"hello")
    assert digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert (tmp_path / "blobs/sha256" / digest[7:]).read_bytes() == b"hello"


def test_blob_with_wrong_digest_leaves_nothing(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path))
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    with pytest.raises(DigestError) as caught:
        layout.put_blob(b"hello", wrong)
    assert caught.value.reference == "blob-digest-mismatch"
    assert os.listdir(tmp_path / "blobs/sha256") == []
    assert os.listdir(tmp_path / "tmp") == []


def test_blob_longer_than_announced_is_refused(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path))
    with pytest.raises(DigestError), layout.blob_writer(size=3) as writer:
        writer.write(b"four")
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize(
    "bad", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64, "../../etc"]
)
def test_bad_digests_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(DigestError):
        Layout(str(tmp_path)).blob_path(bad)


def test_image_config_is_read_into_a_record(tmp_path: Path) -> None:
    tar = make_tar([file("a", b"x")])
    digest = write_oci_image(str(tmp_path), "example.org/app:1", [tar], config=CONFIG)
    image = Layout(str(tmp_path)).image("example.org/app:1")
    assert image.digest == digest
    c = image.config
    assert c.env == ("PATH=/usr/bin:/bin", "LANG=C.UTF-8")
    assert c.entrypoint == ("/bin/entry",)
    assert c.cmd == ("serve", "--port", "80")
    assert (c.working_dir, c.user, c.stop_signal) == ("/srv", "1000:1000", "SIGQUIT")
    assert c.exposed_ports == ("53/udp", "80/tcp")
    assert c.volumes == ("/data",)
    assert c.labels == {"org.example.team": "infra"}
    assert c.diff_ids == ("sha256:" + hashlib.sha256(tar).hexdigest(),)
    assert (c.os, c.architecture) == ("linux", "amd64")
    assert [h.created_by for h in c.history] == ["layer 0"]
    blobs = tmp_path / "blobs/sha256"
    assert image.compressed_size == sum(p.stat().st_size for p in blobs.iterdir())


def test_absent_cmd_differs_from_empty_cmd() -> None:
    assert parse_config(b'{"config": {}}').cmd is None
    assert parse_config(b'{"config": {"Cmd": []}}').cmd == ()
    assert parse_config(b"{}").entrypoint is None


def test_tag_untag_and_missing_names(tmp_path: Path) -> None:
    write_oci_image(str(tmp_path), "a:1", [make_tar([file("a")])])
    layout = Layout(str(tmp_path))
    desc = layout.resolve("a:1")
    layout.tag("b:2", desc)
    layout.tag("b:2", desc)  # tagging again replaces, never duplicates
    assert sorted(layout.names()) == ["a:1", "b:2"]
    layout.untag("a:1")
    assert sorted(layout.names()) == ["b:2"]
    with pytest.raises(ImageNotFoundError) as caught:
        layout.image("a:1")
    assert caught.value.reference == "image-not-found"


def test_concurrent_tags_are_all_kept(tmp_path: Path) -> None:
    write_oci_image(str(tmp_path), "base", [make_tar([file("a")])])
    layout = Layout(str(tmp_path))
    desc = layout.resolve("base")
    threads = [
        threading.Thread(target=Layout(str(tmp_path)).tag, args=(f"t{i}", desc)) for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(layout.names()) == sorted(["base", *(f"t{i}" for i in range(16))])


def test_chain_ids_follow_the_image_spec() -> None:
    a, b, c = ("sha256:" + hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]


def test_schema1_is_refused() -> None:
    doc = json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode()
    with pytest.raises(ManifestError) as caught:
        document_type(doc)
    assert caught.value.reference == "manifest-unsupported"


def test_docker_manifest_type_is_taken_from_the_document() -> None:
    doc = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST}).encode()
    assert document_type(doc, OCI_MANIFEST) == DOCKER_MANIFEST


def _entry(os_: str, arch: str, variant: str | None = None) -> dict[str, object]:
    platform: dict[str, str] = {"os": os_, "architecture": arch}
    if variant:
        platform["variant"] = variant
    digest = "sha256:" + hashlib.sha256(f"{os_}{arch}{variant}".encode()).hexdigest()
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "platform": platform}


def test_index_picks_the_platform() -> None:
    entries = [
        _entry("linux", "arm", "v7"),
        _entry("linux", "amd64"),
        _entry("linux", "arm64", "v8"),
    ]
    index = parse_index(json.dumps({"schemaVersion": 2, "manifests": entries}).encode())
    assert index.select(Platform.parse("linux/amd64")).digest == entries[1]["digest"]
    assert index.select(Platform.parse("linux/arm64")).digest == entries[2]["digest"]
    assert index.select(Platform.parse("linux/arm/v7")).digest == entries[0]["digest"]
    with pytest.raises(ManifestError) as caught:
        index.select(Platform.parse("linux/s390x"))
    assert caught.value.reference == "platform-not-found"


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layer_store_unpacks_each_layer_once(tmp_path: Path, compression: str) -> None:
    base = make_tar([file("etc/os-release", b"ID=test\n"), file("bin/sh", b"sh", mode=0o755)])
    top = make_tar([file("app/run", b"run")])
    write_oci_image(str(tmp_path / "l"), "one", [base, top], compression=compression)
    write_oci_image(str(tmp_path / "l"), "two", [base], compression=compression)
    layout, store = Layout(str(tmp_path / "l")), LayerStore(str(tmp_path / "layers"))
    one = store.ensure_image(layout, layout.image("one"))
    (tmp_path / "layers/mark").write_text("")
    os.link(tmp_path / "layers/mark", os.path.join(one[0], "unpacked-once"))
    two = store.ensure_image(layout, layout.image("two"))
    assert two == one[:1]
    assert os.path.exists(os.path.join(two[0], "unpacked-once"))  # shared, not unpacked again
    assert (tmp_path / "layers/sha256" / os.path.basename(one[1]) / "app/run").read_text() == "run"
    assert store.lowerdirs(layout.image("one")) == [one[1], one[0]]
    assert os.listdir(tmp_path / "layers/tmp") == []


def test_layer_with_wrong_diff_id_leaves_nothing(tmp_path: Path) -> None:
    write_oci_image(str(tmp_path / "l"), "x", [make_tar([file("a")])])
    layout, store = Layout(str(tmp_path / "l")), LayerStore(str(tmp_path / "layers"))
    image = layout.image("x")
    wrong = "sha256:" + "0" * 64
    with pytest.raises(LayerDigestError):
        store.ensure(layout, image.layers[0], wrong)
    assert store.diff_ids() == []
    assert os.listdir(tmp_path / "layers/tmp") == []


def test_hostile_layer_leaves_nothing(tmp_path: Path) -> None:
    write_oci_image(str(tmp_path / "l"), "x", [make_tar([file("ok"), file("../evil")])])
    layout, store = Layout(str(tmp_path / "l")), LayerStore(str(tmp_path / "layers"))
    with pytest.raises(LayerEscapeError):
        store.ensure_image(layout, layout.image("x"))
    assert store.diff_ids() == []
    assert os.listdir(tmp_path / "layers/tmp") == []
    assert not (tmp_path / "layers/evil").exists()


def test_concurrent_unpacks_of_one_layer_make_one_directory(tmp_path: Path) -> None:
    tar = make_tar([file(f"f{i}", b"x" * 1000) for i in range(200)])
    write_oci_image(str(tmp_path / "l"), "x", [tar])
    layout = Layout(str(tmp_path / "l"))
    image = layout.image("x")
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                LayerStore(str(tmp_path / "layers")).ensure(
                    layout, image.layers[0], image.config.diff_ids[0]
                )
            )
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4
    assert len(os.listdir(results[0])) == 200
    assert os.listdir(tmp_path / "layers/tmp") == []


def test_remove_layer(tmp_path: Path) -> None:
    write_oci_image(str(tmp_path / "l"), "x", [make_tar([file("a")])])
    layout, store = Layout(str(tmp_path / "l")), LayerStore(str(tmp_path / "layers"))
    (path,) = store.ensure_image(layout, layout.image("x"))
    store.remove(layout.image("x").config.diff_ids[0])
    assert not os.path.exists(path)
    assert store.diff_ids() == [] and os.listdir(tmp_path / "layers/tmp") == []


def test_descriptor_round_trip() -> None:
    doc = _entry("linux", "arm64", "v8") | {"annotations": {"k": "v"}}
    assert Descriptor.from_json(doc, "x").to_json() == doc


def test_garbage_collection_keeps_what_tagged_images_reach(tmp_path: Path) -> None:
    shared = make_tar([file("shared", b"s")])
    write_oci_image(str(tmp_path), "keep", [shared, make_tar([file("k", b"k")])])
    write_oci_image(str(tmp_path), "drop", [shared, make_tar([file("d", b"d")])])
    layout = Layout(str(tmp_path))
    kept, dropped = layout.image("keep"), layout.image("drop")
    (tmp_path / "tmp/blob-stale").write_bytes(b"left by a killed pull")
    layout.untag("drop")
    removed = set(layout.collect_garbage())
    assert removed == {dropped.digest, dropped.manifest.config.digest, dropped.layers[1].digest}
    assert set(layout.blobs()) == {kept.digest, kept.manifest.config.digest} | {
        d.digest for d in kept.layers
    }
    assert layout.image("keep") == kept
    assert os.listdir(tmp_path / "tmp") == []


def test_garbage_collection_waits_for_writers(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path))
    untagged = layout.put_blob(b"fetched, not tagged yet")
    done = threading.Event()

    def collect() -> None:
        layout.collect_garbage()
        done.set()

    with layout.writing():
        collector = threading.Thread(target=collect)
        collector.start()
        assert not done.wait(0.3)  # blocked while a writer holds the layout
        assert layout.has_blob(untagged)
    collector.join()
    assert done.is_set() and not layout.has_blob(untagged)


def test_layer_prune(tmp_path: Path) -> None:
    write_oci_image(str(tmp_path / "l"), "a", [make_tar([file("a")]), make_tar([file("b")])])
    layout, store = Layout(str(tmp_path / "l")), LayerStore(str(tmp_path / "layers"))
    image = layout.image("a")
    store.ensure_image(layout, image)
    os.mkdir(tmp_path / "layers/tmp/layer-killed")
    busy = tmp_path / "layers/tmp/layer-busy"
    busy.mkdir()
    fd = os.open(busy, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        removed = store.prune({image.config.diff_ids[0]})
    finally:
        os.close(fd)
    assert removed == [image.config.diff_ids[1]]
    assert store.diff_ids() == [image.config.diff_ids[0]]
    assert os.listdir(tmp_path / "layers/tmp") == ["layer-busy"]
