"""bastion-runc update: change a container's cgroup limits while it runs (runc's flags).

Either `--resources FILE` (`-` for stdin), a LinuxResources JSON document, in which case the other
options are ignored as runc ignores them; or the options below, which build the same document.
What the options mean (sizes as runc reads them, `-1`, 0) is `bastion.runtime.update_flags`;
merging with the current limits and applying them is `bastion.runtime.control.update`.
"""

from __future__ import annotations

import sys

from bastion.cli.runc.args import Option, UsageError
from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "update container resource constraints"
ARGUMENTS = "ID"
OPTIONS = [
    Option(
        "--resources,-r",
        "str",
        None,
        "file with the LinuxResources JSON to apply, or '-' for stdin (other options are "
        "then ignored)",
        "FILE",
    ),
    Option("--blkio-weight", "str", None, "per cgroup weight, from 10 to 1000", "N"),
    Option("--cpu-period", "str", None, "CPU CFS period for hardcapping (in usecs)", "USECS"),
    Option("--cpu-quota", "str", None, "CPU CFS hardcap limit (in usecs) per period", "USECS"),
    Option("--cpu-share", "str", None, "CPU shares (relative weight vs. other containers)", "N"),
    Option("--cpu-rt-period", "str", None, "CPU realtime period (in usecs)", "USECS"),
    Option("--cpu-rt-runtime", "str", None, "CPU realtime hardcap limit (in usecs)", "USECS"),
    Option("--cpuset-cpus", "str", None, "CPU(s) to use", "LIST"),
    Option("--cpuset-mems", "str", None, "memory node(s) to use", "LIST"),
    Option("--memory", "str", None, "memory limit (in bytes; 512m, 1g ...)", "SIZE"),
    Option("--memory-reservation", "str", None, "memory reservation or soft limit", "SIZE"),
    Option("--memory-swap", "str", None, "memory + swap limit; -1 for unlimited swap", "SIZE"),
    Option("--kernel-memory", "str", None, "accepted and ignored with a warning (as runc)", "SIZE"),
    Option("--kernel-memory-tcp", "str", None, "accepted and ignored with a warning", "SIZE"),
    Option("--pids-limit", "str", None, "maximum number of pids in the container", "N"),
    Option("--l3-cache-schema", "str", None, "Intel RDT/CAT schema: not supported", "SCHEMA"),
    Option("--mem-bw-schema", "str", None, "Intel RDT/MBA schema: not supported", "SCHEMA"),
]


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container
    from bastion.runtime.control import parse_resources, update
    from bastion.runtime.update_flags import (
        RESOURCE_FLAGS,
        InvalidFlagValueError,
        option,
        refuse_intel_rdt,
        resources_from_flags,
    )

    container_id = require_id(positional, "update")
    refuse_intel_rdt(values)
    if values["resources"]:
        given = [option(key) for key in RESOURCE_FLAGS if values[key]]
        if given:
            ctx.log.warning(f"--resources is given: ignoring {' '.join(given)} (as runc does)")
        source = values["resources"]
        changes = parse_resources(_read(source), "<stdin>" if source == "-" else source)
    else:
        try:
            changes = resources_from_flags(values)
        except InvalidFlagValueError as exc:
            raise UsageError(exc.message) from None
    container = Container.load(ctx.root, container_id)
    for warning in update(container, changes):
        ctx.log.warning(warning)
    return 0


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as exc:
        from bastion.oci.decode import SpecError

        raise SpecError(
            f"cannot read the resources file: {exc.strerror}",
            where=source,
            reference="spec-unreadable",
        ) from None
