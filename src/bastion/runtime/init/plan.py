"""The init as a plan: every step of the Python init (this package's run_direct_init, run_init,
rootfs, devices, cgroupfs, process) decided here, in the parent, before the clone, and executed
after it by compiled code that runs no Python (bastion/_sys/_initexec.c).

Why: a forked Python init costs ~10 ms between the clone and its exec, and `create` waits for
all of it (copy-on-write faults on every object the interpreter touches, the init's imports,
each step at an interpreter's pace); the compiled init does the same steps in ~1-2 ms
(docs/architecture.md, "The init in C"). The steps, their order and their checks are the Python
init's, which stays the reference and the path for everything `build` does not take on:
hooks (and the tests' crash points), a terminal, a seccomp filter only libseccomp can load
(flags, SCMP_ACT_NOTIFY), tmpcopyup, no own mount namespace, --no-pivot, a user namespace, a
forced cgroup attach mode, or no compiled module (BASTION_TEST_NO_NATIVE=1). Where the compiled
init fails, it names the step and the errno; `Plan.explain` then words the error as the Python
init would have.

The encoding is the compiled side's (`_initexec.c`, whose enums a unit test compares with `Op`
and `Kind` here): each step is its code then its fields, integers as 8 bytes little-endian and
strings as their length, their bytes and a NUL.
"""

from __future__ import annotations

import _struct
import os

from bastion._sys import mount as _m
from bastion._sys.libc import NO_NATIVE_ENV
from bastion.errors import BastionError
from bastion.oci.vocabulary import CAPABILITIES, CLONE_NEWCGROUP, RLIMITS
from bastion.runtime.errors import InitFailed, RuntimeFailure
from bastion.runtime.init.devices import dev_links, in_user_namespace
from bastion.runtime.init.mount_options import parse_options, root_propagation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.oci.spec import Mount, Process, Spec
    from bastion.runtime.cgroups.base import Placement
    from bastion.runtime.init import InitConfig

    Explain = Callable[[int, int, int], BastionError]
    #: _native.spawn_init(plan, flags, cgroup_fd, chan_fd, shared) -> (pid, in_cgroup2, handle)
    Spawn = Callable[[bytes, int, int, int, bool], tuple[int, int, int]]


class Op:
    """Step codes (`_initexec.c`)."""

    WRITE = 1
    PRCTL = 2
    TITLE = 3
    RECV_GO = 4
    UNSHARE = 5
    SETSID = 6
    BLOCKING = 7
    MOUNT = 8
    ROOT = 9
    MOUNT_IN_ROOT = 10
    MAKE = 11
    MOUNT_MADE = 12
    REMOUNT_IN_ROOT = 13
    SYMLINK_IN_ROOT = 14
    MKNOD_IN_ROOT = 15
    PIVOT = 16
    HOSTNAME = 17
    DOMAINNAME = 18
    MASK = 19
    READONLY = 20
    REMOUNT_RO = 21
    HOME = 22
    RLIMIT = 23
    BOUNDING = 24
    SWITCH_USER = 25
    UMASK = 26
    CHDIR = 27
    FIND_EXEC = 28
    CAPSET = 29
    AMBIENT = 30
    CLOEXEC_FROM = 31
    READY = 32
    WAIT_START = 33
    EXEC = 34
    SECCOMP = 35


class Kind:
    """How a step failed (`_initexec.c`)."""

    SYSCALL = 1
    FALLBACK = 2
    MAKE = 3
    DANGLING = 4
    BAD_NAME = 5
    NO_SOURCE = 6
    MOUNT = 7
    AFTER_MOUNT = 8
    NOT_FOUND = 9
    NOT_RUNNABLE = 10
    NOT_IN_PATH = 11
    PLAN = 12


_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_WRITE = os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC  # cgroups/files.py
_SYSCTL = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC  # open(path, "w")
_CGROUP_ROOT = "/sys/fs/cgroup"
_MASK64 = (1 << 64) - 1
_U64 = _struct.Struct("<Q").pack
_MAX_ARGS, _MAX_ENV, _MAX_GROUPS = 1023, 4095, 256  # _initexec.c's argv, envp, groups arrays


class Plan:
    """The encoded steps and, per step, how to word its failure."""

    __slots__ = ("_explain", "_parts")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._explain: list[Explain] = []

    def add(self, code: int, *fields: int | str | bytes, explain: Explain | None = None) -> None:
        parts = self._parts
        parts.append(_U64(code))
        for value in fields:
            if isinstance(value, int):
                parts.append(_U64(value & _MASK64))
                continue
            # never a NUL inside a str: oci's reader refuses one in any string of a config
            raw = value.encode() if isinstance(value, str) else value
            parts += (_U64(len(raw)), raw, b"\0")
        self._explain.append(explain or _raw(code))

    @property
    def blob(self) -> bytes:
        """The encoded steps, as `spawn_init` takes them."""
        return b"".join(self._parts)

    def explain(self, message: dict[str, object]) -> BastionError:
        """The error the Python init would have sent for the compiled init's `plan-error`."""
        values = [message.get(k) for k in ("op", "kind", "errno", "detail")]
        numbers = [v for v in values if isinstance(v, int)]
        if len(numbers) != len(values):
            return InitFailed(f"the container init sent a malformed step failure: {message}")
        step, kind, err, detail = numbers
        if kind == Kind.PLAN or not 0 <= step < len(self._explain):
            return InitFailed(f"the container init could not read step {step} of its plan")
        return self._explain[step](kind, err, detail)


def build(cfg: InitConfig, cgroup: Placement, flags: int) -> Plan | None:
    """The plan of the init `run_direct_init` would be for `cfg`, or None where the Python init
    must run (the module docstring's list). `flags` are the namespaces clone3 creates."""
    process = cfg.spec.process
    if (
        os.environ.get(NO_NATIVE_ENV)
        or os.environ.get("BASTION_TEST_CGROUP_ATTACH")
        or cfg.handshake
        or process is None
        or process.terminal
        or cfg.no_pivot
        or not cfg.namespaces.has("mount")
        or any(m.type == "tmpfs" and "tmpcopyup" in m.options for m in cfg.spec.mounts)
        or in_user_namespace()
        # what the compiled init holds in fixed arrays (_initexec.c)
        or len(process.args) > _MAX_ARGS
        or len(process.env) > _MAX_ENV
        or len(process.user.additional_gids) > _MAX_GROUPS
    ):
        return None
    program = _seccomp_program(cfg)
    if program is None:
        return None
    return _steps(cfg, cgroup, program)


def _steps(cfg: InitConfig, cgroup: Placement, program: bytes) -> Plan:
    spec = cfg.spec
    process = spec.process
    linux = spec.linux
    assert process is not None  # build checked
    plan = Plan()
    _join_cgroup(plan, cgroup)
    plan.add(Op.PRCTL, _PR_SET_DUMPABLE, 0)
    from bastion.runtime.init import CHILD_TITLE

    plan.add(Op.TITLE, CHILD_TITLE)
    plan.add(Op.RECV_GO)
    if cfg.namespaces.creates("cgroup"):
        plan.add(Op.UNSHARE, CLONE_NEWCGROUP)
    plan.add(Op.SETSID)
    plan.add(Op.BLOCKING, cfg.fifo_fds[0])
    _rootfs(plan, cfg, spec, process)
    if spec.hostname:
        plan.add(Op.HOSTNAME, spec.hostname)
    if spec.domainname:
        plan.add(Op.DOMAINNAME, spec.domainname)
    for key, value in (linux.sysctl or {}).items() if linux else ():
        plan.add(
            Op.WRITE,
            "/proc/sys/" + key.replace(".", "/"),
            value,
            "",
            _SYSCTL,
            0,
            explain=_failure(f"cannot set sysctl {key}={value!r}", where=f"linux.sysctl.{key}"),
        )
    if linux is not None:
        for path in linux.masked_paths:
            plan.add(Op.MASK, path)
        for path in linux.readonly_paths:
            plan.add(Op.READONLY, path)
    if spec.root is not None and spec.root.readonly:
        plan.add(Op.REMOUNT_RO, "/", 0)
    from bastion.runtime.init.process import environment

    env = environment(process, home=False)
    if "HOME" not in env:
        plan.add(Op.HOME, process.user.uid)
    _rlimits(plan, process)
    _become(plan, process, env, program)
    plan.add(Op.CLOEXEC_FROM, 3 + cfg.preserve_fds)
    plan.add(Op.READY)
    plan.add(Op.WAIT_START, cfg.fifo_fds[0])
    fields: list[int | str] = [len(process.args), *process.args, len(env)]
    fields += [f"{key}={value}" for key, value in env.items()]
    plan.add(Op.EXEC, *fields)
    return plan


def _join_cgroup(plan: Plan, cgroup: Placement) -> None:
    """attach.join_directories: `0` into each v1 `tasks` (`cgroup.procs` where refused), and
    into the cgroup2 `cgroup.procs` where clone3 could not place the child."""
    from bastion.runtime.cgroups.errors import CgroupFileError

    def written(path: str) -> Explain:
        return lambda kind, err, detail: CgroupFileError(path, "0", err)

    v1, cgroup2 = cgroup.join_targets()
    for directory in v1:
        fallback = f"{directory}/cgroup.procs"
        tasks = f"{directory}/tasks"
        plan.add(Op.WRITE, tasks, "0", fallback, _WRITE, 0, explain=written(fallback))
    if cgroup2:
        path = f"{cgroup2}/cgroup.procs"
        plan.add(Op.WRITE, path, "0", "", _WRITE, 1, explain=written(path))


def _rootfs(plan: Plan, cfg: InitConfig, spec: Spec, process: Process) -> None:
    """rootfs.setup for an own mount namespace and pivot_root."""
    propagation, late = root_propagation(spec)
    plan.add(Op.MOUNT, "", "/", "", (_m.MS_SLAVE if late else propagation) | _m.MS_REC, "")
    plan.add(Op.MOUNT, cfg.rootfs, cfg.rootfs, "", _m.MS_BIND | _m.MS_REC, "")
    plan.add(Op.ROOT, cfg.rootfs)
    for index, mnt in enumerate(spec.mounts):
        _mount(plan, mnt, f"mounts[{index}]", cfg)
    _devices(plan, spec)
    links = dev_links()
    for target, name in links:
        plan.add(Op.SYMLINK_IN_ROOT, "/dev", target, name, 0, "")
    plan.add(Op.SYMLINK_IN_ROOT, "/dev", "pts/ptmx", "ptmx", 1, "/dev/pts/ptmx")
    plan.add(Op.MAKE, process.cwd, 1, 0, explain=_make_failure(process.cwd))
    plan.add(Op.PIVOT, cfg.rootfs)
    if late:
        plan.add(Op.MOUNT, "", "/", "", propagation, "")


def _mount(plan: Plan, mnt: Mount, where: str, cfg: InitConfig) -> None:
    """rootfs._mount_one (and cgroupfs.mount_cgroups for the cgroup types)."""
    flags, propagation, data = parse_options(mnt.options)
    fstype = mnt.type or ("bind" if flags & _m.MS_BIND else None)
    if fstype == "cgroup" or fstype == "cgroup2":
        _cgroups(plan, mnt.destination, flags, cfg, where)
        return
    is_bind = bool(flags & _m.MS_BIND) or fstype == "bind"
    source = mnt.source or fstype or "none"
    host = {"sysfs": "/sys", "mqueue": "/dev/mqueue"}.get(fstype or "", "")
    dest = mnt.destination
    mount_flags = flags & ~_m.MS_REMOUNT

    def explain(kind: int, err: int, detail: int) -> BastionError:
        if kind == Kind.NO_SOURCE:
            return RuntimeFailure(f"bind source {source!r} does not exist", where=f"{where}.source")
        if kind == Kind.MAKE:
            return RuntimeFailure(
                f"cannot make mount point {dest!r}: {os.strerror(err)}",
                where=f"{where}.destination",
            )
        if kind == Kind.MOUNT and not is_bind:
            # the Python init's words: its OSError's strerror is _sys.mount's call and errno
            call = _m.mount_call(
                source, f"/proc/self/fd/{detail}", fstype, mount_flags, data or None
            )
            return RuntimeFailure(
                f"cannot mount {fstype} on {dest!r}: {call}: {os.strerror(err)}", where=where
            )
        if kind in (Kind.DANGLING, Kind.BAD_NAME):
            return _make_failure(dest)(kind, err, detail)
        return _os_error(f"mount of {source!r} on {dest!r}", err, dest)

    plan.add(
        Op.MOUNT_IN_ROOT,
        dest,
        source,
        "" if is_bind else (fstype or ""),
        flags,
        propagation,
        data,
        int(is_bind),
        host,
        explain=explain,
    )


