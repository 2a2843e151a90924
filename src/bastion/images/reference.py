"""Image references as Docker and Podman write them: `[registry/]repository[:tag][@digest]`.

The first component is a registry when it has a `.` or a `:` or is `localhost`; otherwise the
registry is Docker Hub (`docker.io`), and a one-component repository gets `library/`. Without a
tag or a digest the tag is `latest`. `str(ref)` is the full, normalised form bastion uses as an
image's name (`docker.io/library/busybox:latest`, `127.0.0.1:5000/app@sha256:...`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from bastion.images.documents import check_digest
from bastion.images.errors import DigestError, ReferenceFormatError

DOCKER_HUB = "docker.io"
#: Docker Hub's API host (docker.io itself only redirects).
DOCKER_HUB_API = "registry-1.docker.io"

# distribution/reference's grammar: lower-case components joined by `.`, `_`, `__` or dashes
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_REGISTRY = re.compile(r"[a-zA-Z0-9.-]+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest, _, digest = text.partition("@")
        if digest:
            try:
                check_digest(digest)
            except DigestError as err:
                raise _bad(text, f"bad digest: {err.message}") from err
        name, tag = rest, None
        slash, colon = rest.rfind("/"), rest.rfind(":")
        if colon > slash:
            name, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise _bad(text, f"bad tag {tag!r}")
        first, sep, remainder = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, remainder
            if not _REGISTRY.fullmatch(registry):
                raise _bad(text, f"bad registry {registry!r}")
        else:
            registry, repository = DOCKER_HUB, name
            if "/" not in repository:
                repository = f"library/{repository}"
        if not _REPOSITORY.fullmatch(repository) or len(repository) > 255:
            raise _bad(text, f"bad repository name {repository!r} (lower case, digits, . _ -)")
        if tag is None and not digest:
            tag = "latest"
        return cls(registry=registry, repository=repository, tag=tag, digest=digest or None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def api_host(self) -> str:
        """The host:port the Distribution API is served on."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def manifest_reference(self) -> str:
        """What goes after `/manifests/`: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"


def is_loopback(host: str) -> bool:
    """Whether `host` (`name[:port]` or `[v6]:port`) is this machine: localhost, 127/8, ::1."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _bad(text: str, why: str) -> ReferenceFormatError:
    return ReferenceFormatError(
        f"{text!r} is not an image reference: {why}",
        hint="write [registry/]repository[:tag][@sha256:digest]",
    )
