"""The errors of `bastion.runtime.cgroups`; every one is a `BastionError` (docs/conventions.md §8).

`where` is a file path for file errors and a config.json path (``linux.resources.memory.swap``)
for resources the host cannot honour, so the CLI can point at the line to change.
"""

from __future__ import annotations

import os
from errno import EBUSY, ENOENT

from bastion.errors import BastionError


class CgroupError(BastionError):
    """Root of the cgroup errors; raised as is for a cgroup that cannot be managed at all."""

    reference = "cgroup-error"


class CgroupFileError(CgroupError):
    """Raised when reading or writing one cgroup file fails; names the file, the value and errno.

    `value` is None for a failed read (reference ``cgroup-read-failed``).
    """

    reference = "cgroup-write-failed"

    def __init__(self, path: str, value: str | None, errno: int) -> None:
        self.path = path
        self.value = value
        self.errno = errno
        reason = os.strerror(errno)
        if value is None:
            message = f"cannot read: {reason}"
            reference = "cgroup-read-failed"
        else:
            message = f"cannot write {value!r}: {reason}"
            reference = self.reference
        hint = None
        if errno == ENOENT:  # the kernel lacks this knob, or the cgroup vanished
            hint = "this kernel does not offer that cgroup file, or the cgroup was removed"
        elif errno == EBUSY:  # e.g. a memory limit below current usage
            hint = "the new value conflicts with the cgroup's current usage or settings"
        super().__init__(message, where=path, hint=hint, reference=reference)


class CgroupUnsupportedError(CgroupError):
    """Raised when a resource is set that this host's cgroups cannot honour (missing controller,
    a v1-only knob on cgroup v2, device rules needing the not yet written eBPF filter)."""

    reference = "cgroup-unsupported"


class CgroupInvalidValueError(CgroupError):
    """Raised when a resource value is out of range or cannot be converted (swappiness > 100,
    swap below the memory limit, an unknown device type, an unsafe `unified` key)."""

    reference = "cgroup-invalid-value"


class CgroupPathError(CgroupError):
    """Raised when a cgroupsPath is unusable: it contains "..", names the root cgroup, or is not
    absolute where an absolute path is needed."""

    reference = "cgroup-path-invalid"


class SystemdCgroupUnsupportedError(CgroupError):
    """Raised for a systemd-style cgroupsPath ("slice:prefix:name"): only cgroupfs paths work."""

    reference = "systemd-cgroup-unsupported"


class CgroupNotMountedError(CgroupError):
    """Raised when no cgroup filesystem (v1 or v2) is mounted at the cgroup root."""

    reference = "cgroup-not-mounted"


class CgroupBusyError(CgroupError):
    """Raised when a cgroup cannot be removed because processes stay in it after SIGKILL."""

    reference = "cgroup-busy"


class CgroupFreezeError(CgroupError):
    """Raised when a cgroup does not reach the frozen state in time (it is thawed back)."""

    reference = "cgroup-freeze-failed"


class CgroupMemoryBelowUsageError(CgroupError):
    """Raised when `checkBeforeUpdate` is set and the new memory limit is below current usage."""

    reference = "cgroup-memory-below-usage"
