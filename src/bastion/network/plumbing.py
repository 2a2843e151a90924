"""The host side of a network, through netlink (no `ip` subprocess): a Linux bridge per
network holding its gateway address, and per attachment a veth pair whose container end is
made directly inside the container's namespace as `eth0`, with the MAC derived from its
address, the bridge's MTU (the host's default route's), loopback up and the default route via
the gateway.

A container's attachment is on every bridge-mode start's path: it goes through
`bastion._sys.rtnl` (a few batched requests, no import cost). The cold paths (making a
bridge, reading the host's routes and links) use pyroute2, imported where they run.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion._sys import rtnl
from bastion.network import netns
from bastion.network.errors import NetworkError

if TYPE_CHECKING:
    from pyroute2 import IPRoute

    from bastion.network.ipam import IPNetwork

FALLBACK_MTU = 1500
#: The largest IPv4 TCP packet a container's veth carries before segmentation (both ends, sent
#: and aggregated): "BIG TCP", Linux 6.3, as Cilium sets it. A container's TCP then hands the
#: veth and the bridge 192 KiB packets instead of 64 KiB ones, a third of the packets for the
#: same bytes, and what every packet costs (the bridge, br_netfilter's IP hooks, the table's
#: rules, the two TCP stacks) is paid a third as often: about twice the throughput between two
#: containers (docs/network.md). A packet that leaves through a link with a smaller limit is
#: segmented in software there. IPv6 is left at 64 KiB (not measured here).
GSO_IPV4_MAX_SIZE = 196608
IFA_F_NODAD = 0x02  # linux/if_addr.h: an address usable at once (no duplicate detection)
CONTAINER_IFNAME = "eth0"
IFF_UP = 0x1  # linux/if.h


@dataclass(frozen=True)
class Endpoint:
    """One attachment: the host's veth end on `bridge`; inside, `addresses` ("ip/prefix")
    on eth0 with `mac`, and default routes via `gateways`."""

    bridge: str
    host_ifname: str
    addresses: tuple[str, ...]
    gateways: tuple[str, ...]
    mac: str
    ifname: str = CONTAINER_IFNAME


def _failed(what: str, exc: BaseException) -> NetworkError:
    return NetworkError(f"{what}: {exc}", hint="bastion needs root and a kernel with bridge, veth")


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def host_mtu() -> int:
    """The MTU of the interface of the host's IPv4 default route (1500 without one)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET):
            oif = route.get("RTA_OIF")
            if oif:
                for link in ipr.get_links(oif):
                    return int(link.get("IFLA_MTU") or FALLBACK_MTU)
    return FALLBACK_MTU


def host_routes() -> list[tuple[IPNetwork, str]]:
    """(destination, device) of the host's routes in the main table, both families."""
    from pyroute2 import IPRoute

    out: list[tuple[IPNetwork, str]] = []
    with IPRoute() as ipr:
        names = {int(link["index"]): str(link.get("IFLA_IFNAME")) for link in ipr.get_links()}
        for family in (socket.AF_INET, socket.AF_INET6):
            for route in ipr.get_routes(family=family, table=254):
                dst = route.get("RTA_DST")
                if dst is None:
                    continue
                with contextlib.suppress(ValueError):
                    network = ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False)
                    out.append((network, names.get(int(route.get("RTA_OIF") or 0), "?")))
    return out


def link_names() -> list[str]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return [str(link.get("IFLA_IFNAME")) for link in ipr.get_links()]


