"""The isolation scorecard: findings judged from a process's live facts (`facts.py`).

Each check reads facts only, so the same checks run on a bastion container, a Podman or
containerd container, or any process on the host. Severities follow what an escape needs:
`critical` is a way out as it stands (the host's mount namespace, all capabilities, a runtime
socket); `high` one step from it (a dangerous capability, no seccomp, a host namespace that
exposes other processes); `medium` a weakening (no resource limits, an unmasked kernel file);
`low` and `info` hardening left on the table and facts worth knowing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from bastion._sys.syscall_table import X86_64
from bastion.audit import cbpf
from bastion.audit.facts import DEFAULT_DEVICES, Mount, ProcessFacts
from bastion.oci.defaults import MASKED_PATHS, READONLY_PATHS
from bastion.oci.vocabulary import CAPABILITIES

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Finding:
    check: str  # a stable kebab-case id, e.g. "namespace-shared-net"
    severity: str  # one of SEVERITIES
    title: str
    detail: str
    fix: str


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


# What a shared namespace exposes (moby's and the CIS benchmark's reasoning).
_SHARED_NAMESPACE = {
    "mnt": ("critical", "the host's mount namespace: the host's whole filesystem is its own"),
    "pid": ("high", "the host's pid namespace: it sees and may signal or ptrace host processes"),
    "net": ("high", "the host's network namespace: host interfaces, ports and loopback services"),
    "ipc": ("medium", "the host's IPC namespace: host shared memory and message queues"),
    "uts": ("low", "the host's UTS namespace: it can change the host's hostname"),
    "cgroup": ("low", "the host's cgroup namespace: it sees the host's cgroup paths"),
}

# Capabilities that are, alone, one step from the host (Docker drops all of them by default).
_DANGEROUS_CAPS = {
    "CAP_SYS_ADMIN": "critical",
    "CAP_SYS_MODULE": "critical",
    "CAP_SYS_RAWIO": "critical",
    "CAP_SYS_PTRACE": "high",
    "CAP_DAC_READ_SEARCH": "high",
    "CAP_BPF": "high",
    "CAP_PERFMON": "high",
    "CAP_NET_ADMIN": "high",
    "CAP_SYS_BOOT": "high",
    "CAP_SYS_TIME": "high",
    "CAP_MAC_ADMIN": "high",
    "CAP_MAC_OVERRIDE": "high",
    "CAP_SYSLOG": "medium",
    "CAP_SYS_RESOURCE": "medium",
    "CAP_LINUX_IMMUTABLE": "medium",
    "CAP_IPC_LOCK": "low",
    "CAP_SYS_NICE": "low",
    "CAP_NET_RAW": "low",
}

# Syscalls that open kernel surface or break out of namespaces; a filter allowing them (with
# zero arguments) is worth a finding even when it is otherwise tight.
_SENSITIVE_SYSCALLS = (
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "mount",
    "umount2",
    "pivot_root",
    "unshare",
    "setns",
    "open_by_handle_at",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    "reboot",
    "swapon",
    "iopl",
    "ioperm",
)

# Host paths whose mounting into a container hands it the host.
# /run and /var/run hold the host's daemons' sockets and pid files, known sockets or not.
_CRITICAL_HOST_PATHS = (
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/var/lib",
    "/run",
    "/var/run",
)
_RUNTIME_SOCKETS = (
    "docker.sock",
    "containerd.sock",
    "podman.sock",
    "crio.sock",
    "cri-dockerd.sock",
    "containerd/containerd.sock",
    "podman/podman.sock",
    "crio/crio.sock",
    "bastion/docker.sock",
    "docker/docker.sock",
)


def check_all(facts: ProcessFacts) -> list[Finding]:
    findings: list[Finding] = []
    for check in (
        _namespaces,
        _user,
        _capabilities,
        _seccomp,
        _no_new_privs,
        _lsm,
        _root_filesystem,
        _kernel_paths,
        _host_mounts,
        _devices,
        _limits,
    ):
        findings += check(facts)
    findings += [
        Finding("facts-unreadable", "info", "a fact could not be read", problem, "run as root")
        for problem in facts.problems
    ]
    unique = {f.check: f for f in findings}  # one per check: a path mounted twice is one finding
    return sorted(unique.values(), key=lambda f: (-rank(f.severity), f.check))


def cap_names(mask: int) -> list[str]:
    return [name for name, bit in CAPABILITIES.items() if mask >> bit & 1]


def all_caps_mask() -> int:
    """Every capability the host grants: the auditing process's bounding set (on a host, root's
    is the kernel's whole set; where the host itself lacks one, a container cannot have it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return (1 << (max(CAPABILITIES.values()) + 1)) - 1


