"""IPAM and the network model without privileges: subnets, overlaps, allocation, `--ip`, MACs,
`-p` parsing, host names of one engine, /etc files."""

from __future__ import annotations

import ipaddress

import pytest

from bastion.engine.container_files import host_resolvers, hosts_text, resolv_text
from bastion.network import ipam
from bastion.network.errors import AddressError, NetworkError, PortError, SubnetError
from bastion.network.model import Naming, PublishedPort, parse_publish


@pytest.mark.parametrize(
    "text",
    ["10.0.0.300/24", "10.1.2.3/24", "nonsense", "8.8.8.0/24", "10.0.0.0/31", "2600::/64"],
)
def test_bad_subnets_are_refused(text: str) -> None:
    with pytest.raises(SubnetError):
        ipam.parse_subnet(text)


def test_overlap_with_a_route_or_a_network() -> None:
    subnet = ipaddress.ip_network("10.90.0.0/24")
    with pytest.raises(SubnetError, match="route"):
        ipam.check_overlap(subnet, [(ipaddress.ip_network("10.90.0.0/16"), "eth0")], [])
    with pytest.raises(SubnetError, match="other"):
        ipam.check_overlap(subnet, [], [("other", "10.90.0.128/25")])
    # the default route (prefix 0) overlaps everything and is no conflict
    ipam.check_overlap(subnet, [(ipaddress.ip_network("0.0.0.0/0"), "eth0")], [])
    assert str(ipam.auto_subnet([], [("a", "10.89.0.0/24")])) == "10.89.1.0/24"


def test_allocation_skips_the_gateway_and_leases_then_runs_out() -> None:
    subnet = ipaddress.ip_network("10.90.0.0/29")  # 6 hosts
    used: set[str] = set()
    for _ in range(5):
        used.add(str(ipam.allocate(subnet, "10.90.0.1", used)))
    assert used == {f"10.90.0.{n}" for n in range(2, 7)}
    with pytest.raises(AddressError, match="no free address"):
        ipam.allocate(subnet, "10.90.0.1", used)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("10.90.0.1", "gateway"), ("10.90.0.2", "in use"), ("10.91.0.2", "not a host"),
     ("10.90.0.255", "not a host"), ("bad", "invalid"), ("fd00::1", "IPv4")],
)  # fmt: skip
def test_static_addresses(text: str, problem: str) -> None:
    subnet = ipaddress.ip_network("10.90.0.0/24")
    with pytest.raises(AddressError, match=problem):
        ipam.static(subnet, "10.90.0.1", {"10.90.0.2"}, text)
    assert str(ipam.static(subnet, "10.90.0.1", {"10.90.0.2"}, "10.90.0.3")) == "10.90.0.3"


def test_gateway_and_mac() -> None:
    subnet = ipaddress.ip_network("10.90.0.0/24")
    assert str(ipam.gateway_for(subnet, None)) == "10.90.0.1"
    assert str(ipam.gateway_for(subnet, "10.90.0.254")) == "10.90.0.254"
    with pytest.raises(SubnetError):
        ipam.gateway_for(subnet, "10.90.0.0")
    assert ipam.mac_for("172.17.0.2") == "02:42:ac:11:00:02"


@pytest.mark.parametrize(
    ("text", "port"),
    [
        ("80", PublishedPort("", 0, 80)),
        ("8080:80", PublishedPort("", 8080, 80)),
        ("127.0.0.1:8080:80/udp", PublishedPort("127.0.0.1", 8080, 80, "udp")),
        ("127.0.0.1::80", PublishedPort("127.0.0.1", 0, 80)),
        ("[::1]:8080:80", PublishedPort("::1", 8080, 80)),
    ],
)
def test_publish_forms(text: str, port: PublishedPort) -> None:
    assert parse_publish(text) == port
    assert PublishedPort.from_dict(port.as_dict()) == port


@pytest.mark.parametrize("text", ["80/sctp", "0", "a:b", "1:2:3:4", "x.y:80:80", "70000"])
def test_bad_publish(text: str) -> None:
    with pytest.raises(PortError):
        parse_publish(text)


def test_naming_keeps_a_test_engine_apart() -> None:
    mine = Naming("bst1a2b", "10.200.1.0/24")
    assert mine.default_bridge == "bst1a2b0" and mine.table == "bst1a2b"
    veth = mine.veth("c" * 64, "n" * 64)
    assert veth.startswith("bst1a2bv") and len(veth) == 15
    assert len(mine.bridge("f" * 64)) == 15 and mine.owns_link(mine.bridge("f" * 64))
    assert not mine.owns_link("bastion0") and not mine.owns_link("eth0")
    real = Naming()
    assert (real.default_bridge, real.table) == ("bastion0", "bastion")
    assert real.veth("c", "n").startswith("veth")
    with pytest.raises(NetworkError):
        Naming("Bad-Prefix")


def test_etc_files(tmp_path: object) -> None:
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch example.test\n"
        "options edns0\n"
    )
    servers, search, options = host_resolvers(str(resolv))
    assert (servers, search, options) == (["10.0.0.2"], ["example.test"], ["edns0"])
    assert resolv_text(servers, search, options) == (
        "nameserver 10.0.0.2\nsearch example.test\noptions edns0\n"
    )
    hosts = hosts_text([("10.90.0.2", ["abc", "web"])])
    assert hosts.startswith("127.0.0.1\tlocalhost\n") and "10.90.0.2\tabc web\n" in hosts


def test_a_subnet_written_with_leading_zeros_is_its_network() -> None:
    # "fd72:0380::/64" is fd72:380::/64 written longhand, not an address with host bits set
    assert str(ipam.parse_subnet("fd72:0380::/64")) == "fd72:380::/64"
    with pytest.raises(SubnetError, match="host bits"):
        ipam.parse_subnet("fd72:380::1/64")
