"""Images: safe layer unpacking, the OCI image layout and layer store, container overlays, and a
registry client (docs/images.md).

Sits beside `runtime`, `network` and `sensor` in the layers (docs/architecture.md): it may import
`oci`, `identity`, `errors` and `_sys`, never `runtime`, `sensor`, `network`, `engine` or `cli`.
It is not on bastion-runc's start-up path, so it uses ordinary dataclasses and typing.
"""

from __future__ import annotations

from bastion.images.errors import (
    ImageError,
    LayerDigestError,
    LayerEscapeError,
    LayerFormatError,
    LayerLinkError,
)
from bastion.images.unpack import SkippedEntry, UnpackResult, unpack_layer

__all__ = [
    "ImageError",
    "LayerDigestError",
    "LayerEscapeError",
    "LayerFormatError",
    "LayerLinkError",
    "SkippedEntry",
    "UnpackResult",
    "unpack_layer",
]
