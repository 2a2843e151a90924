"""Semantic checks of the `linux` object (part of `validate`, split to keep modules small).

The cross-field rules are runc's (libcontainer/configs/validate/validator.go): a namespace type
at most once, id mappings iff a user namespace, hostname only with a UTS namespace, sysctls only
in the namespace that isolates them, time offsets only with a time namespace.
"""

from __future__ import annotations

from bastion.oci._reader import INVALID, MISSING, SpecError, map_key
from bastion.oci.spec import (
    Linux,
    LinuxDevice,
    LinuxIDMapping,
    LinuxNamespace,
    LinuxResources,
    LinuxSeccomp,
)
from bastion.oci.vocabulary import (
    DEVICE_CGROUP_TYPES,
    DEVICE_TYPES,
    NAMESPACES,
    PERSONALITY_DOMAINS,
    PROPAGATION_OPTIONS,
    SECCOMP_ACTIONS,
    SECCOMP_ARCHITECTURES,
    SECCOMP_ERRNO_MAX,
    SECCOMP_FLAGS,
    SECCOMP_OPERATORS,
    TIME_OFFSET_CLOCKS,
)

# runc's validSysctlMap: the kernel.* sysctls an IPC namespace isolates (ipc_namespaces(7)).
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def _invalid(where: str, message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, where=where, hint=hint, reference=INVALID)


def _add_ns(kind: str) -> str:
    return f'add {{"type": "{kind}"}} to linux.namespaces'


def validate_linux(linux: Linux, *, hostname: str | None, domainname: str | None) -> None:
    """Check `linux` and the top-level fields that depend on its namespaces."""
    namespaces = _check_namespaces(linux.namespaces)
    _check_user_namespace(linux, namespaces.get("user"))
    for key, value in (("hostname", hostname), ("domainname", domainname)):
        # runc: "unable to set hostname without a private UTS namespace".
        if value and "uts" not in namespaces:
            raise _invalid(key, f"setting the {key} needs a UTS namespace", _add_ns("uts"))
    _check_devices(linux.devices)
    propagation = linux.rootfs_propagation
    if propagation is not None and propagation not in PROPAGATION_OPTIONS:
        raise _invalid(
            "linux.rootfsPropagation",
            f"unknown propagation {propagation!r}",
            "one of " + ", ".join(PROPAGATION_OPTIONS),
        )
    if linux.sysctl:
        _check_sysctl(linux.sysctl, namespaces)
    if linux.time_offsets:
        _check_time_offsets(linux, namespaces)
    if linux.resources is not None:
        _check_resources(linux.resources)
    if linux.seccomp is not None:
        _check_seccomp(linux.seccomp)
    personality = linux.personality
    if personality is not None and personality.domain not in PERSONALITY_DOMAINS:
        raise _invalid(
            "linux.personality.domain",
            f"unknown personality domain {personality.domain!r}",
            "LINUX or LINUX32",
        )


def check_mappings(mappings: tuple[LinuxIDMapping, ...], where: str) -> None:
    """Each mapping has a size > 0 and stays inside the 32-bit id space (user_namespaces(7))."""
    for i, mapping in enumerate(mappings):
        if mapping.size == 0:
            raise _invalid(f"{where}[{i}].size", "must be greater than 0")
        if mapping.container_id + mapping.size > 2**32:
            raise _invalid(f"{where}[{i}].containerID", "the range ends beyond 4294967295")
        if mapping.host_id + mapping.size > 2**32:
            raise _invalid(f"{where}[{i}].hostID", "the range ends beyond 4294967295")


def _check_namespaces(namespaces: tuple[LinuxNamespace, ...]) -> dict[str, LinuxNamespace]:
    seen: dict[str, LinuxNamespace] = {}
    for i, ns in enumerate(namespaces):
        where = f"linux.namespaces[{i}]"
        if ns.type not in NAMESPACES:
            raise _invalid(
                f"{where}.type",
                f"unknown namespace type {ns.type!r}",
                "one of " + ", ".join(NAMESPACES),
            )
        # config-linux.md "Namespaces": duplicated types MUST generate an error.
        if ns.type in seen:
            raise _invalid(f"{where}.type", f"namespace type {ns.type!r} is given twice")
        if ns.path is not None and not ns.path.startswith("/"):
            raise _invalid(f"{where}.path", "must be an absolute path", "e.g. /proc/1234/ns/net")
        seen[ns.type] = ns
    return seen


