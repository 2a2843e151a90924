"""CNI: Debian's plugins (bridge + host-local) run from a conflist with ADD, CHECK and DEL.

The list uses only plugins that program no iptables (bridge with ipMasq off, host-local, tuning):
Debian's portmap and firewall plugins (1.1.1) write iptables rules into the host's tables, which a
test must not touch. The container is a network namespace the test makes; host-local keeps its
leases in the test's tmp directory.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute, netns

from bastion.network import cni
from bastion_testing.bundle import new_name
from bastion_testing.netns_sockets import free_base, in_netns

pytestmark = pytest.mark.privileged


@dataclass
class Rig:
    ns: str
    bridge: str
    base: str
    tmp: Path

    def conflist(self, *extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "cniVersion": "1.0.0",
            "name": f"bstfw-{self.bridge}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": f"{self.base}.5.0/24"}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.tmp / "leases"),
                    },
                },
                *extra,
            ],
        }

    def leases(self) -> list[str]:
        d = self.tmp / "leases" / f"bstfw-{self.bridge}"
        return sorted(n for n in os.listdir(d) if n[0].isdigit()) if d.exists() else []

    def eth0_addresses(self) -> list[str]:
        with IPRoute(netns=self.ns) as ipr:
            idx = ipr.link_lookup(ifname="eth0")
            if not idx:
                return []
            return [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx[0], family=2)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(f"{new_name()}-cni", f"bstfw{secrets.token_hex(3)}c", free_base(), tmp_path)
    netns.create(r.ns)
    try:
        yield r
    finally:
        netns.remove(r.ns)  # the veth's container end goes with it, and so its host end
        with IPRoute() as ipr:  # the bridge plugin leaves the bridge on DEL, as documented
            for idx in ipr.link_lookup(ifname=r.bridge):
                ipr.link("del", index=idx)


def test_add_check_del(rig: Rig) -> None:
    conf = rig.conflist()
    netns_path = f"/run/netns/{rig.ns}"
    cache = str(rig.tmp / "cache")
    result = cni.add(conf, "bstfw-c1", netns_path, "eth0", cache_dir=cache)

    address = result["ips"][0]["address"].split("/")[0]
    assert result["ips"][0]["gateway"] == f"{rig.base}.5.1"
    # The plugins really did it: eth0 in the namespace has the address, a lease is held, and
    # the host reaches the container through the bridge.
    assert rig.eth0_addresses() == [address]
    assert rig.leases() == [address]

    def serve() -> socket.socket:
        s = socket.socket()
        s.bind((address, 7))
        s.listen(1)
        return s

    with in_netns(rig.ns, serve) as server, socket.create_connection((address, 7), timeout=5):
        conn, peer = server.accept()
        conn.close()
    assert peer[0] == f"{rig.base}.5.1"

    cni.check(conf, "bstfw-c1", netns_path, "eth0", cache_dir=cache)
    # CHECK sees a change behind the plugins' back: the address gone from eth0.
    with IPRoute(netns=rig.ns) as ipr:
        idx = ipr.link_lookup(ifname="eth0")[0]
        ipr.addr("del", index=idx, address=address, prefixlen=24)
    with pytest.raises(cni.CniError) as info:
        cni.check(conf, "bstfw-c1", netns_path, "eth0", cache_dir=cache)
    assert info.value.reference == "network-cni" and "bridge CHECK" in (info.value.where or "")

    cni.delete(conf, "bstfw-c1", netns_path, "eth0", cache_dir=cache)
    assert rig.eth0_addresses() == []
    assert rig.leases() == []
    assert os.listdir(cache) == []
    cni.delete(conf, "bstfw-c1", netns_path, "eth0", cache_dir=cache)  # again: no error


def test_a_failing_plugin_rolls_the_attachment_back(rig: Rig) -> None:
    conf = rig.conflist({"type": "tuning", "sysctl": {"net.bastion.no.such.key": "1"}})
    netns_path = f"/run/netns/{rig.ns}"
    with pytest.raises(cni.CniError) as info:
        cni.add(conf, "bstfw-c2", netns_path, "eth0", cache_dir=str(rig.tmp / "cache"))
    assert "tuning ADD" in (info.value.where or "")
    assert rig.eth0_addresses() == [] and rig.leases() == []
    assert not (rig.tmp / "cache").exists()


def test_bad_lists_are_refused_before_any_plugin_runs(rig: Rig) -> None:
    netns_path = f"/run/netns/{rig.ns}"
    missing = rig.conflist({"type": "bastion-no-such-plugin"})
    with pytest.raises(cni.CniError) as info:
        cni.add(missing, "bstfw-c3", netns_path, "eth0", cache_dir=str(rig.tmp / "cache"))
    assert info.value.where == f"bstfw-{rig.bridge}: plugins[1].type"
    assert rig.leases() == [] and not os.path.exists(f"/sys/class/net/{rig.bridge}")
    for bad, where in (
        ({"cniVersion": "1.0.0", "name": "x", "plugins": []}, "conflist: plugins"),
        ({"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}, "conflist: name"),
        (
            {"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "../sh"}]},
            "conflist: plugins[0]",
        ),
    ):
        with pytest.raises(cni.CniError) as info:
            cni.load(bad)
        assert info.value.where == where
    conf_file = rig.tmp / "net.conflist"
    conf_file.write_text("{not json")
    with pytest.raises(cni.CniError) as info:
        cni.load(str(conf_file))
    assert info.value.where == str(conf_file)
