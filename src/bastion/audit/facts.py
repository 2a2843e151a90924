"""What a live process is, read from /proc and /sys: the facts the audit judges.

Nothing here trusts a configuration: a container's config.json says what was asked for, and a
runtime bug, a hook or a later `nsenter` can make the process differ from it. Every fact comes
from the kernel's view of the process itself (`/proc/PID/...`) compared with the host's (the
auditing process's own namespaces and mount table). A fact the kernel will not give is
recorded as unknown (None, with the reason in `problems`), never guessed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field

from bastion._sys.proc import unescape_mountinfo

NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup", "user", "time")

# Device nodes every container has (runc's and Docker's default /dev); others are findings.
DEFAULT_DEVICES = frozenset(
    ["null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "core", "fd"]
)


@dataclass(frozen=True)
class Mount:
    """One line of /proc/PID/mountinfo (proc(5))."""

    mount_id: int
    parent_id: int
    device: str  # "major:minor"
    root: str  # the path inside its filesystem that is mounted here
    mount_point: str
    options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


@dataclass(frozen=True)
class Device:
    path: str  # inside the container
    kind: str  # "char" | "block"
    major: int
    minor: int


@dataclass(frozen=True)
class CgroupLimits:
    """The limits of the process's cgroups; None where no limit is set, `known` False where
    the controller's files could not be read."""

    memory: int | None = None
    pids: int | None = None
    cpu_quota: int | None = None  # microseconds per period
    devices_all: bool = False  # v1 devices.list allows every device ("a *:* rwm")
    known: bool = True


@dataclass(frozen=True)
class ProcessFacts:
    pid: int
    namespaces: dict[str, tuple[int, int]]  # type -> (its inode, the host's inode)
    uid_map: str
    gid_map: str
    uids: tuple[int, int, int, int]  # real, effective, saved, filesystem (in its user ns)
    capabilities: dict[str, int]  # CapInh, CapPrm, CapEff, CapBnd, CapAmb
    no_new_privs: bool
    seccomp_mode: int  # 0 off, 1 strict, 2 filter
    seccomp_programs: list[bytes] | None  # None: could not be read (see problems)
    lsm_label: str | None
    host_lsms: tuple[str, ...]
    mounts: tuple[Mount, ...]
    host_mounts: tuple[Mount, ...]
    devices: tuple[Device, ...]
    cgroups: CgroupLimits
    problems: tuple[str, ...] = field(default=())

    def shares(self, namespace: str) -> bool:
        inode, host = self.namespaces.get(namespace, (0, 0))
        return inode != 0 and inode == host


def read_facts(pid: int, *, host_pid: int | None = None, seccomp: bool = True) -> ProcessFacts:
    """The facts of process `pid` against the host's: `host_pid`'s namespaces, by default the
    reader's own (the engine that audits runs on the host; pid 1's may be closed to it), and
    the reader's mount table. `seccomp=False` skips reading the filters (which stops the
    process for a moment under ptrace)."""
    host_pid = os.getpid() if host_pid is None else host_pid
    problems: list[str] = []
    status = _status(pid)
    programs: list[bytes] | None = None
    mode = int(status.get("Seccomp", "0"))
    if seccomp and mode == 2:
        from bastion._sys.ptrace import seccomp_filters

        try:
            programs = seccomp_filters(pid)
        except OSError as exc:
            problems.append(f"seccomp filters unreadable: {exc.strerror or exc}")
    uids = tuple(int(v) for v in status.get("Uid", "0 0 0 0").split()[:4])
    return ProcessFacts(
        pid=pid,
        namespaces={ns: (_ns_inode(pid, ns), _ns_inode(host_pid, ns)) for ns in NAMESPACES},
        uid_map=_read(f"/proc/{pid}/uid_map"),
        gid_map=_read(f"/proc/{pid}/gid_map"),
        uids=(uids[0], uids[1], uids[2], uids[3]),
        capabilities={
            key: int(status.get(key, "0"), 16)
            for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
        },
        no_new_privs=status.get("NoNewPrivs", "0") == "1",
        seccomp_mode=mode,
        seccomp_programs=programs,
        lsm_label=_lsm_label(pid),
        host_lsms=tuple(_read("/sys/kernel/security/lsm").strip().split(",")),
        mounts=tuple(parse_mountinfo(_read(f"/proc/{pid}/mountinfo"))),
        host_mounts=tuple(parse_mountinfo(_read("/proc/self/mountinfo"))),
        devices=tuple(_devices(pid)),
        cgroups=cgroup_limits(_read(f"/proc/{pid}/cgroup"), _read("/proc/self/mountinfo")),
        problems=tuple(problems),
    )


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except FileNotFoundError:
        raise ProcessLookupError(pid, f"no process {pid}") from None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _ns_inode(pid: int, namespace: str) -> int:
    try:
        return os.stat(f"/proc/{pid}/ns/{namespace}").st_ino
    except OSError:
        return 0


