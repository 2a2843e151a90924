"""API versions: what bastion speaks and moby's answers to a client outside that range.

A path may carry a version prefix (`/v1.41/containers/json`) or none (the newest). A client
asking for a newer version than the server's, or an older one than the minimum, gets moby's
400 with moby's wording (clients and Podman's tests match on it).
"""

from __future__ import annotations

import re

from bastion.engine.system import API_VERSION, MIN_API_VERSION

__all__ = ["API_VERSION", "MIN_API_VERSION", "check", "parse"]

_VERSION = re.compile(r"^\d+\.\d+$")


def parse(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def check(version: str | None) -> str | None:
    """moby's message for a request of API `version` this server does not serve, else None."""
    if version is None:
        return None
    if not _VERSION.match(version):
        return f"invalid API version {version!r}"
    if parse(version) > parse(API_VERSION):
        return (
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if parse(version) < parse(MIN_API_VERSION):
        return (
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return None
