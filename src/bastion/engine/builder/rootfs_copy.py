"""COPY and ADD into a build container's mounted root (its overlay's `merged`), from the host.

The image's own symlinks are resolved as the container would see them: every component of the
destination is looked up inside the root (`in_root`), an absolute link target restarts at the
root and `..` stops there, so `COPY x /etc/` into an image whose /etc links to `/host` writes
under the root's /host, never the host's. Nothing runs in the container while this copies.

Docker's rules: a source directory's content (not the directory) is copied; the destination is
a directory when it ends in `/`, when there are several sources, or when it already is one;
missing parents are made 0755; files keep their mode and times and belong to root, or to the
`--chown` user. ADD unpacks a local tar (plain, gzip, zstd) into the destination directory
(with the layer unpacker's rules: nothing lands outside it).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from typing import TYPE_CHECKING

from bastion.engine.errors import BuildStepError

if TYPE_CHECKING:
    from bastion.engine.builder.context import BuildContext, Source

_MAX_LINKS = 40


def in_root(root: str, path: str) -> str:
    """The host path of the container path `path` in the root `root`, every symlink among
    its components (the last one too, unless it is missing) resolved within the root."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > _MAX_LINKS:
                raise BuildStepError(f"too many symlinks resolving {path} in the image")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def make_dirs(root: str, path: str, uid: int = 0, gid: int = 0) -> str:
    """`mkdir -p` of the container path `path` in the root; its host path."""
    parts = [p for p in path.split("/") if p and p != "."]
    current = "/"
    for part in parts:
        current = current.rstrip("/") + "/" + part
        host = in_root(root, current)
        if not os.path.lexists(host):
            os.mkdir(host, 0o755)
            os.chown(host, uid, gid)
        elif not os.path.isdir(host):
            raise BuildStepError(f"{current} is not a directory in the image")
    return in_root(root, path)


def copy_sources(
    root: str,
    context: BuildContext | None,
    sources: list[Source],
    destination: str,
    *,
    owner: tuple[int, int] | None,
    unpack_archives: bool,
) -> None:
    """Copy `sources` to the container path `destination` (absolute) in the root."""
    into_dir = destination.endswith("/") or len(sources) > 1
    if not into_dir and sources and sources[0].is_dir:
        into_dir = True
    if os.path.isdir(in_root(root, destination)):
        into_dir = True
    if into_dir:
        make_dirs(root, destination)
    else:
        make_dirs(root, posixpath.dirname(destination.rstrip("/")) or "/")
    for source in sources:
        if unpack_archives and not source.is_dir and _is_archive(source.path):
            _unpack(source.path, make_dirs(root, destination))
            continue
        if source.is_dir:
            paths = context.files(source) if context is not None else _all(source.path)
            for path in paths:
                relative = os.path.relpath(path, source.path).replace(os.sep, "/")
                _copy_one(path, root, posixpath.join(destination, relative), owner)
        else:
            name = os.path.basename(source.path)
            dest = posixpath.join(destination, name) if into_dir else destination
            _copy_one(source.path, root, dest, owner)


def _all(base: str) -> list[str]:
    out: list[str] = []
    for directory, dirs, files in os.walk(base):
        dirs.sort()
        out.extend(os.path.join(directory, n) for n in sorted(dirs + files))
    return out


def _copy_one(source: str, root: str, container_path: str, owner: tuple[int, int] | None) -> None:
    """One file, directory or symlink to `container_path`: its parent resolved in the root,
    the last component replaced (never followed) unless both are directories."""
    st = os.lstat(source)
    parent = in_root(root, posixpath.dirname(container_path.rstrip("/")) or "/")
    dest = os.path.join(parent, posixpath.basename(container_path.rstrip("/")))
    if stat.S_ISDIR(st.st_mode) and os.path.isdir(in_root(root, container_path)):
        dest = in_root(root, container_path)  # an existing directory (or a link to one) stays
    elif os.path.lexists(dest):
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        else:
            os.unlink(dest)
    if stat.S_ISDIR(st.st_mode):
        if not os.path.isdir(dest):
            os.mkdir(dest, stat.S_IMODE(st.st_mode))
        os.chmod(dest, stat.S_IMODE(st.st_mode))
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), dest)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(source, dest, follow_symlinks=False)
        os.chmod(dest, stat.S_IMODE(st.st_mode))
    else:
        return  # sockets, fifos, devices: not copied
    uid, gid = owner if owner is not None else (0, 0)
    os.lchown(dest, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))


def _is_archive(path: str) -> bool:
    import tarfile

    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd")):
        return True
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _unpack(path: str, directory: str) -> None:
    from bastion.images import unpack_layer

    with open(path, "rb") as f:
        unpack_layer(f, directory)
