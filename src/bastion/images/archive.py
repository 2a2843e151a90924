"""Image archives: `save` to and `load` from oci-archive and docker-archive tars, the files
`skopeo copy`, `podman save` and `docker save` write and read; and `import_rootfs`, a root
filesystem tar made into a one-layer image (`docker import`).

- oci-archive: a tar of an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`);
  each image is named in `index.json` by `org.opencontainers.image.ref.name`.
- docker-archive: `manifest.json` (`[{"Config": ..., "RepoTags": [...], "Layers": [...]}]`),
  the config JSON and one uncompressed `layer.tar` per layer (named by its diff id).

An image without a name (no `RepoTags`, no `ref.name`; `import` without one) is loaded
untagged: named in the layout by its id, the config digest (`sha256:...`), as Docker lists a
`<none>` image.

An archive is read, never extracted: each member is looked up by the exact name a document
gives and streamed through the layout's `BlobWriter`, which verifies its digest; nothing
outside the layout is written, whatever the member names say. The names loaded are normalised
references (`busybox:latest` becomes `docker.io/library/busybox:latest`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from typing import IO, TYPE_CHECKING

from bastion.images.documents import (
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    REF_NAME,
    Descriptor,
    Platform,
    document_type,
    parse_index,
    parse_manifest,
)
from bastion.images.errors import ArchiveError, ImageError, LayerDigestError
from bastion.images.reference import DOCKER_HUB, Reference
from bastion.images.unpack import Prefixed, Readable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bastion.images.layout import Layout

_CHUNK = 1 << 20
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


# -- save ------------------------------------------------------------------------------------


def save_oci_archive(layout: Layout, names: list[str], path: str) -> None:
    """Write the images `names` of `layout` to `path` as an oci-archive."""
    images = [layout.image(name) for name in names]
    with _atomic_tar(path) as archive:
        _add_bytes(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        entries = []
        for image in images:
            desc = image.descriptor
            entries.append(
                {
                    "mediaType": desc.media_type,
                    "digest": desc.digest,
                    "size": desc.size,
                    "annotations": {} if _untagged(image.name) else {REF_NAME: image.name},
                }
            )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        _add_bytes(archive, "index.json", json.dumps(index).encode())
        added: set[str] = set()
        for image in images:
            for digest in (
                image.digest,
                image.manifest.config.digest,
                *(d.digest for d in image.layers),
            ):
                if digest not in added:
                    added.add(digest)
                    archive.add(
                        layout.blob_path(digest), f"blobs/sha256/{digest[7:]}", recursive=False
                    )


def save_docker_archive(layout: Layout, names: list[str], path: str) -> None:
    """Write the images `names` of `layout` to `path` as a docker-archive (layers stored
    uncompressed, as Docker and Podman write them)."""
    images = [layout.image(name) for name in names]
    with (
        _atomic_tar(path) as archive,
        tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as scratch,
    ):
        manifest = []
        written: set[str] = set()
        for image in images:
            config = f"{image.manifest.config.digest[7:]}.json"
            if config not in written:
                written.add(config)
                archive.add(layout.blob_path(image.manifest.config.digest), config, recursive=False)
            layer_names = []
            for blob, diff_id in zip(image.layers, image.config.diff_ids, strict=True):
                name = f"{diff_id[7:]}/layer.tar"
                layer_names.append(name)
                if name in written:
                    continue
                written.add(name)
                plain = os.path.join(scratch, "layer.tar")
                _decompress(layout, blob, diff_id, plain)
                archive.add(plain, name, recursive=False)
                os.unlink(plain)
            manifest.append(
                {
                    "Config": config,
                    "RepoTags": [] if _untagged(image.name) else [_docker_tag(image.name)],
                    "Layers": layer_names,
                }
            )
        _add_bytes(archive, "manifest.json", json.dumps(manifest).encode())


def _decompress(layout: Layout, blob: Descriptor, diff_id: str, dest: str) -> None:
    sha = hashlib.sha256()
    with layout.open_blob(blob.digest) as raw, open(dest, "wb") as out:
        head = raw.read(4)
        raw.seek(0)
        reader: Readable
        if head.startswith(b"\x1f\x8b"):
            reader = gzip.GzipFile(fileobj=raw, mode="rb")
        elif head.startswith(b"\x28\xb5\x2f\xfd"):
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        else:
            reader = raw
        while chunk := reader.read(_CHUNK):
            sha.update(chunk)
            out.write(chunk)
    if "sha256:" + sha.hexdigest() != diff_id:
        raise LayerDigestError(
            f"layer {blob.digest} does not decompress to {diff_id}", where=layout.root
        )


def _untagged(name: str) -> bool:
    """An image named by its id (see the module's docstring) has no name to write."""
    return name.startswith("sha256:")


def _docker_tag(name: str) -> str:
    """Docker's familiar form: `docker.io/library/busybox:latest` -> `busybox:latest`."""
    try:
        ref = Reference.parse(name)
    except ImageError:
        return name
    if ref.registry != DOCKER_HUB:
        return name
    repo = ref.repository.removeprefix("library/")
    return f"{repo}:{ref.tag or 'latest'}"


# -- load ------------------------------------------------------------------------------------


def load_archive(
    layout: Layout, path: str, *, name: str | None = None, platform: str = "linux/amd64"
) -> list[str]:
    """Load every image of the oci-archive or docker-archive at `path` into `layout`; returns
    the names given (`name` replaces the archive's own when it holds one image)."""
    try:
        archive = tarfile.open(path)  # noqa: SIM115 (closed below)
    except (OSError, tarfile.TarError) as err:
        raise ArchiveError(f"not a tar archive: {err}", where=path) from err
    with archive:
        members = {_clean(m.name): m for m in archive.getmembers()}
        if "manifest.json" in members:
            return _load_docker(layout, archive, members, path, name)
        if "index.json" in members:
            return _load_oci(layout, archive, members, path, name, Platform.parse(platform))
    raise ArchiveError("neither an oci-archive nor a docker-archive", where=path)


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _read(
    archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, path: str
) -> IO[bytes]:
    member = members.get(_clean(name))
    data = archive.extractfile(member) if member is not None else None
    if data is None:
        raise ArchiveError(f"the archive has no file {name!r}", where=path)
    return data


def _copy(layout: Layout, source: Readable, digest: str | None, size: int | None) -> str:
    if digest is not None and layout.has_blob(digest):
        return digest
    with layout.blob_writer(digest, size) as writer:
        while chunk := source.read(_CHUNK):
            writer.write(chunk)
        return writer.commit()


def _load_oci(
    layout: Layout,
    archive: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    path: str,
    name: str | None,
    platform: Platform,
) -> list[str]:
    def blob(desc: Descriptor) -> str:
        return _copy(
            layout,
            _read(archive, members, f"blobs/sha256/{desc.digest[7:]}", path),
            desc.digest,
            desc.size,
        )

    index = parse_index(_read(archive, members, "index.json", path).read())
    if name is not None and len(index.manifests) != 1:
        raise ArchiveError(f"a name was given for {len(index.manifests)} images", where=path)
    loaded = []
    for outer in index.manifests:
        desc = outer
        blob(desc)
        if document_type(layout.read_blob(desc.digest), desc.media_type) in INDEX_TYPES:
            desc = parse_index(layout.read_blob(desc.digest)).select(platform)
            blob(desc)
        manifest = parse_manifest(layout.read_blob(desc.digest))
        for part in (manifest.config, *manifest.layers):
            blob(part)
        given = name or outer.annotations.get(REF_NAME)
        full = _normalise(given) if given else manifest.config.digest  # untagged: its id
        layout.read_image(desc, full)  # the config and diff ids hold together
        layout.tag(full, Descriptor(media_type=desc.media_type, digest=desc.digest, size=desc.size))
        loaded.append(full)
    return loaded


def _load_docker(
    layout: Layout,
    archive: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    path: str,
    name: str | None,
) -> list[str]:
    try:
        entries = json.loads(_read(archive, members, "manifest.json", path).read())
        if not isinstance(entries, list):
            raise TypeError("not a list")
    except (ValueError, TypeError) as err:
        raise ArchiveError(f"manifest.json is not a list of images: {err}", where=path) from err
    if name is not None and len(entries) != 1:
        raise ArchiveError(f"a name was given for {len(entries)} images", where=path)
    loaded = []
    for entry in entries:
        config_name = entry.get("Config") if isinstance(entry, dict) else None
        layer_names = entry.get("Layers") if isinstance(entry, dict) else None
        if (
            not isinstance(config_name, str)
            or not isinstance(layer_names, list)
            or not all(isinstance(n, str) for n in layer_names)
        ):
            raise ArchiveError("a manifest.json entry without Config or Layers", where=path)
        config_digest = _copy(layout, _read(archive, members, config_name, path), None, None)
        config = json.loads(layout.read_blob(config_digest))
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = []
        for layer_name, diff_id in zip(layer_names, diff_ids, strict=False):
            data = _read(archive, members, layer_name, path)
            head = data.read(4)
            digest = _copy(layout, Prefixed(head, data), None, None)
            media_type = (
                OCI_LAYER_GZIP
                if head.startswith(b"\x1f\x8b")
                else OCI_LAYER_ZSTD
                if head.startswith(b"\x28\xb5\x2f\xfd")
                else OCI_LAYER
            )
            if media_type == OCI_LAYER and digest != diff_id:
                raise LayerDigestError(
                    f"{layer_name} hashes to {digest}, the config says {diff_id}", where=path
                )
            size = os.path.getsize(layout.blob_path(digest))
            layers.append({"mediaType": media_type, "digest": digest, "size": size})
        if len(layers) != len(diff_ids):
            raise ArchiveError(f"{len(layers)} layers for {len(diff_ids)} diff ids", where=path)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": config_digest,
                "size": len(layout.read_blob(config_digest)),
            },
            "layers": layers,
        }
        data_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        desc = Descriptor(
            media_type=OCI_MANIFEST, digest=layout.put_blob(data_bytes), size=len(data_bytes)
        )
        tags = entry.get("RepoTags") or []
        # untagged (`podman save` of an image without a name): named by its id
        names = [_normalise(name)] if name else [_normalise(t) for t in tags] or [config_digest]
        layout.read_image(desc, names[0])
        for full in names:
            layout.tag(full, desc)
        loaded.extend(names)
    return loaded


