"""The OCI (and Docker v2 schema 2) image documents as typed records: descriptors, image indexes,
manifests and the image config.

Docker's schema 2 documents have the same shape as OCI's with other media types, so one parser
reads both. Docker schema 1 (signed JWS manifests) is refused, never converted. Absent fields stay
`None` where "absent" and "empty" mean different things to the engine (an image with no Cmd vs
`"Cmd": []`, which Docker's run-time merge treats differently).
"""

from __future__ import annotations

import re

from bastion import jsonio
from bastion._record import record
from bastion.images.errors import DigestError, ManifestError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
#: What a client accepts for a manifest: both indexes and both manifests (never schema 1).
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
#: The annotation that names an image in an OCI layout's index.json.
REF_NAME = "org.opencontainers.image.ref.name"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(digest: str) -> str:
    """`digest` itself if it is `sha256:` + 64 lower-case hex digits, else `DigestError`."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise DigestError(
            f"{digest!r} is not a sha256 digest",
            hint="bastion accepts sha256 digests only",
            reference="digest-format",
        )
    return digest


def sha256_digest(data: bytes) -> str:
    import hashlib  # here: loading OpenSSL costs `bastion run` ~2 ms, and it hashes nothing

    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: tuple[str, ...] | list[str]) -> list[str]:
    """The chain id of each layer (image-spec config.md): the first is its diff id, then
    `sha256(parent_chain_id + " " + diff_id)`."""
    chain: list[str] = []
    for diff_id in diff_ids:
        chain.append(diff_id if not chain else sha256_digest(f"{chain[-1]} {diff_id}".encode()))
    return chain


@record
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/amd64` or `linux/arm64/v8` (the form of `--platform`)."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ManifestError(
                f"{text!r} is not a platform", hint="write os/arch or os/arch/variant"
            )
        return cls(
            os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@record
class Descriptor:
    """A reference to a blob: media type, digest, size (and, in an index, platform and tags)."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = {}  # noqa: RUF012 (a record copies it for each instance)
    platform: Platform | None = None

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Descriptor:
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: a descriptor must be an object", where=where)
        media_type, digest, size = doc.get("mediaType"), doc.get("digest"), doc.get("size")
        if not isinstance(media_type, str) or not isinstance(size, int) or size < 0:
            raise ManifestError(f"{where}: mediaType and size are required", where=where)
        digest = check_digest(digest if isinstance(digest, str) else repr(digest))
        plat = doc.get("platform")
        platform = None
        if isinstance(plat, dict):
            platform = Platform(
                os=str(plat.get("os", "")),
                architecture=str(plat.get("architecture", "")),
                variant=plat.get("variant"),
            )
        annotations = doc.get("annotations") or {}
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations={str(k): str(v) for k, v in annotations.items()},
            platform=platform,
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        if self.platform is not None:
            doc["platform"] = {"os": self.platform.os, "architecture": self.platform.architecture}
            if self.platform.variant:
                doc["platform"]["variant"] = self.platform.variant
        return doc


@record
class Manifest:
    """An image manifest (OCI or Docker schema 2): the config blob and the layers, bottom first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@record
class Index:
    """An image index (OCI) or manifest list (Docker): one manifest per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]

    def select(self, platform: Platform) -> Descriptor:
        """The manifest for `platform` (a variant only narrows the choice when both name one)."""
        for desc in self.manifests:
            p = desc.platform
            if p is None or (p.os, p.architecture) != (platform.os, platform.architecture):
                continue
            if platform.variant and p.variant and platform.variant != p.variant:
                continue
            return desc
        offered = ", ".join(str(d.platform) for d in self.manifests if d.platform) or "none"
        raise ManifestError(
            f"the image has no manifest for {platform} (it has: {offered})",
            hint="choose one of its platforms",
            reference="platform-not-found",
        )


@record
class HistoryEntry:
    created: str | None = None
    created_by: str | None = None
    comment: str | None = None
    empty_layer: bool = False


