"""bastion's nftables table on a real topology: NAT, published ports, hairpin, isolation, internal.

The topology (module fixture, built with pyroute2; every name is this test's own):

    upstream netns ──veth── host ──bridge A (10.X.1.0/24)── c1 (.2), c2 (.3)
    (owns 10.X.200.0/24,          ──bridge B (10.X.2.0/24)── c3 (.2)
     no route back to A/B/C)      ──bridge C (10.X.3.0/24, internal)── c4 (.2)

The upstream network namespace has no route to the containers' subnets, so a container reaches it
only when bastion's masquerade rewrites the source to the host's uplink address. Servers and
clients are sockets opened inside the namespaces (setns in a short thread), nothing else runs.
Sysctls the firewall turns on are put back as they were by the fixture.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from bastion._sys.proc import is_alive
from bastion.network import dns, firewall
from bastion.network.firewall import NetworkPolicy, PortMapping, Ruleset
from bastion_testing.bundle import new_name
from bastion_testing.netns_sockets import FakeUpstream, addresses, free_base, in_netns, query

pytestmark = pytest.mark.privileged

_SYSCTLS = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")
PORT = 18080  # published on the host
REFUSED = (TimeoutError, ConnectionError, OSError)


class PeerServer:
    """A TCP server in a namespace that answers each connection with the peer's address."""

    def __init__(self, ns: str | None, address: str, port: int) -> None:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            s.listen(16)
            return s

        self.sock = in_netns(ns, make)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(peer[0].encode())

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join()


def ask(ns: str | None, address: str, port: int) -> str:
    """Connect from `ns` and return what the server says (the address it saw us from)."""

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.5)  # a dropped SYN waits this long: the negative checks' cost
        return s

    with in_netns(ns, make) as s:
        s.connect((address, port))
        return s.recv(100).decode()


def unreachable(ns: str | None, address: str, port: int) -> bool:
    try:
        ask(ns, address, port)
    except REFUSED:
        return True
    return False


@dataclass
class Topology:
    token: str
    base: str  # "10.X"
    bridges: dict[str, str]  # A, B, C -> bridge name
    ns: dict[str, str]  # c1..c4, up -> netns name

    def addr(self, third: int, host: int) -> str:
        return f"{self.base}.{third}.{host}"

    @property
    def uplink(self) -> str:  # the host's address towards the upstream
        return self.addr(9, 1)

    @property
    def upstream(self) -> str:  # an address the upstream owns, routed by the host
        return self.addr(200, 1)

    def networks(self, *, internal_c: bool = True) -> tuple[NetworkPolicy, ...]:
        return (
            NetworkPolicy("a", self.bridges["A"], (f"{self.base}.1.0/24",), False),
            NetworkPolicy("b", self.bridges["B"], (f"{self.base}.2.0/24",), False),
            NetworkPolicy("c", self.bridges["C"], (f"{self.base}.3.0/24",), internal_c),
        )


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _attach(ipr: IPRoute, ns: str, host_end: str, master: int | None, addr: str, gw: str) -> None:
    """A veth from the host (`host_end`, on bridge `master`) to eth0 in `ns` with `addr`/24."""
    peer = f"{host_end}p"
    ipr.link("add", ifname=host_end, kind="veth", peer=peer)
    host_idx = ipr.link_lookup(ifname=host_end)[0]
    if master is not None:
        ipr.link("set", index=host_idx, master=master)
        # A container reaching its own published port through the host comes back out of the
        # port it came in by: the bridge allows that only in hairpin mode (Docker sets it too).
        ipr.brport("set", index=host_idx, mode=1)  # IFLA_BRPORT_MODE: hairpin
    ipr.link("set", index=host_idx, state="up")
    ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], net_ns_fd=ns)
    with IPRoute(netns=ns) as inner:
        inner.link("set", index=inner.link_lookup(ifname="lo")[0], state="up")
        idx = inner.link_lookup(ifname=peer)[0]
        inner.link("set", index=idx, ifname="eth0")
        inner.addr("add", index=idx, address=addr, prefixlen=24)
        inner.link("set", index=idx, state="up")
        if gw:
            inner.route("add", dst="0.0.0.0/0", gateway=gw)


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    token = secrets.token_hex(2)
    base = free_base()
    bridges = {k: f"bstfw{token}{k}" for k in "ABC"}
    names = {k: f"{new_name()}-fw-{k}" for k in ("c1", "c2", "c3", "c4", "up")}
    sysctls = {p: _read(p) for p in _SYSCTLS}
    t = Topology(token, base, bridges, names)
    made_links: list[str] = []
    try:
        for n in names.values():
            netns.create(n)
        with IPRoute() as ipr:
            for third, key in ((1, "A"), (2, "B"), (3, "C")):
                ipr.link("add", ifname=bridges[key], kind="bridge")
                made_links.append(bridges[key])
                idx = ipr.link_lookup(ifname=bridges[key])[0]
                ipr.addr("add", index=idx, address=t.addr(third, 1), prefixlen=24)
                ipr.link("set", index=idx, state="up")
            for key, third, host, bridge in (
                ("c1", 1, 2, "A"),
                ("c2", 1, 3, "A"),
                ("c3", 2, 2, "B"),
                ("c4", 3, 2, "C"),
            ):
                master = ipr.link_lookup(ifname=bridges[bridge])[0]
                veth = f"bstfw{token}{key}"
                made_links.append(veth)
                _attach(ipr, names[key], veth, master, t.addr(third, host), t.addr(third, 1))
            # The upstream: its own veth and an address range it owns, routed by the host.
            uplink = f"bstfw{token}up"
            made_links.append(uplink)
            _attach(ipr, names["up"], uplink, None, t.addr(9, 2), "")
            uidx = ipr.link_lookup(ifname=uplink)[0]
            ipr.addr("add", index=uidx, address=t.uplink, prefixlen=24)
            ipr.route("add", dst=f"{base}.200.0/24", gateway=t.addr(9, 2))
        with IPRoute(netns=names["up"]) as up:
            up.addr("add", index=1, address=t.upstream, prefixlen=24)
        yield t
    finally:
        with IPRoute() as ipr:
            for link in made_links:
                for idx in ipr.link_lookup(ifname=link):
                    ipr.link("del", index=idx)
        for n in names.values():
            if os.path.exists(f"/run/netns/{n}"):
                netns.remove(n)
        for path, value in sysctls.items():
            with open(path, "w") as f:
                f.write(value)


