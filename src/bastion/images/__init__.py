"""Images: safe layer unpacking, the OCI image layout and layer store, container overlays, and a
registry client (docs/images.md).

Sits beside `runtime`, `network` and `sensor` in the layers (docs/architecture.md): it may import
`oci`, `identity`, `errors` and `_sys`, never `runtime`, `sensor`, `network`, `engine` or `cli`.
It is not on bastion-runc's start-up path, so it uses ordinary dataclasses and typing.

The names below are loaded on first use (PEP 562): `bastion run` of a local image needs the
layout, the layer store and the overlay, not the registry client's urllib3 and ssl (~45 ms).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.images.archive import (
        import_rootfs,
        load_archive,
        save_docker_archive,
        save_oci_archive,
    )
    from bastion.images.auth import Credentials, find_credentials
    from bastion.images.documents import (
        Descriptor,
        HistoryEntry,
        ImageConfig,
        Index,
        Manifest,
        Platform,
        chain_ids,
    )
    from bastion.images.errors import (
        ArchiveError,
        DigestError,
        ImageError,
        ImageNotFoundError,
        LayerDigestError,
        LayerEscapeError,
        LayerFormatError,
        LayerLinkError,
        LayerWriteError,
        LayoutError,
        ManifestError,
        OverlayError,
        ReferenceFormatError,
        RegistryAuthError,
        RegistryError,
        RegistryUnreachableError,
    )
    from bastion.images.layers import LayerStore
    from bastion.images.layout import Image, Layout
    from bastion.images.overlay import ContainerFilesystem, mount_overlay, unmount_overlay
    from bastion.images.pull import pull
    from bastion.images.push import push
    from bastion.images.reference import Reference
    from bastion.images.registry import PullProgress, RegistryClient
    from bastion.images.unpack import SkippedEntry, UnpackResult, unpack_layer

__all__ = [
    "ArchiveError",
    "ContainerFilesystem",
    "Credentials",
    "Descriptor",
    "DigestError",
    "HistoryEntry",
    "Image",
    "ImageConfig",
    "ImageError",
    "ImageNotFoundError",
    "Index",
    "LayerDigestError",
    "LayerEscapeError",
    "LayerFormatError",
    "LayerLinkError",
    "LayerStore",
    "LayerWriteError",
    "Layout",
    "LayoutError",
    "Manifest",
    "ManifestError",
    "OverlayError",
    "Platform",
    "PullProgress",
    "Reference",
    "ReferenceFormatError",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryUnreachableError",
    "SkippedEntry",
    "UnpackResult",
    "chain_ids",
    "find_credentials",
    "import_rootfs",
    "load_archive",
    "mount_overlay",
    "pull",
    "push",
    "save_docker_archive",
    "save_oci_archive",
    "unmount_overlay",
    "unpack_layer",
]

_WHERE = {
    "import_rootfs": "bastion.images.archive",
    "ArchiveError": "bastion.images.errors",
    "load_archive": "bastion.images.archive",
    "save_docker_archive": "bastion.images.archive",
    "save_oci_archive": "bastion.images.archive",
    "ContainerFilesystem": "bastion.images.overlay",
    "Credentials": "bastion.images.auth",
    "Descriptor": "bastion.images.documents",
    "DigestError": "bastion.images.errors",
    "HistoryEntry": "bastion.images.documents",
    "Image": "bastion.images.layout",
    "ImageConfig": "bastion.images.documents",
    "ImageError": "bastion.images.errors",
    "ImageNotFoundError": "bastion.images.errors",
    "Index": "bastion.images.documents",
    "LayerDigestError": "bastion.images.errors",
    "LayerEscapeError": "bastion.images.errors",
    "LayerFormatError": "bastion.images.errors",
    "LayerLinkError": "bastion.images.errors",
    "LayerWriteError": "bastion.images.errors",
    "LayerStore": "bastion.images.layers",
    "Layout": "bastion.images.layout",
    "LayoutError": "bastion.images.errors",
    "Manifest": "bastion.images.documents",
    "ManifestError": "bastion.images.errors",
    "OverlayError": "bastion.images.errors",
    "Platform": "bastion.images.documents",
    "PullProgress": "bastion.images.registry",
    "Reference": "bastion.images.reference",
    "ReferenceFormatError": "bastion.images.errors",
    "RegistryAuthError": "bastion.images.errors",
    "RegistryClient": "bastion.images.registry",
    "RegistryError": "bastion.images.errors",
    "RegistryUnreachableError": "bastion.images.errors",
    "SkippedEntry": "bastion.images.unpack",
    "UnpackResult": "bastion.images.unpack",
    "chain_ids": "bastion.images.documents",
    "find_credentials": "bastion.images.auth",
    "mount_overlay": "bastion.images.overlay",
    "pull": "bastion.images.pull",
    "push": "bastion.images.push",
    "unmount_overlay": "bastion.images.overlay",
    "unpack_layer": "bastion.images.unpack",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bastion.images' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
