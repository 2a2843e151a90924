"""Address management: subnets checked against the host's routes and the other networks,
the next free address of a subnet, `--ip` checked, the MAC derived from an address.

Pure functions over what the caller read: the engine runs them inside one `BEGIN IMMEDIATE`
transaction of its metadata, so two `run`s never get the same address.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from bastion.network.errors import AddressError, SubnetError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Where `network create` without --subnet takes a /24 from (Podman: 10.89.0.0/24 onwards).
AUTO_POOL = ipaddress.IPv4Network("10.89.0.0/16")


def parse_subnet(text: str) -> IPNetwork:
    """A subnet in CIDR form, host bits clear, /30 or larger (IPv6: /120 or larger)."""
    try:
        subnet = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise SubnetError(
            f"invalid subnet {text!r}", hint="give it in CIDR form, as 10.90.0.0/24"
        ) from None
    address = text.partition("/")[0]
    with_host_bits = ipaddress.ip_address(address) != subnet.network_address if address else False
    if with_host_bits:
        raise SubnetError(
            f"invalid subnet {text!r}: host bits are set", hint=f"did you mean {subnet}?"
        )
    if subnet.num_addresses < 4:
        raise SubnetError(f"subnet {text} is too small", hint="use a /30 or larger")
    if not subnet.is_private:
        raise SubnetError(
            f"subnet {text} is not a private range",
            hint="use an RFC 1918 (10/8, 172.16/12, 192.168/16) or fd00::/8 range",
        )
    return subnet


def gateway_for(subnet: IPNetwork, given: str | None) -> IPAddress:
    """The gateway: `given` (inside the subnet, not its network or broadcast address) or the
    subnet's first host."""
    if not given:
        return subnet.network_address + 1
    try:
        gateway = ipaddress.ip_address(given)
    except ValueError:
        raise SubnetError(f"invalid gateway {given!r}") from None
    if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
        raise SubnetError(f"gateway {given} is not a host address of subnet {subnet}")
    return gateway


def check_overlap(
    subnet: IPNetwork, routes: Iterable[tuple[IPNetwork, str]], networks: Iterable[tuple[str, str]]
) -> None:
    """Refuse `subnet` when it overlaps a host route (`(destination, device)`) or another
    network's subnet (`(name, subnet)`)."""
    for name, other in networks:
        if subnet.overlaps(ipaddress.ip_network(other)):
            raise SubnetError(
                f"subnet {subnet} overlaps network {name}'s subnet {other}",
                hint="choose another --subnet, or remove that network",
            )
    for destination, device in routes:
        same_family = destination.version == subnet.version
        if destination.prefixlen and same_family and subnet.overlaps(destination):
            raise SubnetError(
                f"subnet {subnet} overlaps the host's route to {destination} on {device}",
                hint="choose another --subnet (`ip route` shows the host's routes)",
            )


def auto_subnet(
    routes: Collection[tuple[IPNetwork, str]], networks: Collection[tuple[str, str]]
) -> IPNetwork:
    """The first /24 of `AUTO_POOL` that overlaps nothing."""
    for candidate in AUTO_POOL.subnets(new_prefix=24):
        try:
            check_overlap(candidate, routes, networks)
        except SubnetError:
            continue
        return candidate
    raise SubnetError(f"no free /24 left in {AUTO_POOL}", hint="give --subnet")


def allocate(subnet: IPNetwork, gateway: str, used: Collection[str]) -> IPAddress:
    """The lowest host address of `subnet` that is neither the gateway nor in `used`."""
    taken = {*used, gateway}
    for address in subnet.hosts():
        if str(address) not in taken:
            return address
    raise AddressError(
        f"no free address left in subnet {subnet} ({len(taken)} in use)",
        hint="remove containers from the network, or make a larger one",
    )


def static(subnet: IPNetwork, gateway: str, used: Collection[str], text: str) -> IPAddress:
    """`--ip text`: an unused host address of `subnet`."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise AddressError(f"invalid --ip {text!r}") from None
    if address.version != subnet.version:
        raise AddressError(f"--ip {text} is not an IPv{subnet.version} address")
    edges = (subnet.network_address, subnet.broadcast_address if subnet.version == 4 else None)
    if address not in subnet or address in edges:
        raise AddressError(f"--ip {text} is not a host address of subnet {subnet}")
    if text == gateway:
        raise AddressError(f"--ip {text} is the network's gateway")
    if text in used:
        raise AddressError(
            f"address {text} is already in use on this network", hint="choose another --ip"
        )
    return address


def mac_for(address: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 then the address's four bytes (an IPv6-only
    endpoint uses the last four)."""
    packed = ipaddress.ip_address(address).packed[-4:]
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)
