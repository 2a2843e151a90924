"""Safe unpacking of one image layer (a tar: plain, gzip or zstd) into a layer directory.

A layer is untrusted input: its names and links are resolved so that nothing lands outside the
layer directory, whatever the archive says. What each hostile entry becomes (documented in
docs/images.md, proven by tests/unit/images/test_unpack.py):

- a name with a `..` component: the whole layer is refused (`LayerEscapeError`);
- an absolute name (`/etc/passwd`): the leading `/` is dropped, as GNU tar and Docker do, so it
  lands at `<layer>/etc/passwd`;
- a path through a symlink (`evil -> /etc` then `evil/passwd`): every parent is resolved with
  openat2(2) `RESOLVE_IN_ROOT` relative to the layer directory, so the kernel treats the layer as
  `/` and the file lands at `<layer>/etc/passwd`, as it would inside the container;
- a final name that already exists is replaced, never followed (`O_NOFOLLOW | O_EXCL`);
- a hard link: its target is resolved the same way and must be an earlier entry of this layer,
  else `LayerLinkError` (a link to a host file cannot be made);
- character and block devices are skipped (listed in `UnpackResult.skipped`); FIFOs are kept;
- setuid and setgid bits are dropped unless `keep_setid=True`; extended attributes in the
  archive (file capabilities included) are not applied;
- `.wh.NAME` becomes an OverlayFS whiteout (a 0/0 character device named NAME) and
  `.wh..wh..opq` marks its directory opaque (`trusted.overlay.opaque=y`); other `.wh..wh.`
  names (aufs bookkeeping) are skipped.

Owners are applied when running as root (`chown=None` means "if root"). Directory times are not
restored (later entries change them anyway); file and symlink times are. The uncompressed
stream is hashed as it is read: `UnpackResult.diff_id` is the layer's diff id.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import IO, BinaryIO, Protocol, cast

from bastion._sys.mount import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2
from bastion.images.errors import (
    LayerEscapeError,
    LayerFormatError,
    LayerLinkError,
    LayerWriteError,
)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
#: The xattr overlayfs reads to hide a lower directory's content (kernel overlayfs.rst).
OPAQUE_XATTR = "trusted.overlay.opaque"

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
#: Symlinks followed to make one entry's missing parents (the kernel's own limit is 40).
_MAX_HOPS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A layer entry that was not written, and why."""

    name: str
    reason: str


@dataclass(slots=True, kw_only=True)
class UnpackResult:
    """What an unpack did: the layer's diff id (sha256 of the uncompressed tar), how many
    entries were written, which were skipped, and which lost a setuid/setgid bit."""

    diff_id: str
    compression: str
    entries: int = 0
    skipped: list[SkippedEntry] = field(default_factory=list)
    setid_dropped: list[str] = field(default_factory=list)