def _cgroups(plan: Plan, destination: str, flags: int, cfg: InitConfig, where: str) -> None:
    """cgroupfs.mount_cgroups, the host's hierarchies read now (the init's view is the same)."""
    from bastion.runtime.init.cgroupfs import host_hierarchies

    readonly = flags & _m.MS_RDONLY
    base = _m.MS_NOSUID | _m.MS_NODEV | _m.MS_NOEXEC
    new_ns = cfg.namespaces.creates("cgroup")
    hierarchies = host_hierarchies()

    def hierarchy(target: str, mount_point: str, fstype: str, options: str, name: str) -> None:
        failure = _failure(f"cannot mount cgroup hierarchy {name}", where=where)
        plan.add(Op.MAKE, target, 1, 1, explain=_make_failure(target))
        if new_ns:
            dropped = ("rw", "ro", "nsdelegate")
            kept = ",".join(o for o in options.split(",") if o not in dropped)
            plan.add(Op.MOUNT_MADE, fstype, fstype, base | readonly, kept, explain=failure)
            return
        source = mount_point + cfg.cgroup_path
        if not os.path.isdir(source):
            source = mount_point
        plan.add(Op.MOUNT_MADE, source, "", _m.MS_BIND | _m.MS_REC, "", explain=failure)
        if readonly:  # cgroupfs._bind_readonly
            remount = _m.MS_BIND | _m.MS_REMOUNT | base | readonly
            plan.add(Op.REMOUNT_IN_ROOT, target, remount, "", 0)

    if len(hierarchies) == 1 and hierarchies[0][0] == _CGROUP_ROOT:
        hierarchy(destination, _CGROUP_ROOT, "cgroup2", "", "")
        return
    plan.add(Op.MAKE, destination, 1, 1, explain=_make_failure(destination))
    plan.add(Op.MOUNT_MADE, "tmpfs", "tmpfs", base, "mode=755")
    for mount_point, _root, fstype, options in hierarchies:
        name = mount_point[len(_CGROUP_ROOT) + 1 :]  # host_hierarchies: all under it
        hierarchy(f"{destination}/{name}", mount_point, fstype, options, name)
    for entry in sorted(os.listdir(_CGROUP_ROOT)):  # the host's links (cpu -> cpu,cpuacct ...)
        link = os.path.join(_CGROUP_ROOT, entry)
        if os.path.islink(link):
            plan.add(Op.SYMLINK_IN_ROOT, destination, os.readlink(link), entry, 0, "")
    if readonly:
        flags = _m.MS_REMOUNT | base | _m.MS_RDONLY
        plan.add(Op.REMOUNT_IN_ROOT, destination, flags, "mode=755", 0)


def _devices(plan: Plan, spec: Spec) -> None:
    """devices.create_devices outside a user namespace (mknod)."""
    from bastion.runtime.init.devices import NODE_TYPES, device_nodes

    for path, kind, major, minor, mode, uid, gid, where in device_nodes(spec):
        parent, _, name = path.rstrip("/").rpartition("/")
        failure = _failure(f"cannot create device {path!r}", where=where)
        node_mode = NODE_TYPES[kind] | (mode & 0o7777)
        dev_number = os.makedev(major, minor)
        plan.add(
            Op.MKNOD_IN_ROOT, parent or "/", name, node_mode, dev_number, uid, gid, explain=failure
        )


def _rlimits(plan: Plan, process: Process) -> None:
    from bastion.runtime.init.process import rlimit_failure, rlimit_value

    for index, rlimit in enumerate(process.rlimits):

        def explain(kind: int, err: int, detail: int, index: int = index) -> BastionError:
            exc = OSError(err, f"setrlimit({process.rlimits[index].type}): {os.strerror(err)}")
            return rlimit_failure(process, index, exc)

        soft, hard = rlimit_value(rlimit.soft), rlimit_value(rlimit.hard)
        plan.add(Op.RLIMIT, RLIMITS[rlimit.type], soft, hard, explain=explain)


