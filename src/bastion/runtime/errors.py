"""Errors the runtime library raises; the CLI renders them (docs/conventions.md §8)."""

from __future__ import annotations

from bastion.errors import BastionError, ExitCode


class RuntimeFailure(BastionError):
    """A container operation failed in the kernel or in the container's set-up."""

    reference = "runtime-failure"


class ContainerNotFound(BastionError):
    """No container with this id exists under the runtime root."""

    reference = "container-not-found"
    exit_code = ExitCode.NOT_FOUND


class ContainerExists(BastionError):
    """`create` was given an id that is already in use under the runtime root."""

    reference = "container-exists"


class InvalidId(BastionError):
    """A container id that could escape the state directory or is empty."""

    reference = "invalid-container-id"
    exit_code = ExitCode.INVALID_INPUT


class CorruptState(BastionError):
    """A container's state.json cannot be read as the record bastion-runc writes (cut short,
    edited by hand, written by something else)."""

    reference = "state-corrupt"


class InvalidState(BastionError):
    """An operation the runtime-spec forbids in the container's current status."""

    reference = "invalid-state"
    exit_code = ExitCode.INVALID_STATE

    def __init__(
        self, container_id: str, status: str, operation: str, hint: str | None = None
    ) -> None:
        # "container not running" is runc's wording, which containerd's shim matches on to
        # treat a kill of a finished task as done rather than as an error.
        why = "container not running" if status == "stopped" else f"it is {status}"
        super().__init__(
            f"cannot {operation} container {container_id!r}: {why}",
            where=container_id,
            hint=hint,
        )
        self.container_id = container_id
        self.status = status
        self.operation = operation


class InitFailed(BastionError):
    """The container's init process reported an error while setting the container up."""

    reference = "container-init-failed"