def unpack_layer(
    source: BinaryIO, dest: str, *, keep_setid: bool = False, chown: bool | None = None
) -> UnpackResult:
    """Unpack the layer read from `source` into the existing directory `dest`.

    `source` is the layer blob as stored (gzip and zstd are recognised by their magic bytes).
    Raises `LayerFormatError` (not a tar, corrupt), `LayerEscapeError` (a `..` name) or
    `LayerLinkError` (a hard link to something not in this layer); on an error `dest` holds a
    partial layer that the caller removes (`LayerStore` unpacks into a temporary directory).
    """
    head = source.read(4)
    corrupt: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, zlib.error)
    raw = Prefixed(head, source)
    if head.startswith(_GZIP_MAGIC):
        unzipped = gzip.GzipFile(fileobj=cast("IO[bytes]", raw), mode="rb")
        compression, stream = "gzip", _Hashing(unzipped)
    elif head.startswith(_ZSTD_MAGIC):
        import zstandard  # only zstd layers need it (9 ms)

        corrupt += (zstandard.ZstdError,)
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast("IO[bytes]", raw), read_across_frames=True
        )
        compression, stream = "zstd", _Hashing(reader)
    else:
        compression, stream = "none", _Hashing(raw)
    root_fd = os.open(dest, _DIR_FLAGS | os.O_NOFOLLOW)
    try:
        writer = _Writer(
            root_fd, keep_setid=keep_setid, chown=os.geteuid() == 0 if chown is None else chown
        )
        result = UnpackResult(diff_id="", compression=compression)
        bad_stream: tuple[type[Exception], ...] = (*corrupt, gzip.BadGzipFile)
        try:
            with tarfile.open(fileobj=cast("IO[bytes]", stream), mode="r|") as archive:
                for member in archive:
                    try:
                        writer.entry(archive, member, result)
                    except bad_stream:
                        raise  # the stream itself is bad: below
                    except OSError as err:
                        raise LayerWriteError(
                            f"writing the layer entry {member.name!r} failed: {err.strerror}",
                            where=dest,
                        ) from err
            while stream.read(_CHUNK):  # the end-of-archive blocks count in the diff id
                pass
        except corrupt as err:
            raise LayerFormatError(
                f"the layer is not a valid tar archive: {err}", where=dest
            ) from err
        except gzip.BadGzipFile as err:
            raise LayerFormatError(
                f"the layer's gzip stream is corrupt: {err}", where=dest
            ) from err
    finally:
        os.close(root_fd)
    result.diff_id = "sha256:" + stream.sha256.hexdigest()
    return result


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Prefixed:
    """A read-only stream: `head` (bytes already read to sniff the format), then `rest`."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
                more = self._rest.read(-1 if size < 0 else size - len(data))
                return data + more
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


class _Hashing:
    """Reads through `inner`, hashing every byte (the diff id is the uncompressed tar's sha256)."""

    def __init__(self, inner: Readable) -> None:
        self._inner = inner
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.sha256.update(data)
        return data


def _components(name: str) -> list[str]:
    """The path components of a tar name: `/` and `.` dropped; `..` refuses the layer."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise LayerEscapeError(
            f"the layer entry {name!r} has a '..' component",
            where=name,
            hint="the image is malformed or hostile: layers never need '..' in names",
        )
    return parts


class _Writer:
    """Writes tar entries below the directory `root_fd`, resolving every path inside it."""

    def __init__(self, root_fd: int, *, keep_setid: bool, chown: bool) -> None:
        self.root_fd = root_fd
        self.keep_setid = keep_setid
        self.chown = chown

    def entry(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, result: UnpackResult
    ) -> None:
        parts = _components(member.name)
        if not parts:
            if member.isdir():  # "./": the layer root's own mode and owner
                self._attributes(self.root_fd, member, result)
                result.entries += 1
                return
            raise LayerFormatError(
                f"a {member.type!r} entry names the layer root", where=member.name
            )
        if member.ischr() or member.isblk():
            result.skipped.append(SkippedEntry(member.name, "device node"))
            return
        base = parts[-1]
        if base.startswith(".wh..wh.") and base != OPAQUE_MARKER:
            result.skipped.append(SkippedEntry(member.name, "aufs metadata"))
            return
        parent = self._parent(parts[:-1], member.name, create=True)
        try:
            if base == OPAQUE_MARKER:
                os.setxattr(parent, OPAQUE_XATTR, b"y")
            elif base.startswith(WHITEOUT_PREFIX):
                hidden = base[len(WHITEOUT_PREFIX) :]
                if not hidden:
                    raise LayerFormatError("a whiteout names nothing", where=member.name)
                _clear(parent, hidden)
                os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
            elif member.isdir():
                self._directory(parent, base, member, result)
            elif member.isreg():
                self._file(archive, parent, base, member, result)
            elif member.issym():
                _clear(parent, base)
                os.symlink(member.linkname, base, dir_fd=parent)
                if self.chown:
                    os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
                os.utime(base, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
            elif member.islnk():
                self._hardlink(parent, base, member)
            elif member.isfifo():
                _clear(parent, base)
                os.mkfifo(base, 0o600, dir_fd=parent)
                fd = os.open(base, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=parent)
                try:
                    self._attributes(fd, member, result)
                finally:
                    os.close(fd)
            else:
                result.skipped.append(SkippedEntry(member.name, f"tar type {member.type!r}"))
                return
        finally:
            os.close(parent)
        result.entries += 1

    def _parent(self, parts: list[str], name: str, *, create: bool, hops: int = 0) -> int:
        """An fd of the directory `parts`, resolved inside the layer; missing ones are made.

        A missing directory behind a symlink (`etc -> /etc`, then `etc/x` in a layer that has no
        `etc/`) is made where the link points, resolved with the layer as `/`: where the
        container would find it.
        """
        try:
            return openat2(self.root_fd, "/".join(parts) or ".", _DIR_FLAGS, _RESOLVE)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise LayerFormatError(f"a symlink loop above {name!r}", where=name) from err
            raise
        fd = os.dup(self.root_fd)
        moved: list[str] | None = None
        try:
            for depth, part in enumerate(parts, 1):
                path = "/".join(parts[:depth])
                try:
                    inner = openat2(self.root_fd, path, _DIR_FLAGS, _RESOLVE)
                except FileNotFoundError:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:  # a symlink to a directory that does not exist
                        target = os.readlink(part, dir_fd=fd)
                        start = [] if target.startswith("/") else parts[: depth - 1]
                        moved = _clamped(start, target) + parts[depth:]
                        break
                    inner = openat2(self.root_fd, path, _DIR_FLAGS, _RESOLVE)
                os.close(fd)
                fd = inner
        except NotADirectoryError as err:
            os.close(fd)
            raise LayerFormatError(f"a parent of {name!r} is not a directory", where=name) from err
        except BaseException:
            os.close(fd)
            raise
        if moved is None:
            return fd
        os.close(fd)
        if hops >= _MAX_HOPS:
            raise LayerFormatError(f"too many levels of symlinks above {name!r}", where=name)
        return self._parent(moved, name, create=True, hops=hops + 1)

    def _directory(
        self, parent: int, base: str, member: tarfile.TarInfo, result: UnpackResult
    ) -> None:
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            os.mkdir(base, 0o700, dir_fd=parent)
        else:
            if not stat.S_ISDIR(st.st_mode):
                _clear(parent, base)
                os.mkdir(base, 0o700, dir_fd=parent)
        fd = os.open(base, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
        try:
            self._attributes(fd, member, result, times=False)
        finally:
            os.close(fd)

    def _file(
        self,
        archive: tarfile.TarFile,
        parent: int,
        base: str,
        member: tarfile.TarInfo,
        result: UnpackResult,
    ) -> None:
        _clear(parent, base)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(base, flags, 0o600, dir_fd=parent)
        try:
            data = archive.extractfile(member)
            if data is not None:
                with os.fdopen(os.dup(fd), "wb") as out:
                    shutil.copyfileobj(data, out, _CHUNK)
            self._attributes(fd, member, result)
        finally:
            os.close(fd)

    def _hardlink(self, parent: int, base: str, member: tarfile.TarInfo) -> None:
        target = _components(member.linkname)
        if not target:
            raise LayerLinkError(
                f"the hard link {member.name!r} names the layer root", where=member.name
            )
        try:
            target_parent = self._parent(target[:-1], member.linkname, create=False)
        except (FileNotFoundError, NotADirectoryError) as err:
            raise _missing_link(member) from err
        try:
            _clear(parent, base)
            os.link(
                target[-1], base, src_dir_fd=target_parent, dst_dir_fd=parent, follow_symlinks=False
            )
        except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
            raise _missing_link(member) from err
        finally:
            os.close(target_parent)

    def _attributes(
        self, fd: int, member: tarfile.TarInfo, result: UnpackResult, *, times: bool = True
    ) -> None:
        if self.chown:
            os.fchown(fd, member.uid, member.gid)  # before chmod: chown clears set-id bits
        mode = member.mode & 0o7777
        if mode & (stat.S_ISUID | stat.S_ISGID) and not self.keep_setid:
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
            result.setid_dropped.append(member.name)
        os.fchmod(fd, mode)
        if times:
            os.utime(fd, (member.mtime, member.mtime))


def _clamped(start: list[str], target: str) -> list[str]:
    """`start` + the symlink `target`, with `..` stopping at the layer root (as in a chroot)."""
    parts = list(start)
    for part in target.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


def _missing_link(member: tarfile.TarInfo) -> LayerLinkError:
    return LayerLinkError(
        f"the hard link {member.name!r} -> {member.linkname!r} does not name an earlier file"
        " of the layer",
        where=member.name,
        hint="a layer's hard links can only point at its own files",
    )


def _clear(parent: int, base: str) -> None:
    """Remove whatever is at `base` in `parent` (a later tar entry replaces an earlier one)."""
    try:
        st = os.stat(base, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(base, dir_fd=parent)
    else:
        try:
            os.unlink(base, dir_fd=parent)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise
