"""The OCI runtime spec as data: config.json records, decoder, validator, state document.

- `spec`: frozen records mirroring config.json (`Spec`, `Process`, `Linux`, ...);
- `decode`: `decode_spec(text)` / `load_spec(bundle)`, JSON → `Spec`, errors naming JSON paths;
  `read_config(bundle)` (the one reader of a bundle's config.json), `parse_json`,
  `decode_process`, `decode_resources` for the documents `exec` and `update` read;
- `validate`: `validate_spec(spec)`, the semantic checks run before any side effect;
- `vocabulary`: capability, rlimit, namespace, mount-option and seccomp names → kernel numbers;
- `state`: the OCI state document (`State`, `Status`);
- `defaults`: `default_spec()`, the config.json `bastion-runc spec` writes.

No behaviour lives here. This package is on bastion-runc's start-up path, so it imports only
`bastion.errors`, `bastion._record` and `bastion.jsonio`, never `typing`, `json`, `re`, `enum` or
`dataclasses` at run time (docs/architecture.md, "The fast path"), and nothing from
`bastion.runtime`, `bastion.sensor` or `bastion.cli` (docs/conventions.md §13 layers).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.decode import (
        SpecError,
        SpecNotFound,
        decode_process,
        decode_resources,
        decode_spec,
        load_spec,
        parse_json,
        read_config,
    )
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

# Re-exports resolve on first use (PEP 562): importing `bastion.oci.decode` must not pay for
# `defaults`, `state` and `validate` on bastion-runc's start-up path.
_LAZY: dict[str, str] = {
    "Box": "bastion.oci.spec",
    "CPUAffinity": "bastion.oci.spec",
    "Hook": "bastion.oci.spec",
    "Hooks": "bastion.oci.spec",
    "Linux": "bastion.oci.spec",
    "LinuxBlockIO": "bastion.oci.spec",
    "LinuxCPU": "bastion.oci.spec",
    "LinuxCapabilities": "bastion.oci.spec",
    "LinuxDevice": "bastion.oci.spec",
    "LinuxDeviceCgroup": "bastion.oci.spec",
    "LinuxHugepageLimit": "bastion.oci.spec",
    "LinuxIDMapping": "bastion.oci.spec",
    "LinuxIOPriority": "bastion.oci.spec",
    "LinuxIntelRdt": "bastion.oci.spec",
    "LinuxInterfacePriority": "bastion.oci.spec",
    "LinuxMemory": "bastion.oci.spec",
    "LinuxNamespace": "bastion.oci.spec",
    "LinuxNetwork": "bastion.oci.spec",
    "LinuxPersonality": "bastion.oci.spec",
    "LinuxPids": "bastion.oci.spec",
    "LinuxRdma": "bastion.oci.spec",
    "LinuxResources": "bastion.oci.spec",
    "LinuxSeccomp": "bastion.oci.spec",
    "LinuxSeccompArg": "bastion.oci.spec",
    "LinuxSyscall": "bastion.oci.spec",
    "LinuxThrottleDevice": "bastion.oci.spec",
    "LinuxTimeOffset": "bastion.oci.spec",
    "LinuxWeightDevice": "bastion.oci.spec",
    "Mount": "bastion.oci.spec",
    "POSIXRlimit": "bastion.oci.spec",
    "Process": "bastion.oci.spec",
    "Root": "bastion.oci.spec",
    "STATUSES": "bastion.oci.state",
    "Scheduler": "bastion.oci.spec",
    "Spec": "bastion.oci.spec",
    "SpecError": "bastion.oci.decode",
    "SpecNotFound": "bastion.oci.decode",
    "State": "bastion.oci.state",
    "Status": "bastion.oci.state",
    "User": "bastion.oci.spec",
    "decode_process": "bastion.oci.decode",
    "decode_resources": "bastion.oci.decode",
    "decode_spec": "bastion.oci.decode",
    "default_spec": "bastion.oci.defaults",
    "load_spec": "bastion.oci.decode",
    "parse_json": "bastion.oci.decode",
    "read_config": "bastion.oci.decode",
    "validate_spec": "bastion.oci.validate",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bastion.oci' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value


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
    "decode_process",
    "decode_resources",
    "decode_spec",
    "default_spec",
    "load_spec",
    "parse_json",
    "read_config",
    "validate_spec",
]
