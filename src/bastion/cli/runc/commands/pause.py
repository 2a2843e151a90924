"""bastion-runc pause: freeze every process of the container (cgroup freezer)."""

from __future__ import annotations

from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "suspend all processes inside the container"
ARGUMENTS = "ID"
OPTIONS: list[Any] = []


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container
    from bastion.runtime.control import pause

    pause(Container.load(ctx.root, require_id(positional, "pause")))
    return 0
