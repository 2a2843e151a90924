"""The firewall's nftables commands, built without root: what each kind of network gets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bastion.network import firewall
from bastion.network.firewall import NetworkPolicy, PortMapping, Ruleset

OPEN = NetworkPolicy("front", "bstfw0", ("10.77.1.0/24", "fd00:77::/64"), False)
SEALED = NetworkPolicy("back", "bstfw1", ("10.77.2.0/24",), True)


def rules(ruleset: Ruleset, chain: str) -> list[str]:
    """The rules of one chain, each as its JSON text (to look for names and addresses)."""
    return [
        json.dumps(c["add"]["rule"]["expr"])
        for c in firewall.build(ruleset, table="t")
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]


def test_batch_replaces_the_table_first() -> None:
    cmds = firewall.build(Ruleset(networks=(OPEN,), ports=()), table="t")
    head: list[Any] = [next(iter(c.items())) for c in cmds[:3]]
    assert [(verb, obj["table"]["name"]) for verb, obj in head] == [
        ("add", "t"),
        ("delete", "t"),
        ("add", "t"),
    ]
    assert {c["add"]["chain"]["name"] for c in cmds if "chain" in c.get("add", {})} == {
        "switched",
        "forward",
        "prerouting",
        "output",
        "postrouting",
        "published",
    }


def test_masquerade_for_routed_networks_only() -> None:
    post = rules(Ruleset(networks=(OPEN, SEALED), ports=()), "postrouting")
    leaving = [r for r in post if '"!="' in r]
    assert len(leaving) == 2  # the two subnets of the open network, none of the internal one
    assert all("bstfw0" in r and "masquerade" in r for r in leaving)
    assert any('"ip6"' in r for r in leaving)


def test_switched_traffic_skips_conntrack_but_not_what_goes_to_the_gateway() -> None:
    with_gateways = NetworkPolicy(
        "front", "bstfw0", ("10.77.1.0/24", "fd00:77::/64"), False, ("10.77.1.1", "fd00:77::1")
    )
    ruleset = Ruleset(networks=(with_gateways, SEALED), ports=())
    # one verdict map on the input bridge, to the chain of the network whose gateways are known
    (dispatch,) = rules(ruleset, "switched")
    assert '"vmap"' in dispatch and '"iifname"' in dispatch
    assert '["bstfw0", {"jump": {"target": "switched-bstfw0"}}]' in dispatch
    assert "bstfw1" not in dispatch
    raw = rules(ruleset, "switched-bstfw0")
    assert len(raw) == 2  # one per subnet
    for rule, gateway in zip(raw, ("10.77.1.1", "fd00:77::1"), strict=True):
        assert '"notrack"' in rule
        assert '"op": "!=", "left": {"payload": {"protocol": "ip' in rule
        assert f'"right": "{gateway}"' in rule
    assert rules(ruleset, "switched-bstfw1") == []


def test_forward_order_tracked_flows_first_published_ports_before_isolation() -> None:
    port = PortMapping("", 8080, "10.77.2.5", 80, "tcp")
    other = NetworkPolicy("other", "bstfw2", ("10.77.3.0/24",), False)
    fwd = rules(Ruleset(networks=(OPEN, other, SEALED), ports=(port,)), "forward")
    assert "established" in fwd[0] and "oifname" not in fwd[0] and '"accept"' in fwd[0]
    # then within one bridge, for every bridge: one lookup of (in, out) in a set of pairs
    assert '"concat"' in fwd[1] and '"accept"' in fwd[1]
    assert all(f'{{"concat": ["{b}", "{b}"]}}' in fwd[1] for b in ("bstfw0", "bstfw1", "bstfw2"))
    (dnat,) = [i for i, r in enumerate(fwd) if '"dnat"' in r]
    assert "bstfw0" in fwd[dnat] and "bstfw2" in fwd[dnat]
    assert "bstfw1" not in fwd[dnat]  # an internal network publishes nothing
    (isolation,) = [i for i, r in enumerate(fwd) if r.count('"set"') == 2]
    assert '"drop"' in fwd[isolation] and dnat < isolation
    sealed = [i for i, r in enumerate(fwd) if '"bstfw1"' in r and i not in (1, isolation)]
    assert sealed == [2, 3] and all(
        '"drop"' in fwd[i] for i in sealed
    )  # in and out, before any other network's verdicts
    assert len(fwd) == 8  # whatever the number of networks


def test_isolation_and_internal_drops() -> None:
    fwd = rules(Ruleset(networks=(OPEN, SEALED), ports=()), "forward")
    isolation = [r for r in fwd if r.count('"set"') == 2]
    assert len(isolation) == 1 and '"drop"' in isolation[0]
    assert all(b in isolation[0] for b in ("bstfw0", "bstfw1"))
    sealed = [r for r in fwd if "bstfw1" in r and r not in isolation]
    # within the bridge accepted; anything in or out dropped
    assert sum('"accept"' in r for r in sealed) == 1
    assert sum('"drop"' in r for r in sealed) == 2
    assert not any("bstfw1" in r and "established" in r for r in fwd)
    routed = [r for r in fwd if "bstfw0" in r and "bstfw1" not in r]
    assert [('"accept"' in r, '"iifname"' in r) for r in routed[-2:]] == [
        (True, True),
        (False, False),
    ]
    # one network alone: no isolation rule
    assert not any(r.count('"set"') == 2 for r in rules(Ruleset((OPEN,), ()), "forward"))


def test_published_ports_with_and_without_host_address() -> None:
    ports = (
        PortMapping("", 8080, "10.77.1.2", 80, "tcp"),
        PortMapping("127.0.0.1", 5353, "10.77.1.3", 53, "udp"),
        PortMapping("0.0.0.0", 8443, "10.77.1.4", 443, "tcp"),
    )
    published = rules(Ruleset(networks=(OPEN,), ports=ports), "published")
    assert len(published) == 3
    assert '"daddr"' not in published[0] and '"daddr"' not in published[2]
    assert '"127.0.0.1"' in published[1] and '"udp"' in published[1]
    assert '"addr": "10.77.1.3", "port": 53' in published[1]
    post = rules(Ruleset(networks=(OPEN,), ports=ports), "postrouting")
    assert any("127.0.0.0" in r for r in post)  # the host's 127.0.0.1 masqueraded to the bridge


@pytest.mark.parametrize(
    ("ruleset", "where"),
    [
        (
            Ruleset(networks=(NetworkPolicy("x", "b", ("10.0.0.0/33",), False),), ports=()),
            "networks[0].subnets",
        ),
        (
            Ruleset(networks=(NetworkPolicy("x", "a-bridge-name-too-long", (), False),), ports=()),
            "networks[0].bridge",
        ),
        (
            Ruleset(networks=(), ports=(PortMapping("", 70000, "10.0.0.2", 80, "tcp"),)),
            "ports[0].host_port",
        ),
        (
            Ruleset(networks=(), ports=(PortMapping("", 80, "10.0.0.2", 80, "icmp"),)),
            "ports[0].protocol",
        ),
        (Ruleset(networks=(), ports=(PortMapping("", 80, "nowhere", 80, "tcp"),)), "ports[0]"),
        (
            Ruleset(networks=(), ports=(PortMapping("::1", 80, "10.0.0.2", 80, "tcp"),)),
            "ports[0].host_ip",
        ),
        (
            Ruleset(
                networks=(),
                ports=(
                    PortMapping("127.0.0.1", 80, "10.0.0.2", 80, "tcp"),
                    PortMapping("", 80, "10.0.0.3", 80, "tcp"),
                ),
            ),
            "ports[1].host_port",
        ),
    ],
)
def test_malformed_rulesets_name_the_field(ruleset: Ruleset, where: str) -> None:
    with pytest.raises(firewall.FirewallError) as info:
        firewall.build(ruleset)
    assert info.value.where == where


def test_one_port_on_two_host_addresses_or_protocols_is_fine() -> None:
    ports = (
        PortMapping("127.0.0.1", 80, "10.0.0.2", 80, "tcp"),
        PortMapping("10.0.0.1", 80, "10.0.0.3", 80, "tcp"),
        PortMapping("", 80, "10.0.0.3", 80, "udp"),
    )
    assert len(rules(Ruleset(networks=(), ports=ports), "published")) == 3


def test_sysctls_wanted() -> None:
    assert firewall._wanted_sysctls(Ruleset(networks=(SEALED,), ports=())) == {}
    wanted = firewall._wanted_sysctls(
        Ruleset(networks=(OPEN, SEALED), ports=(PortMapping("", 1, "10.77.1.2", 1, "tcp"),))
    )
    assert wanted == {
        "/proc/sys/net/ipv4/ip_forward": "1",
        "/proc/sys/net/ipv6/conf/all/forwarding": "1",
        "/proc/sys/net/ipv4/conf/bstfw0/route_localnet": "1",
    }