@pytest.fixture
def table() -> Iterator[str]:
    name = f"bastion-test-fw-{secrets.token_hex(4)}"
    yield name
    firewall.remove(table=name)


def _rules(table: str) -> list[tuple[str, object]]:
    out = subprocess.run(
        ["nft", "-j", "list", "table", "inet", table], capture_output=True, text=True, check=True
    ).stdout
    return [
        (item["rule"]["chain"], item["rule"]["expr"])
        for item in json.loads(out)["nftables"]
        if "rule" in item
    ]


def _tables() -> list[str]:
    out = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True).stdout
    return [i["table"]["name"] for i in json.loads(out)["nftables"] if "table" in i]


def test_nat_ports_hairpin_isolation_internal(
    topo: Topology, table: str, tmp_path: os.PathLike[str]
) -> None:
    upstream = PeerServer(topo.ns["up"], topo.upstream, 80)
    web = PeerServer(topo.ns["c1"], "0.0.0.0", 80)
    other = PeerServer(topo.ns["c3"], "0.0.0.0", 80)
    try:
        # Without bastion's table the upstream cannot answer: it has no route to the subnet.
        assert unreachable(topo.ns["c1"], topo.upstream, 80)

        c1 = topo.addr(1, 2)
        record = os.path.join(tmp_path, "sysctl.json")
        before = {p: _read(p) for p in _SYSCTLS}
        ruleset = Ruleset(
            networks=topo.networks(),
            ports=(PortMapping("", PORT, c1, 80, "tcp"),),
        )
        firewall.apply(ruleset, table=table, record=record)

        # What was changed is recorded, with the value it had.
        assert _read("/proc/sys/net/ipv4/ip_forward") == "1"
        assert _read(f"/proc/sys/net/ipv4/conf/{topo.bridges['A']}/route_localnet") == "1"
        with open(record) as f:
            recorded = json.load(f)
        if before["/proc/sys/net/ipv4/ip_forward"] != "1":
            assert recorded["/proc/sys/net/ipv4/ip_forward"] == [
                before["/proc/sys/net/ipv4/ip_forward"],
                "1",
            ]

        # Masquerade: the upstream sees the host's uplink address, from either routed network.
        assert ask(topo.ns["c1"], topo.upstream, 80) == topo.uplink
        assert ask(topo.ns["c3"], topo.upstream, 80) == topo.uplink
        # Within a bridge, containers talk directly, unmasqueraded.
        assert ask(topo.ns["c2"], c1, 80) == topo.addr(1, 3)

        # Published port from the host: 127.0.0.1 (route_localnet + loopback masquerade) and the
        # bridge-side address.
        assert ask(None, "127.0.0.1", PORT) == topo.addr(1, 1)
        assert ask(None, topo.addr(1, 1), PORT) == topo.addr(1, 1)
        # From another host (the upstream) through the host's address: DNAT, source kept.
        assert ask(topo.ns["up"], topo.uplink, PORT) == topo.addr(9, 2)
        # Hairpin: a container on the same bridge, and the container itself, through the host.
        assert ask(topo.ns["c2"], topo.addr(1, 1), PORT) == topo.addr(1, 1)
        assert ask(topo.ns["c1"], topo.addr(1, 1), PORT) == topo.addr(1, 1)

        # Isolation: bridges A and B do not reach each other (both ways)...
        assert unreachable(topo.ns["c3"], c1, 80)
        assert unreachable(topo.ns["c1"], topo.addr(2, 2), 80)
        # ... and another host with a route to subnet A does not reach an unpublished port.
        with IPRoute(netns=topo.ns["up"]) as up:
            up.route("add", dst=f"{topo.base}.1.0/24", gateway=topo.uplink)
        assert unreachable(topo.ns["up"], c1, 80)
        # Internal network C: no way out, and no way in from another bridge.
        assert unreachable(topo.ns["c4"], topo.upstream, 80)
        assert unreachable(topo.ns["c4"], c1, 80)

        # The same network made non-internal gets out: the internal drop was what stopped it.
        firewall.apply(
            Ruleset(networks=topo.networks(internal_c=False), ports=ruleset.ports),
            table=table,
            record=record,
        )
        assert ask(topo.ns["c4"], topo.upstream, 80) == topo.uplink
    finally:
        for server in (upstream, web, other):
            server.close()


