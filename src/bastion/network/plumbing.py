"""The host side of a network, through netlink (pyroute2; no `ip` subprocess): a Linux
bridge per network holding its gateway address, and per attachment a veth pair whose
container end is made directly inside the container's namespace as `eth0`, with the MAC
derived from its address, the MTU of the host's default route, loopback up and the default
route via the gateway.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from bastion.network import netns
from bastion.network.errors import NetworkError

if TYPE_CHECKING:
    from bastion.network.ipam import IPNetwork

FALLBACK_MTU = 1500
IFA_F_NODAD = 0x02  # linux/if_addr.h: an address usable at once (no duplicate detection)
CONTAINER_IFNAME = "eth0"


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
    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET):
            oif = route.get("RTA_OIF")
            if oif:
                for link in ipr.get_links(oif):
                    return int(link.get("IFLA_MTU") or FALLBACK_MTU)
    return FALLBACK_MTU


def host_routes() -> list[tuple[IPNetwork, str]]:
    """(destination, device) of the host's routes in the main table, both families."""
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
    with IPRoute() as ipr:
        return [str(link.get("IFLA_IFNAME")) for link in ipr.get_links()]


def ensure_bridge(name: str, addresses: tuple[str, ...], mtu: int) -> None:
    """The bridge `name`, up, holding `addresses` ("ip/prefix"); what exists is kept, so two
    processes making it at once both succeed."""
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
    """Whether the link `name` exists and is up (sysfs: no netlink round trip)."""
    try:
        with open(f"/sys/class/net/{name}/operstate") as f:
            return f.read().strip() in ("up", "unknown")
    except OSError:
        return False


def delete_link(name: str) -> bool:
    """Delete the link `name` (a bridge, or a veth: its peer goes with it); absent: False."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return False
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise _failed(f"cannot delete {name}", exc) from exc
            return False
    return True


def attach(path: str, endpoint: Endpoint, mtu: int) -> None:
    """Wire the namespace at `path` to `endpoint.bridge`. On failure the veth is deleted
    (the namespace itself is the caller's)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ipr:
            bridge = _index(ipr, endpoint.bridge)
            if bridge is None:
                raise NetworkError(f"the bridge {endpoint.bridge} is gone")
            ipr.link(
                "add",
                ifname=endpoint.host_ifname,
                kind="veth",
                mtu=mtu,
                peer={"ifname": endpoint.ifname, "net_ns_fd": fd, "mtu": mtu},
            )
            host = _index(ipr, endpoint.host_ifname)
            assert host is not None
            ipr.link("set", index=host, master=bridge)
            # a container reaching its own published port through the host comes back out
            # of the port it went in by: the bridge allows that only in hairpin mode (Docker)
            ipr.brport("set", index=host, mode=1)
            ipr.link("set", index=host, state="up")
    except NetlinkError as exc:
        delete_link(endpoint.host_ifname)
        raise _failed(f"cannot make the veth {endpoint.host_ifname}", exc) from exc
    finally:
        os.close(fd)
    try:
        netns.run_inside(path, lambda: _configure_inside(endpoint))
    except NetlinkError as exc:
        delete_link(endpoint.host_ifname)
        raise _failed(f"cannot configure {endpoint.ifname} in {path}", exc) from exc
    except BaseException:
        delete_link(endpoint.host_ifname)
        raise


def _configure_inside(endpoint: Endpoint) -> None:
    with IPRoute() as ipr:
        lo = _index(ipr, "lo")
        if lo is not None:
            ipr.link("set", index=lo, state="up")
        index = _index(ipr, endpoint.ifname)
        assert index is not None
        ipr.link("set", index=index, address=endpoint.mac)
        for text in endpoint.addresses:
            interface = ipaddress.ip_interface(text)
            six = interface.version == 6
            ipr.addr(
                "add",
                index=index,
                address=str(interface.ip),
                prefixlen=interface.network.prefixlen,
                family=socket.AF_INET6 if six else socket.AF_INET,
                flags=IFA_F_NODAD,
            )
        ipr.link("set", index=index, state="up")
        for gateway in endpoint.gateways:
            six = ipaddress.ip_address(gateway).version == 6
            request: dict[str, Any] = {
                "dst": "::/0" if six else "0.0.0.0/0",
                "gateway": gateway,
                "oif": index,
                "family": socket.AF_INET6 if six else socket.AF_INET,
            }
            ipr.route("add", **request)


def lo_up(path: str) -> None:
    """Loopback up in the namespace at `path` (a namespace without a network)."""

    def work() -> None:
        with IPRoute() as ipr:
            lo = _index(ipr, "lo")
            if lo is not None:
                ipr.link("set", index=lo, state="up")

    netns.run_inside(path, work)
