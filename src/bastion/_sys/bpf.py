"""libbpf (libbpf.so.1, Debian's libbpf1 1.1) through ctypes: open, load, attach, maps, teardown.

Handles (`struct bpf_object *`, `bpf_program *`, `bpf_map *`, `bpf_link *`) are plain ints.
libbpf 1.x returns NULL or a negative errno and sets `errno` (libbpf's "1.0 mode", the default
since 1.0); every wrapper turns that into `OSError(errno, message)` naming what it tried, with
libbpf's own last messages (the verifier log among them) appended.

libbpf's print callback is a ctypes callback, but it fires only while loading, never per event:
the ring buffer is read through mmap by `bastion.sensor.probe.ringbuf`.
The library is opened on first use, so importing this module works where libbpf is absent.
"""

from __future__ import annotations

import collections
import ctypes
import os
import platform

from bastion._sys.libc import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LIB: ctypes.CDLL | None = None
# The last libbpf messages (WARN and INFO; DEBUG is not formatted), attached to errors.
_MESSAGES: collections.deque[str] = collections.deque(maxlen=40)
_LIBBPF_DEBUG = 2

# vasprintf, not vsnprintf into a fixed buffer: a va_list can be consumed only once, and the
# verifier log arrives as one message whose end (the rejection reason) matters most.
_vasprintf = libc.vasprintf
_vasprintf.restype = ctypes.c_int
_vasprintf.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_void_p]
_free = libc.free
_free.restype = None
_free.argtypes = [ctypes.c_void_p]
_MESSAGE_TAIL = 4096  # keep the end of a long message (a verifier log) in errors

# int (*libbpf_print_fn_t)(enum libbpf_print_level, const char *, va_list). On x86_64 a va_list
# argument is passed as a pointer to its `__va_list_tag`, so vasprintf can take it as a void *.
_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def _on_print(level: int, fmt: bytes | None, args: int | None) -> int:
    if level >= _LIBBPF_DEBUG or fmt is None:
        return 0
    out = ctypes.c_void_p()
    if _vasprintf(ctypes.byref(out), fmt, args) < 0 or not out.value:
        return 0
    try:
        raw = ctypes.string_at(out.value)
    finally:
        _free(out)
    text = raw.decode(errors="replace").rstrip("\n")
    if len(text) > _MESSAGE_TAIL:
        text = "..." + text[-_MESSAGE_TAIL:]
    if text:
        _MESSAGES.append(text)
    return 0


_print_callback = _PRINT_FN(_on_print)

# (name, restype, argtypes) for every libbpf function we call.
_SIGNATURES: tuple[tuple[str, Any, list[Any]], ...] = (
    ("bpf_object__open_file", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]),
    ("bpf_object__load", ctypes.c_int, [ctypes.c_void_p]),
    ("bpf_object__close", None, [ctypes.c_void_p]),
    ("bpf_object__find_program_by_name", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
    ("bpf_object__find_map_by_name", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
    ("bpf_program__attach", ctypes.c_void_p, [ctypes.c_void_p]),
    ("bpf_program__fd", ctypes.c_int, [ctypes.c_void_p]),
    ("bpf_link__destroy", ctypes.c_int, [ctypes.c_void_p]),
    ("bpf_link__fd", ctypes.c_int, [ctypes.c_void_p]),
    (
        "bpf_obj_get_info_by_fd",
        ctypes.c_int,
        [ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)],
    ),
    ("bpf_map__fd", ctypes.c_int, [ctypes.c_void_p]),
    ("bpf_map__max_entries", ctypes.c_uint32, [ctypes.c_void_p]),
    ("bpf_map__value_size", ctypes.c_uint32, [ctypes.c_void_p]),
    ("bpf_map__set_max_entries", ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint32]),
    ("bpf_map_lookup_elem", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    (
        "bpf_map_update_elem",
        ctypes.c_int,
        [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64],
    ),
    ("bpf_map_delete_elem", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p]),
    ("bpf_map_get_next_key", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    ("libbpf_num_possible_cpus", ctypes.c_int, []),
    ("libbpf_set_print", ctypes.c_void_p, [_PRINT_FN]),
    ("libbpf_strerror", ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]),
)


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        try:
            lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        except OSError as e:
            raise OSError(2, f"cannot open libbpf.so.1 (Debian package libbpf1): {e}") from None
        for name, restype, argtypes in _SIGNATURES:
            func = getattr(lib, name)
            func.restype = restype
            func.argtypes = argtypes
        if platform.machine() == "x86_64":  # see _PRINT_FN: the va_list trick is x86_64's ABI
            lib.libbpf_set_print(_print_callback)
        _LIB = lib
    return _LIB


