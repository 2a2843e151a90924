"""Reading and writing cgroup files with `os.open`/`os.write`: one write per value.

Each cgroup knob is a file the kernel parses on every `write(2)`, so a value is written in one
call, with `O_TRUNC` like runc's `cgroups.WriteFile` (harmless on cgroupfs, and it keeps the
regular-file trees of the unit tests honest). Every failure becomes a `CgroupFileError` naming the
file, the value and errno; this module is the one place `OSError` turns into a cgroup error for
file access. Controllers call these through the module (``files.write(...)``) so unit tests can
record the writes in order.
"""

from __future__ import annotations

import os
from errno import EEXIST, ENOENT

from bastion.runtime.cgroups.errors import CgroupError, CgroupFileError

_WRITE_FLAGS = os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC


def write(path: str, value: str) -> None:
    """Write `value` to the cgroup file `path` in one `write(2)`."""
    try:
        fd = os.open(path, _WRITE_FLAGS)
    except OSError as exc:
        raise CgroupFileError(path, value, exc.errno or 0) from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise CgroupFileError(path, value, exc.errno or 0) from None
    finally:
        os.close(fd)


def read(path: str) -> str:
    """The whole text of the cgroup file `path`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupFileError(path, None, exc.errno or 0) from None
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError as exc:
        raise CgroupFileError(path, None, exc.errno or 0) from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def read_optional(path: str) -> str | None:
    """The text of `path` without its trailing newline, or None if the file does not exist."""
    try:
        return read(path).strip()
    except CgroupFileError as exc:
        if exc.errno == ENOENT:
            return None
        raise


def parse_int(text: str) -> int | None:
    """A cgroup number: "max" (v2) and "" mean no limit (None)."""
    text = text.strip()
    if text in ("max", ""):
        return None
    return int(text)


def read_int(path: str) -> int | None:
    """The number in `path`; None for "max" or a missing file."""
    text = read_optional(path)
    return None if text is None else parse_int(text)


def read_keyed(path: str) -> dict[str, int]:
    """A flat-keyed file ("key value" lines: memory.stat, cpu.stat, memory.events) as a dict;
    an absent file gives an empty dict."""
    text = read_optional(path)
    result: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            result[key] = int(value)
    return result


def read_pids(path: str) -> list[int]:
    """The pids listed one a line in a cgroup.procs file; none if it does not exist."""
    text = read_optional(path)
    return [int(line) for line in (text or "").split()]


def mkdir(path: str) -> bool:
    """Make the cgroup directory `path`; True if made here, False if it existed."""
    try:
        os.mkdir(path, 0o755)
    except OSError as exc:
        if exc.errno == EEXIST:
            return False
        raise CgroupError(
            f"cannot create the cgroup directory: {exc.strerror}",
            where=path,
            reference="cgroup-create-failed",
        ) from None
    return True


def exists(path: str) -> bool:
    """Whether `path` exists (a cgroup directory or one of its files)."""
    return os.path.exists(path)
