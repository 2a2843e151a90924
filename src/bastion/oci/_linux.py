"""Decoders for the `linux` object of config.json (config-linux.json, defs-linux.json).

Split from `decode.py` to keep both small. Each function turns one JSON object into its record,
checking types, required keys and integer ranges as the schema states them; meanings (known
namespace types, seccomp actions ...) are `validate.py`'s job.
"""

from __future__ import annotations

from bastion.oci._reader import (
    INT64,
    UINT16,
    UINT32,
    UINT64,
    array,
    boolean,
    integer,
    obj,
    obj_map,
    req_boolean,
    req_integer,
    req_string,
    req_strings,
    str_map,
    string,
    strings,
    sub,
)
from bastion.oci.spec import (
    Linux,
    LinuxBlockIO,
    LinuxCPU,
    LinuxDevice,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxIDMapping,
    LinuxIntelRdt,
    LinuxInterfacePriority,
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
)

# defs.json's FileMode allows 0..0o777, but runc takes any os.FileMode and Docker passes the
# permission bits of the host node, setuid/setgid/sticky included: accept what mknod(2) keeps.
_FILE_MODE = (0, 0o7777)


def id_mapping(value: object, where: str) -> LinuxIDMapping:
    d = obj(value, where)
    return LinuxIDMapping(
        container_id=req_integer(d, "containerID", where, UINT32),
        host_id=req_integer(d, "hostID", where, UINT32),
        size=req_integer(d, "size", where, UINT32),
    )


def linux(value: object, where: str) -> Linux:
    d = obj(value, where)
    return Linux(
        namespaces=array(d, "namespaces", where, _namespace),
        uid_mappings=array(d, "uidMappings", where, id_mapping),
        gid_mappings=array(d, "gidMappings", where, id_mapping),
        time_offsets=obj_map(d, "timeOffsets", where, _time_offset),
        devices=array(d, "devices", where, _device),
        cgroups_path=string(d, "cgroupsPath", where),
        resources=sub(d, "resources", where, decode_resources),
        rootfs_propagation=string(d, "rootfsPropagation", where),
        seccomp=sub(d, "seccomp", where, _seccomp),
        sysctl=str_map(d, "sysctl", where),
        masked_paths=strings(d, "maskedPaths", where),
        readonly_paths=strings(d, "readonlyPaths", where),
        mount_label=string(d, "mountLabel", where),
        intel_rdt=sub(d, "intelRdt", where, _intel_rdt),
        personality=sub(d, "personality", where, _personality),
    )


def _namespace(value: object, where: str) -> LinuxNamespace:
    d = obj(value, where)
    return LinuxNamespace(type=req_string(d, "type", where), path=string(d, "path", where))


def _time_offset(value: object, where: str) -> LinuxTimeOffset:
    d = obj(value, where)
    return LinuxTimeOffset(
        secs=integer(d, "secs", where, INT64) or 0,
        nanosecs=integer(d, "nanosecs", where, UINT32) or 0,
    )


def _device(value: object, where: str) -> LinuxDevice:
    d = obj(value, where)
    return LinuxDevice(
        path=req_string(d, "path", where),
        type=req_string(d, "type", where),
        major=integer(d, "major", where, INT64),
        minor=integer(d, "minor", where, INT64),
        file_mode=integer(d, "fileMode", where, _FILE_MODE),
        uid=integer(d, "uid", where, UINT32),
        gid=integer(d, "gid", where, UINT32),
    )


def _intel_rdt(value: object, where: str) -> LinuxIntelRdt:
    d = obj(value, where)
    return LinuxIntelRdt(
        clos_id=string(d, "closID", where),
        l3_cache_schema=string(d, "l3CacheSchema", where),
        mem_bw_schema=string(d, "memBwSchema", where),
        schemata=strings(d, "schemata", where),
        enable_monitoring=boolean(d, "enableMonitoring", where),
    )


def _personality(value: object, where: str) -> LinuxPersonality:
    d = obj(value, where)
    return LinuxPersonality(domain=string(d, "domain", where), flags=strings(d, "flags", where))


# --- seccomp -------------------------------------------------------------------------------


def _seccomp(value: object, where: str) -> LinuxSeccomp:
    d = obj(value, where)
    return LinuxSeccomp(
        default_action=req_string(d, "defaultAction", where),
        default_errno_ret=integer(d, "defaultErrnoRet", where, UINT32),
        architectures=strings(d, "architectures", where),
        flags=strings(d, "flags", where),
        listener_path=string(d, "listenerPath", where),
        listener_metadata=string(d, "listenerMetadata", where),
        syscalls=array(d, "syscalls", where, _syscall),
    )


def _syscall(value: object, where: str) -> LinuxSyscall:
    d = obj(value, where)
    return LinuxSyscall(
        names=req_strings(d, "names", where),
        action=req_string(d, "action", where),
        errno_ret=integer(d, "errnoRet", where, UINT32),
        args=array(d, "args", where, _seccomp_arg),
    )


def _seccomp_arg(value: object, where: str) -> LinuxSeccompArg:
    d = obj(value, where)
    return LinuxSeccompArg(
        index=req_integer(d, "index", where, UINT32),
        value=req_integer(d, "value", where, UINT64),
        value_two=integer(d, "valueTwo", where, UINT64) or 0,
        op=req_string(d, "op", where),
    )


