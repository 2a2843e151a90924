"""The network layer's errors. Each exits with 125, as Docker's daemon errors do."""

from __future__ import annotations

from bastion.errors import BastionError


class NetworkError(BastionError):
    """Raised when the host's networking refuses a step (netlink, a namespace mount)."""

    reference = "network-error"
    exit_code = 125


class NoSuchNetworkError(NetworkError):
    """Raised when a name, id or id prefix names no network."""

    reference = "network-not-found"


class NetworkNameInUseError(NetworkError):
    """Raised by `network create` when a network already has the name."""

    reference = "network-name-in-use"


class SubnetError(NetworkError):
    """Raised when a subnet or gateway is malformed, or a subnet overlaps a host route or
    another network."""

    reference = "network-subnet"


class AddressError(NetworkError):
    """Raised when `--ip` is malformed, outside the network's subnet or already leased, or the
    subnet has no free address left."""

    reference = "network-address"


class NetworkInUseError(NetworkError):
    """Raised by `network rm` while containers are attached to the network."""

    reference = "network-in-use"


class PortError(NetworkError):
    """Raised when `-p` is malformed or its host port is already published."""

    reference = "network-port"
