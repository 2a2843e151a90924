"""The OCI runtime spec as data: config.json records, decoder, validator, state document.

- `spec`: frozen records mirroring config.json (`Spec`, `Process`, `Linux`, ...);
- `decode`: `decode_spec(text)` / `load_spec(bundle)`, JSON → `Spec`, errors naming JSON paths;
- `validate`: `validate_spec(spec)`, the semantic checks run before any side effect;
- `vocabulary`: capability, rlimit, namespace, mount-option and seccomp names → kernel numbers;
- `state`: the OCI state document (`State`, `Status`);
- `defaults`: `default_spec()`, the config.json `bastion-runc spec` writes.

No behaviour lives here. This package is on bastion-runc's start-up path, so it imports only
`bastion.errors`, `bastion._record` and `bastion.jsonio`, never `typing`, `json`, `re`, `enum` or
`dataclasses` at run time (docs/CONTRIBUTING-FAST-PATH.md), and nothing from `bastion.runtime`,
`bastion.sensor` or `bastion.cli` (CONVENTIONS.md §13 layers).
"""

from __future__ import annotations

from bastion.oci._reader import SpecError, SpecNotFound
from bastion.oci.decode import decode_spec, load_spec
from bastion.oci.defaults import default_spec
from bastion.oci.spec import (
    Box,
    CPUAffinity,
    Hook,
    Hooks,
    Linux,
    LinuxBlockIO,
    LinuxCapabilities,
    LinuxCPU,
    LinuxDevice,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxIDMapping,
    LinuxIntelRdt,
    LinuxInterfacePriority,
    LinuxIOPriority,
    LinuxMemory,
    LinuxNamespace,
    LinuxNetwork,
    LinuxPersonality,
    LinuxPids,
    LinuxRdma,
    LinuxResources,
    LinuxSeccomp,
    LinuxSeccompArg,
    LinuxSyscall,
    LinuxThrottleDevice,
    LinuxTimeOffset,
    LinuxWeightDevice,
    Mount,
    POSIXRlimit,
    Process,
    Root,
    Scheduler,
    Spec,
    User,
)
from bastion.oci.state import STATUSES, State, Status
from bastion.oci.validate import validate_spec

__all__ = [
    "STATUSES",
    "Box",
    "CPUAffinity",
    "Hook",
    "Hooks",
    "Linux",
    "LinuxBlockIO",
    "LinuxCPU",
    "LinuxCapabilities",
    "LinuxDevice",
    "LinuxDeviceCgroup",
    "LinuxHugepageLimit",
    "LinuxIDMapping",
    "LinuxIOPriority",
    "LinuxIntelRdt",
    "LinuxInterfacePriority",
    "LinuxMemory",
    "LinuxNamespace",
    "LinuxNetwork",
    "LinuxPersonality",
    "LinuxPids",
    "LinuxRdma",
    "LinuxResources",
    "LinuxSeccomp",
    "LinuxSeccompArg",
    "LinuxSyscall",
    "LinuxThrottleDevice",
    "LinuxTimeOffset",
    "LinuxWeightDevice",
    "Mount",
    "POSIXRlimit",
    "Process",
    "Root",
    "Scheduler",
    "Spec",
    "SpecError",
    "SpecNotFound",
    "State",
    "Status",
    "User",
    "decode_spec",
    "default_spec",
    "load_spec",
    "validate_spec",
]
