"""`cp` between a container's filesystem and the host, both directions.

Every path inside the container is resolved by the kernel with openat2 `RESOLVE_IN_ROOT`
against a descriptor of the container's root, so `..` and symlinks (absolute or relative) stay
inside it: a link `/evil -> /etc` in the container makes `cp FILE CTR:/evil/x` write the
container's /etc/x, never the host's. Below the named path the walk goes by directory
descriptors with `O_NOFOLLOW`: a symlink is copied as a symlink, never followed. Modes are kept
(set-id bits too, as `docker cp`); the files are owned by the caller (root).

The root is `/proc/<pid>/root` for a running container (its mounts, volumes and tmpfs as it
sees them) and its overlay's merged directory otherwise (the engine mounts it for the copy).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from bastion.engine.errors import CopyError


def _resolve_flags() -> int:
    from bastion._sys.mount import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS

    return RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


def _open_in_root(root_fd: int, path: str, flags: int) -> int:
    from bastion._sys.mount import openat2

    return openat2(root_fd, path or "/", flags | os.O_CLOEXEC, _resolve_flags())


def _split(path: str) -> tuple[str, str]:
    """(parent, last name) of a path in the container; the root's last name is ""."""
    clean = "/" + path.strip("/")
    parent, _, name = clean.rpartition("/")
    if name in (".", ".."):
        return clean, ""
    return parent or "/", name


def _failed(exc: OSError, where: str) -> CopyError:
    """An OS error of the copy (a read-only root, a full disk) as one clear line."""
    return CopyError(f"cp failed: {exc.strerror or exc}", where=exc.filename or where)


def copy_out(root: str, source: str, destination: str, *, follow: bool = False) -> None:
    """Copy `source` (a path in the container whose root is `root`) to the host path
    `destination`: into it when it is a directory, as it otherwise (`docker cp` rules); a
    source ending in `/.` copies a directory's contents."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        contents_only = source.endswith("/.")
        parent, name = _split(source)
        try:
            parent_fd = _open_in_root(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
        except OSError as exc:
            raise CopyError(f"no such directory in the container: {parent}", where=source) from exc
        try:
            if name and follow:
                # -L: the named link is followed, still inside the container's root
                with contextlib.suppress(OSError):
                    target_fd = _open_in_root(root_fd, source, os.O_PATH)
                    os.close(parent_fd)
                    parent_fd, name = target_fd, ""
            st = _lstat(parent_fd, name, source)
            if os.path.isdir(destination) and not contents_only:
                base = name or os.path.basename(os.path.normpath(parent)) or "root"
                target = os.path.join(destination, base)
            else:
                target = destination
                if not os.path.isdir(os.path.dirname(os.path.abspath(target)) or "/"):
                    raise CopyError("no such directory on the host", where=destination)
                if (
                    stat.S_ISDIR(st.st_mode)
                    and os.path.exists(target)
                    and not os.path.isdir(target)
                ):
                    raise CopyError("cannot copy a directory onto a file", where=destination)
            try:
                _out(parent_fd, name, st, target)
            except OSError as exc:
                raise _failed(exc, destination) from exc
        finally:
            os.close(parent_fd)
    finally:
        os.close(root_fd)


def _lstat(dir_fd: int, name: str, shown: str) -> os.stat_result:
    try:
        if not name:
            return os.stat(dir_fd)
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise CopyError("no such file in the container", where=shown) from None


def _open_entry(dir_fd: int, name: str, flags: int) -> int:
    """The entry `name` of `dir_fd` (the directory itself when `name` is ""), never through a
    symlink."""
    if not name:
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=dir_fd) if flags else os.dup(dir_fd)
    return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def _out(dir_fd: int, name: str, st: os.stat_result, target: str) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        _replace_host(target)
        os.symlink(os.readlink(name, dir_fd=dir_fd), target)
    elif stat.S_ISDIR(st.st_mode):
        fd = _open_entry(dir_fd, name, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(target, 0o700)
            for entry in os.scandir(fd):
                child = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
                _out(fd, entry.name, child, os.path.join(target, entry.name))
        finally:
            os.close(fd)
        os.chmod(target, mode)
    elif stat.S_ISREG(st.st_mode):
        fd = _open_entry(dir_fd, name, os.O_RDONLY)
        try:
            _replace_host(target, keep_regular=True)
            out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                _pump(fd, out)
                os.fchmod(out, mode)
            finally:
                os.close(out)
        finally:
            os.close(fd)
    elif stat.S_ISFIFO(st.st_mode):
        _replace_host(target)
        os.mkfifo(target, mode)
    # device nodes and sockets are not copied (`docker cp` neither copies devices out)


def _replace_host(target: str, *, keep_regular: bool = False) -> None:
    """Make room for `target` on the host: a symlink or a non-directory there goes (a regular
    file is truncated instead when `keep_regular`), so nothing is written through a link."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise CopyError("cannot copy a non-directory onto a directory", where=target)
    if keep_regular and stat.S_ISREG(st.st_mode):
        return
    os.unlink(target)


