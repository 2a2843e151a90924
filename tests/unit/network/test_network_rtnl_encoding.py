"""bastion._sys.rtnl's requests, decoded by pyroute2's message classes (an independent
encoder/decoder of the same kernel structures): what a container's attachment sends is what
the kernel headers say."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # type: ignore[import-untyped]

from bastion._sys import rtnl


def decode(cls: Any, kind: int, body: bytes) -> Any:
    message = cls(struct.pack("=IHHII", 16 + len(body), kind, 1, 1, 0) + body)
    message.decode()
    return message


def test_a_veth_request_names_both_ends_and_puts_the_peer_in_the_namespace() -> None:
    body = rtnl.veth("bsthostv1", "eth0", mtu=1400, master=7, netns_fd=9, mac="02:42:0a:00:00:02")
    message = decode(ifinfmsg, rtnl.RTM_NEWLINK, body)
    assert (message.get("ifname"), message.get("mtu"), message.get("master")) == (
        "bsthostv1",
        1400,
        7,
    )
    assert message["flags"] & rtnl.IFF_UP and message["change"] & rtnl.IFF_UP
    info = message.get("linkinfo")
    assert info.get("kind") == "veth"
    peer = info.get("data").get("VETH_INFO_PEER")
    assert (peer.get("ifname"), peer.get("net_ns_fd"), peer.get("mtu")) == ("eth0", 9, 1400)
    assert peer.get("address") == "02:42:0a:00:00:02"
    assert peer["flags"] == 0  # set up from inside the namespace (the kernel refuses it here)


@pytest.mark.parametrize(
    ("ip", "prefixlen", "family"),
    [("10.200.1.5", 24, socket.AF_INET), ("fd00:1:2::5", 64, socket.AF_INET6)],
)
def test_an_address_request(ip: str, prefixlen: int, family: int) -> None:
    message = decode(ifaddrmsg, rtnl.RTM_NEWADDR, rtnl.address(3, ip, prefixlen))
    assert (message["family"], message["prefixlen"], message["index"]) == (family, prefixlen, 3)
    assert message["flags"] & rtnl.IFA_F_NODAD
    assert message.get("local") == ip and message.get("address") == ip


@pytest.mark.parametrize(
    ("gateway", "family"), [("10.200.1.1", socket.AF_INET), ("fd00:1:2::1", socket.AF_INET6)]
)
def test_a_default_route_request(gateway: str, family: int) -> None:
    message = decode(rtmsg, rtnl.RTM_NEWROUTE, rtnl.default_route(4, gateway))
    assert (message["family"], message["dst_len"], message["table"]) == (family, 0, 254)
    assert (message.get("gateway"), message.get("oif"), message["type"]) == (gateway, 4, 1)


def test_attributes_are_padded_to_four_bytes() -> None:
    for size in range(9):
        encoded = rtnl.attr(1, b"x" * size)
        assert len(encoded) % 4 == 0
        assert struct.unpack_from("=H", encoded)[0] == 4 + size


def test_a_veth_request_gives_both_ends_the_big_tcp_sizes_when_asked() -> None:
    def sizes(attrs: dict[int, bytes]) -> tuple[int, ...]:
        kinds = (rtnl.IFLA_GSO_IPV4_MAX_SIZE, rtnl.IFLA_GRO_IPV4_MAX_SIZE)
        return tuple(struct.unpack("=I", attrs[kind])[0] for kind in kinds if kind in attrs)

    def ends(body: bytes) -> tuple[dict[int, bytes], dict[int, bytes]]:
        host = rtnl.attributes(body[16:])  # after the ifinfomsg
        linkinfo = rtnl.attributes(host[rtnl.IFLA_LINKINFO])
        peer = rtnl.attributes(linkinfo[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER]
        return host, rtnl.attributes(peer[16:])

    args: dict[str, Any] = {"mtu": 1400, "master": 7, "netns_fd": 9, "mac": "02:42:0a:00:00:02"}
    host, peer = ends(rtnl.veth("bsthostv1", "eth0", **args, gso_max_size=196608))
    assert sizes(host) == sizes(peer) == (196608, 196608)
    assert host[rtnl.IFLA_IFNAME] == b"bsthostv1\0" and peer[rtnl.IFLA_IFNAME] == b"eth0\0"
    host, peer = ends(rtnl.veth("bsthostv1", "eth0", **args))
    assert sizes(host) == sizes(peer) == ()  # the kernel's default, 64 KiB
    # pyroute2 decodes the request with the two attributes it does not know among the others
    big = rtnl.veth("v", "eth0", **args, gso_max_size=196608)
    assert decode(ifinfmsg, rtnl.RTM_NEWLINK, big).get("mtu") == 1400
