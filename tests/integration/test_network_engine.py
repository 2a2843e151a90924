"""Container networking end to end through the `bastion` CLI (docs/network.md): what a
container on a bridge sees from inside, two containers on one user network talking, 20
concurrent `run --rm` getting distinct addresses, `--ip`, `container:NAME`, network verbs, bad
input making nothing, and teardown leaving nothing (a crashed container included).

The rig's engine names its bridges, veths and nft table with a prefix of its own (`bst` + 4
hex digits) and puts its default network on a free private /24; the user networks here get
free /24s of 10.200.0.0/13 the same way. Traffic only between the namespaces these tests make.
The NAT, published-port and name-resolution checks need the firewall and the DNS responder:
they are in test_network_firewall_engine.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion._sys import rtnl
from bastion.network import netns, plumbing
from bastion_testing.engine import Bastion, engine_rig, free_subnet

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

IFLA_LINK = 5  # linux/if_link.h: a veth end's peer, by its index in the peer's namespace


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs) as b:
        yield b


@pytest.fixture(scope="module")
def user_net(bastion: Bastion) -> Iterator[tuple[str, str]]:
    """A user network (name, subnet) for the module."""
    name = f"{bastion.network_prefix}-user"
    subnet = free_subnet()
    bastion.ok("network", "create", "--subnet", subnet, name)
    yield name, subnet
    bastion.ok("network", "rm", name)


def links(bastion: Bastion | None = None) -> set[str]:
    """The host's links; with `bastion`, only its engine's (other engines' come and go)."""
    names = set(os.listdir("/sys/class/net"))
    return {n for n in names if n.startswith(bastion.network_prefix)} if bastion else names


def links_after(bastion: Bastion, before: set[str], allowed: set[str]) -> set[str]:
    """The engine's links that `before` did not have, once only `allowed` ones are left (or
    after 10 s): a container's veth goes with its namespace, which the kernel frees a moment
    after the container's end, not within it."""
    deadline = time.monotonic() + 10
    while (left := links(bastion) - before) - allowed and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def leases(bastion: Bastion) -> list[tuple[Any, ...]]:
    with sqlite3.connect(os.path.join(bastion.root, "bastion.db")) as db:
        return list(db.execute("SELECT container_id, ipv4, veth FROM leases"))


def network_doc(bastion: Bastion, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(bastion.ok("network", "inspect", name))[0]
    return doc


def ip_addr(output: str) -> dict[str, list[str]]:
    """`ip -o addr` as {interface: [address/prefix...]} (IPv4 and global IPv6)."""
    out: dict[str, list[str]] = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 3 and words[2] in ("inet", "inet6") and "link" not in words:
            out.setdefault(words[1], []).append(words[3])
    return out


def test_a_container_on_the_default_network(bastion: Bastion) -> None:
    before = links(bastion)
    out = bastion.ok(
        "run",
        "--rm",
        bastion.image,
        "sh",
        "-c",
        "ip -o addr; echo ---; ip route; echo ---;"
        " cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu /etc/hosts /etc/resolv.conf",
    )
    addresses, routes, files = out.split("---\n")
    seen = ip_addr(addresses)
    assert set(seen) == {"lo", "eth0"}
    (address,) = seen["eth0"]
    bridge = network_doc(bastion, "bridge")
    subnet = ipaddress.ip_network(bastion.env["BASTION_NETWORK_SUBNET"])
    assert bridge["IPAM"]["Config"] == [
        {"Subnet": str(subnet), "Gateway": str(subnet.network_address + 1)}
    ]
    assert ipaddress.ip_interface(address).network == subnet
    assert ipaddress.ip_interface(address).ip != subnet.network_address + 1
    assert f"default via {subnet.network_address + 1} dev eth0" in routes
    mac, mtu, *rest = files.splitlines()
    packed = ipaddress.ip_interface(address).ip.packed
    assert mac == "02:42:" + ":".join(f"{b:02x}" for b in packed)
    default = subprocess.run(
        ["ip", "-o", "route", "show", "default"], capture_output=True, text=True
    )
    words = default.stdout.split()
    if "dev" in words:  # the MTU of the host's default route's interface
        with open(f"/sys/class/net/{words[words.index('dev') + 1]}/mtu") as f:
            assert int(mtu) == int(f.read())
    else:
        assert int(mtu) == 1500
    hosts = "\n".join(rest)
    assert f"{ipaddress.ip_interface(address).ip}\t" in hosts
    assert not any(line.startswith(("nameserver 127.", "nameserver ::1")) for line in rest)
    # --rm: nothing of it left
    bridge_name = bridge["Options"]["com.docker.network.bridge.name"]
    assert links_after(bastion, before, {bridge_name}) <= {bridge_name}
    assert leases(bastion) == []
    assert os.listdir(os.path.join(bastion.root, "netns")) == []


def test_two_containers_on_a_user_network_talk(bastion: Bastion, user_net: tuple[str, str]) -> None:
    name, subnet = user_net
    static = str(ipaddress.ip_network(subnet).network_address + 77)
    server = bastion.ok(
        "run", "-d", "--network", name, "--ip", static, "--network-alias", "web",
        bastion.image, "sh", "-c", "echo served > /tmp/index.html; httpd -f -p 80 -h /tmp",
    ).strip()  # fmt: skip
    try:
        doc = bastion.inspect(server)
        settings: Any = doc["NetworkSettings"]
        assert settings["IPAddress"] == static
        assert settings["Networks"][name]["Aliases"] == ["web"]
        assert settings["Networks"][name]["Gateway"] == str(
            ipaddress.ip_network(subnet).network_address + 1
        )
        assert server in network_doc(bastion, name)["Containers"]
        out = bastion.ok(
            "run", "--rm", "--network", name, bastion.image,
            "sh", "-c", f"for i in 1 2 3 4 5; do wget -q -O - http://{static}/index.html && break;"
            " sleep 0.2; done",
        )  # fmt: skip
        assert out == "served\n"
        # the address is leased: a second --ip of it is refused, and nothing is left of it
        taken = bastion("run", "--rm", "--network", name, "--ip", static, bastion.image, "true")
        assert taken.returncode == 125
        assert "error[network-address]" in taken.stderr
        # in use: refused, naming the container
        refused = bastion("network", "rm", name)
        assert refused.returncode == 125 and "error[network-in-use]" in refused.stderr
    finally:
        bastion.ok("rm", "-f", server)
    assert bastion.ok("ps", "-a", "-q") == ""
    assert network_doc(bastion, name)["Containers"] == {}


def _link(path: str | None, name: str) -> dict[int, bytes]:
    """The netlink attributes of the link `name` in the namespace at `path` (None: the host's)."""

    def read() -> dict[int, bytes]:
        with rtnl.Socket() as sock:
            found = sock.link(name)
        assert found is not None, name
        return found[1]

    return read() if path is None else netns.run_inside(path, read)


def test_a_containers_veth_carries_big_tcp_packets(
    bastion: Bastion, user_net: tuple[str, str]
) -> None:
    """Both ends of a container's veth take IPv4 TCP packets of up to GSO_IPV4_MAX_SIZE (BIG
    TCP, docs/network.md), and a bulk transfer between two containers arrives whole through
    the bridge, br_netfilter and the table."""
    name, _ = user_net
    server = bastion.ok(
        "run", "-d", "--network", name, bastion.image, "sh", "-c",
        "dd if=/dev/urandom of=/tmp/blob bs=1M count=8 2>/dev/null; md5sum < /tmp/blob > /tmp/sum;"
        " httpd -f -p 80 -h /tmp",
    ).strip()  # fmt: skip
    try:
        inside = _link(os.path.join(bastion.root, "netns", server), "eth0")
        (peer,) = struct.unpack("=i", inside[IFLA_LINK])
        host = next(
            n for n in os.listdir("/sys/class/net") if _sysfs(f"/sys/class/net/{n}/ifindex") == peer
        )
        assert host.startswith(bastion.network_prefix)
        for attrs in (inside, _link(None, host)):
            for kind in (rtnl.IFLA_GSO_IPV4_MAX_SIZE, rtnl.IFLA_GRO_IPV4_MAX_SIZE):
                assert struct.unpack("=I", attrs[kind]) == (plumbing.GSO_IPV4_MAX_SIZE,)
        settings: Any = bastion.inspect(server)["NetworkSettings"]
        address = settings["Networks"][name]["IPAddress"]
        fetch = f"wget -q -O {{out}} http://{address}/{{name}}"
        out = bastion.ok(
            "run", "--rm", "--network", name, bastion.image, "sh", "-c",
            f"for i in $(seq 20); do {fetch.format(out='/tmp/sum', name='sum')} && break;"
            f" sleep 0.3; done; {fetch.format(out='/tmp/blob', name='blob')};"
            " cat /tmp/sum; md5sum < /tmp/blob",
        )  # fmt: skip
        sent, received = out.split("\n")[:2]
        assert sent == received and len(sent.split()[0]) == 32
    finally:
        bastion.ok("rm", "-f", server)


def _sysfs(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def test_twenty_concurrent_runs_get_distinct_addresses(
    bastion: Bastion, user_net: tuple[str, str]
) -> None:
    """20 `run -d --rm` at once, alive together: 20 addresses; killed, each one's monitor
    removes it (`bastion cleanup`) and nothing of them is left."""
    name, subnet = user_net
    before = links(bastion)
    runs = [
        subprocess.Popen(
            bastion.argv("run", "-d", "--rm", "--network", name, bastion.image, "sleep", "60"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **bastion.env},
        )
        for _ in range(20)
    ]
    ids = []
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
        ids.append(out.strip())
    addresses = {}
    for cid in ids:
        settings: Any = bastion.inspect(cid)["NetworkSettings"]
        addresses[cid] = ipaddress.ip_interface(
            f"{settings['IPAddress']}/{settings['IPPrefixLen']}"
        )
    assert len(set(addresses.values())) == 20
    assert all(a.network == ipaddress.ip_network(subnet) for a in addresses.values())
    assert len(leases(bastion)) == 20
    bastion.ok("kill", *ids)
    deadline = time.monotonic() + 60
    while True:
        # `ps` may lose a race with a `cleanup` removing a container it looks at: ask again
        listed = bastion("ps", "-a", "-q")
        if listed.returncode == 0 and not listed.stdout:
            break
        assert time.monotonic() < deadline, "the killed --rm containers were not removed"
        time.sleep(0.2)
    assert leases(bastion) == []
    assert links_after(bastion, before, set()) == set()
    assert os.listdir(os.path.join(bastion.root, "netns")) == []


def test_container_mode_shares_the_namespace(bastion: Bastion) -> None:
    first = bastion.ok("run", "-d", "--name", "bst-net-first", bastion.image, "sleep", "60")
    try:
        out = bastion.ok("run", "--rm", "--network", "container:bst-net-first",
                         bastion.image, "sh", "-c", "ip -o addr; cat /etc/hosts")  # fmt: skip
        settings: Any = bastion.inspect(first.strip())["NetworkSettings"]
        assert ip_addr(out)["eth0"] == [f"{settings['IPAddress']}/{settings['IPPrefixLen']}"]
        assert f"{settings['IPAddress']}\t" in out  # the first container's /etc/hosts
    finally:
        bastion.ok("rm", "-f", first.strip())


def test_a_crashed_container_leaves_nothing(bastion: Bastion) -> None:
    bastion.ok("network", "ls")  # the default network (its bridge) made
    before = links(bastion)
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "60").strip()
    assert [lease[0] for lease in leases(bastion)] == [cid]
    pid = bastion.inspect(cid)["State"]["Pid"]  # type: ignore[index]
    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while bastion.inspect(cid)["State"]["Running"]:  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert leases(bastion) == []
    assert links_after(bastion, before, set()) == set()
    assert os.listdir(os.path.join(bastion.root, "netns")) == []
    bastion.ok("rm", cid)


def test_connect_and_disconnect(bastion: Bastion, user_net: tuple[str, str]) -> None:
    name, subnet = user_net
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "60").strip()
    try:
        sandbox = bastion.inspect(cid)["NetworkSettings"]["SandboxKey"]  # type: ignore[index]

        def inside() -> dict[str, list[str]]:
            result = subprocess.run(
                ["nsenter", f"--net={sandbox}", "ip", "-o", "addr"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            return ip_addr(result.stdout)

        def hosts() -> list[str]:  # the addresses of its /etc/hosts, seen from inside
            lines = bastion.ok("exec", cid, "cat", "/etc/hosts").splitlines()
            return [
                line.split()[0] for line in lines if "localhost" not in line and "ip6-" not in line
            ]

        assert set(inside()) == {"lo", "eth0"}
        (first,) = hosts()
        bastion.ok("network", "connect", name, cid)
        (address,) = inside()["eth1"]
        assert ipaddress.ip_interface(address).network == ipaddress.ip_network(subnet)
        networks = bastion.inspect(cid)["NetworkSettings"]["Networks"]  # type: ignore[index]
        assert set(networks) == {"bridge", name}
        assert hosts() == [first, str(ipaddress.ip_interface(address).ip)]  # Docker's too
        bastion.ok("network", "disconnect", name, cid)
        assert set(inside()) == {"lo", "eth0"}
        assert hosts() == [first]
        assert [lease[0] for lease in leases(bastion)] == [cid]
    finally:
        bastion.ok("rm", "-f", cid)


def test_ipv6_network(bastion: Bastion) -> None:
    name = f"{bastion.network_prefix}-six"
    v4 = free_subnet()
    v6 = f"fd{os.urandom(1).hex()}:{os.urandom(2).hex()}::/64"
    bastion.ok("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, name)
    try:
        out = bastion.ok(
            "run", "--rm", "--network", name, bastion.image,
            "sh", "-c", "ip -o addr; ip -6 route",
        )  # fmt: skip
        seen = ip_addr(out)
        assert {ipaddress.ip_interface(a).network for a in seen["eth0"]} == {
            ipaddress.ip_network(v4),
            ipaddress.ip_network(v6),
        }
        assert f"default via {ipaddress.ip_network(v6).network_address + 1} dev eth0" in out
    finally:
        bastion.ok("network", "rm", name)


@pytest.mark.parametrize(
    ("argv", "reference"),
    [
        (["network", "create", "--subnet", "10.200.0.300/24", "bst-bad"], "network-subnet"),
        (["network", "create", "--subnet", "10.200.0.1/24", "bst-bad"], "network-subnet"),
        (["network", "create", "--subnet", "8.8.8.0/24", "bst-bad"], "network-subnet"),
        (["network", "create", "--subnet", "{taken}", "bst-bad"], "network-subnet"),
        (["network", "create", "--subnet", "{host}", "bst-bad"], "network-subnet"),
        (["network", "create", "{name}"], "network-name-in-use"),
        (["network", "rm", "bridge"], "network-error"),
        (["network", "rm", "bst-no-such"], "network-not-found"),
        (["run", "--rm", "--network", "bst-no-such", "{image}", "true"], "network-not-found"),
        (["run", "--network", "none", "-p", "80", "{image}", "true"], "engine-invalid-option"),
        (["run", "--rm", "-p", "80:80/sctp", "{image}", "true"], "network-port"),
        (["run", "--rm", "--ip", "192.168.255.3", "{image}", "true"], "network-address"),
    ],
)  # fmt: skip
def test_bad_input_makes_nothing(
    bastion: Bastion, user_net: tuple[str, str], argv: list[str], reference: str
) -> None:
    name, subnet = user_net
    host_route = next(
        str(route)
        for route in _host_routes()
        if route.version == 4 and route.prefixlen and not route.is_loopback
    )
    networks = bastion.ok("network", "ls")  # the default network made first
    mine = bastion.network_prefix  # other engines' links may come and go meanwhile

    def own_links() -> set[str]:
        return {link for link in links() if link.startswith(mine)}

    before = (own_links(), networks, bastion.ok("ps", "-a", "-q"))
    args = [a.format(taken=subnet, host=host_route, name=name, image=bastion.image) for a in argv]
    result = bastion(*args)
    assert result.returncode == 125, result.stderr
    assert f"error[{reference}]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (own_links(), bastion.ok("network", "ls"), bastion.ok("ps", "-a", "-q")) == before


def _host_routes() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    from bastion.network.plumbing import host_routes

    return [route for route, _ in host_routes()]


def test_a_host_port_published_twice_is_refused(bastion: Bastion) -> None:
    first = bastion.ok("run", "-d", "-p", "127.0.0.1::80", bastion.image, "sleep", "60").strip()
    try:
        ports: Any = bastion.inspect(first)["NetworkSettings"]["Ports"]  # type: ignore[index]
        (mapping,) = ports["80/tcp"]
        assert mapping["HostIp"] == "127.0.0.1" and int(mapping["HostPort"]) >= 32768
        second = bastion("run", "--rm", "-p", f"{mapping['HostPort']}:81", bastion.image, "true")
        assert second.returncode == 125
        assert "error[network-port]" in second.stderr
        assert bastion.ok("ps", "-a", "-q", "--no-trunc").split() == [first]
        assert [lease[0] for lease in leases(bastion)] == [first]
    finally:
        bastion.ok("rm", "-f", first)


def test_prune_repairs_what_a_killed_run_left(bastion: Bastion, user_net: tuple[str, str]) -> None:
    """A `run` killed after wiring: its lease, veth and namespace stay until `network prune`
    (what `system prune` calls, `Engine.prune_networks`) finds no live container owning
    them; it also removes the networks no container is on, and only those."""
    from bastion.engine import Engine
    from bastion.network.model import Naming

    unused = f"{bastion.network_prefix}-unused"
    bastion.ok("network", "create", "--subnet", free_subnet(), unused)
    cid = bastion.ok("create", "--network", user_net[0], bastion.image, "true").strip()
    naming = Naming(bastion.env["BASTION_NETWORK_PREFIX"], bastion.env["BASTION_NETWORK_SUBNET"])
    with Engine(bastion.root, runtime_root=bastion.runtime_root, naming=naming) as engine:
        # the network step of a `start` whose process was killed right after it
        engine._network_step(engine.container(cid))
    ((_, _, veth),) = leases(bastion)
    assert veth in links()
    assert bastion.ok("network", "prune") == f"Deleted Networks:\n{unused}\n"
    assert leases(bastion) == [] and veth not in links()
    assert os.listdir(os.path.join(bastion.root, "netns")) == []
    assert user_net[0] in bastion.ok("network", "ls")  # a container is on it
    bastion.ok("rm", cid)


CHILD = """
import sys

sys.path.insert(0, sys.argv[1])
from bastion.cli.front.main import main

code = main(sys.argv[3:])
sys.stdout.flush()
with open(sys.argv[2], "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def test_a_bridge_run_imports_no_pyroute2(bastion: Bastion, tmp_path: Any) -> None:
    """A container's attachment goes through bastion._sys.rtnl: pyroute2's import (its
    package loads all of it) was most of what the bridge cost a `run` (docs/network.md)."""
    bastion.ok("run", "--rm", bastion.image, "true")  # the default network's bridge made
    listing = tmp_path / "modules"
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    cli = bastion.argv("run", "--rm", "--network", "bridge", bastion.image, "echo", "ran")[1:]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, src, str(listing), *cli],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **bastion.env},
    )
    assert (result.returncode, result.stdout) == (0, "ran\n"), result.stderr
    loaded = set(listing.read_text().split())
    assert "bastion._sys.rtnl" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "pyroute2"}


def test_a_restart_finds_its_stale_veth_and_replaces_it(bastion: Bastion) -> None:
    """`stop` leaves the veth to the kernel (it goes with the namespace, a moment later); a
    start right after may meet it still there and wires the container all the same."""
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "60").strip()
    try:
        for _ in range(3):
            bastion.ok("restart", "-t", "0", cid)
            out = bastion.ok("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0")
            assert ip_addr(out)["eth0"]
    finally:
        bastion.ok("rm", "-f", cid)


def test_a_stopped_container_keeps_its_address_until_removed(
    bastion: Bastion, user_net: tuple[str, str]
) -> None:
    """Docker's: the address stays the container's across `stop`/`start` and `restart`
    (nobody else gets it meanwhile), and is free again once the container is removed."""
    name = user_net[0]

    def address(cid: str) -> str:
        settings: Any = bastion.inspect(cid)["NetworkSettings"]
        return str(settings["Networks"][name]["IPAddress"])

    def run() -> str:
        return bastion.ok("run", "-d", "--network", name, bastion.image, "sleep", "60").strip()

    first = run()
    others = []
    try:
        kept = address(first)
        bastion.ok("stop", "-t", "0", first)
        others.append(run())
        assert address(others[0]) != kept  # kept for the stopped one
        bastion.ok("start", first)
        assert address(first) == kept
        bastion.ok("restart", "-t", "0", first)
        assert address(first) == kept
        bastion.ok("rm", "-f", first)
        others.append(run())
        assert address(others[1]) == kept  # the lowest free address again: released
    finally:
        for cid in (first, *others):
            bastion("rm", "-f", cid)  # the first is gone already when all went well
