"""`rm -r` of a directory tree that may hold anything a container made, never following a
symbolic link out of it.

Each directory is opened relative to its parent's descriptor with O_NOFOLLOW and its entries
are unlinked relative to it (shutil.rmtree's descriptor-based walk), so a symbolic link in a
container's upper directory or a volume is removed, never followed. It is here rather than
shutil.rmtree because shutil imports its archive formats' bz2 and lzma (~1-2 ms) on every
`bastion run --rm`, which only needs this.
"""

from __future__ import annotations

import os

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str, *, ignore_errors: bool = False) -> None:
    """Remove `path` and everything under it; one that is not there is no error. With
    `ignore_errors`, what cannot be removed stays and the rest goes (shutil's flag);
    otherwise the first error is raised."""
    try:
        top = os.open(path, _OPEN_DIR)
    except FileNotFoundError:
        return
    except OSError:
        if ignore_errors:
            return
        raise
    try:
        _remove_entries(top, path, ignore_errors)
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        if not ignore_errors:
            raise


def _remove_entries(fd: int, path: str, ignore_errors: bool) -> None:
    """Everything in the directory open as `fd` (`path` names it in errors)."""
    with os.scandir(fd) as entries:
        names = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in names:
        try:
            if is_dir:
                child = os.open(name, _OPEN_DIR, dir_fd=fd)
                try:
                    _remove_entries(child, os.path.join(path, name), ignore_errors)
                finally:
                    os.close(child)
                os.rmdir(name, dir_fd=fd)
            else:
                os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            continue
        except OSError as err:
            if ignore_errors:
                continue
            if not str(err.filename or "").startswith("/"):
                err.filename = os.path.join(path, name)  # not the bare name of a dir_fd call
            raise
