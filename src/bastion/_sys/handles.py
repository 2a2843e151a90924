"""A cgroup2 directory from its id, through a file handle (`open_by_handle_at(2)`).

The eBPF probe reports a thread's cgroup as its cgroup2 id (`bpf_get_current_cgroup_id()`),
which is the kernfs node id of the directory, and kernfs exports it as an 8-byte file handle
of type FILEID_KERNFS. Opening that handle on the cgroup2 mount gives the directory, and its
/proc/self/fd link gives the path: the container a cgroup belongs to is known without the
process, which may have exited before its events are evaluated (systemd and bpftool resolve
cgroup ids the same way). Needs CAP_DAC_READ_SEARCH.
"""

from __future__ import annotations

import ctypes
import os
import struct

from bastion._sys.libc import libc

#: include/linux/exportfs.h: FILEID_KERNFS, the handle type kernfs (cgroupfs) exports.
FILEID_KERNFS = 0xFE
_HANDLE_BYTES = 8


class _FileHandle(ctypes.Structure):
    _fields_ = [
        ("handle_bytes", ctypes.c_uint),
        ("handle_type", ctypes.c_int),
        ("f_handle", ctypes.c_ubyte * _HANDLE_BYTES),
    ]


_open_by_handle_at = libc.open_by_handle_at
_open_by_handle_at.argtypes = [ctypes.c_int, ctypes.POINTER(_FileHandle), ctypes.c_int]
_open_by_handle_at.restype = ctypes.c_int


def cgroup2_path_of_id(mount_fd: int, mount: str, cgroup_id: int) -> str | None:
    """The path (relative to the cgroup2 root, "/..." ) of the cgroup with id `cgroup_id`,
    `mount_fd` being an open descriptor of the cgroup2 mount at `mount`; None when no such
    cgroup exists (any more) or the handle cannot be opened."""
    handle = _FileHandle(_HANDLE_BYTES, FILEID_KERNFS)
    ctypes.memmove(handle.f_handle, struct.pack("<Q", cgroup_id), _HANDLE_BYTES)
    fd = _open_by_handle_at(mount_fd, ctypes.byref(handle), os.O_RDONLY | os.O_DIRECTORY)
    if fd < 0:
        return None
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    finally:
        os.close(fd)
    mount = mount.rstrip("/")
    if target == mount:
        return "/"
    if not target.startswith(mount + "/"):
        return None  # the descriptor resolved outside the mount (another mount namespace)
    return target[len(mount) :]