def _namespaces(facts: ProcessFacts) -> list[Finding]:
    out = []
    for namespace, (severity, what) in _SHARED_NAMESPACE.items():
        if facts.shares(namespace):
            out.append(
                Finding(
                    f"namespace-shared-{namespace}",
                    severity,
                    f"shares the host's {namespace} namespace",
                    f"it runs in {what}",
                    f"give it a {namespace} namespace of its own (drop --{_flag(namespace)}=host)",
                )
            )
    return out


def _flag(namespace: str) -> str:
    return {"net": "network", "mnt": "mount"}.get(namespace, namespace)


def _root_mapped(uid_map: str) -> int | None:
    """The host uid that uid 0 in the namespace maps to, or None if 0 is unmapped."""
    for line in uid_map.splitlines():
        parts = line.split()
        if len(parts) == 3 and int(parts[0]) <= 0 < int(parts[0]) + int(parts[2]):
            return int(parts[1]) - int(parts[0])
    return None


def _user(facts: ProcessFacts) -> list[Finding]:
    euid = facts.uids[1]
    if facts.shares("user"):
        out = [
            Finding(
                "user-namespace-none",
                "low",
                "no user namespace",
                "uid 0 in the container is uid 0 on the host",
                "run it in a user namespace (a uid/gid mapping)",
            )
        ]
        if euid == 0:
            out.append(
                Finding(
                    "runs-as-root",
                    "medium",
                    "runs as root",
                    "its effective uid is 0, which is the host's root (no user namespace)",
                    "run as a non-root user (-u UID, or USER in the image)",
                )
            )
        return out
    host_root = _root_mapped(facts.uid_map)
    mapping = " ".join(facts.uid_map.split())
    if host_root == 0:
        return [
            Finding(
                "user-namespace-maps-root",
                "high",
                "its user namespace maps root to the host's root",
                f"uid_map: {mapping}",
                "map the container's uid 0 to an unprivileged host uid",
            )
        ]
    return [
        Finding(
            "user-namespace",
            "info",
            "runs in a user namespace",
            f"uid_map: {mapping}",
            "nothing to do",
        )
    ]


def _capabilities(facts: ProcessFacts) -> list[Finding]:
    effective = facts.capabilities.get("CapEff", 0)
    bounding = facts.capabilities.get("CapBnd", 0)
    full = all_caps_mask()
    if effective & full == full:
        return [
            Finding(
                "capabilities-all",
                "critical",
                "holds every capability (privileged)",
                "CapEff is the full set: it can load kernel modules, mount, and reach devices",
                "drop --privileged; add only the capabilities it needs (--cap-add)",
            )
        ]
    out = []
    for name in cap_names(effective | bounding):
        severity = _DANGEROUS_CAPS.get(name)
        if severity is None:
            continue
        where = "effective" if effective >> CAPABILITIES[name] & 1 else "bounding"
        out.append(
            Finding(
                f"capability-{name[4:].lower().replace('_', '-')}",
                severity if where == "effective" else _lower(severity),
                f"holds {name}",
                f"{name} is in its {where} set",
                f"--cap-drop {name[4:]}",
            )
        )
    names = ", ".join(n[4:] for n in cap_names(effective)) or "none"
    out.append(Finding("capabilities", "info", "effective capabilities", names, "nothing to do"))
    return out


def _lower(severity: str) -> str:
    return SEVERITIES[max(0, rank(severity) - 1)]


def allowed_syscalls(programs: list[bytes]) -> list[str]:
    """The x86_64 syscalls the filter stack allows when called with zero arguments."""
    return sorted(
        name
        for name, nr in X86_64.items()
        if cbpf.run_all(programs, nr) & cbpf.RET_ACTION_FULL == cbpf.RET_ALLOW
    )


