"""Tar archives of a container's paths, for the Docker API's `/containers/{id}/archive`
(`docker cp`, docker-py's get_archive/put_archive): a thin layer over `cp` (copy.py), which
does every resolution inside the container. Out, the path is copied to a scratch directory of
the engine and tarred from there; in, the archive is unpacked into one (refusing a member that
would land outside it) and each top-level entry copied into the container's directory.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from bastion.engine.errors import CopyError, InvalidOptionError

if TYPE_CHECKING:
    from bastion.engine.engine import Engine

# Go's os.FileMode type bits, which Docker's path stat carries
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHAR, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


def go_mode(mode: int) -> int:
    """A stat mode as Go's os.FileMode (what `docker cp` reads in the path stat)."""
    out = mode & 0o777
    kinds = {
        stat.S_IFDIR: _GO_DIR,
        stat.S_IFLNK: _GO_SYMLINK,
        stat.S_IFIFO: _GO_PIPE,
        stat.S_IFSOCK: _GO_SOCKET,
        stat.S_IFBLK: _GO_DEVICE,
        stat.S_IFCHR: _GO_DEVICE | _GO_CHAR,
    }
    out |= kinds.get(stat.S_IFMT(mode), 0)
    for bit, go in ((stat.S_ISUID, _GO_SETUID), (stat.S_ISGID, _GO_SETGID)):
        if mode & bit:
            out |= go
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


def _scratch(engine: Engine) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="archive-", dir=engine.root)


def _name(path: str) -> str:
    name = os.path.basename(path.rstrip("/"))
    if not path.startswith("/") or not name or name in (".", ".."):
        raise InvalidOptionError(
            f"cannot archive {path!r}", hint="give an absolute path naming a file or directory"
        )
    return name


@contextlib.contextmanager
def copied_out(engine: Engine, ident: str, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The container's `path` copied to a scratch directory: (its copy, Docker's path stat:
    name, size, mode, mtime, linkTarget)."""
    name = _name(path)
    with _scratch(engine) as scratch:
        engine.copy_from(ident, path, scratch)
        copy = os.path.join(scratch, name)
        st = os.lstat(copy)
        mtime = datetime.datetime.fromtimestamp(st.st_mtime, datetime.UTC)
        yield (
            copy,
            {
                "name": name,
                "size": st.st_size,
                "mode": go_mode(st.st_mode),
                "mtime": mtime.isoformat().replace("+00:00", "Z"),
                "linkTarget": os.readlink(copy) if stat.S_ISLNK(st.st_mode) else "",
            },
        )


def write_tar(copy: str, out: IO[bytes]) -> None:
    """`copy` (and what is under it) as a tar stream, named by its last name. Owners are
    numbers only, as moby writes them (FileInfoHeaderNoLookups): the host's user names mean
    nothing in the container."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(copy, arcname=os.path.basename(copy), recursive=True, filter=_numeric_owner)


def _numeric_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""
    return info


def put_archive(engine: Engine, ident: str, path: str, archive: IO[bytes]) -> None:
    """Unpack the tar `archive` into the container's directory `path`, its members owned as
    the archive says (moby's PUT archive keeps the tar's uid/gid)."""
    if not path.startswith("/"):
        raise InvalidOptionError(f"the path {path!r} is not absolute")
    with _scratch(engine) as scratch:
        top = _unpack(archive, scratch)
        for name in sorted(top):
            engine.copy_to(ident, os.path.join(scratch, name), path, owners=True)


def _unpack(archive: IO[bytes], scratch: str) -> set[str]:
    """Extract every member under `scratch` (a link in the archive is never followed on the
    host: a member whose parent resolves outside `scratch` is refused); the top-level names."""
    top: set[str] = set()
    root = os.path.realpath(scratch)
    try:
        with tarfile.open(fileobj=archive, mode="r|*") as tar:
            _extract(tar, root, top)
    except tarfile.TarError as exc:
        raise CopyError(f"the archive cannot be read: {exc}") from None
    return top


def _extract(tar: tarfile.TarFile, root: str, top: set[str]) -> None:
    for member in tar:
        name = _member_name(member.name)
        if name is None or member.isdev():
            continue  # the root itself; device nodes, which `docker cp` does not make either
        if member.islnk():
            link = _member_name(member.linkname)
            if link is None:
                raise CopyError(f"the archive's hard link {member.name!r} leaves it")
            member.linkname = link
        target = os.path.join(root, name)
        parent = os.path.realpath(os.path.dirname(target))
        if parent != root and not parent.startswith(root + os.sep):
            raise CopyError(f"the archive's member {member.name!r} leaves it (a link)")
        # a later member of the same name replaces the earlier one, never writes through it
        # (tarfile opens a regular file's path, which would follow a symlink put there)
        if os.path.lexists(target) and not (member.isdir() and os.path.isdir(target)):
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        member.name = name
        tar.extract(member, root, set_attrs=True, numeric_owner=True)
        top.add(name.split("/", 1)[0])


def _member_name(name: str) -> str | None:
    """A member's path relative to the archive's root; None for the root itself. `..` is
    refused."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CopyError(f"the archive's member {name!r} leaves it (..)")
    return "/".join(parts) or None
