"""What a network is (`Network`), how the host's objects of one engine are named (`Naming`),
and `-p`'s published ports (`parse_publish`)."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field

from bastion.network.errors import NetworkError, PortError

#: The network `run` joins by default, as Docker's and Podman's `bridge`.
DEFAULT_NETWORK = "bridge"
#: Podman's default subnet; checked against the host's routes when the network is made.
DEFAULT_SUBNET = "10.88.0.0/16"
DEFAULT_PREFIX = "bastion"
PREFIX_ENV = "BASTION_NETWORK_PREFIX"
SUBNET_ENV = "BASTION_NETWORK_SUBNET"
#: Linux's IFNAMSIZ less the NUL.
IFNAME_MAX = 15
#: Modes that are not a network's name.
SPECIAL_MODES = ("none", "host")


@dataclass(frozen=True)
class Network:
    """A network as the engine records it. `subnets` and `gateways` pair up (IPv4 first);
    `bridge` is the Linux bridge's name."""

    id: str
    name: str
    bridge: str
    subnets: tuple[str, ...]
    gateways: tuple[str, ...]
    internal: bool = False
    ipv6: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    driver: str = "bridge"

    @property
    def user_defined(self) -> bool:
        """Docker's embedded DNS serves user-defined networks only, not the default one."""
        return self.name != DEFAULT_NETWORK


@dataclass(frozen=True)
class Naming:
    """The names of one engine's host objects, from one prefix: the default bridge
    `<prefix>0`, a user network's bridge `<prefix>-<id>`, a veth `veth<hash>` (with a prefix
    other than bastion's, `<prefix>v<hash>`, so a test's links all carry its prefix), the
    nftables table `<prefix>`. A test engine passes its own prefix and default subnet and
    never touches a real `bastion0` or table `bastion`."""

    prefix: str = DEFAULT_PREFIX
    default_subnet: str = DEFAULT_SUBNET

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", self.prefix):
            raise NetworkError(
                f"invalid network prefix {self.prefix!r}",
                hint="1 to 8 lower-case letters and digits, starting with a letter",
            )

    @classmethod
    def from_environment(cls) -> Naming | None:
        prefix = os.environ.get(PREFIX_ENV)
        if not prefix:
            return None
        return cls(prefix, os.environ.get(SUBNET_ENV) or DEFAULT_SUBNET)

    @property
    def default_bridge(self) -> str:
        return f"{self.prefix}0"

    @property
    def table(self) -> str:
        return self.prefix

    def bridge(self, network_id: str) -> str:
        return f"{self.prefix}-{network_id}"[:IFNAME_MAX]

    def veth(self, container_id: str, network_id: str) -> str:
        head = "veth" if self.prefix == DEFAULT_PREFIX else f"{self.prefix}v"
        digest = hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()
        return (head + digest)[:IFNAME_MAX]

    def owns_link(self, ifname: str) -> bool:
        """Whether `ifname` is one of this engine's bridges or veths."""
        if self.prefix == DEFAULT_PREFIX:
            return ifname == self.default_bridge or ifname.startswith(("bastion-", "veth"))
        return ifname.startswith(self.prefix)


@dataclass(frozen=True)
class PublishedPort:
    """One `-p`: `host_port` 0 until an ephemeral port is chosen; `host_ip` "" for every
    address."""

    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"

    def as_dict(self) -> dict[str, object]:
        return {
            "host_ip": self.host_ip,
            "host_port": self.host_port,
            "container_port": self.container_port,
            "protocol": self.protocol,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> PublishedPort:
        return cls(
            str(doc.get("host_ip", "")),
            int(str(doc["host_port"])),
            int(str(doc["container_port"])),
            str(doc.get("protocol", "tcp")),
        )


def parse_publish(text: str) -> PublishedPort:
    """`-p [IP:][HOST:]CONTAINER[/tcp|udp]` (Docker's forms; `[::1]:8080:80` for IPv6)."""
    body, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp"):
        raise PortError(f"invalid protocol {protocol!r} in -p {text!r}", hint="tcp or udp")
    host_ip = ""
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(.*)", body)
    if match:
        host_ip, body = match.group(1), match.group(2)
        parts = body.split(":")
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
    if len(parts) == 1:
        host, container = "", parts[0]
    elif len(parts) == 2:
        host, container = parts
    else:
        raise PortError(f"invalid -p {text!r}", hint="use [IP:]HOST:CONTAINER[/tcp|udp]")
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise PortError(f"invalid host address {host_ip!r} in -p {text!r}") from None
    return PublishedPort(
        host_ip, _port(host, text, allow_zero=True), _port(container, text), protocol
    )


def _port(value: str, text: str, *, allow_zero: bool = False) -> int:
    if value == "" and allow_zero:
        return 0
    if not value.isdigit() or not (0 if allow_zero else 1) <= int(value) <= 65535:
        raise PortError(f"invalid port {value!r} in -p {text!r}", hint="a number in 1-65535")
    return int(value)
