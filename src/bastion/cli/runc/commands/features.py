"""bastion-runc features: what this runtime implements, in runc's `features` JSON shape."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "print the features this runtime supports (JSON, runtime-spec features.md)"
ARGUMENTS = ""
OPTIONS: list[Any] = []


def features() -> dict[str, Any]:
    from bastion.oci.vocabulary import (
        CAPABILITIES,
        MOUNT_OPTIONS,
        PROPAGATION_OPTIONS,
        SECCOMP_ACTIONS,
        SECCOMP_ARCHITECTURES,
        SECCOMP_OPERATORS,
    )
    from bastion.runtime.namespaces import NAMESPACE_TYPES

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ],
        "mountOptions": sorted([*MOUNT_OPTIONS, *PROPAGATION_OPTIONS]),
        "linux": {
            "namespaces": sorted(NAMESPACE_TYPES),
            "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.__getitem__),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(SECCOMP_ACTIONS),
                "operators": sorted(SECCOMP_OPERATORS),
                "archs": sorted(SECCOMP_ARCHITECTURES),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "bastion"},
    }


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.jsonio import dumps

    sys.stdout.write(dumps(features(), indent=4) + "\n")
    return 0
