"""The OCI runtime configuration (config.json, Linux parts) as frozen records.

Each class mirrors one object of the runtime-spec (config.md, config-linux.md); the Go type of the
same name in opencontainers/runtime-spec `specs-go/config.go` is the model. Attributes are the
snake_case of the JSON keys (`ociVersion` → `oci_version`, `blockIO` → `block_io`, `classID` →
`class_id`).

Conventions, relied on by the runtime:
- an absent optional scalar or object is None, so "not set" and "zero" stay apart (the runtime
  must not write `memory.limit_in_bytes` at all when `limit` is absent);
- an absent list is `()` and lists are tuples;
- maps (annotations, sysctl, unified, time_offsets, rdma) are dicts, None when absent;
- the booleans the spec gives a default (`terminal`, `root.readonly`, `noNewPrivileges`) are False;
- a few values the spec marks REQUIRED but runc fills with Go's zero value when absent
  (`process.user`, `user.uid`, `user.gid`, a throttle device's `rate`, a seccomp arg's
  `valueTwo`, a time offset's `secs`/`nanosecs`) default to that zero value, as runc runs them.

JSON keys this module does not model are ignored by the decoder, as Go's encoding/json does.
"""

from __future__ import annotations

from bastion._record import record

# --- process -------------------------------------------------------------------------------


@record
class Box:
    """`process.consoleSize`: the terminal size in characters."""

    height: int
    width: int


@record
class User:
    """`process.user`. runc runs as uid/gid 0 when they are absent (Go zero values)."""

    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()
    username: str | None = None


@record
class LinuxCapabilities:
    """`process.capabilities`: the five sets, as `CAP_*` names (checked by validate)."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record
class POSIXRlimit:
    """One `process.rlimits` entry: `type` is an `RLIMIT_*` name."""

    type: str
    hard: int
    soft: int


@record
class LinuxIOPriority:
    """`process.ioPriority` (runc 1.2+): `class` is an `IOPRIO_CLASS_*` name."""

    class_: str
    priority: int | None = None


@record
class Scheduler:
    """`process.scheduler` (runc 1.2+): sched_setattr(2) parameters."""

    policy: str
    nice: int | None = None
    priority: int | None = None
    flags: tuple[str, ...] = ()
    runtime: int | None = None
    deadline: int | None = None
    period: int | None = None


@record
class CPUAffinity:
    """`process.execCPUAffinity` (runc 1.3+): CPU lists before and after exec."""

    initial: str | None = None
    final: str | None = None


_ROOT = User()


@record
class Process:
    """`process`: the container's first process (and the template for `exec`)."""

    cwd: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: Box | None = None
    # The spec marks `user` REQUIRED on Linux; runc runs an absent one as uid 0, gid 0.
    user: User = _ROOT
    capabilities: LinuxCapabilities | None = None
    rlimits: tuple[POSIXRlimit, ...] = ()
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    selinux_label: str | None = None
    scheduler: Scheduler | None = None
    io_priority: LinuxIOPriority | None = None
    exec_cpu_affinity: CPUAffinity | None = None


# --- root, mounts, hooks -------------------------------------------------------------------


@record
class Root:
    """`root`: `path` is the rootfs, absolute or relative to the bundle."""

    path: str
    readonly: bool = False


@record
class LinuxIDMapping:
    """One uid or gid mapping (`linux.uidMappings[]`, `mounts[].uidMappings[]`)."""

    container_id: int
    host_id: int
    size: int


@record
class Mount:
    """One `mounts` entry, mounted in array order (config.md "Mounts")."""

    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()
    uid_mappings: tuple[LinuxIDMapping, ...] = ()
    gid_mappings: tuple[LinuxIDMapping, ...] = ()


@record
class Hook:
    """One hook: `path` is absolute, `timeout` in seconds (≥ 1) or None for none."""

    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Hooks:
    """`hooks`, by lifecycle point (config.md "POSIX-platform Hooks")."""

    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


# --- linux: namespaces, devices, misc ------------------------------------------------------


@record
class LinuxNamespace:
    """One `linux.namespaces` entry: create `type`, or join the namespace at `path`."""

    type: str
    path: str | None = None


@record
class LinuxDevice:
    """One `linux.devices` entry: a node to create in the container's /dev."""

    path: str
    type: str
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@record
class LinuxTimeOffset:
    """One `linux.timeOffsets` value; absent parts are 0, as runc writes them."""

    secs: int = 0
    nanosecs: int = 0


