"""libseccomp 2.5+ (libseccomp.so.2) through ctypes: build, export and load seccomp filters.

The library is opened on first use, not at import: `bastion-runc` imports this module on every
call but only a container with `linux.seccomp` pays for the dlopen. A filter context is an opaque
`int` (the `scmp_filter_ctx` pointer). libseccomp returns `-errno`; every wrapper turns that into
`OSError(errno, "<call>(<what>): <strerror>")` naming the call and the syscall, argument or
attribute it was given (seccomp_init(3), seccomp_rule_add(3), seccomp_attr_set(3)).

Also here, for the seccomp agent side and for tests: the user-notification calls
(seccomp_notify_receive/respond(3), seccomp_unotify(2)) and `probe_syscall`, which makes one raw
syscall by name and returns its errno.
"""

from __future__ import annotations

import ctypes
import os

from bastion._sys.libc import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# enum scmp_filter_attr (seccomp.h, libseccomp 2.5; CTL_WAITKILL is 2.6).
ATTR_ACT_DEFAULT = 1
ATTR_ACT_BADARCH = 2
ATTR_CTL_NNP = 3
ATTR_CTL_TSYNC = 4
ATTR_API_TSKIP = 5
ATTR_CTL_LOG = 6
ATTR_CTL_SSB = 7
ATTR_CTL_OPTIMIZE = 8
ATTR_API_SYSRAWRC = 9
ATTR_CTL_WAITKILL = 10

# seccomp_notif_resp.flags (linux/seccomp.h): let the syscall run as if no filter matched.
USER_NOTIF_FLAG_CONTINUE = 1

_NR_SCMP_ERROR = -1  # __NR_SCMP_ERROR: the name is in no libseccomp syscall table