def ensure_bridge(name: str, addresses: tuple[str, ...], mtu: int) -> None:
    """The bridge `name`, up, holding `addresses` ("ip/prefix"); what exists is kept, so two
    processes making it at once both succeed."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ipr:
            index = _index(ipr, name)
            if index is None:
                with contextlib.suppress(NetlinkError):  # EEXIST: another process won
                    ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
                index = _index(ipr, name)
                if index is None:
                    raise NetworkError(f"cannot make the bridge {name}")
            have = {str(a.get("IFA_ADDRESS")) for a in ipr.get_addr(index=index)}
            for text in addresses:
                interface = ipaddress.ip_interface(text)
                if str(interface.ip) in have:
                    continue
                try:
                    ipr.addr(
                        "add",
                        index=index,
                        address=str(interface.ip),
                        prefixlen=interface.network.prefixlen,
                        family=socket.AF_INET6 if interface.version == 6 else socket.AF_INET,
                        flags=IFA_F_NODAD,
                    )
                except NetlinkError as exc:
                    if exc.code != errno.EEXIST:
                        raise
            ipr.link("set", index=index, state="up")
    except NetlinkError as exc:
        raise _failed(f"cannot set up the bridge {name}", exc) from exc


def is_up(name: str) -> bool:
    """Whether the link `name` exists and is set up (sysfs: no netlink round trip). Its
    administrative flag, not its `operstate`: a bridge without ports is "down" there, yet
    needs nothing done."""
    flags = _sysfs_int(name, "flags")
    return flags is not None and bool(flags & IFF_UP)


def delete_link(name: str) -> bool:
    """Delete the link `name` (a bridge, or a veth: its peer goes with it); absent: False."""
    try:
        with rtnl.Socket() as sock:
            sock.request(_delete(name))
    except OSError as exc:
        if exc.errno != errno.ENODEV:
            raise _failed(f"cannot delete {name}", exc) from exc
        return False
    return True


def link_mtu(name: str) -> int | None:
    """The MTU of the link `name` (sysfs: no netlink round trip), None when it is absent."""
    return _sysfs_int(name, "mtu")


def _sysfs_int(name: str, field: str) -> int | None:
    try:
        with open(f"/sys/class/net/{name}/{field}") as f:
            return int(f.read(), 0)  # `flags` is written in hex
    except (OSError, ValueError):
        return None


def attach(path: str, endpoint: Endpoint, mtu: int) -> None:
    """Wire the namespace at `path` to `endpoint.bridge`: one request makes the veth pair, the
    host end up on the bridge and the container end in the namespace with its MAC; one batch
    inside sets loopback and that end up, the addresses and the default routes. On failure
    the veth is deleted (the namespace itself is the caller's)."""
    bridge = _sysfs_int(endpoint.bridge, "ifindex")
    if bridge is None:
        raise NetworkError(f"the bridge {endpoint.bridge} is gone")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        body = rtnl.veth(
            endpoint.host_ifname,
            endpoint.ifname,
            mtu=mtu,
            master=bridge,
            netns_fd=fd,
            mac=endpoint.mac,
            gso_max_size=GSO_IPV4_MAX_SIZE,
        )
        make = (rtnl.RTM_NEWLINK, _CREATE, body, f"make the veth {endpoint.host_ifname}")
        with rtnl.Socket() as host:
            try:
                host.request(make)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
                # a stale pair of this container's: a namespace the kernel has not freed
                # yet (teardown leaves the veth to it), or a killed start's
                host.request(_delete(endpoint.host_ifname))
                host.request(make)
    except OSError as exc:
        raise _failed(f"cannot make the veth {endpoint.host_ifname}", exc) from exc
    finally:
        os.close(fd)
    try:
        # a container reaching its own published port through the host comes back out of
        # the port it went in by: the bridge allows that only in hairpin mode (Docker)
        with open(f"/sys/class/net/{endpoint.host_ifname}/brport/hairpin_mode", "w") as f:
            f.write("1")
        netns.run_inside(path, lambda: _configure_inside(endpoint))
    except OSError as exc:
        delete_link(endpoint.host_ifname)
        raise _failed(f"cannot configure {endpoint.ifname} in {path}", exc) from exc
    except BaseException:
        delete_link(endpoint.host_ifname)
        raise


_CREATE = rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL


def _delete(name: str) -> tuple[int, int, bytes, str]:
    return (
        rtnl.RTM_DELLINK,
        0,
        rtnl.ifinfo() + rtnl.text(rtnl.IFLA_IFNAME, name),
        f"delete {name}",
    )


def _configure_inside(endpoint: Endpoint) -> None:
    with rtnl.Socket() as inside:
        index = inside.link_index(endpoint.ifname)
        if index is None:
            raise NetworkError(f"{endpoint.ifname} did not arrive in the container's namespace")
        requests = [
            (rtnl.RTM_NEWLINK, 0, rtnl.ifinfo(index=rtnl.LOOPBACK_IFINDEX, up=True), "lo up"),
            (rtnl.RTM_NEWLINK, 0, rtnl.ifinfo(index=index, up=True), f"{endpoint.ifname} up"),
        ]
        for text in endpoint.addresses:
            ip, _, prefixlen = text.partition("/")
            body = rtnl.address(index, ip, int(prefixlen))
            requests.append((rtnl.RTM_NEWADDR, _CREATE, body, f"address {text}"))
        for gateway in endpoint.gateways:
            body = rtnl.default_route(index, gateway)
            requests.append((rtnl.RTM_NEWROUTE, _CREATE, body, f"default route via {gateway}"))
        inside.request(*requests)