def _check_user_namespace(linux: Linux, user: LinuxNamespace | None) -> None:
    if user is None:
        # runc: "user namespace mappings specified, but user namespace isn't enabled".
        for key, mappings in (
            ("uidMappings", linux.uid_mappings),
            ("gidMappings", linux.gid_mappings),
        ):
            if mappings:
                raise _invalid(f"linux.{key}", "id mappings need a user namespace", _add_ns("user"))
        return
    if user.path is None:
        # A new user namespace is unusable without both maps (setgid(2) and setuid(2) fail for
        # unmapped ids); runc requires at least one, we require both before anything is made.
        for key, mappings in (
            ("uidMappings", linux.uid_mappings),
            ("gidMappings", linux.gid_mappings),
        ):
            if not mappings:
                raise SpecError(
                    f"a new user namespace needs {key}",
                    where=f"linux.{key}",
                    hint='e.g. [{"containerID": 0, "hostID": 100000, "size": 65536}]',
                    reference=MISSING,
                )
    check_mappings(linux.uid_mappings, "linux.uidMappings")
    check_mappings(linux.gid_mappings, "linux.gidMappings")


def _check_devices(devices: tuple[LinuxDevice, ...]) -> None:
    for i, device in enumerate(devices):
        where = f"linux.devices[{i}]"
        if device.type not in DEVICE_TYPES:
            raise _invalid(f"{where}.type", f"unknown device type {device.type!r}", "c, b, u or p")
        if not device.path.startswith("/"):
            raise _invalid(f"{where}.path", "must be an absolute path", "e.g. /dev/fuse")
        # config-linux.md "Devices": major and minor are REQUIRED unless type is p.
        if device.type != "p":
            for key in ("major", "minor"):
                if getattr(device, key) is None:
                    raise SpecError(
                        f"a {device.type!r} device needs {key}",
                        where=f"{where}.{key}",
                        reference=MISSING,
                    )


def _check_sysctl(sysctl: dict[str, str], namespaces: dict[str, LinuxNamespace]) -> None:
    for key in sysctl:
        where = map_key("linux.sysctl", key)
        # Keys become /proc/sys paths: "net.ipv4.ip_forward" or "net/ipv4/ip_forward". An empty
        # component (from "..", a leading or trailing separator) could leave /proc/sys.
        name = key.replace("/", ".")
        if "" in name.split("."):
            raise _invalid(where, "not a sysctl name", "e.g. net.ipv4.ip_forward")
        if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if "ipc" not in namespaces:
                raise _invalid(
                    where, "this sysctl is not allowed in the host's IPC namespace", _add_ns("ipc")
                )
        elif name.startswith("net."):
            if "network" not in namespaces:
                raise _invalid(
                    where,
                    "this sysctl is not allowed in the host's network namespace",
                    _add_ns("network"),
                )
        elif name in ("kernel.hostname", "kernel.domainname"):
            field = name.partition(".")[2]
            raise _invalid(where, f"set the {field} with the {field} field, not a sysctl")
        else:
            # runc: "sysctl %q is not in a separate kernel namespace"; it would change the host.
            raise _invalid(
                where,
                "this sysctl is not isolated by any namespace",
                "only IPC (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) and "
                "network (net.*) sysctls can be set for a container",
            )


def _check_time_offsets(linux: Linux, namespaces: dict[str, LinuxNamespace]) -> None:
    if "time" not in namespaces:
        raise _invalid("linux.timeOffsets", "time offsets need a time namespace", _add_ns("time"))
    for clock, offset in (linux.time_offsets or {}).items():
        where = map_key("linux.timeOffsets", clock)
        if clock not in TIME_OFFSET_CLOCKS:
            raise _invalid(where, f"unknown clock {clock!r}", "monotonic or boottime")
        if offset.nanosecs >= 1_000_000_000:
            # time_namespaces(7): /proc/pid/timens_offsets refuses nanoseconds ≥ 1 s.
            raise _invalid(f"{where}.nanosecs", "must be below 1000000000")


def _check_resources(resources: LinuxResources) -> None:
    path = "linux.resources"
    for i, rule in enumerate(resources.devices):
        where = f"{path}.devices[{i}]"
        if rule.type is not None and rule.type not in DEVICE_CGROUP_TYPES:
            raise _invalid(f"{where}.type", f"unknown device type {rule.type!r}", "a, c or b")
        if rule.access is not None and not set(rule.access) <= set("rwm"):
            raise _invalid(f"{where}.access", f"unknown access {rule.access!r}", 'letters of "rwm"')
    memory = resources.memory
    if memory is not None:
        if memory.swappiness is not None and memory.swappiness > 100:
            raise _invalid(f"{path}.memory.swappiness", "must be between 0 and 100")
        limit, swap = memory.limit, memory.swap
        if limit is not None and swap is not None and limit > 0 and 0 < swap < limit:
            # runc (cgroups/fs memory.go): "memory+swap limit should be >= memory limit".
            raise _invalid(f"{path}.memory.swap", "swap (memory+swap) must be >= limit")
    for i, hugepage in enumerate(resources.hugepage_limits):
        size = hugepage.page_size
        # defs: "^[1-9][0-9]*[KMG]B$", checked without `re` (start-up cost).
        if not (
            len(size) >= 3
            and size[-1] == "B"
            and size[-2] in "KMG"
            and size[:-2].isdigit()
            and size.isascii()
            and size[0] != "0"
        ):
            raise _invalid(
                f"{path}.hugepageLimits[{i}].pageSize",
                f"not a page size: {size!r}",
                "e.g. 2MB or 1GB",
            )
    for key in resources.unified or {}:
        # Keys are file names in the cgroup directory: nothing that could leave it.
        if "/" in key or key in ("", ".", ".."):
            raise _invalid(
                map_key(f"{path}.unified", key), "not a cgroup file name", "e.g. memory.high"
            )


