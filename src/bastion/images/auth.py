"""Registry credentials and authentication challenges.

Credentials come, first match wins, from an explicit `Credentials`, then the auth files users
already have: `${REGISTRY_AUTH_FILE}`, `${XDG_RUNTIME_DIR}/containers/auth.json` (Podman,
skopeo, `bastion login`; `/run/containers/<uid>/auth.json` when XDG_RUNTIME_DIR is unset, as
containers/image does), then `${DOCKER_CONFIG:-~/.docker}/config.json` (Docker). An entry is
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
import contextlib
import json
import os
import re
import tempfile
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


def primary_auth_file() -> str:
    """The file `login` writes and `logout` edits, as Podman's: `${REGISTRY_AUTH_FILE}`, else
    `${XDG_RUNTIME_DIR}/containers/auth.json`, else `/run/containers/<uid>/auth.json`."""
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return os.environ["REGISTRY_AUTH_FILE"]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return os.path.join(runtime_dir, "containers", "auth.json")
    return f"/run/containers/{os.getuid()}/auth.json"


def auth_files() -> list[str]:
    """The auth files looked at, in order (they need not exist)."""
    paths = [primary_auth_file()]
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


def store_credentials(registry: str, credentials: Credentials, path: str | None = None) -> str:
    """Record `credentials` for `registry` (host[:port]) in the auth file `path` (default:
    `primary_auth_file()`), as `podman login` does: `{"auths": {registry: {"auth":
    base64("user:password")}}}`, every other entry and key kept. The directory is made 0700,
    the file replaced atomically with mode 0600. Returns the file's path."""
    path = path or primary_auth_file()
    doc = _read_auth_file(path)
    auths = doc.setdefault("auths", {})
    for key in _keys(registry):  # one entry per registry, whatever form an older one used
        auths.pop(key, None)
    auths[registry] = {"auth": credentials.basic().removeprefix("Basic ")}
    _write_auth_file(path, doc)
    return path


def remove_credentials(registry: str, path: str | None = None) -> bool:
    """Drop the entries for `registry` from the auth file `path` (default: the primary one);
    whether there was one."""
    path = path or primary_auth_file()
    doc = _read_auth_file(path)
    auths = doc.get("auths", {})
    found = [key for key in _keys(registry) if key in auths]
    for key in found:
        del auths[key]
    if found:
        _write_auth_file(path, doc)
    return bool(found)


def _read_auth_file(path: str) -> dict[str, dict[str, object]]:
    """The file's document (an empty one if it does not exist); one that does not parse is an
    error, never overwritten."""
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {"auths": {}}
    except (OSError, ValueError) as err:
        raise CredentialsError(f"cannot read the auth file: {err}", where=path) from err
    if not isinstance(doc, dict) or not isinstance(doc.setdefault("auths", {}), dict):
        raise CredentialsError("the auth file has no 'auths' object", where=path)
    return doc


def _write_auth_file(path: str, doc: dict[str, dict[str, object]]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".auth-")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp's file is 0600 already
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