def _become(plan: Plan, process: Process, env: dict[str, str], program: bytes) -> None:
    """process.become: bounding set, user, umask, cwd, executable, sets, nnp, and the seccomp
    `program` (if not empty) at runc's moment: first without no_new_privs (loading then needs
    CAP_SYS_ADMIN), last with it."""
    from bastion._sys.caps import last_cap
    from bastion.runtime.capabilities import mask
    from bastion.runtime.init.process import DEFAULT_PATH

    early = bool(program) and not process.no_new_privileges
    if early:
        _load_seccomp(plan, program, process)
    caps = process.capabilities
    last = last_cap()
    if caps is not None:
        plan.add(Op.BOUNDING, mask(caps.bounding), last)
    user = process.user

    def switch_failed(kind: int, err: int, detail: int) -> BastionError:
        if kind != Kind.SYSCALL:
            return _os_error("prctl(PR_SET_KEEPCAPS)", err, None)
        return RuntimeFailure(
            f"cannot switch to uid {user.uid} gid {user.gid}: {os.strerror(err)}",
            where="process.user",
            hint="in a user namespace the ids must be mapped",
        )

    groups = list(user.additional_gids)
    plan.add(Op.SWITCH_USER, user.uid, user.gid, len(groups), *groups, explain=switch_failed)
    plan.add(Op.UMASK, 0o022 if user.umask is None else user.umask)
    cwd = process.cwd
    plan.add(Op.CHDIR, cwd, explain=_failure(f"cannot enter {cwd!r}", where="process.cwd"))
    name = process.args[0]
    given = ""
    if "/" in name:
        given = name if name.startswith("/") else os.path.join(cwd, name)

    def not_runnable(kind: int, err: int, detail: int) -> BastionError:
        from bastion.runtime.init.process import not_runnable as failure

        if kind == Kind.NOT_FOUND:
            return failure(name, f"stat {given}: no such file or directory", "executable-not-found")
        if kind == Kind.NOT_RUNNABLE:
            return failure(name, "permission denied", "executable-not-executable")
        return failure(name, "executable file not found in $PATH", "executable-not-found")

    plan.add(Op.FIND_EXEC, name, given, env.get("PATH", DEFAULT_PATH), explain=not_runnable)
    if caps is not None:
        full = (1 << (last + 1)) - 1
        plan.add(
            Op.CAPSET,
            mask(caps.effective) & full,
            mask(caps.permitted) & full,
            mask(caps.inheritable) & full,
        )
        allowed = mask(caps.permitted) & mask(caps.inheritable)
        ambient = [CAPABILITIES[n] for n in caps.ambient]
        raised = [cap for cap in ambient if cap <= last and allowed & (1 << cap)]
        plan.add(Op.AMBIENT, len(raised), *raised)
    if process.no_new_privileges:
        plan.add(Op.PRCTL, _PR_SET_NO_NEW_PRIVS, 1)
    if program and not early:
        _load_seccomp(plan, program, process)


def _seccomp_program(cfg: InitConfig) -> bytes | None:
    """The container's seccomp filter as a BPF program (b"" for none), compiled now, as the
    Python init compiles it before its rootfs (through the runtime root's cache); None for a
    filter only libseccomp can load (flags, SCMP_ACT_NOTIFY), which the Python init takes."""
    from bastion.runtime.init import compile_seccomp

    compiled = compile_seccomp(cfg.spec, cfg.state_root)
    if compiled is None:
        return b""
    program = compiled.program
    if program is None:
        compiled.release()
    return program


def _load_seccomp(plan: Plan, program: bytes, process: Process) -> None:
    def explain(kind: int, err: int, detail: int) -> BastionError:
        from bastion.runtime.seccomp import load_failure

        return load_failure(OSError(err, os.strerror(err)))

    plan.add(Op.SECCOMP, program, len(program), explain=explain)


def _failure(message: str, *, where: str) -> Explain:
    """A RuntimeFailure "`message`: <strerror>" at `where`, the Python init's usual wording."""
    return lambda kind, err, detail: RuntimeFailure(f"{message}: {os.strerror(err)}", where=where)


def _make_failure(path: str) -> Explain:
    """mountpoints.Root.make's own refusals, else its OSError."""

    def explain(kind: int, err: int, detail: int) -> BastionError:
        if kind == Kind.DANGLING:
            return RuntimeFailure(
                f"{path!r} in the rootfs is a dangling symlink",
                where=path,
                reference="mount-destination-dangling-symlink",
            )
        if kind == Kind.BAD_NAME:
            return RuntimeFailure(f"cannot create {path!r} inside the rootfs", where=path)
        return _os_error(f"cannot make {path!r}", err, path)

    return explain


def _raw(code: int) -> Explain:
    """A step whose failure the Python init reports as a plain OSError (channel.error_report),
    named after the step ("[Errno 1] capset: Operation not permitted")."""
    return lambda kind, err, detail: _os_error(_step_name(code), err, None)


def _step_name(code: int) -> str:
    return next((k.lower() for k, v in vars(Op).items() if v == code and k.isupper()), str(code))


def _os_error(what: str, err: int, where: str | None) -> BastionError:
    return InitFailed(f"[Errno {err}] {what}: {os.strerror(err)}", where=where)


def compiled_spawn() -> Spawn | None:
    """`_native.spawn_init` (bastion/_sys/_initexec.c), or None where the extension is not built
    or BASTION_TEST_NO_NATIVE is set."""
    from bastion._sys.libc import native

    spawn: Spawn | None
    spawn = getattr(native, "spawn_init", None) if native is not None else None
    return spawn
