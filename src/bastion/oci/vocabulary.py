"""The names config.json may use, and the kernel numbers they stand for.

Shared by `validate` (is this name known?) and the runtime (which number do I pass?). The numbers
are Linux's, from the uapi headers (linux/capability.h, asm-generic/resource.h, linux/sched.h,
linux/mount.h, linux/seccomp.h) for x86_64, and the option tables are runc's
(libcontainer/specconv/spec_linux.go), so a config means here what it means to runc.
"""

from __future__ import annotations

# --- capabilities (linux/capability.h) -----------------------------------------------------

CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# --- rlimits (asm-generic/resource.h, which x86_64 uses) -----------------------------------

RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

# --- namespaces (linux/sched.h) ------------------------------------------------------------

# The one definition of these flags: `_sys.ns` takes them as arguments, the runtime reads them
# from here (or from NAMESPACES by OCI name).
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# OCI namespace type → clone/unshare/setns flag.
NAMESPACES: dict[str, int] = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}

# OCI namespace type → file name under /proc/<pid>/ns/.
NAMESPACE_PROC_NAMES: dict[str, str] = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}

# --- mount flags (linux/mount.h) -----------------------------------------------------------

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 0x10000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_I_VERSION = 0x800000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

# Mount option → (flags to set, flags to clear), runc's `mountFlags` table. "rw" clears
# MS_RDONLY, "suid" clears MS_NOSUID, and so on; an option not in this table nor in
# PROPAGATION_OPTIONS / RECURSIVE_MOUNT_ATTRS is file-system data ("mode=755", "size=64k"),
# joined with commas into mount(2)'s data argument.
MOUNT_OPTIONS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "suid": (0, MS_NOSUID),
    "nosuid": (MS_NOSUID, 0),
    "dev": (0, MS_NODEV),
    "nodev": (MS_NODEV, 0),
    "exec": (0, MS_NOEXEC),
    "noexec": (MS_NOEXEC, 0),
    "sync": (MS_SYNCHRONOUS, 0),
    "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0),
    "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0),
    "nomand": (0, MS_MANDLOCK),
    "atime": (0, MS_NOATIME),
    "noatime": (MS_NOATIME, 0),
    "diratime": (0, MS_NODIRATIME),
    "nodiratime": (MS_NODIRATIME, 0),
    "relatime": (MS_RELATIME, 0),
    "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0),
    "nostrictatime": (0, MS_STRICTATIME),
    "bind": (MS_BIND, 0),
    "rbind": (MS_BIND | MS_REC, 0),
    "lazytime": (MS_LAZYTIME, 0),
    "nolazytime": (0, MS_LAZYTIME),
    "acl": (MS_POSIXACL, 0),
    "noacl": (0, MS_POSIXACL),
    "iversion": (MS_I_VERSION, 0),
    "noiversion": (0, MS_I_VERSION),
    "silent": (MS_SILENT, 0),
    "loud": (0, MS_SILENT),
    "nosymfollow": (MS_NOSYMFOLLOW, 0),  # Linux 5.10+
}

# Propagation option → the flags of the separate mount(2) call that changes propagation
# (runc `mountPropagationMapping`; also the values of linux.rootfsPropagation).
PROPAGATION_OPTIONS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# mount_setattr(2) attributes (linux/mount.h), for runc's recursive options ("rro", ...).
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# Recursive option → (attr_set, attr_clr) for mount_setattr(AT_RECURSIVE), runc's
# `recAttrFlags`. Setting an atime mode must also clear MOUNT_ATTR__ATIME (mount_setattr(2):
# "cannot simply specify the access-time setting in attr_set"), as runc does.
RECURSIVE_MOUNT_ATTRS: dict[str, tuple[int, int]] = {
    "rro": (MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0),
    "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnorelatime": (0, MOUNT_ATTR_RELATIME),
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
    "ratime": (0, MOUNT_ATTR_NOATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),  # Linux 5.14+
    "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}

# --- seccomp (linux/seccomp.h, libseccomp's seccomp.h) -------------------------------------

# Action → SECCOMP_RET_* value; ERRNO and TRACE take their data (errno) in the low 16 bits.
# SCMP_ACT_KILL is libseccomp's old name for KILL_THREAD.
SECCOMP_ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
# The actions that return data, and the largest `errnoRet` each can carry: TRACE's message is the
# 16-bit SECCOMP_RET_DATA field; an errno must stay below the kernel's MAX_ERRNO (4095), or
# libseccomp refuses the action (EINVAL). Absent, both return EPERM (runc).
SECCOMP_ERRNO_MAX: dict[str, int] = {"SCMP_ACT_ERRNO": 4094, "SCMP_ACT_TRACE": 0xFFFF}

# Operator → libseccomp's `enum scmp_compare`.
SECCOMP_OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# Flag → seccomp(2) SECCOMP_FILTER_FLAG_* value (the ones runtime-spec lists).
SECCOMP_FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 0x1,
    "SECCOMP_FILTER_FLAG_LOG": 0x2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 0x4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 0x20,
}

# defs-linux.json SeccompArch.
SECCOMP_ARCHITECTURES: frozenset[str] = frozenset(
    {
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
    }
)

# --- small vocabularies --------------------------------------------------------------------

# linux.devices[].type: character, block, unbuffered character, FIFO (config-linux.md "Devices").
DEVICE_TYPES: frozenset[str] = frozenset({"c", "b", "u", "p"})
# linux.resources.devices[].type: all, character, block (config-linux.md "Device allowlist").
DEVICE_CGROUP_TYPES: frozenset[str] = frozenset({"a", "c", "b"})
PERSONALITY_DOMAINS: frozenset[str] = frozenset({"LINUX", "LINUX32"})
# linux.timeOffsets keys: the clocks a time namespace can offset (time_namespaces(7)).
TIME_OFFSET_CLOCKS: frozenset[str] = frozenset({"monotonic", "boottime"})

# process.ioPriority.class → IOPRIO_CLASS_* (linux/ioprio.h).
IOPRIO_CLASSES: dict[str, int] = {
    "IOPRIO_CLASS_RT": 1,
    "IOPRIO_CLASS_BE": 2,
    "IOPRIO_CLASS_IDLE": 3,
}

# process.scheduler.policy → SCHED_* (linux/sched.h); SCHED_ISO is reserved, unimplemented.
SCHED_POLICIES: dict[str, int] = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}

# process.scheduler.flags → SCHED_FLAG_* (linux/sched.h).
SCHED_FLAGS: dict[str, int] = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