@record
class LinuxPersonality:
    """`linux.personality`: `domain` is LINUX or LINUX32."""

    domain: str | None = None
    flags: tuple[str, ...] = ()


@record
class LinuxIntelRdt:
    """`linux.intelRdt` (resctrl); kept so the runtime can refuse it when unsupported."""

    clos_id: str | None = None
    l3_cache_schema: str | None = None
    mem_bw_schema: str | None = None
    schemata: tuple[str, ...] = ()
    enable_monitoring: bool | None = None


# --- linux.seccomp -------------------------------------------------------------------------


@record
class LinuxSeccompArg:
    """One syscall argument condition; `value_two` is 0 when absent (used by MASKED_EQ)."""

    index: int
    value: int
    op: str
    value_two: int = 0


@record
class LinuxSyscall:
    """One `linux.seccomp.syscalls` rule."""

    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[LinuxSeccompArg, ...] = ()


@record
class LinuxSeccomp:
    """`linux.seccomp`."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: tuple[LinuxSyscall, ...] = ()


# --- linux.resources -----------------------------------------------------------------------


@record
class LinuxDeviceCgroup:
    """One device cgroup rule; `type` a/c/b and `access` from "rwm", None meaning all."""

    allow: bool
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None


@record
class LinuxMemory:
    """`linux.resources.memory`; -1 means unlimited for the int64 limits."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


@record
class LinuxCPU:
    """`linux.resources.cpu`."""

    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


@record
class LinuxPids:
    """`linux.resources.pids`; a limit ≤ 0 means unlimited (runc)."""

    limit: int


@record
class LinuxWeightDevice:
    """One `blockIO.weightDevice` entry."""

    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None


@record
class LinuxThrottleDevice:
    """One `blockIO.throttle*Device` entry; `rate` in bytes or IO/s, 0 when absent."""

    major: int
    minor: int
    rate: int = 0


@record
class LinuxBlockIO:
    """`linux.resources.blockIO`."""

    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[LinuxWeightDevice, ...] = ()
    throttle_read_bps_device: tuple[LinuxThrottleDevice, ...] = ()
    throttle_write_bps_device: tuple[LinuxThrottleDevice, ...] = ()
    throttle_read_iops_device: tuple[LinuxThrottleDevice, ...] = ()
    throttle_write_iops_device: tuple[LinuxThrottleDevice, ...] = ()


@record
class LinuxHugepageLimit:
    """One `hugepageLimits` entry: `page_size` such as "2MB", `limit` in bytes."""

    page_size: str
    limit: int


@record
class LinuxInterfacePriority:
    """One `network.priorities` entry (net_prio)."""

    name: str
    priority: int


@record
class LinuxNetwork:
    """`linux.resources.network` (net_cls, net_prio)."""

    class_id: int | None = None
    priorities: tuple[LinuxInterfacePriority, ...] = ()


@record
class LinuxRdma:
    """One `linux.resources.rdma` value (keyed by device name)."""

    hca_handles: int | None = None
    hca_objects: int | None = None


@record
class LinuxResources:
    """`linux.resources`: cgroup limits."""

    devices: tuple[LinuxDeviceCgroup, ...] = ()
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    pids: LinuxPids | None = None
    block_io: LinuxBlockIO | None = None
    hugepage_limits: tuple[LinuxHugepageLimit, ...] = ()
    network: LinuxNetwork | None = None
    rdma: dict[str, LinuxRdma] | None = None
    unified: dict[str, str] | None = None


# --- linux, spec ---------------------------------------------------------------------------


@record
class Linux:
    """`linux`: everything Linux-specific."""

    namespaces: tuple[LinuxNamespace, ...] = ()
    uid_mappings: tuple[LinuxIDMapping, ...] = ()
    gid_mappings: tuple[LinuxIDMapping, ...] = ()
    time_offsets: dict[str, LinuxTimeOffset] | None = None
    devices: tuple[LinuxDevice, ...] = ()
    cgroups_path: str | None = None
    resources: LinuxResources | None = None
    rootfs_propagation: str | None = None
    seccomp: LinuxSeccomp | None = None
    sysctl: dict[str, str] | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    mount_label: str | None = None
    intel_rdt: LinuxIntelRdt | None = None
    personality: LinuxPersonality | None = None


@record
class Spec:
    """The whole config.json."""

    oci_version: str
    process: Process | None = None
    root: Root | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None