def _check_seccomp(seccomp: LinuxSeccomp) -> None:
    """Everything about `linux.seccomp` that the document alone can tell (no libseccomp).

    The one validator of the seccomp object: the runtime adds only what needs this host's
    libseccomp (does any name of a rule exist, does it know this arch or flag). The rules are
    runc's (specconv SetupSeccomp, seccomp InitSeccomp), stricter where runc fails late: an errno
    libseccomp cannot encode, or on an action that returns none (crun refuses it too), and a
    syscall name that is not an identifier.
    """
    path = "linux.seccomp"
    _check_seccomp_action(
        seccomp.default_action, seccomp.default_errno_ret, path, "defaultAction", "defaultErrnoRet"
    )
    if seccomp.default_action == _NOTIFY:
        # runc: "SCMP_ACT_NOTIFY cannot be used as default action" (the init needs write(2)).
        raise _invalid(f"{path}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    for i, arch in enumerate(seccomp.architectures):
        if arch not in SECCOMP_ARCHITECTURES:
            raise _invalid(
                f"{path}.architectures[{i}]",
                f"unknown architecture {arch!r}",
                "e.g. SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32",
            )
    for i, name in enumerate(seccomp.flags):
        if name not in SECCOMP_FLAGS:
            raise _invalid(
                f"{path}.flags[{i}]", f"unknown flag {name!r}", "one of " + ", ".join(SECCOMP_FLAGS)
            )
    for i, syscall in enumerate(seccomp.syscalls):
        where = f"{path}.syscalls[{i}]"
        _check_seccomp_action(syscall.action, syscall.errno_ret, where, "action", "errnoRet")
        _check_syscall_names(syscall.names, where, notify=syscall.action == _NOTIFY)
        if syscall.action == _NOTIFY and not seccomp.listener_path:
            raise SpecError(
                "SCMP_ACT_NOTIFY needs listenerPath, the socket of the seccomp agent",
                where=f"{path}.listenerPath",
                reference=MISSING,
            )
        for j, arg in enumerate(syscall.args):
            if arg.index > 5:
                raise _invalid(f"{where}.args[{j}].index", "syscalls have arguments 0 to 5")
            if arg.op not in SECCOMP_OPERATORS:
                raise _invalid(
                    f"{where}.args[{j}].op",
                    f"unknown operator {arg.op!r}",
                    "one of " + ", ".join(SECCOMP_OPERATORS),
                )


_NOTIFY = "SCMP_ACT_NOTIFY"
# A rule's name that is no syscall: the same reference whether the name cannot be one (checked
# here) or this host's libseccomp does not know it (checked by the runtime, which has libseccomp).
UNKNOWN_SYSCALL = "seccomp-unknown-syscall"


def _check_seccomp_action(
    name: str, errno_ret: int | None, where: str, action_key: str, errno_key: str
) -> None:
    if name not in SECCOMP_ACTIONS:
        raise _invalid(
            f"{where}.{action_key}",
            f"unknown action {name!r}",
            "one of " + ", ".join(SECCOMP_ACTIONS),
        )
    if errno_ret is None:
        return
    highest = SECCOMP_ERRNO_MAX.get(name)
    if highest is None:
        # config-linux.md: "When the action doesn't support an errno, the runtime MUST print
        # and error and fail" (crun: "errno value specified for action").
        raise _invalid(
            f"{where}.{errno_key}", f"{name} takes no errno", "remove it, or use SCMP_ACT_ERRNO"
        )
    if errno_ret > highest:
        raise _invalid(
            f"{where}.{errno_key}", f"{errno_ret} is out of range for {name}", f"at most {highest}"
        )


def _check_syscall_names(names: tuple[str, ...], where: str, *, notify: bool) -> None:
    if not names:
        raise SpecError(
            "names must list at least one syscall", where=f"{where}.names", reference=MISSING
        )
    for j, name in enumerate(names):
        # A C identifier, checked without `re` (start-up cost): what a syscall table can name.
        if not (0 < len(name) <= 64 and name.isascii() and name.isidentifier()):
            raise SpecError(
                f"{name!r} is not a syscall name",
                where=f"{where}.names[{j}]",
                hint="syscall names are identifiers such as mkdirat or _llseek",
                reference=UNKNOWN_SYSCALL,
            )
        if notify and name == "write":
            # runc: the init reports the notify fd with write(2) after loading the filter.
            raise _invalid(f"{where}.names[{j}]", "SCMP_ACT_NOTIFY cannot be used for write")
