"""Images: safe layer unpacking, the OCI image layout and layer store, container overlays, and a
registry client (docs/images.md).

Sits beside `runtime`, `network` and `sensor` in the layers (docs/architecture.md): it may import
`oci`, `identity`, `errors` and `_sys`, never `runtime`, `sensor`, `network`, `engine` or `cli`.
It is not on bastion-runc's start-up path, so it uses ordinary dataclasses and typing.
"""

from __future__ import annotations

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
    DigestError,
    ImageError,
    ImageNotFoundError,
    LayerDigestError,
    LayerEscapeError,
    LayerFormatError,
    LayerLinkError,
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
from bastion.images.reference import Reference
from bastion.images.registry import PullProgress, RegistryClient, pull
from bastion.images.unpack import SkippedEntry, UnpackResult, unpack_layer

__all__ = [
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
    "mount_overlay",
    "pull",
    "unmount_overlay",
    "unpack_layer",
]
