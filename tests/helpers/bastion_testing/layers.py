"""Hand-made layer tars for the image tests: `make_tar([file("a", b"x"), symlink("l", "/etc")])`.

Each builder returns a `(TarInfo, data)` pair; `make_tar` writes them in order, so a test can
put any name, link or type in any order (hostile layers included), and `compress` wraps the tar
in gzip or zstd.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from typing import Any

import zstandard

Item = tuple[tarfile.TarInfo, bytes | None]
MTIME = 1_700_000_000


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = MTIME
    return info


def file(name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0) -> Item:
    info = _info(name, tarfile.REGTYPE, mode)
    info.size = len(data)
    info.uid, info.gid = uid, gid
    return info, data


def directory(name: str, mode: int = 0o755) -> Item:
    return _info(name, tarfile.DIRTYPE, mode), None


def symlink(name: str, target: str) -> Item:
    info = _info(name, tarfile.SYMTYPE, 0o777)
    info.linkname = target
    return info, None


def hardlink(name: str, target: str) -> Item:
    info = _info(name, tarfile.LNKTYPE, 0o644)
    info.linkname = target
    return info, None


def device(name: str, *, block: bool = False, major: int = 8, minor: int = 0) -> Item:
    info = _info(name, tarfile.BLKTYPE if block else tarfile.CHRTYPE, 0o666)
    info.devmajor, info.devminor = major, minor
    return info, None


def fifo(name: str) -> Item:
    return _info(name, tarfile.FIFOTYPE, 0o644), None


def make_tar(items: list[Item]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in items:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def compress(data: bytes, how: str) -> bytes:
    """`how`: "none", "gzip" or "zstd"."""
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def tar_directory(root: str) -> bytes:
    """A layer tar of the directory `root` (names relative to it, owners root, sorted)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                info = archive.gettarinfo(path, arcname=os.path.relpath(path, root))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if info.isreg():
                    with open(path, "rb") as f:
                        archive.addfile(info, f)
                else:
                    archive.addfile(info)
    return out.getvalue()


def _put(root: str, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    blobs = os.path.join(root, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def write_oci_image(
    root: str,
    name: str,
    layers: list[bytes],
    *,
    config: dict[str, object] | None = None,
    compression: str = "gzip",
    architecture: str = "amd64",
    history: list[dict[str, object]] | None = None,
) -> str:
    """Write an image into the OCI layout at `root` by hand (independently of bastion.images):
    `layers` are uncompressed tars, bottom first; `config` is the image config's `config`
    object; `history` the config's history (default: one entry per layer). Tags it `name` in
    index.json (replacing that name) and returns the manifest digest."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    suffix = {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[compression]
    layer_descs = []
    for tar in layers:
        digest, size = _put(root, compress(tar, compression))
        layer_descs.append(
            {
                "mediaType": f"application/vnd.oci.image.layer.v1.tar{suffix}",
                "digest": digest,
                "size": size,
            }
        )
    image_config = {
        "created": "2026-01-01T00:00:00Z",
        "architecture": architecture,
        "os": "linux",
        "config": config if config is not None else {"Cmd": ["/bin/sh"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers],
        },
        "history": history
        if history is not None
        else [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    config_digest, config_size = _put(root, json.dumps(image_config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layer_descs,
    }
    manifest_digest, manifest_size = _put(root, json.dumps(manifest).encode())
    index_path = os.path.join(root, "index.json")
    index: dict[str, Any] = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    ref = "org.opencontainers.image.ref.name"
    index["manifests"] = [
        m for m in index["manifests"] if m.get("annotations", {}).get(ref) != name
    ]
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {ref: name},
        }
    )
    with open(index_path, "w") as f:
        json.dump(index, f)
    return manifest_digest


def write_oci_index(root: str, name: str, manifests: list[tuple[str, str]]) -> str:
    """Tag `name` as an image index of manifests already in the layout: `(digest, "os/arch")`
    pairs. Returns the index digest."""
    entries = []
    for digest, platform in manifests:
        with open(os.path.join(root, "blobs", "sha256", digest.removeprefix("sha256:")), "rb") as f:
            size = len(f.read())
        os_, arch = platform.split("/")
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": size,
                "platform": {"os": os_, "architecture": arch},
            }
        )
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }
    index_digest, index_size = _put(root, json.dumps(doc).encode())
    index_path = os.path.join(root, "index.json")
    with open(index_path) as f:
        index = json.load(f)
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest,
            "size": index_size,
            "annotations": {"org.opencontainers.image.ref.name": name},
        }
    )
    with open(index_path, "w") as f:
        json.dump(index, f)
    return index_digest