def _normalise(name: str) -> str:
    try:
        return str(Reference.parse(name))
    except ImageError:
        return name


@contextlib.contextmanager
def _atomic_tar(path: str) -> Iterator[tarfile.TarFile]:
    """A tar written to a temporary file beside `path`, renamed to `path` once complete."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".save-")
    try:
        with (
            os.fdopen(fd, "wb") as file,
            tarfile.open(fileobj=file, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            yield archive
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def import_rootfs(
    layout: Layout,
    source: str,
    name: str | None,
    *,
    config: dict[str, object] | None = None,
    architecture: str = "amd64",
    comment: str = "imported by bastion",
) -> str:
    """Make a one-layer image named `name` from the root filesystem tar at `source` (plain,
    gzip or zstd; `docker import`, `podman import`): the layer blob is the file as given, the
    config holds `config` (the image config's `config` object: Cmd, Env, ...). Returns the
    normalised name; without a name the image is untagged, named by its id (`sha256:...`)."""
    with open(source, "rb") as raw:
        head = raw.read(4)
        raw.seek(0)
        digest = _copy(layout, raw, None, None)
    if head.startswith((_GZIP, _ZSTD)):
        media_type = OCI_LAYER_GZIP if head.startswith(_GZIP) else OCI_LAYER_ZSTD
        with open(source, "rb") as raw:
            diff_id = _uncompressed_digest(raw, head)
    else:
        media_type, diff_id = OCI_LAYER, digest
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    image_config = {
        "created": created,
        "architecture": architecture,
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "import", "comment": comment}],
    }
    config_data = json.dumps(image_config, separators=(",", ":")).encode()
    config_digest = layout.put_blob(config_data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_data)},
        "layers": [
            {
                "mediaType": media_type,
                "digest": digest,
                "size": os.path.getsize(layout.blob_path(digest)),
            }
        ],
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    desc = Descriptor(media_type=OCI_MANIFEST, digest=layout.put_blob(data), size=len(data))
    full = _normalise(name) if name else config_digest
    layout.tag(full, desc)
    return full


def _uncompressed_digest(raw: IO[bytes], head: bytes) -> str:
    sha = hashlib.sha256()
    reader: Readable
    if head.startswith(b"\x1f\x8b"):
        reader = gzip.GzipFile(fileobj=raw, mode="rb")
    else:
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    try:
        while chunk := reader.read(_CHUNK):
            sha.update(chunk)
    except (OSError, EOFError) as err:
        raise ArchiveError(f"the compressed root filesystem is corrupt: {err}") from err
    return "sha256:" + sha.hexdigest()
