"""bastion-runc state: the OCI state document of a container, as JSON."""

from __future__ import annotations

import sys

from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "print the state of a container (OCI state JSON)"
ARGUMENTS = "ID"
OPTIONS: list[Any] = []


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.jsonio import dumps
    from bastion.runtime.container import Container

    state = Container.load(ctx.root, require_id(positional, "state")).state()
    sys.stdout.write(dumps(state, indent=2) + "\n")
    return 0