def _error(err: int, what: str, path: str | None = None) -> OSError:
    """An OSError for a positive errno, with libbpf's recent messages appended."""
    # libbpf_strerror also knows libbpf's own codes (4000 and up: LIBBPF_ERRNO__FORMAT, ...).
    buf = ctypes.create_string_buffer(256)
    if _lib().libbpf_strerror(err, buf, len(buf)) == 0:
        reason = buf.value.decode(errors="replace")
    else:
        reason = os.strerror(err)
    message = f"{what}: {reason}"
    if _MESSAGES:
        message += "\n" + "\n".join(_MESSAGES)
    _MESSAGES.clear()
    return OSError(err, message, path)


def _ptr(result: int | None, what: str, path: str | None = None) -> int:
    """Check a pointer-returning call: NULL means failure with errno set."""
    if not result:
        raise _error(ctypes.get_errno() or 22, what, path)  # EINVAL if libbpf left errno 0
    return result


def _ret(result: int, what: str, path: str | None = None) -> int:
    """Check an int-returning call: a negative value is -errno."""
    if result < 0:
        raise _error(-result, what, path)
    return result


def object_open(path: str) -> int:
    """bpf_object__open_file(path, NULL): parse an ELF object (no kernel objects yet)."""
    lib = _lib()
    _MESSAGES.clear()
    return _ptr(lib.bpf_object__open_file(os.fsencode(path), None), "bpf_object__open_file", path)


def object_load(obj: int, path: str | None = None) -> None:
    """bpf_object__load: CO-RE relocation, maps created, programs verified and loaded."""
    _MESSAGES.clear()
    _ret(_lib().bpf_object__load(obj), "bpf_object__load", path)


def object_close(obj: int) -> None:
    """bpf_object__close: close every map and program fd the object holds."""
    _lib().bpf_object__close(obj)


def find_program(obj: int, name: str) -> int:
    """bpf_object__find_program_by_name (the C function's name, not its SEC())."""
    found = _lib().bpf_object__find_program_by_name(obj, name.encode())
    return _ptr(found, f"bpf_object__find_program_by_name {name!r}")


def program_fd(prog: int) -> int:
    return _ret(_lib().bpf_program__fd(prog), "bpf_program__fd")


def program_attach(prog: int, name: str = "") -> int:
    """bpf_program__attach: attach as its SEC() says; returns the `bpf_link *`."""
    _MESSAGES.clear()
    return _ptr(_lib().bpf_program__attach(prog), f"bpf_program__attach {name}".rstrip())


def link_destroy(link: int) -> None:
    """bpf_link__destroy: detach and free the link."""
    _ret(_lib().bpf_link__destroy(link), "bpf_link__destroy")


def find_map(obj: int, name: str) -> int:
    """bpf_object__find_map_by_name: the `bpf_map *` (its fd exists once the object is loaded)."""
    found = _lib().bpf_object__find_map_by_name(obj, name.encode())
    return _ptr(found, f"bpf_object__find_map_by_name {name!r}")


def map_fd(map_: int, name: str = "") -> int:
    return _ret(_lib().bpf_map__fd(map_), f"bpf_map__fd {name}".rstrip())


