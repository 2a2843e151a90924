"""The engine's errors. Each maps to Docker's exit statuses (`docker run` reference, "Exit
status"): 125 when the engine itself fails, 126 when the command cannot be invoked, 127 when it
cannot be found; a container's own status is returned, never raised."""

from __future__ import annotations

from bastion.errors import BastionError

#: `docker run`'s statuses for its own failures.
ENGINE_FAILED = 125
CANNOT_INVOKE = 126
NOT_FOUND = 127


class EngineError(BastionError):
    """Raised for any engine failure no subclass covers (the metadata, a monitor that does not
    start, a runtime step that fails)."""

    reference = "engine-error"
    exit_code = ENGINE_FAILED


class NoSuchContainerError(EngineError):
    """Raised when a name, id or id prefix names no container, or more than one."""

    reference = "engine-no-such-container"


class NameInUseError(EngineError):
    """Raised by `create`/`run --name` when another container already has the name."""

    reference = "engine-name-in-use"


class ImageInUseError(EngineError):
    """Raised by `rmi` without force when a container was made from the image."""

    reference = "engine-image-in-use"


class ContainerStateError(EngineError):
    """Raised when a container's state forbids the action (`rm` of a running one without force,
    `start` of a running one)."""

    reference = "engine-container-state"


class InvalidOptionError(EngineError):
    """Raised when a flag's value is wrong (`-m 12q`, `-w relative`, an unknown user) or the
    image and flags give no command."""

    reference = "engine-invalid-option"


class CopyError(EngineError):
    """Raised by `cp` when a path does not exist or has the wrong kind (a directory copied
    onto a file, a missing parent directory), inside the container or on the host."""

    reference = "engine-copy"


class CommandError(EngineError):
    """Raised when the container's command cannot run: `exit_code` is 127 when it is not found,
    126 when it cannot be executed (Docker's statuses)."""

    reference = "engine-command-failed"

    def __init__(self, message: str, *, exit_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class NoSuchVolumeError(EngineError):
    """Raised when a volume name names no volume (`volume rm|inspect`)."""

    reference = "engine-no-such-volume"


class VolumeInUseError(EngineError):
    """Raised by `volume rm` (even with -f, as Docker) when a container, running or not,
    mounts the volume."""

    reference = "engine-volume-in-use"


class DockerfileError(EngineError):
    """Raised by `build` for a Dockerfile it cannot read: an unknown instruction, a malformed
    flag, JSON or substitution, an instruction without its argument, a missing stage."""

    reference = "engine-dockerfile"


class BuildStepError(EngineError):
    """Raised by `build` when a step fails: a RUN whose command exits non-zero (`exit_code`
    is its status), a COPY/ADD source that is missing or outside the context."""

    reference = "engine-build-step"

    def __init__(
        self, message: str, *, exit_code: int = 1, where: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.step_exit_code = exit_code
