"""`diff`: what a container changed in its image's filesystem, read from its overlay's upper
directory: a whiteout (a 0:0 character device) is a deletion, an entry the image's layers also
have is a change, any other an addition (Docker's kinds: 0 changed, 1 added, 2 deleted). A
directory the container wrote into shows as changed, as in `docker diff`."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

CHANGED, ADDED, DELETED = 0, 1, 2


def _in_layers(lowerdirs: Sequence[str], path: str) -> bool:
    return any(os.path.lexists(os.path.join(lower, path)) for lower in lowerdirs)


def changes(upper: str, lowerdirs: Sequence[str]) -> list[tuple[str, int]]:
    """(path in the container, kind) for each entry of `upper`, sorted by path."""
    out: list[tuple[str, int]] = []
    for parent, dirs, files in os.walk(upper):
        relative = os.path.relpath(parent, upper)
        for name in [*dirs, *files]:
            path = os.path.normpath(os.path.join(relative, name))
            st = os.lstat(os.path.join(parent, name))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = DELETED
            elif _in_layers(lowerdirs, path):
                kind = CHANGED
            else:
                kind = ADDED
            out.append(("/" + path, kind))
    return sorted(out)