# --- resources -----------------------------------------------------------------------------


def decode_resources(value: object, where: str = "resources") -> LinuxResources:
    """A parsed LinuxResources object (also what `update --resources` reads) as a record; errors
    name JSON paths under `where` ("resources.memory.limit"). Public through `oci.decode`."""
    d = obj(value, where)
    return LinuxResources(
        devices=array(d, "devices", where, _device_cgroup),
        memory=sub(d, "memory", where, _memory),
        cpu=sub(d, "cpu", where, _cpu),
        pids=sub(d, "pids", where, _pids),
        block_io=sub(d, "blockIO", where, _block_io),
        hugepage_limits=array(d, "hugepageLimits", where, _hugepage_limit),
        network=sub(d, "network", where, _network),
        rdma=obj_map(d, "rdma", where, _rdma),
        unified=str_map(d, "unified", where),
    )


def _device_cgroup(value: object, where: str) -> LinuxDeviceCgroup:
    d = obj(value, where)
    return LinuxDeviceCgroup(
        allow=req_boolean(d, "allow", where),
        type=string(d, "type", where),
        major=integer(d, "major", where, INT64),
        minor=integer(d, "minor", where, INT64),
        access=string(d, "access", where),
    )


def _memory(value: object, where: str) -> LinuxMemory:
    d = obj(value, where)
    return LinuxMemory(
        limit=integer(d, "limit", where, INT64),
        reservation=integer(d, "reservation", where, INT64),
        swap=integer(d, "swap", where, INT64),
        kernel=integer(d, "kernel", where, INT64),
        kernel_tcp=integer(d, "kernelTCP", where, INT64),
        swappiness=integer(d, "swappiness", where, UINT64),
        disable_oom_killer=boolean(d, "disableOOMKiller", where),
        use_hierarchy=boolean(d, "useHierarchy", where),
        check_before_update=boolean(d, "checkBeforeUpdate", where),
    )


def _cpu(value: object, where: str) -> LinuxCPU:
    d = obj(value, where)
    return LinuxCPU(
        shares=integer(d, "shares", where, UINT64),
        quota=integer(d, "quota", where, INT64),
        burst=integer(d, "burst", where, UINT64),
        period=integer(d, "period", where, UINT64),
        realtime_runtime=integer(d, "realtimeRuntime", where, INT64),
        realtime_period=integer(d, "realtimePeriod", where, UINT64),
        cpus=string(d, "cpus", where),
        mems=string(d, "mems", where),
        idle=integer(d, "idle", where, INT64),
    )


def _pids(value: object, where: str) -> LinuxPids:
    d = obj(value, where)
    return LinuxPids(limit=req_integer(d, "limit", where, INT64))


def _block_io(value: object, where: str) -> LinuxBlockIO:
    d = obj(value, where)
    return LinuxBlockIO(
        weight=integer(d, "weight", where, UINT16),
        leaf_weight=integer(d, "leafWeight", where, UINT16),
        weight_device=array(d, "weightDevice", where, _weight_device),
        throttle_read_bps_device=array(d, "throttleReadBpsDevice", where, _throttle),
        throttle_write_bps_device=array(d, "throttleWriteBpsDevice", where, _throttle),
        throttle_read_iops_device=array(d, "throttleReadIOPSDevice", where, _throttle),
        throttle_write_iops_device=array(d, "throttleWriteIOPSDevice", where, _throttle),
    )


def _weight_device(value: object, where: str) -> LinuxWeightDevice:
    d = obj(value, where)
    return LinuxWeightDevice(
        major=req_integer(d, "major", where, INT64),
        minor=req_integer(d, "minor", where, INT64),
        weight=integer(d, "weight", where, UINT16),
        leaf_weight=integer(d, "leafWeight", where, UINT16),
    )


def _throttle(value: object, where: str) -> LinuxThrottleDevice:
    d = obj(value, where)
    return LinuxThrottleDevice(
        major=req_integer(d, "major", where, INT64),
        minor=req_integer(d, "minor", where, INT64),
        rate=integer(d, "rate", where, UINT64) or 0,
    )


def _hugepage_limit(value: object, where: str) -> LinuxHugepageLimit:
    d = obj(value, where)
    return LinuxHugepageLimit(
        page_size=req_string(d, "pageSize", where),
        limit=req_integer(d, "limit", where, UINT64),
    )


def _network(value: object, where: str) -> LinuxNetwork:
    d = obj(value, where)
    return LinuxNetwork(
        class_id=integer(d, "classID", where, UINT32),
        priorities=array(d, "priorities", where, _priority),
    )


def _priority(value: object, where: str) -> LinuxInterfacePriority:
    d = obj(value, where)
    return LinuxInterfacePriority(
        name=req_string(d, "name", where),
        priority=req_integer(d, "priority", where, UINT32),
    )


def _rdma(value: object, where: str) -> LinuxRdma:
    d = obj(value, where)
    return LinuxRdma(
        hca_handles=integer(d, "hcaHandles", where, UINT32),
        hca_objects=integer(d, "hcaObjects", where, UINT32),
    )
