"""`export`: a container's filesystem as one tar stream, as `docker export` writes it.

What is in it is the container's overlay (its image's layers with its own changes on top), as
moby exports the container's root layer: not its volumes, bind mounts or tmpfs (their mount
points are there, empty), nor /proc, /sys or /dev's contents. A running container's overlay is
the one its runtime pivoted into, still mounted at `containers/ID/fs/merged` on the host,
where the container's own mounts (made in its mount namespace) do not show; a stopped one's is
mounted for the while. Either way under the container's start lock: a `start` waits for the
export to end, and so does the recording of an exit (`stop`, `rm -f`, the monitor's cleanup,
which would unmount the overlay under the export). A running container is not paused (neither
does moby): a file written meanwhile may be caught half done.

Members are named relative to the root (`bin/sh`, no `./`), with numeric owners only (moby's
FileInfoHeaderNoLookups); hard links stay links; sockets are left out (tar has no type for
them); of the extended attributes only file capabilities are carried, as moby. A directory
on another file system (a mount that propagated into the overlay) is kept empty.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bastion.engine.engine import Engine


def export(engine: Engine, name_or_id: str, out: IO[bytes]) -> None:
    """Write the container's filesystem to `out` as a tar stream."""
    with overlay_root(engine, name_or_id) as root:
        write_tree(root, out)


@contextlib.contextmanager
def overlay_root(engine: Engine, name_or_id: str) -> Iterator[str]:
    """The host path of the container's overlay, under its start lock: mounted while it
    runs, otherwise mounted for the while."""
    record = engine._sync(engine.container(name_or_id))
    with engine._overlay_root(record) as root:
        yield root


def write_tree(root: str, out: IO[bytes]) -> None:
    """Everything under `root` (not `root` itself) as a PAX tar stream on `out`."""
    device = os.lstat(root).st_dev
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, name in _walk(root, "", device):
            # typeshed says a TarInfo, but a socket gives None (tar has no type for it)
            info: tarfile.TarInfo | None = tar.gettarinfo(path, arcname=name)
            if info is None:
                continue
            info.uname = info.gname = ""
            if info.isreg():
                _file_capabilities(path, info)
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def _file_capabilities(path: str, info: tarfile.TarInfo) -> None:
    """A file's capabilities as a PAX `SCHILY.xattr.security.capability` record: the one
    extended attribute moby's archive carries (ReadSecurityXattrToTarHeader). Binary: tarfile
    writes it back byte for byte from a surrogate-escaped string (hdrcharset=BINARY)."""
    try:
        value = os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:  # none (ENODATA), or a file system without xattrs
        return
    record = {"SCHILY.xattr." + _CAPABILITY: value.decode("utf-8", "surrogateescape")}
    info.pax_headers = {**info.pax_headers, **record}  # typeshed: a Mapping


_CAPABILITY = "security.capability"


def _walk(top: str, prefix: str, device: int) -> Iterator[tuple[str, str]]:
    """(path, member name) of every entry under `top`, depth first, names sorted; a directory
    on another device is given but not entered."""
    with os.scandir(top) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        path = os.path.join(top, name)
        member = prefix + name
        yield path, member
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_dev == device:
            yield from _walk(path, member + "/", device)
