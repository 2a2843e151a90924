"""bastion's errors as moby answers them: `{"message": ...}` with moby's status codes, and
moby's wording where clients match on it: a 404 "No such image: ..." makes docker-py and the
docker CLI pull, `docker inspect` falls through containers → images → networks → volumes on
plain 404s, a 409 on a name in use, 304 for start/stop that has nothing to do."""

from __future__ import annotations

from aiohttp import web

from bastion import jsonio
from bastion.errors import BastionError


class ApiError(Exception):
    """An answer other than success, raised by a handler: `status` and moby's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def response(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=jsonio.dumps({"message": message}).encode(),
        content_type="application/json",
    )


def from_bastion(exc: BastionError) -> ApiError:
    """The status and message an engine error becomes."""
    from bastion.engine.errors import (
        ContainerStateError,
        ImageInUseError,
        InvalidOptionError,
        NameInUseError,
        NoSuchContainerError,
        NoSuchVolumeError,
        VolumeInUseError,
    )
    from bastion.images.errors import (
        ImageNotFoundError,
        ReferenceFormatError,
        RegistryAuthError,
        RegistryError,
    )
    from bastion.network.errors import (
        NetworkInUseError,
        NetworkNameInUseError,
        NoSuchNetworkError,
        SubnetError,
    )

    message = exc.message
    if isinstance(exc, NoSuchContainerError):
        return ApiError(404, message[0].upper() + message[1:])  # "No such container: x"
    if isinstance(exc, ImageNotFoundError):
        return ApiError(404, message[0].upper() + message[1:])
    if isinstance(exc, NoSuchNetworkError | NoSuchVolumeError):
        return ApiError(404, message)
    if isinstance(
        exc,
        NameInUseError
        | ContainerStateError
        | ImageInUseError
        | NetworkInUseError
        | NetworkNameInUseError
        | VolumeInUseError,
    ):
        return ApiError(409, message)
    if isinstance(exc, SubnetError):
        return ApiError(400, message)
    if isinstance(exc, InvalidOptionError | ReferenceFormatError):
        return ApiError(400, message)
    if isinstance(exc, RegistryAuthError):
        return ApiError(401, message)
    if isinstance(exc, RegistryError):
        return ApiError(500, message)
    return ApiError(500, exc.render())