def _seccomp(facts: ProcessFacts) -> list[Finding]:
    if facts.seccomp_mode == 0:
        return [
            Finding(
                "seccomp-off",
                "high",
                "no seccomp filter",
                "every syscall reaches the kernel",
                "run with the default profile (drop seccomp=unconfined)",
            )
        ]
    if facts.seccomp_mode == 1:
        return [Finding("seccomp-strict", "info", "seccomp strict mode", "", "nothing to do")]
    if facts.seccomp_programs is None:
        return []  # unreadable: a `facts-unreadable` finding says why
    allowed = allowed_syscalls(facts.seccomp_programs)
    out = [
        Finding(
            "seccomp-filter",
            "info",
            "seccomp filter",
            f"{len(facts.seccomp_programs)} filter(s) allow {len(allowed)} of {len(X86_64)} "
            "x86_64 syscalls (called with zero arguments)",
            "nothing to do",
        )
    ]
    sensitive = [name for name in _SENSITIVE_SYSCALLS if name in allowed]
    if sensitive:
        out.append(
            Finding(
                "seccomp-allows-sensitive",
                "medium",
                "the seccomp filter allows sensitive syscalls",
                ", ".join(sensitive),
                "use the default profile, or deny these in a custom one",
            )
        )
    return out


def _no_new_privs(facts: ProcessFacts) -> list[Finding]:
    if facts.no_new_privs:
        return []
    return [
        Finding(
            "no-new-privileges-off",
            "low",
            "no_new_privs is off",
            "a setuid binary in the image can raise its privileges",
            "--security-opt no-new-privileges",
        )
    ]


def _lsm(facts: ProcessFacts) -> list[Finding]:
    label = facts.lsm_label or "none"
    confining = [lsm for lsm in facts.host_lsms if lsm in ("apparmor", "selinux", "smack")]
    if label in ("none", "unconfined", "kernel") and confining:
        return [
            Finding(
                "lsm-unconfined",
                "low",
                "not confined by " + "/".join(confining),
                f"its label is {label!r}",
                "run it under a profile (--security-opt apparmor=PROFILE)",
            )
        ]
    return [Finding("lsm", "info", "LSM label", label, "nothing to do")] if confining else []


def _root_filesystem(facts: ProcessFacts) -> list[Finding]:
    root = mount_at(facts.mounts, "/")
    if root is None or root.read_only:
        return []
    return [
        Finding(
            "root-writable",
            "low",
            "the root filesystem is writable",
            f"/ is a read-write {root.fstype}",
            "--read-only (with --tmpfs for the paths it writes)",
        )
    ]


def mount_at(mounts: tuple[Mount, ...], path: str) -> Mount | None:
    """The mount that is visible at `path` (the last one mounted exactly there)."""
    found = None
    for mount in mounts:
        if mount.mount_point == path:
            found = mount
    return found


def covering(mounts: tuple[Mount, ...], path: str) -> Mount | None:
    """The mount `path` lives on: the longest mount point that is a prefix of it."""
    best = None
    for mount in mounts:
        point = mount.mount_point
        if (path == point or path.startswith(point.rstrip("/") + "/") or point == "/") and (
            best is None or len(point) >= len(best.mount_point)
        ):
            best = mount
    return best


def _kernel_paths(facts: ProcessFacts) -> list[Finding]:
    out = []
    root = f"/proc/{facts.pid}/root"
    for path in MASKED_PATHS:
        if not os.path.lexists(root + path):
            continue
        if mount_at(facts.mounts, path) is None:
            out.append(
                Finding(
                    f"unmasked{path.replace('/', '-')}",
                    "medium",
                    f"{path} is not masked",
                    "the container can read this kernel file",
                    "mask it (the runtime's default maskedPaths; drop --privileged)",
                )
            )
    for path in READONLY_PATHS:
        if not os.path.lexists(root + path):
            continue
        mount = covering(facts.mounts, path)
        if mount is not None and not mount.read_only:
            out.append(
                Finding(
                    f"writable{path.replace('/', '-')}",
                    "high" if path == "/proc/sys" else "medium",
                    f"{path} is writable",
                    "the container can write this kernel interface",
                    "mount it read-only (the runtime's default readonlyPaths)",
                )
            )
    return out


