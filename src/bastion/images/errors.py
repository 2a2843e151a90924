"""The errors of `bastion.images`, each a `BastionError` with a stable kebab-case `reference`.

`ImageError` is the root of the package's errors, so a caller can catch every image failure at
once; each subclass says when it is raised. Tests assert on `reference`, never on the text.
"""

from __future__ import annotations

from bastion.errors import BastionError, ExitCode


class ImageError(BastionError):
    """Root of the errors raised by `bastion.images`."""

    reference = "image-error"


# -- layers ----------------------------------------------------------------------------------


class LayerFormatError(ImageError):
    """A layer blob is not a tar archive (plain, gzip or zstd), or the archive is corrupt."""

    reference = "layer-format"
    exit_code = ExitCode.INVALID_INPUT


class LayerEscapeError(ImageError):
    """A layer entry would land outside the layer directory: a name with a `..` component, or a
    hard link whose target names a path outside the layer. The whole layer is refused."""

    reference = "layer-path-escape"
    exit_code = ExitCode.INVALID_INPUT


class LayerLinkError(ImageError):
    """A hard link in a layer names a target that is not an earlier entry of the same layer (a
    layer can only link to its own files: a link to a host file is refused here)."""

    reference = "layer-link-target"
    exit_code = ExitCode.INVALID_INPUT


class LayerWriteError(ImageError):
    """Writing an unpacked layer entry failed on this host (no space left, a filesystem without
    xattrs or device nodes for whiteouts, no privilege to make them); the errno says which."""

    reference = "layer-unpack-failed"


class LayerDigestError(ImageError):
    """An unpacked layer's uncompressed digest is not the diff id the image config names."""

    reference = "layer-diff-id-mismatch"
    exit_code = ExitCode.INVALID_INPUT


# -- the OCI layout --------------------------------------------------------------------------


class LayoutError(ImageError):
    """The OCI image layout on disk is not readable: a bad `oci-layout`, `index.json`, manifest
    or config document, or a blob that should be there is missing."""

    reference = "image-layout"


class DigestError(ImageError):
    """A digest string is not `sha256:` + 64 lower-case hex digits (the only algorithm bastion
    accepts), or a blob's content does not hash to the digest it was stored or fetched under."""

    reference = "blob-digest-mismatch"
    exit_code = ExitCode.INVALID_INPUT


class ImageNotFoundError(ImageError):
    """No image answers to a name: a tag missing from the layout or from the registry."""

    reference = "image-not-found"
    exit_code = ExitCode.NOT_FOUND


class ManifestError(ImageError):
    """A manifest bastion cannot use: Docker schema 1, an unknown media type, a malformed
    document, or an image index with no manifest for the requested platform."""

    reference = "manifest-unsupported"
    exit_code = ExitCode.INVALID_INPUT


class ArchiveError(ImageError):
    """An image archive (oci-archive, docker-archive) that cannot be loaded: not a tar, neither
    format, or a document naming a member the archive does not have."""

    reference = "image-archive"
    exit_code = ExitCode.INVALID_INPUT


class ReferenceFormatError(ImageError):
    """An image reference (`registry/repository:tag@digest`) that does not parse."""

    reference = "image-reference-format"
    exit_code = ExitCode.USAGE


# -- overlay ---------------------------------------------------------------------------------


class OverlayError(ImageError):
    """The overlay of a container could not be mounted or unmounted (the kernel's errno and the
    failing step are in the message)."""

    reference = "overlay-mount"


# -- registry --------------------------------------------------------------------------------


class RegistryError(ImageError):
    """A registry answered with an error the other classes do not cover (its error body, made
    one line, is the message)."""

    reference = "registry-error"


class RegistryUnreachableError(RegistryError):
    """The registry could not be reached: connection refused, DNS, TLS handshake or timeout."""

    reference = "registry-unreachable"


class RegistryAuthError(RegistryError):
    """The registry or its token server refused the credentials (or asked for some and none
    were given)."""

    reference = "registry-unauthorized"


class CredentialsError(ImageError):
    """An auth file (`~/.docker/config.json`, `containers/auth.json`) is unreadable or holds an
    entry that does not decode."""

    reference = "registry-credentials-file"


class NotLoggedInError(ImageError):
    """`logout` of a registry the auth file holds no credentials for."""

    reference = "registry-not-logged-in"
