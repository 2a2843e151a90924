"""Registry credentials and authentication challenges.

Credentials come, first match wins, from an explicit `Credentials`, then the auth files users
already have: `${REGISTRY_AUTH_FILE}`, `${XDG_RUNTIME_DIR}/containers/auth.json` (Podman,
skopeo, `bastion login`), then `${DOCKER_CONFIG:-~/.docker}/config.json` (Docker). An entry is
found under the registry's host (`127.0.0.1:5000`), its URL forms (`https://host`,
`https://host/v1/`) and, for Docker Hub, `https://index.docker.io/v1/`: `auth` (base64
`user:password`), `username`/`password`, or `identitytoken` (an OAuth2 refresh token, which the
client exchanges by POST to the token realm). Credential helpers (`credsStore`, `credHelpers`)
are not run.

`parse_challenge` reads the `WWW-Authenticate` header a registry answers 401 with (RFC 7235:
`Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field

from bastion.images.errors import CredentialsError
from bastion.images.reference import DOCKER_HUB

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and a password (or an identity token, sent as a refresh token)."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def basic(self) -> str:
        """The value of a Basic `Authorization` header."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def auth_files() -> list[str]:
    """The auth files looked at, in order (they need not exist)."""
    paths = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        paths.append(os.environ["REGISTRY_AUTH_FILE"])
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    paths.append(os.path.join(runtime_dir, "containers", "auth.json"))
    docker_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    paths.append(os.path.join(docker_dir, "config.json"))
    return paths


def find_credentials(registry: str, files: list[str] | None = None) -> Credentials | None:
    """The credentials for `registry` (a host[:port]) in the first auth file that has some."""
    keys = _keys(registry)
    for path in auth_files() if files is None else files:
        try:
            with open(path, "rb") as f:
                doc = json.load(f)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as err:
            raise CredentialsError(f"cannot read the auth file: {err}", where=path) from err
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(auths, dict):
            continue
        for key in keys:
            entry = auths.get(key)
            if isinstance(entry, dict):
                return _decode(entry, path, key)
    return None


def _keys(registry: str) -> list[str]:
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    if registry == DOCKER_HUB or registry in _HUB_KEYS:  # docker.io, or its API host
        keys += [DOCKER_HUB, *_HUB_KEYS]
    return keys


def _decode(entry: dict[str, object], path: str, key: str) -> Credentials:
    raw_token = entry.get("identitytoken")
    token = raw_token if isinstance(raw_token, str) and raw_token else None
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise CredentialsError(f"the entry {key!r} has a bad 'auth' value", where=path) from err
        if not sep:
            raise CredentialsError(
                f"the entry {key!r} has no 'user:password' in 'auth'", where=path
            )
        return Credentials(user, password, token)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str):
        return Credentials(name, secret, token)
    return Credentials(identity_token=token) if token else Credentials()


@dataclass(frozen=True, slots=True)
class Challenge:
    """One `WWW-Authenticate` challenge: the scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header, or None if there is none."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _PARAM.finditer(rest):
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value
    return Challenge(scheme.lower(), params)
