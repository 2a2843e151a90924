"""bastion-runc start: run the user process of a created container."""

from __future__ import annotations

from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "start the process of a created container"
ARGUMENTS = "ID"
OPTIONS: list[Any] = []


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container

    for warning in Container.load(ctx.root, require_id(positional, "start")).start():
        ctx.log.warning(warning)
    return 0
