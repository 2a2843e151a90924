"""bastion-runc delete: remove a stopped container (or any, with --force)."""

from __future__ import annotations

from bastion.cli.runc.args import Option
from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "delete a container and everything create made for it"
ARGUMENTS = "ID"
OPTIONS = [Option("--force,-f", "bool", help="kill the container first if it still runs")]


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container, delete_unreadable
    from bastion.runtime.errors import ContainerNotFound, CorruptState

    try:
        container = Container.load(ctx.root, require_id(positional, "delete"))
    except ContainerNotFound:
        if values["force"]:
            return _remove_debris(ctx.root, positional[0])
        raise
    except CorruptState:
        if values["force"]:
            delete_unreadable(ctx.root, positional[0])
            return 0
        raise
    for warning in container.delete(force=values["force"]):
        ctx.log.warning(warning)
    return 0


def _remove_debris(root: str, container_id: str) -> int:
    # runc: `delete --force` of an unknown id succeeds. A create killed before its state
    # directory was renamed into place leaves only a temp dir: remove it too.
    from bastion.runtime import store

    for stale in store.stale_reservations(root, container_id):
        store.remove_tree(stale)
    return 0
