"""bastion-runc resume: thaw a paused container."""

from __future__ import annotations

from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "resume all processes that have been previously paused"
ARGUMENTS = "ID"
OPTIONS: list[Any] = []


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container
    from bastion.runtime.control import resume

    resume(Container.load(ctx.root, require_id(positional, "resume")))
    return 0