def _lsm_label(pid: int) -> str | None:
    for path in (f"/proc/{pid}/attr/apparmor/current", f"/proc/{pid}/attr/current"):
        with contextlib.suppress(OSError):
            with open(path) as f:
                label = f.read().strip("\0\n ")
            if label:
                return label
    return None


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        fstype, source, super_options = ([*right.split(), "", ""])[:3]
        mounts.append(
            Mount(
                mount_id=int(fields[0]),
                parent_id=int(fields[1]),
                device=fields[2],
                root=unescape_mountinfo(fields[3]),
                mount_point=unescape_mountinfo(fields[4]),
                options=tuple(fields[5].split(",")),
                fstype=fstype,
                source=unescape_mountinfo(source),
                super_options=tuple(super_options.split(",")),
            )
        )
    return mounts


def _devices(pid: int) -> list[Device]:
    """Device nodes under the container's /dev (two levels: /dev/X and /dev/X/Y), seen through
    /proc/PID/root, so the container's own mount namespace decides what is there."""
    out: list[Device] = []
    base = f"/proc/{pid}/root/dev"
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            names = [entry.name]
            if entry.is_dir(follow_symlinks=False) and entry.name not in ("pts", "shm", "mqueue"):
                with contextlib.suppress(OSError):
                    names += [f"{entry.name}/{sub}" for sub in os.listdir(entry.path)]
            for name in names:
                with contextlib.suppress(OSError):
                    info = os.lstat(f"{base}/{name}")
                    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                        out.append(
                            Device(
                                path=f"/dev/{name}",
                                kind="char" if stat.S_ISCHR(info.st_mode) else "block",
                                major=os.major(info.st_rdev),
                                minor=os.minor(info.st_rdev),
                            )
                        )
    return sorted(out, key=lambda d: d.path)


def cgroup_limits(proc_cgroup: str, mountinfo: str) -> CgroupLimits:
    """The memory, pids and CPU limits of the cgroups in `proc_cgroup` (/proc/PID/cgroup),
    found through the cgroup mounts of `mountinfo` (v1 controllers first, then v2)."""
    v1: dict[str, str] = {}
    v2_path: str | None = None
    for line in proc_cgroup.splitlines():
        number, controllers, path = [*line.split(":", 2), "", ""][:3]
        if number == "0" and controllers == "":
            v2_path = path
        for controller in controllers.split(","):
            if controller:
                v1[controller] = path
    roots_v1: dict[str, str] = {}
    root_v2: str | None = None
    for mount in parse_mountinfo(mountinfo):
        if mount.fstype == "cgroup":
            for option in mount.super_options:
                roots_v1.setdefault(option, mount.mount_point)
        elif mount.fstype == "cgroup2" and root_v2 is None:
            root_v2 = mount.mount_point

    def v1_file(controller: str, name: str) -> str | None:
        if controller not in v1 or controller not in roots_v1:
            return None
        return _read(f"{roots_v1[controller]}{v1[controller]}/{name}").strip() or None

    def v2_file(name: str) -> str | None:
        if v2_path is None or root_v2 is None:
            return None
        return _read(f"{root_v2}{v2_path}/{name}").strip() or None

    memory = v1_file("memory", "memory.limit_in_bytes")
    pids = v1_file("pids", "pids.max")
    quota = v1_file("cpu", "cpu.cfs_quota_us")
    devices = v1_file("devices", "devices.list")
    cpu_v2 = v2_file("cpu.max")
    memory = memory or v2_file("memory.max")
    pids = pids or v2_file("pids.max")
    known = memory is not None or pids is not None
    return CgroupLimits(
        memory=_limit(memory, unlimited_above=1 << 62),
        pids=_limit(pids),
        cpu_quota=_limit(quota) if quota is not None else _limit((cpu_v2 or "max").split()[0]),
        devices_all=devices is not None and "a *:* rwm" in devices.splitlines(),
        known=known,
    )


def _limit(text: str | None, *, unlimited_above: int | None = None) -> int | None:
    if text is None or text in ("max", "-1"):
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    if value < 0 or (unlimited_above is not None and value >= unlimited_above):
        return None
    return value