def test_apply_replaces_the_whole_table_and_remove_deletes_it(topo: Topology, table: str) -> None:
    record = f"/run/bastion-test-fw-{topo.token}-sysctl.json"
    c1, c2 = topo.addr(1, 2), topo.addr(1, 3)
    first = Ruleset(
        networks=topo.networks(),
        ports=(PortMapping("", 18081, c1, 80, "tcp"), PortMapping("", 18082, c2, 53, "udp")),
    )
    second = Ruleset(
        networks=topo.networks()[:2], ports=(PortMapping("127.0.0.1", 18083, c2, 80, "tcp"),)
    )
    try:
        firewall.apply(first, table=table, record=record)
        firewall.apply(second, table=table, record=record)
        after_change = _rules(table)
        firewall.remove(table=table)
        assert table not in _tables()
        firewall.apply(second, table=table, record=record)
        fresh = _rules(table)
    finally:
        if os.path.exists(record):
            os.unlink(record)
    assert after_change == fresh
    published = [expr for chain, expr in fresh if chain == "published"]
    assert len(published) == 1
    assert "18083" in json.dumps(published) and "18081" not in json.dumps(after_change)
    assert topo.bridges["C"] not in json.dumps(after_change)

    firewall.remove(table=table)
    firewall.remove(table=table)  # absent: no error
    assert table not in _tables()


def test_malformed_ruleset_changes_nothing(topo: Topology, table: str) -> None:
    good = Ruleset(networks=topo.networks(), ports=())
    firewall.apply(good, table=table, record=f"/run/bastion-test-fw-{topo.token}.json")
    before = _rules(table)
    for bad in (
        Ruleset(networks=(NetworkPolicy("x", "bstfw", ("10.1.2.300/24",), False),), ports=()),
        Ruleset(networks=(), ports=(PortMapping("", 0, topo.addr(1, 2), 80, "tcp"),)),
        Ruleset(networks=(), ports=(PortMapping("", 80, topo.addr(1, 2), 80, "sctp"),)),
        Ruleset(networks=(), ports=(PortMapping("::1", 80, topo.addr(1, 2), 80, "tcp"),)),
    ):
        with pytest.raises(firewall.FirewallError) as info:
            firewall.apply(bad, table=table)
        assert info.value.reference == "network-firewall" and info.value.where
    assert _rules(table) == before
    path = f"/run/bastion-test-fw-{topo.token}.json"
    if os.path.exists(path):
        os.unlink(path)