class _ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _Version(ctypes.Structure):
    _fields_ = (("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint))


class _Data(ctypes.Structure):
    """struct seccomp_data."""

    _fields_ = (
        ("nr", ctypes.c_int),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
    )


class _Notif(ctypes.Structure):
    """struct seccomp_notif."""

    _fields_ = (
        ("id", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("data", _Data),
    )


class _NotifResp(ctypes.Structure):
    """struct seccomp_notif_resp."""

    _fields_ = (
        ("id", ctypes.c_uint64),
        ("val", ctypes.c_int64),
        ("error", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    )


class Notification:
    """One intercepted syscall (struct seccomp_notif): answer it with `notify_respond(fd, id)`."""

    __slots__ = ("arch", "args", "flags", "id", "instruction_pointer", "nr", "pid")

    def __init__(self, raw: _Notif) -> None:
        self.id: int = raw.id
        self.pid: int = raw.pid
        self.flags: int = raw.flags
        self.nr: int = raw.data.nr
        self.arch: int = raw.data.arch
        self.instruction_pointer: int = raw.data.instruction_pointer
        self.args: tuple[int, ...] = tuple(raw.data.args)

    def __repr__(self) -> str:
        return f"Notification(id={self.id}, pid={self.pid}, nr={self.nr}, args={self.args})"


_lib: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise OSError(
            2, f"cannot load libseccomp.so.2 (install libseccomp2 2.5 or later): {exc}"
        ) from None
    ptr, u32, i32, uint = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint
    signatures: dict[str, tuple[object, list[object]]] = {
        "seccomp_version": (ctypes.POINTER(_Version), []),
        "seccomp_api_get": (uint, []),
        "seccomp_init": (ptr, [u32]),
        "seccomp_release": (None, [ptr]),
        "seccomp_arch_resolve_name": (u32, [ctypes.c_char_p]),
        "seccomp_arch_native": (u32, []),
        "seccomp_arch_exist": (i32, [ptr, u32]),
        "seccomp_arch_add": (i32, [ptr, u32]),
        "seccomp_attr_set": (i32, [ptr, i32, u32]),
        "seccomp_attr_get": (i32, [ptr, i32, ctypes.POINTER(u32)]),
        "seccomp_syscall_resolve_name": (i32, [ctypes.c_char_p]),
        "seccomp_syscall_resolve_name_arch": (i32, [u32, ctypes.c_char_p]),
        "seccomp_syscall_resolve_num_arch": (ptr, [u32, i32]),
        "seccomp_rule_add_array": (i32, [ptr, u32, i32, uint, ctypes.POINTER(_ArgCmp)]),
        "seccomp_load": (i32, [ptr]),
        "seccomp_notify_fd": (i32, [ptr]),
        "seccomp_export_bpf": (i32, [ptr, i32]),
        "seccomp_export_pfc": (i32, [ptr, i32]),
        "seccomp_notify_alloc": (
            i32,
            [ctypes.POINTER(ctypes.POINTER(_Notif)), ctypes.POINTER(ctypes.POINTER(_NotifResp))],
        ),
        "seccomp_notify_free": (None, [ctypes.POINTER(_Notif), ctypes.POINTER(_NotifResp)]),
        "seccomp_notify_receive": (i32, [i32, ctypes.POINTER(_Notif)]),
        "seccomp_notify_respond": (i32, [i32, ctypes.POINTER(_NotifResp)]),
        "seccomp_notify_id_valid": (i32, [i32, ctypes.c_uint64]),
    }
    for name, (restype, argtypes) in signatures.items():
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes
    _lib = lib
    return lib


def _check(rc: int, what: str) -> int:
    """libseccomp's convention: a negative result is `-errno`."""
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


# --- library -------------------------------------------------------------------------------


def version() -> tuple[int, int, int]:
    """libseccomp's (major, minor, micro) version."""
    v = _library().seccomp_version().contents
    return (v.major, v.minor, v.micro)


def api_level() -> int:
    """seccomp_api_get(3): what this libseccomp + kernel pair supports (6: notify with TSYNC)."""
    return int(_library().seccomp_api_get())


# --- filter contexts -----------------------------------------------------------------------


def init(default_action: int) -> int:
    """A new filter context (native arch only) whose default action is `default_action`."""
    ctx = _library().seccomp_init(default_action)
    if not ctx:
        # libseccomp returns NULL for an invalid action (or no memory) and sets no errno.
        raise OSError(22, f"seccomp_init(action 0x{default_action:08x}): invalid action")
    return int(ctx)


def release(ctx: int) -> None:
    _library().seccomp_release(ctx)


def arch_resolve_name(name: str) -> int:
    """libseccomp's token for an arch name ("x86_64", "x32", ...); 0 if this version lacks it."""
    return int(_library().seccomp_arch_resolve_name(name.encode()))


def arch_native() -> int:
    return int(_library().seccomp_arch_native())


def arch_exist(ctx: int, token: int) -> bool:
    rc = _library().seccomp_arch_exist(ctx, token)
    if rc == -17:  # -EEXIST means "not in the filter" here (seccomp_arch_add(3))
        return False
    _check(rc, f"seccomp_arch_exist(0x{token:08x})")
    return True


def arch_add(ctx: int, token: int, name: str = "") -> None:
    _check(_library().seccomp_arch_add(ctx, token), f"seccomp_arch_add({name or hex(token)})")


def attr_set(ctx: int, attr: int, value: int, name: str = "") -> None:
    _check(
        _library().seccomp_attr_set(ctx, attr, value),
        f"seccomp_attr_set({name or attr}, {value})",
    )


def attr_get(ctx: int, attr: int) -> int:
    value = ctypes.c_uint32()
    _check(_library().seccomp_attr_get(ctx, attr, ctypes.byref(value)), f"seccomp_attr_get({attr})")
    return value.value


def syscall_resolve_name(name: str, arch: int | None = None) -> int | None:
    """The syscall number of `name` for the native arch (or token `arch`); None if unknown.

    A name libseccomp knows on some arch but not this one resolves to a negative pseudo number
    (`__PNR_*`); rules on it apply to the filter's arches that have the call (e.g. `_llseek` on
    SCMP_ARCH_X86 in an x86_64 filter).
    """
    lib = _library()
    raw = name.encode()
    nr = (
        lib.seccomp_syscall_resolve_name(raw)
        if arch is None
        else lib.seccomp_syscall_resolve_name_arch(arch, raw)
    )
    return None if nr == _NR_SCMP_ERROR else int(nr)


def syscall_resolve_num(nr: int, arch: int = 0) -> str | None:
    """The name of syscall `nr` on `arch` (0: native), or None."""
    ptr = _library().seccomp_syscall_resolve_num_arch(arch, nr)
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        libc.free(ctypes.c_void_p(ptr))


def rule_add(
    ctx: int,
    action: int,
    nr: int,
    conditions: Iterable[tuple[int, int, int, int]] = (),
    name: str = "",
) -> None:
    """Add a rule: `action` when syscall `nr` is made and every (arg, op, a, b) condition holds."""
    conds = list(conditions)
    array = (_ArgCmp * max(len(conds), 1))()
    for slot, (arg, op, datum_a, datum_b) in zip(array, conds, strict=False):
        slot.arg, slot.op, slot.datum_a, slot.datum_b = arg, op, datum_a, datum_b
    rc = _library().seccomp_rule_add_array(ctx, action, nr, len(conds), array)
    if rc < 0:
        described = ", ".join(f"arg{a} op{o} 0x{x:x} 0x{y:x}" for a, o, x, y in conds)
        what = f"seccomp_rule_add({name or nr}, action 0x{action:08x}"
        _check(rc, what + (f", {described})" if conds else ")"))


def load(ctx: int) -> None:
    """seccomp_load(3): install the filter on the calling thread (and the threads with TSYNC)."""
    _check(_library().seccomp_load(ctx), "seccomp_load")


class _SockFprog(ctypes.Structure):
    """struct sock_fprog (linux/filter.h): the program PR_SET_SECCOMP installs."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_char_p))


_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


def load_program(program: bytes) -> None:
    """Install a BPF program as `seccomp_export_bpf` wrote it (what `seccomp_load` would
    generate for the same context), with prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): what
    libseccomp's own load does for a filter with no flags and no notify listener, minus the
    generation. Needs no_new_privs or CAP_SYS_ADMIN, as any filter does."""
    if not program or len(program) % _SOCK_FILTER_SIZE:
        raise OSError(22, f"seccomp program of {len(program)} bytes: not whole instructions")
    fprog = _SockFprog(len(program) // _SOCK_FILTER_SIZE, program)
    zero = ctypes.c_ulong(0)
    rc = libc.prctl(
        _PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog), zero, zero
    )
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {os.strerror(err)}")


def notify_fd(ctx: int) -> int | None:
    """The user-notification fd of a loaded filter that has SCMP_ACT_NOTIFY rules, or None."""
    rc = _library().seccomp_notify_fd(ctx)
    if rc < 0:
        if rc == -22 or rc == -1:  # no listener (libseccomp returns -EINVAL/-1 when none)
            return None
        _check(rc, "seccomp_notify_fd")
    return int(rc)


def _export(ctx: int, func_name: str) -> bytes:
    fd = os.memfd_create("bastion-seccomp", os.MFD_CLOEXEC)
    try:
        _check(getattr(_library(), func_name)(ctx, fd), func_name)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def export_bpf(ctx: int) -> bytes:
    """The filter's BPF program (8-byte `struct sock_filter` instructions), for tests/debug."""
    return _export(ctx, "seccomp_export_bpf")


def export_pfc(ctx: int) -> str:
    """The filter as libseccomp's pseudo filter code (readable), for tests/debug."""
    return _export(ctx, "seccomp_export_pfc").decode()


# --- user notifications (the agent side) ---------------------------------------------------


def notify_receive(fd: int) -> Notification:
    """Wait for the next intercepted syscall on a notify fd (blocks; releases the GIL)."""
    lib = _library()
    req = ctypes.POINTER(_Notif)()
    resp = ctypes.POINTER(_NotifResp)()
    _check(lib.seccomp_notify_alloc(ctypes.byref(req), ctypes.byref(resp)), "seccomp_notify_alloc")
    try:
        _check(lib.seccomp_notify_receive(fd, req), f"seccomp_notify_receive(fd {fd})")
        return Notification(req.contents)
    finally:
        lib.seccomp_notify_free(req, resp)


def notify_respond(fd: int, notif_id: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
    """Answer notification `notif_id`: the syscall returns `val`, or fails with errno `error`.

    `flags=USER_NOTIF_FLAG_CONTINUE` (with val = error = 0) lets the syscall run instead.
    """
    lib = _library()
    req = ctypes.POINTER(_Notif)()
    resp = ctypes.POINTER(_NotifResp)()
    _check(lib.seccomp_notify_alloc(ctypes.byref(req), ctypes.byref(resp)), "seccomp_notify_alloc")
    try:
        r = resp.contents
        # seccomp_unotify(2): a failure is reported as a negative errno in `error`.
        r.id, r.val, r.error, r.flags = notif_id, val, -error if error > 0 else error, flags
        _check(
            lib.seccomp_notify_respond(fd, resp),
            f"seccomp_notify_respond(fd {fd}, id {notif_id}, val {val}, error {error})",
        )
    finally:
        lib.seccomp_notify_free(req, resp)


def notify_id_valid(fd: int, notif_id: int) -> bool:
    """Whether the task behind `notif_id` is still waiting (seccomp_notify_id_valid(3))."""
    return bool(_library().seccomp_notify_id_valid(fd, notif_id) == 0)


# --- probing (tests, debugging) ------------------------------------------------------------


def probe_syscall(name: str, *args: int) -> int:
    """Make the raw syscall `name` (native arch) with integer `args`; 0 on success, else errno.

    For tests that check what a loaded filter does to one call (`keyctl`, `unshare`, `mount`,
    ...) without needing a wrapper per syscall.
    """
    nr = syscall_resolve_name(name)
    if nr is None or nr < 0:
        raise OSError(38, f"{name}: not a syscall of this architecture")
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a & (2**64 - 1)) for a in args))
    return ctypes.get_errno() if rc == -1 else 0
