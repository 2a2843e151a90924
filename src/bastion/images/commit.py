"""New layers and images written into the layout: a container's overlay upper directory as an
image layer (the builder's RUN, a commit), a tar made elsewhere as a layer, and an image config
plus manifest over a list of layers.

The upper directory speaks overlayfs; a layer speaks the OCI image spec's changeset format, so
the walk translates (image-spec layer.md "Whiteouts", kernel overlayfs.rst):

- a 0/0 character device `NAME` (overlayfs's whiteout for a deleted lower file) becomes an empty
  `.wh.NAME`;
- a directory with `trusted.overlay.opaque=y` (made anew where a lower one was deleted) gets an
  `.wh..wh..opq` entry before its content;
- hard links inside the upper directory stay hard links (tarfile tracks inodes); the host's user
  names are not written (owners are numeric in a layer).

Layers are stored uncompressed (`application/vnd.oci.image.layer.v1.tar`): their diff id is
their digest, `save` and `push` copy them as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tarfile
import time
from typing import IO, TYPE_CHECKING, Any, cast

from bastion.images.documents import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Descriptor
from bastion.images.unpack import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bastion.images.layout import Layout


def _arcname(relative: str) -> str:
    return relative.replace(os.sep, "/")


def _walk(root: str) -> Iterator[tuple[str, str]]:
    """(host path, name in the layer) of everything under `root`, parents before children,
    sorted, so the tar is the same for the same tree."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        relative_dir = os.path.relpath(directory, root)
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            relative = name if relative_dir == "." else os.path.join(relative_dir, name)
            yield path, _arcname(relative)
        # a symlink to a directory is listed in dirs but os.walk does not follow it: fine


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""
    return info


def layer_from_directory(upper: str, writer: tarfile.TarFile) -> int:
    """Write the overlay upper directory `upper` into `writer` as a layer changeset; returns
    the number of entries."""
    count = 0
    for path, name in _walk(upper):
        st = os.lstat(path)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            head, _, base = name.rpartition("/")
            info = tarfile.TarInfo(
                f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base
            )
            info.mtime = int(st.st_mtime)
            writer.addfile(info)
            count += 1
            continue
        writer.add(path, name, recursive=False, filter=_plain)
        count += 1
        if stat.S_ISDIR(st.st_mode) and _opaque(path):
            info = tarfile.TarInfo(f"{name}/{OPAQUE_MARKER}")
            info.mtime = int(st.st_mtime)
            writer.addfile(info)
            count += 1
    return count


def _opaque(path: str) -> bool:
    with contextlib.suppress(OSError):
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    return False


def write_layer(layout: Layout, fill: Any) -> Descriptor:
    """A new uncompressed layer blob: `fill(tarfile)` writes its entries. The blob is written
    through the layout's verifying writer and is its own diff id."""
    with layout.blob_writer() as blob:
        with tarfile.open(
            fileobj=cast("IO[bytes]", _Sink(blob)), mode="w|", format=tarfile.PAX_FORMAT
        ) as writer:
            fill(writer)
        digest = blob.commit()
    return Descriptor(
        media_type=OCI_LAYER, digest=digest, size=os.path.getsize(layout.blob_path(digest))
    )


class _Sink:
    """A write-only file object over a `BlobWriter` (tarfile's stream mode needs `write`)."""

    def __init__(self, blob: Any) -> None:
        self._blob = blob

    def write(self, data: bytes) -> int:
        self._blob.write(bytes(data))
        return len(data)

    def close(self) -> None:
        pass


def write_image(
    layout: Layout, config: dict[str, Any], layers: list[Descriptor]
) -> tuple[Descriptor, str]:
    """The image config `config` (a whole image-spec config document) and a manifest over
    `layers` into the layout's blobs, untagged; (manifest descriptor, config digest)."""
    data = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_digest = layout.put_blob(data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(data)},
        "layers": [d.to_json() for d in layers],
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    descriptor = Descriptor(media_type=OCI_MANIFEST, digest=layout.put_blob(body), size=len(body))
    return descriptor, config_digest


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