def host_path(mount: Mount, host_mounts: tuple[Mount, ...]) -> str | None:
    """Where on the host the filesystem of a container's `mount` comes from, when it shares a
    superblock with one of the host's mounts; None for a filesystem of its own (a fresh tmpfs,
    proc, sysfs, devpts)."""
    best: Mount | None = None
    for host in host_mounts:
        if host.device != mount.device:
            continue
        inside = mount.root == host.root or mount.root.startswith(host.root.rstrip("/") + "/")
        if inside and (best is None or len(host.root) > len(best.root)):
            best = host
    if best is None:
        return None
    rest = mount.root[len(best.root.rstrip("/")) :] if best.root != "/" else mount.root
    return os.path.normpath(best.mount_point.rstrip("/") + "/" + rest.lstrip("/"))


def _host_mounts(facts: ProcessFacts) -> list[Finding]:
    out = []
    for mount in facts.mounts:
        if mount.mount_point == "/" or mount.fstype in ("proc", "sysfs", "cgroup", "cgroup2"):
            continue
        source = host_path(mount, facts.host_mounts)
        if source is None or _runtime_file(mount, source):
            continue
        sockets = _sockets_in(source)
        if sockets:
            severity, why = "critical", f"it exposes {', '.join(sockets)}: control of the host"
        elif source in _CRITICAL_HOST_PATHS:
            severity, why = ("high" if mount.read_only else "critical"), "a host system path"
        else:
            severity, why = ("low" if mount.read_only else "medium"), "a host path"
        mode = "read-only" if mount.read_only else "read-write"
        out.append(
            Finding(
                f"host-mount{mount.mount_point.replace('/', '-')}",
                severity,
                f"host path {source} mounted at {mount.mount_point}",
                f"{why} ({mode})",
                "remove the mount, or mount a narrower path read-only",
            )
        )
    return out


def _runtime_file(mount: Mount, source: str) -> bool:
    """The runtime's own mounts: /etc/hosts, hostname, resolv.conf written for the container,
    and /dev/null over the masked paths."""
    if mount.mount_point in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        return True
    return source == "/dev/null" or (mount.fstype == "devtmpfs" and mount.root == "/null")


def _sockets_in(path: str) -> list[str]:
    if path.endswith(".sock"):
        return [path]
    return [name for name in _RUNTIME_SOCKETS if os.path.exists(os.path.join(path, name))]


def _devices(facts: ProcessFacts) -> list[Finding]:
    out = []
    for device in facts.devices:
        name = device.path.removeprefix("/dev/")
        if name in DEFAULT_DEVICES or name.startswith(("pts/", "fd/")):
            continue
        out.append(
            Finding(
                f"device{device.path.replace('/', '-')}",
                "high" if device.kind == "block" else "medium",
                f"{device.kind} device {device.path} ({device.major}:{device.minor})",
                "a host device node inside the container",
                "remove the device (--device), or drop --privileged",
            )
        )
    if facts.cgroups.devices_all:
        out.append(
            Finding(
                "devices-cgroup-all",
                "high",
                "the devices cgroup allows every device",
                "devices.list is 'a *:* rwm'",
                "allow only the devices it needs (drop --privileged)",
            )
        )
    return out


def _limits(facts: ProcessFacts) -> list[Finding]:
    limits = facts.cgroups
    if not limits.known:
        return []
    out = []
    if limits.memory is None:
        out.append(
            Finding(
                "limit-memory-none",
                "medium",
                "no memory limit",
                "it can take the host's memory",
                "-m/--memory",
            )
        )
    if limits.pids is None:
        out.append(
            Finding(
                "limit-pids-none",
                "medium",
                "no process limit",
                "a fork bomb reaches the host's limit",
                "--pids-limit",
            )
        )
    if limits.cpu_quota is None:
        out.append(
            Finding("limit-cpu-none", "low", "no CPU limit", "it can take every core", "--cpus")
        )
    return out
