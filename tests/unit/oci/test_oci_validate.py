"""validate_spec: each semantic rule, asserted by reference and JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bastion import jsonio
from bastion.oci import SpecError, decode_spec, default_spec, validate_spec
from bastion.oci.spec import Spec

BASE: dict[str, Any] = default_spec()


def _with(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of `doc` with the value at dotted `path` set (an index one past a list's end
    appends); the value `...` deletes."""
    result = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    elif isinstance(node, list) and key == len(node):
        node.append(value)
    else:
        node[key] = value
    return result


def _spec(doc: dict[str, Any]) -> Spec:
    return decode_spec(jsonio.dumps(doc))


def _error(doc: dict[str, Any], *, require_process: bool = True) -> SpecError:
    spec = _spec(doc)
    with pytest.raises(SpecError) as info:
        validate_spec(spec, require_process=require_process)
    return info.value


def _ns(*kinds: str) -> list[dict[str, str]]:
    return [{"type": kind} for kind in kinds]


USERNS = _with(
    _with(_with(BASE, "linux.namespaces", _ns("pid", "mount", "uts", "ipc", "user")),
          "linux.uidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}]),
    "linux.gidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}],
)  # fmt: skip


@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_is_valid(rootless: bool) -> None:
    validate_spec(_spec(default_spec(rootless=rootless)), require_process=True)


def test_process_is_optional_unless_required() -> None:
    spec = _spec(_with(BASE, "process", ...))
    validate_spec(spec)
    with pytest.raises(SpecError) as info:
        validate_spec(spec, require_process=True)
    assert (info.value.reference, info.value.where) == ("spec-missing-field", "process")


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(USERNS, id="user-namespace-with-mappings"),
        pytest.param(
            _with(USERNS, "linux.namespaces.4", {"type": "user", "path": "/proc/1/ns/user"}),
            id="joined-user-namespace-needs-no-mappings",
        ),
        pytest.param(_with(BASE, "linux.sysctl", {"net.ipv4.ip_forward": "1"}), id="net-sysctl"),
        pytest.param(
            _with(BASE, "linux.sysctl", {"kernel.shmmax": "1", "fs.mqueue.msg_max": "10"}),
            id="ipc-sysctls",
        ),
        pytest.param(_with(BASE, "linux.sysctl", {"net/ipv4/ip_forward": "1"}), id="slash-sysctl"),
        pytest.param(_with(BASE, "linux.rootfsPropagation", "rprivate"), id="rprivate"),
        pytest.param(_with(BASE, "linux.resources.memory", {"limit": -1, "swap": -1}), id="mem-1"),
        pytest.param(
            _with(
                _with(BASE, "linux.namespaces.5", {"type": "time"}),
                "linux.timeOffsets",
                {"monotonic": {"secs": 10}, "boottime": {"nanosecs": 999999999}},
            ),
            id="time-offsets",
        ),
        pytest.param(_with(BASE, "ociVersion", "1.0.2-dev"), id="runc-1.1-version"),
        pytest.param(
            _with(BASE, "linux.devices", [{"path": "/dev/fifo", "type": "p"}]), id="fifo-device"
        ),
    ],
)
def test_valid_variants(doc: dict[str, Any]) -> None:
    validate_spec(_spec(doc), require_process=True)


