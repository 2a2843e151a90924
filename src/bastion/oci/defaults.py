"""The config.json that `bastion-runc spec` writes: runc's `spec` template (specconv/example.go).

Differences from runc 1.1's template, each deliberate:
- ociVersion "1.1.0" (runc 1.1 writes "1.0.2-dev"), hostname "bastion";
- no ambient capabilities: runc 1.1 lists the three in `ambient` but none in `inheritable`, and
  the kernel refuses to raise an ambient capability that is not inheritable (capabilities(7)),
  so the set did nothing; runc's current template dropped it too;
- a cgroup namespace always: runc adds it on cgroup v2 hosts only, but it hides the host's cgroup
  paths from /proc/self/cgroup on v1 as well, and keeps the document the same on every host.
The rootless variant follows runc's `ToRootless`: a user namespace mapping root in the container to
the calling user, no network namespace, /sys bind-mounted, no devpts gid=5, no cgroup limits.
"""

from __future__ import annotations

import os

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

# Kernel files a container must not read (maskedPaths) or write (readonlyPaths), runc 1.1's list.
MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def default_spec(*, rootless: bool = False) -> dict[str, object]:
    """A fresh config.json document (a new dict each call: callers may change it)."""
    devpts_options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        # gid 5 is "tty" in most images; an unprivileged user namespace usually has no gid 5.
        devpts_options.append("gid=5")
    if rootless:
        # sysfs can only be mounted by the owner of the network namespace, which a rootless
        # container shares with the host: bind the host's /sys read-only instead (runc).
        sysfs: dict[str, object] = {
            "destination": "/sys",
            "type": "none",
            "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
        }
    else:
        sysfs = {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        }
    mounts: list[dict[str, object]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": devpts_options,
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        sysfs,
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]
    namespaces = ["pid", "ipc", "uts", "mount", "cgroup"]
    if rootless:
        namespaces.append("user")
    else:
        namespaces.insert(1, "network")
    linux: dict[str, object] = {}
    if rootless:
        # Map container root to the calling user only: an unprivileged user may write a
        # one-line map of its own ids (user_namespaces(7)); more needs newuidmap(1).
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    else:
        # Deny every device, then the runtime allows its default set (runc's AllowedDevices).
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    linux["namespaces"] = [{"type": kind} for kind in namespaces]
    linux["maskedPaths"] = list(MASKED_PATHS)
    linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": list(_CAPS),
                "effective": list(_CAPS),
                "permitted": list(_CAPS),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bastion",
        "mounts": mounts,
        "linux": linux,
    }