def copy_in(root: str, source: str, destination: str, *, owners: bool = False) -> None:
    """Copy the host path `source` into the container whose root is `root`, at the container
    path `destination`: into it when it is a directory there, as it otherwise. With `owners`
    the copies keep the owners of the host files (an API upload: its tar's), else they are
    the copier's (root), as `docker cp`'s."""
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        raise CopyError("no such file on the host", where=source) from None
    contents_only = source.endswith("/.")
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        into = None
        with contextlib.suppress(OSError):
            into = _open_in_root(root_fd, destination, os.O_PATH | os.O_DIRECTORY)
        if into is not None:
            if contents_only:
                parent_fd, name = into, ""
            else:
                parent_fd = into
                name = os.path.basename(os.path.normpath(source))
        else:
            if destination.endswith("/"):
                raise CopyError("no such directory in the container", where=destination)
            parent, name = _split(destination)
            try:
                parent_fd = _open_in_root(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
            except OSError as exc:
                raise CopyError(
                    f"no such directory in the container: {parent}", where=destination
                ) from exc
        try:
            _in(source, st, parent_fd, name, owners)
        except OSError as exc:
            raise _failed(exc, destination) from exc
        finally:
            os.close(parent_fd)
    finally:
        os.close(root_fd)


def _in(source: str, st: os.stat_result, dir_fd: int, name: str, owners: bool) -> None:
    _copy_entry(source, st, dir_fd, name, owners)
    if owners:
        os.chown(name or ".", st.st_uid, st.st_gid, dir_fd=dir_fd, follow_symlinks=False)


def _copy_entry(source: str, st: os.stat_result, dir_fd: int, name: str, owners: bool) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        _replace_in(dir_fd, name)
        os.symlink(os.readlink(source), name, dir_fd=dir_fd)
    elif stat.S_ISDIR(st.st_mode):
        if name:
            try:
                os.mkdir(name, 0o700, dir_fd=dir_fd)
            except FileExistsError:
                existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if not stat.S_ISDIR(existing.st_mode):
                    raise CopyError(
                        "cannot copy a directory onto a non-directory", where=name
                    ) from None
        fd = _open_entry(dir_fd, name, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for entry in os.scandir(source):
                child = os.lstat(entry.path)
                _in(entry.path, child, fd, entry.name, owners)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    elif stat.S_ISREG(st.st_mode):
        with open(source, "rb") as src:
            _replace_in(dir_fd, name, keep_regular=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(name, flags, 0o600, dir_fd=dir_fd)
            try:
                _pump(src.fileno(), out)
                os.fchmod(out, mode)
            finally:
                os.close(out)
    elif stat.S_ISFIFO(st.st_mode):
        _replace_in(dir_fd, name)
        os.mkfifo(name, mode, dir_fd=dir_fd)


def _replace_in(dir_fd: int, name: str, *, keep_regular: bool = False) -> None:
    """Make room for `name` in the container directory `dir_fd`, never writing through a link."""
    if not name:
        raise CopyError("cannot copy a file onto the container's root")
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise CopyError("cannot copy a non-directory onto a directory", where=name)
    if keep_regular and stat.S_ISREG(st.st_mode):
        return
    os.unlink(name, dir_fd=dir_fd)


def _pump(src: int, dst: int) -> None:
    """Copy all of `src` to `dst` in the kernel where it can (copy_file_range, else sendfile)."""
    while True:
        try:
            sent = os.copy_file_range(src, dst, 1 << 30)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            break
        if sent == 0:
            return
    while os.sendfile(dst, src, None, 1 << 30):
        pass