def ask6(port: int) -> str:
    """Connect to [::1]:`port` from the host and return what the server says."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(("::1", port))
        return s.recv(100).decode()


def free_ipv6_loopback_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def _proxy_pid(table: str, port: int) -> int | None:
    try:
        with open(os.path.join(firewall.proxy_dir(table), f"tcp-{port}.pid")) as f:
            return int(json.load(f)["pid"])
    except FileNotFoundError:
        return None


def test_a_port_published_on_every_address_answers_on_ipv6_loopback(
    topo: Topology, table: str, tmp_path: Path
) -> None:
    """No rule can bring a ::1 source to a container (IPv6 has no route_localnet): a userland
    proxy per TCP port published on every address does, as Docker's docker-proxy. `apply`
    starts it, and stops it when the port is no longer published so; `remove` too."""
    record = os.path.join(tmp_path, "sysctl.json")
    c1 = topo.addr(1, 2)
    port = free_ipv6_loopback_port()
    everywhere = Ruleset(networks=topo.networks(), ports=(PortMapping("", port, c1, 80, "tcp"),))
    loopback4 = Ruleset(
        networks=topo.networks(), ports=(PortMapping("127.0.0.1", port, c1, 80, "tcp"),)
    )
    web = PeerServer(topo.ns["c1"], "0.0.0.0", 80)
    try:
        firewall.apply(everywhere, table=table, record=record)
        # the proxy's own connection, from the host through bridge A
        assert ask6(port) == topo.addr(1, 1)
        assert ask(None, "127.0.0.1", port) == topo.addr(1, 1)  # the DNAT, as before
        first = _proxy_pid(table, port)
        assert first is not None
        firewall.apply(everywhere, table=table, record=record)  # unchanged: the same proxy
        assert _proxy_pid(table, port) == first

        # published on 127.0.0.1 only: no proxy; the proxy process is gone
        firewall.apply(loopback4, table=table, record=record)
        with pytest.raises(ConnectionRefusedError):
            ask6(port)
        assert _proxy_pid(table, port) is None and not is_alive(first, None)
        assert ask(None, "127.0.0.1", port) == topo.addr(1, 1)

        firewall.apply(everywhere, table=table, record=record)
        second = _proxy_pid(table, port)
        assert second is not None and ask6(port) == topo.addr(1, 1)
        firewall.remove(table=table)
        with pytest.raises(ConnectionRefusedError):
            ask6(port)
        assert not is_alive(second, None)
        assert not os.path.exists(firewall.proxy_dir(table))
    finally:
        web.close()


def test_a_taken_ipv6_loopback_port_changes_nothing(
    topo: Topology, table: str, tmp_path: Path
) -> None:
    record = os.path.join(tmp_path, "sysctl.json")
    c1 = topo.addr(1, 2)
    firewall.apply(Ruleset(networks=topo.networks(), ports=()), table=table, record=record)
    before = _rules(table)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.bind(("::1", 0))
        taken.listen(1)
        port = int(taken.getsockname()[1])
        ports = (PortMapping("", port, c1, 80, "tcp"),)
        with pytest.raises(firewall.FirewallError) as info:
            firewall.apply(Ruleset(networks=topo.networks(), ports=ports), table=table)
    assert info.value.reference == "network-firewall"
    assert f"port {port}" in str(info.value) and "in use" in str(info.value)
    assert _rules(table) == before  # the DNAT was not added either
    assert _proxy_pid(table, port) is None


def test_containers_resolve_names_through_the_gateway_responder(
    topo: Topology, table: str, tmp_path: Path
) -> None:
    """The responder on bridge A's gateway answers the containers, with bastion's table in place,
    and forwards other names to a resolver in the upstream namespace."""
    firewall.apply(
        Ruleset(networks=topo.networks(), ports=()), table=table, record=str(tmp_path / "s.json")
    )
    upstream = FakeUpstream(topo.upstream, ns=topo.ns["up"])
    names = tmp_path / "names"
    names.write_text(f"{topo.addr(1, 2)} web frontend\n{topo.addr(1, 3)} db\n")
    directory = str(tmp_path / "dns")
    gateway = topo.addr(1, 1)
    try:
        dns.ensure_responder(
            directory, listen=gateway, names_file=str(names), upstreams=(topo.upstream,)
        )
        assert addresses(query(gateway, "db", ns=topo.ns["c1"])) == [topo.addr(1, 3)]
        assert addresses(query(gateway, "frontend", ns=topo.ns["c2"], tcp=True)) == [
            topo.addr(1, 2)
        ]
        assert addresses(query(gateway, "www.upstream.test", ns=topo.ns["c1"])) == ["192.0.2.53"]
        assert upstream.asked == [("udp", "www.upstream.test.")]
    finally:
        dns.stop_responder(directory)
        upstream.close()
