"""Registry mirrors: other registries a pull asks first for a registry's images, as dockerd's
`registry-mirrors` (for Docker Hub) and Podman's registries.conf `[[registry.mirror]]`.

Where they are configured, the first that exists winning:

1. `$BASTION_REGISTRY_MIRRORS`: mirrors of Docker Hub (`docker.io`), separated by commas or
   spaces (`127.0.0.1:5000,https://mirror.example`);
2. `<engine root>/registries.json`, then `/etc/bastion/registries.json`:
   `{"registry-mirrors": ["http://127.0.0.1:5000"], "mirrors": {"quay.io": ["..."]}}` (the
   first key is dockerd's daemon.json spelling, for Docker Hub; the second names mirrors of
   any registry).

A mirror is `host[:port]`, optionally with a scheme: `http://` makes it insecure (plain HTTP,
or HTTPS without verification), `https://` verified; without a scheme a loopback mirror is
insecure and any other verified (the registry client's default). A path is refused: a mirror
serves the same repositories at its root, as Docker requires.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from bastion.images.errors import RegistryError
from bastion.images.reference import DOCKER_HUB

MIRRORS_ENV = "BASTION_REGISTRY_MIRRORS"
CONFIG_NAME = "registries.json"
SYSTEM_CONFIG = "/etc/bastion/registries.json"


@dataclass(frozen=True, slots=True)
class Mirror:
    """One mirror: its host[:port], and None (the default), True or False for TLS checks."""

    host: str
    tls_verify: bool | None = None


def parse_mirror(text: str, *, where: str = MIRRORS_ENV) -> Mirror:
    value = text.strip()
    tls_verify: bool | None = None
    if value.startswith("http://"):
        value, tls_verify = value.removeprefix("http://"), False
    elif value.startswith("https://"):
        value, tls_verify = value.removeprefix("https://"), True
    value = value.rstrip("/")
    if not value or "/" in value or not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", value):
        raise RegistryError(
            f"{text!r} is not a registry mirror",
            where=where,
            hint="write host[:port], optionally after http:// or https://, without a path",
        )
    return Mirror(value, tls_verify)


def configured(root: str | None = None) -> dict[str, list[Mirror]]:
    """The mirrors configured for each registry (see the module docstring)."""
    text = os.environ.get(MIRRORS_ENV, "").strip()
    if text:
        return {DOCKER_HUB: [parse_mirror(m) for m in re.split(r"[,\s]+", text) if m]}
    paths = ([os.path.join(root, CONFIG_NAME)] if root else []) + [SYSTEM_CONFIG]
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as err:
            raise RegistryError(f"cannot read the mirrors file: {err}", where=path) from None
        return _from_document(document, path)
    return {}


def _from_document(document: object, path: str) -> dict[str, list[Mirror]]:
    if not isinstance(document, dict):
        raise RegistryError("the mirrors file is not a JSON object", where=path)
    out: dict[str, list[Mirror]] = {}
    hub = document.get("registry-mirrors") or []
    others = document.get("mirrors") or {}
    if not isinstance(hub, list) or not isinstance(others, dict):
        raise RegistryError(
            "registry-mirrors must be a list and mirrors an object of lists", where=path
        )
    if hub:
        out[DOCKER_HUB] = [parse_mirror(str(m), where=path) for m in hub]
    for registry, mirrors in others.items():
        if not isinstance(mirrors, list):
            raise RegistryError(f"mirrors of {registry} must be a list", where=path)
        out.setdefault(str(registry), []).extend(parse_mirror(str(m), where=path) for m in mirrors)
    return out