def map_max_entries(map_: int) -> int:
    return int(_lib().bpf_map__max_entries(map_))


def map_value_size(map_: int) -> int:
    return int(_lib().bpf_map__value_size(map_))


def num_possible_cpus() -> int:
    return _ret(_lib().libbpf_num_possible_cpus(), "libbpf_num_possible_cpus")


def percpu_lookup_u64(fd: int, key: int) -> list[int]:
    """bpf_map_lookup_elem on a per-CPU array of u64: one value per possible CPU."""
    lib = _lib()
    ncpus = num_possible_cpus()
    k = ctypes.c_uint32(key)
    values = (ctypes.c_uint64 * ncpus)()  # each slot rounded up to 8 bytes: u64 already is
    result = lib.bpf_map_lookup_elem(fd, ctypes.byref(k), values)
    if result < 0:  # the low-level bpf.h API returns -1 and sets errno in libbpf 1.x
        raise _error(ctypes.get_errno() or -result, f"bpf_map_lookup_elem key {key}")
    return list(values)


def map_set_max_entries(map_: int, entries: int, name: str = "") -> None:
    """bpf_map__set_max_entries: before load only (e.g. to size a ring buffer)."""
    what = f"bpf_map__set_max_entries {name} {entries}".replace("  ", " ")
    _ret(_lib().bpf_map__set_max_entries(map_, entries), what)


def _check(result: int, what: str) -> None:
    # The low-level bpf.h API returns -1 (or -errno) and sets errno in libbpf 1.x.
    if result < 0:
        raise _error(ctypes.get_errno() or -result, what)


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    """bpf_map_update_elem(fd, key, value, flags) with the key and value as raw bytes."""
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    _check(_lib().bpf_map_update_elem(fd, k, v, flags), f"bpf_map_update_elem fd {fd}")


def map_delete(fd: int, key: bytes) -> bool:
    """bpf_map_delete_elem; False when the key was not there (ENOENT)."""
    k = ctypes.create_string_buffer(key, len(key))
    if _lib().bpf_map_delete_elem(fd, k) < 0:
        err = ctypes.get_errno()
        if err == 2:
            return False
        raise _error(err or 22, f"bpf_map_delete_elem fd {fd}")
    return True


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    """bpf_map_lookup_elem with raw bytes; None when the key is not there (ENOENT)."""
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value_size)
    if _lib().bpf_map_lookup_elem(fd, k, v) < 0:
        err = ctypes.get_errno()
        if err == 2:
            return None
        raise _error(err or 22, f"bpf_map_lookup_elem fd {fd}")
    return v.raw


def map_keys(fd: int, key_size: int) -> list[bytes]:
    """Every key of a hash map (bpf_map_get_next_key from NULL until ENOENT)."""
    lib = _lib()
    keys: list[bytes] = []
    cur = ctypes.create_string_buffer(key_size)
    nxt = ctypes.create_string_buffer(key_size)
    prev: ctypes.Array[ctypes.c_char] | None = None
    while lib.bpf_map_get_next_key(fd, prev, nxt) == 0:
        keys.append(nxt.raw)
        ctypes.memmove(cur, nxt, key_size)
        prev = cur
    err = ctypes.get_errno()
    if err not in (0, 2):
        raise _error(err, f"bpf_map_get_next_key fd {fd}")
    return keys


def link_fd(link: int) -> int:
    return _ret(_lib().bpf_link__fd(link), "bpf_link__fd")


def object_id(fd: int) -> int:
    """The kernel id (what `bpftool prog/map/link list` shows) of a program, map or link fd.

    bpf_prog_info, bpf_map_info and bpf_link_info all start with `__u32 type; __u32 id;`, so
    the first 8 bytes of any of them are enough (the kernel accepts a shorter info buffer).
    """
    info = (ctypes.c_uint32 * 2)()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    _check(_lib().bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)), f"bpf_obj_get_info fd {fd}")
    return int(info[1])