@pytest.mark.parametrize(
    ("doc", "reference", "where"),
    [
        pytest.param(
            _with(BASE, "ociVersion", ""), "spec-missing-field", "ociVersion", id="v-empty"
        ),
        pytest.param(
            _with(BASE, "ociVersion", "2.0.0"), "spec-invalid-value", "ociVersion", id="v2"
        ),
        pytest.param(_with(BASE, "ociVersion", "1"), "spec-invalid-value", "ociVersion", id="v1"),
        pytest.param(_with(BASE, "root", ...), "spec-missing-field", "root", id="no-root"),
        pytest.param(
            _with(BASE, "root.path", ""), "spec-invalid-value", "root.path", id="root-empty"
        ),
        pytest.param(
            _with(BASE, "process.args", []), "spec-missing-field", "process.args", id="args"
        ),
        pytest.param(
            _with(BASE, "process.args", ...), "spec-missing-field", "process.args", id="no-args"
        ),
        pytest.param(
            _with(BASE, "process.cwd", "tmp"), "spec-invalid-value", "process.cwd", id="cwd"
        ),
        pytest.param(
            _with(BASE, "process.env.1", "TERM"), "spec-invalid-value", "process.env[1]", id="env"
        ),
        pytest.param(
            _with(BASE, "process.env.0", "=x"),
            "spec-invalid-value",
            "process.env[0]",
            id="env-name",
        ),
        pytest.param(
            _with(BASE, "process.capabilities.effective.2", "NET_ADMIN"),
            "spec-invalid-value",
            "process.capabilities.effective[2]",
            id="cap-effective",
        ),
        pytest.param(
            _with(BASE, "process.capabilities.ambient", ["CAP_FOO"]),
            "spec-invalid-value",
            "process.capabilities.ambient[0]",
            id="cap-ambient",
        ),
        pytest.param(
            _with(BASE, "process.capabilities.inheritable", ["CAP_KILL", "cap_kill"]),
            "spec-invalid-value",
            "process.capabilities.inheritable[1]",
            id="cap-inheritable",
        ),
        pytest.param(
            _with(BASE, "process.rlimits.0.type", "RLIMIT_FILES"),
            "spec-invalid-value",
            "process.rlimits[0].type",
            id="rlimit-type",
        ),
        pytest.param(
            _with(BASE, "process.rlimits.0.soft", 2048),
            "spec-invalid-value",
            "process.rlimits[0].soft",
            id="rlimit-soft-above-hard",
        ),
        pytest.param(
            _with(BASE, "process.rlimits.1", {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}),
            "spec-invalid-value",
            "process.rlimits[1].type",
            id="rlimit-duplicate",
        ),
        pytest.param(
            _with(BASE, "process.oomScoreAdj", 1001),
            "spec-invalid-value",
            "process.oomScoreAdj",
            id="oom-score-adj",
        ),
        pytest.param(
            _with(BASE, "process.ioPriority", {"class": "IOPRIO_CLASS_NONE"}),
            "spec-invalid-value",
            "process.ioPriority.class",
            id="ioprio-class",
        ),
        pytest.param(
            _with(BASE, "process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "spec-invalid-value",
            "process.ioPriority.priority",
            id="ioprio-level",
        ),
        pytest.param(
            _with(BASE, "process.scheduler", {"policy": "SCHED_FAST"}),
            "spec-invalid-value",
            "process.scheduler.policy",
            id="sched-policy",
        ),
        pytest.param(
            _with(BASE, "process.scheduler", {"policy": "SCHED_OTHER", "flags": ["X"]}),
            "spec-invalid-value",
            "process.scheduler.flags[0]",
            id="sched-flag",
        ),
        pytest.param(
            _with(BASE, "process.scheduler", {"policy": "SCHED_OTHER", "nice": 20}),
            "spec-invalid-value",
            "process.scheduler.nice",
            id="sched-nice",
        ),
        pytest.param(
            _with(BASE, "linux.namespaces.2.type", "net"),
            "spec-invalid-value",
            "linux.namespaces[2].type",
            id="ns-unknown",
        ),
        pytest.param(
            _with(BASE, "linux.namespaces.5", {"type": "pid"}),
            "spec-invalid-value",
            "linux.namespaces[5].type",
            id="ns-duplicate",
        ),
        pytest.param(
            _with(BASE, "linux.namespaces.1.path", "proc/1/ns/net"),
            "spec-invalid-value",
            "linux.namespaces[1].path",
            id="ns-path-relative",
        ),
        pytest.param(
            _with(BASE, "linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]),
            "spec-invalid-value",
            "linux.uidMappings",
            id="mappings-without-userns",
        ),
        pytest.param(
            _with(BASE, "linux.gidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]),
            "spec-invalid-value",
            "linux.gidMappings",
            id="gid-mappings-without-userns",
        ),
        pytest.param(
            _with(USERNS, "linux.uidMappings", ...),
            "spec-missing-field",
            "linux.uidMappings",
            id="userns-without-uid-mappings",
        ),
        pytest.param(
            _with(USERNS, "linux.gidMappings", []),
            "spec-missing-field",
            "linux.gidMappings",
            id="userns-without-gid-mappings",
        ),
        pytest.param(
            _with(USERNS, "linux.uidMappings.0.size", 0),
            "spec-invalid-value",
            "linux.uidMappings[0].size",
            id="mapping-size-zero",
        ),
        pytest.param(
            _with(USERNS, "linux.gidMappings.0.hostID", 2**32 - 10),
            "spec-invalid-value",
            "linux.gidMappings[0].hostID",
            id="mapping-overflows",
        ),
        pytest.param(
            _with(BASE, "mounts.2.destination", "dev/pts"),
            "spec-invalid-value",
            "mounts[2].destination",
            id="mount-relative",
        ),
        pytest.param(
            _with(BASE, "mounts.0.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
            "spec-missing-field",
            "mounts[0].gidMappings",
            id="idmapped-mount-half",
        ),
        pytest.param(
            _with(
                _with(BASE, "mounts.0.uidMappings", [{"containerID": 0, "hostID": 1, "size": 0}]),
                "mounts.0.gidMappings",
                [{"containerID": 0, "hostID": 1, "size": 1}],
            ),
            "spec-invalid-value",
            "mounts[0].uidMappings[0].size",
            id="idmapped-mount-size",
        ),
        pytest.param(
            _with(BASE, "linux.devices", [{"path": "/dev/x", "type": "x", "major": 1, "minor": 1}]),
            "spec-invalid-value",
            "linux.devices[0].type",
            id="device-type",
        ),
        pytest.param(
            _with(BASE, "linux.devices", [{"path": "dev/x", "type": "c", "major": 1, "minor": 1}]),
            "spec-invalid-value",
            "linux.devices[0].path",
            id="device-path",
        ),
        pytest.param(
            _with(BASE, "linux.devices", [{"path": "/dev/x", "type": "b", "major": 1}]),
            "spec-missing-field",
            "linux.devices[0].minor",
            id="device-no-minor",
        ),
        pytest.param(
            _with(BASE, "linux.rootfsPropagation", "rshare"),
            "spec-invalid-value",
            "linux.rootfsPropagation",
            id="propagation",
        ),
        pytest.param(
            _with(BASE, "linux.namespaces", _ns("pid", "mount")),
            "spec-invalid-value",
            "hostname",
            id="hostname-without-uts",
        ),
        pytest.param(
            _with(_with(BASE, "hostname", ...), "domainname", "x.org")
            | {"linux": {**BASE["linux"], "namespaces": _ns("pid", "mount")}},
            "spec-invalid-value",
            "domainname",
            id="domainname-without-uts",
        ),
        pytest.param(
            _with(
                _with(BASE, "linux.namespaces", _ns("pid", "mount", "uts", "ipc")),
                "linux.sysctl",
                {"net.ipv4.ip_forward": "1"},
            ),
            "spec-invalid-value",
            'linux.sysctl["net.ipv4.ip_forward"]',
            id="net-sysctl-without-netns",
        ),
        pytest.param(
            _with(
                _with(BASE, "linux.namespaces", _ns("pid", "mount", "uts", "network")),
                "linux.sysctl",
                {"kernel.sem": "1 2 3 4"},
            ),
            "spec-invalid-value",
            'linux.sysctl["kernel.sem"]',
            id="ipc-sysctl-without-ipcns",
        ),
        pytest.param(
            _with(
                _with(BASE, "linux.namespaces", _ns("pid", "mount", "uts", "network")),
                "linux.sysctl",
                {"fs.mqueue.msg_max": "10"},
            ),
            "spec-invalid-value",
            'linux.sysctl["fs.mqueue.msg_max"]',
            id="mqueue-sysctl-without-ipcns",
        ),
        pytest.param(
            _with(BASE, "linux.sysctl", {"vm.swappiness": "10"}),
            "spec-invalid-value",
            'linux.sysctl["vm.swappiness"]',
            id="host-sysctl",
        ),
        pytest.param(
            _with(BASE, "linux.sysctl", {"kernel.hostname": "x"}),
            "spec-invalid-value",
            'linux.sysctl["kernel.hostname"]',
            id="hostname-sysctl",
        ),
        pytest.param(
            _with(BASE, "linux.sysctl", {"net/../../etc/passwd": "x"}),
            "spec-invalid-value",
            'linux.sysctl["net/../../etc/passwd"]',
            id="sysctl-traversal",
        ),
        pytest.param(
            _with(BASE, "linux.timeOffsets", {"monotonic": {"secs": 1}}),
            "spec-invalid-value",
            "linux.timeOffsets",
            id="time-offsets-without-timens",
        ),
        pytest.param(
            _with(
                _with(BASE, "linux.namespaces.5", {"type": "time"}),
                "linux.timeOffsets",
                {"realtime": {"secs": 1}},
            ),
            "spec-invalid-value",
            'linux.timeOffsets["realtime"]',
            id="time-offset-clock",
        ),
        pytest.param(
            _with(
                _with(BASE, "linux.namespaces.5", {"type": "time"}),
                "linux.timeOffsets",
                {"boottime": {"nanosecs": 1_000_000_000}},
            ),
            "spec-invalid-value",
            'linux.timeOffsets["boottime"].nanosecs',
            id="time-offset-nanosecs",
        ),
        pytest.param(
            _with(BASE, "linux.seccomp", {"defaultAction": "SCMP_ACT_DENY"}),
            "spec-invalid-value",
            "linux.seccomp.defaultAction",
            id="seccomp-default-action",
        ),
        pytest.param(
            _with(BASE, "linux.seccomp", {"defaultAction": "SCMP_ACT_NOTIFY"}),
            "spec-invalid-value",
            "linux.seccomp.defaultAction",
            id="seccomp-default-notify",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
            ),
            "spec-invalid-value",
            "linux.seccomp.architectures[0]",
            id="seccomp-arch",
        ),
        pytest.param(
            _with(BASE, "linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["X"]}),
            "spec-invalid-value",
            "linux.seccomp.flags[0]",
            id="seccomp-flag",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {"names": ["read"], "action": "SCMP_ACT_LOG"},
                        {"names": ["kill"], "action": "SCMP_ACT_KILL_ALL"},
                    ],
                },
            ),
            "spec-invalid-value",
            "linux.seccomp.syscalls[1].action",
            id="seccomp-action",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}],
                },
            ),
            "spec-missing-field",
            "linux.seccomp.syscalls[0].names",
            id="seccomp-no-names",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {
                            "names": ["personality"],
                            "action": "SCMP_ACT_ERRNO",
                            "args": [
                                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                {"index": 0, "value": 1, "op": "SCMP_CMP_MATCHES"},
                            ],
                        }
                    ],
                },
            ),
            "spec-invalid-value",
            "linux.seccomp.syscalls[0].args[1].op",
            id="seccomp-op",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {
                            "names": ["personality"],
                            "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                        }
                    ],
                },
            ),
            "spec-invalid-value",
            "linux.seccomp.syscalls[0].args[0].index",
            id="seccomp-arg-index",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
                },
            ),
            "spec-missing-field",
            "linux.seccomp.listenerPath",
            id="seccomp-notify-no-listener",
        ),
        pytest.param(
            _with(
                BASE,
                "linux.seccomp",
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "listenerPath": "/run/l.sock",
                    "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}],
                },
            ),
            "spec-invalid-value",
            "linux.seccomp.syscalls[0].names[0]",
            id="seccomp-notify-write",
        ),
        pytest.param(
            _with(BASE, "linux.personality", {"domain": "LINUX64"}),
            "spec-invalid-value",
            "linux.personality.domain",
            id="personality",
        ),
        pytest.param(
            _with(BASE, "linux.resources.devices.0.access", "rwx"),
            "spec-invalid-value",
            "linux.resources.devices[0].access",
            id="device-rule-access",
        ),
        pytest.param(
            _with(BASE, "linux.resources.devices.0.type", "p"),
            "spec-invalid-value",
            "linux.resources.devices[0].type",
            id="device-rule-type",
        ),
        pytest.param(
            _with(BASE, "linux.resources.memory", {"swappiness": 101}),
            "spec-invalid-value",
            "linux.resources.memory.swappiness",
            id="swappiness",
        ),
        pytest.param(
            _with(BASE, "linux.resources.memory", {"limit": 2000, "swap": 1000}),
            "spec-invalid-value",
            "linux.resources.memory.swap",
            id="swap-below-limit",
        ),
        pytest.param(
            _with(BASE, "linux.resources.hugepageLimits", [{"pageSize": "2mb", "limit": 1}]),
            "spec-invalid-value",
            "linux.resources.hugepageLimits[0].pageSize",
            id="hugepage-size",
        ),
        pytest.param(
            _with(BASE, "linux.resources.unified", {"../memory.max": "1"}),
            "spec-invalid-value",
            'linux.resources.unified["../memory.max"]',
            id="unified-traversal",
        ),
        pytest.param(
            _with(BASE, "hooks", {"poststop": [{"path": "/bin/x"}, {"path": "x"}]}),
            "spec-invalid-value",
            "hooks.poststop[1].path",
            id="hook-relative",
        ),
    ],
)
def test_validate_errors_name_reference_and_path(
    doc: dict[str, Any], reference: str, where: str
) -> None:
    error = _error(doc)
    assert (error.reference, error.where) == (reference, where)


def test_capability_hint_shows_the_spelling() -> None:
    error = _error(_with(BASE, "process.capabilities.effective.2", "net_admin"))
    assert error.hint is not None and "CAP_NET_ADMIN" in error.hint
    error = _error(_with(BASE, "process.capabilities.effective.2", "CAP_WHATEVER"))
    assert error.hint is not None and "CAP_NET_ADMIN" in error.hint


def test_relative_mount_destination_hint_suggests_the_absolute_path() -> None:
    error = _error(_with(BASE, "mounts.2.destination", "./data"))
    assert error.hint is not None and "/data" in error.hint