@record
class ImageConfig:
    """The parts of an image config the engine runs with (image-spec config.md `config` and
    `rootfs`). `cmd`/`entrypoint` are `None` when the image does not set them."""

    architecture: str
    os: str
    variant: str | None = None
    created: str | None = None
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: dict[str, str] = {}  # noqa: RUF012 (a record copies it for each instance)
    stop_signal: str | None = None
    #: Docker's `Healthcheck` document (HEALTHCHECK), as stored (engine/health_config.py)
    healthcheck: dict[str, Any] | None = None
    diff_ids: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = jsonio.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ManifestError(f"the {what} is not JSON: {err}", reference="image-document") from err
    if not isinstance(doc, dict):
        raise ManifestError(f"the {what} is not a JSON object", reference="image-document")
    return doc


def document_type(data: bytes, declared: str | None = None) -> str:
    """The media type of a manifest or index: its own `mediaType`, else the declared one (a
    registry's Content-Type), else its shape. Schema 1 is refused here."""
    doc = _load(data, "manifest")
    media_type = doc.get("mediaType") or declared or ""
    if media_type in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise ManifestError(
            "the registry served a Docker schema 1 manifest, which bastion does not use",
            hint="push the image again with a current tool (schema 2 or OCI)",
        )
    if media_type not in INDEX_TYPES + MANIFEST_TYPES:
        if "manifests" in doc:
            media_type = OCI_INDEX
        elif "config" in doc and "layers" in doc:
            media_type = OCI_MANIFEST
        else:
            raise ManifestError(f"unknown manifest media type {media_type!r}")
    return str(media_type)


def parse_index(data: bytes) -> Index:
    doc = _load(data, "image index")
    items = doc.get("manifests")
    if not isinstance(items, list):
        raise ManifestError("the image index has no manifests list", reference="image-document")
    manifests = tuple(Descriptor.from_json(d, f"manifests[{i}]") for i, d in enumerate(items))
    return Index(media_type=str(doc.get("mediaType") or OCI_INDEX), manifests=manifests)


def parse_manifest(data: bytes) -> Manifest:
    doc = _load(data, "manifest")
    media_type = document_type(data)
    if media_type not in MANIFEST_TYPES:
        raise ManifestError(f"expected an image manifest, got {media_type}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ManifestError("the manifest has no layers list", reference="image-document")
    return Manifest(
        media_type=media_type,
        config=Descriptor.from_json(doc.get("config"), "config"),
        layers=tuple(Descriptor.from_json(d, f"layers[{i}]") for i, d in enumerate(layers)),
    )


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ManifestError(
            "expected a list of strings in the image config", reference="image-document"
        )
    return tuple(str(v) for v in value)


def parse_config(data: bytes) -> ImageConfig:
    doc = _load(data, "image config")
    conf = doc.get("config") or {}
    rootfs = doc.get("rootfs") or {}
    diff_ids = tuple(check_digest(d) for d in rootfs.get("diff_ids") or ())
    history = tuple(
        HistoryEntry(
            created=h.get("created"),
            created_by=h.get("created_by"),
            comment=h.get("comment"),
            empty_layer=bool(h.get("empty_layer", False)),
        )
        for h in doc.get("history") or ()
        if isinstance(h, dict)
    )
    return ImageConfig(
        architecture=str(doc.get("architecture", "")),
        os=str(doc.get("os", "")),
        variant=doc.get("variant"),
        created=doc.get("created"),
        env=_strings(conf.get("Env")) or (),
        cmd=_strings(conf.get("Cmd")),
        entrypoint=_strings(conf.get("Entrypoint")),
        working_dir=str(conf.get("WorkingDir") or ""),
        user=str(conf.get("User") or ""),
        exposed_ports=tuple(sorted(conf.get("ExposedPorts") or {})),
        volumes=tuple(sorted(conf.get("Volumes") or {})),
        labels={str(k): str(v) for k, v in (conf.get("Labels") or {}).items()},
        stop_signal=conf.get("StopSignal") or None,
        healthcheck=conf.get("Healthcheck") or None,
        diff_ids=diff_ids,
        history=history,
    )
