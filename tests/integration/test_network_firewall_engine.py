"""The engine's networks with the firewall (nftables) and the DNS responder: outbound NAT to
an "upstream" host, published ports from the host (127.0.0.1 and the bridge's address) and from
a container on the same bridge (hairpin), names and aliases on a user network, isolation
between networks, and an --internal network without a way out (docs/network.md).

The upstream is a network namespace this module makes (`bst-test-up-*`), reached through a
veth and a /24 of its own in 10.200.0.0/13; no other address is ever a destination. Skipped
until `bastion.network.firewall` and `bastion.network.dns` are there (they are built on
another branch).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.engine import Bastion, engine_rig, free_subnet

if TYPE_CHECKING:
    from collections.abc import Iterator


pytestmark = [pytest.mark.privileged, pytest.mark.slow]

#: One HTTP request a container makes, retried while the server comes up.
FETCH = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - {url} && exit 0; sleep 0.3; done; exit 1"
#: Whether a TCP connect succeeds (2 s bound): "reached" or "blocked".
PROBE = "if nc -w 2 {host} {port} </dev/null; then echo reached; else echo blocked; fi"


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs) as b:
        yield b
    # the rig removed the engine's networks, and with them its nftables table
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    assert b.network_prefix not in tables.stdout


@pytest.fixture(scope="module")
def upstream(bastion: Bastion) -> Iterator[tuple[str, str, str]]:
    """(namespace, host-side address, upstream address) of a host on a veth of its own."""
    namespace = f"bst-test-up-{secrets.token_hex(3)}"
    near, far = f"{bastion.network_prefix}u0", f"{bastion.network_prefix}u1"
    subnet = ipaddress.ip_network(free_subnet())
    host_ip, far_ip = str(subnet.network_address + 1), str(subnet.network_address + 2)
    steps = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", near, "type", "veth", "peer", "name", far],
        ["ip", "link", "set", far, "netns", namespace],
        ["ip", "addr", "add", f"{host_ip}/24", "dev", near],
        ["ip", "link", "set", near, "up"],
        ["ip", "-n", namespace, "addr", "add", f"{far_ip}/24", "dev", far],
        ["ip", "-n", namespace, "link", "set", far, "up"],
        ["ip", "-n", namespace, "link", "set", "lo", "up"],
        ["ip", "-n", namespace, "route", "add", "default", "via", host_ip],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        yield namespace, host_ip, far_ip
    finally:
        subprocess.run(["ip", "link", "del", near], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def peer_of_one_connection(namespace: str, address: str, port: int) -> subprocess.Popen[str]:
    """A server in `namespace` that accepts one TCP connection and prints its peer's address."""
    code = (
        "import socket,sys\n"
        f"s=socket.create_server(({address!r},{port}));s.settimeout(60)\n"
        "print('ready',flush=True)\n"
        "c,peer=s.accept();c.sendall(b'hello\\n');c.close();print(peer[0],flush=True)\n"
    )
    server = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    return server


def test_outbound_traffic_leaves_with_the_hosts_address(
    bastion: Bastion, upstream: tuple[str, str, str]
) -> None:
    namespace, host_ip, far_ip = upstream
    server = peer_of_one_connection(namespace, far_ip, 8000)
    out = bastion.ok("run", "--rm", bastion.image, "nc", far_ip, "8000")
    assert out == "hello\n"
    stdout, _ = server.communicate(timeout=30)
    assert stdout.strip() == host_ip  # masqueraded: the host's address on the way out


def test_an_internal_network_has_no_way_out(
    bastion: Bastion, upstream: tuple[str, str, str]
) -> None:
    _, _, far_ip = upstream
    name = f"{bastion.network_prefix}-int"
    bastion.ok("network", "create", "--internal", "--subnet", free_subnet(), name)
    try:
        out = bastion.ok(
            "run", "--rm", "--network", name, bastion.image,
            "sh", "-c", PROBE.format(host=far_ip, port=8000),
        )  # fmt: skip
        assert out == "blocked\n"
    finally:
        bastion.ok("network", "rm", name)


@pytest.fixture(scope="module")
def web(bastion: Bastion) -> Iterator[dict[str, Any]]:
    """A user network with an httpd container published on an ephemeral host port."""
    network = f"{bastion.network_prefix}-web"
    bastion.ok("network", "create", "--subnet", free_subnet(), network)
    name = f"bst-web-{secrets.token_hex(2)}"
    cid = bastion.ok(
        "run", "-d", "--name", name, "--network", network, "--network-alias", "www",
        "-p", "80", bastion.image,
        "sh", "-c", "echo served > /tmp/index.html; httpd -f -p 80 -h /tmp",
    ).strip()  # fmt: skip
    try:
        settings: Any = bastion.inspect(cid)["NetworkSettings"]
        yield {
            "network": network,
            "name": name,
            "address": settings["IPAddress"],
            "gateway": settings["Gateway"],
            "port": int(settings["Ports"]["80/tcp"][0]["HostPort"]),
        }
    finally:
        bastion.ok("rm", "-f", cid)
        bastion.ok("network", "rm", network)


def test_containers_reach_each_other_by_name_and_alias(
    bastion: Bastion, web: dict[str, Any]
) -> None:
    for host in (web["name"], "www"):
        out = bastion.ok(
            "run", "--rm", "--network", web["network"], bastion.image,
            "sh", "-c", FETCH.format(url=f"http://{host}/index.html"),
        )  # fmt: skip
        assert out == "served\n"


def test_a_published_port_answers_from_the_host_and_through_hairpin(
    bastion: Bastion, web: dict[str, Any]
) -> None:
    # and on [::1], through the port's userland proxy (`-p 80` publishes on every address)
    for host in ("127.0.0.1", web["gateway"], "[::1]"):
        url = f"http://{host}:{web['port']}/index.html"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                assert r.read() == b"served\n"
        except OSError as exc:  # which path, and what the host's sockets on the port were
            sockets = subprocess.run(
                ["ss", "-tanpi", f"( sport = :{web['port']} or dport = :{web['port']} )"],
                capture_output=True,
                text=True,
            ).stdout
            pytest.fail(f"{url}: {exc!r}\n{sockets}")
    # from a container on the same bridge, through the host's address and port
    out = bastion.ok(
        "run", "--rm", "--network", web["network"], bastion.image,
        "sh", "-c", FETCH.format(url=f"http://{web['gateway']}:{web['port']}/index.html"),
    )  # fmt: skip
    assert out == "served\n"


def test_the_ipv6_loopback_proxy_goes_with_the_container(bastion: Bastion) -> None:
    cid = bastion.ok(
        "run", "-d", "-p", "80", bastion.image,
        "sh", "-c", "echo served > /tmp/index.html; httpd -f -p 80 -h /tmp",
    ).strip()  # fmt: skip
    settings: Any = bastion.inspect(cid)["NetworkSettings"]
    port = int(settings["Ports"]["80/tcp"][0]["HostPort"])
    try:
        with urllib.request.urlopen(f"http://[::1]:{port}/index.html", timeout=10) as r:
            assert r.read() == b"served\n"
    finally:
        bastion.ok("rm", "-f", cid)
    with pytest.raises(ConnectionRefusedError), socket.socket(socket.AF_INET6) as s:
        s.connect(("::1", port))


def test_another_network_does_not_reach_it(bastion: Bastion, web: dict[str, Any]) -> None:
    other = f"{bastion.network_prefix}-other"
    bastion.ok("network", "create", "--subnet", free_subnet(), other)
    try:
        out = bastion.ok(
            "run", "--rm", "--network", other, bastion.image,
            "sh", "-c", PROBE.format(host=web["address"], port=80),
        )  # fmt: skip
        assert out == "blocked\n"
    finally:
        bastion.ok("network", "rm", other)


def test_another_network_reaches_its_published_port_through_the_host(
    bastion: Bastion, web: dict[str, Any]
) -> None:
    """Isolation drops what crosses bridges, but not a published port's DNAT'd traffic: a
    container on another network reaches it at the host's address (its own gateway), as in
    Docker."""
    other = f"{bastion.network_prefix}-other2"
    bastion.ok("network", "create", "--subnet", free_subnet(), other)
    try:
        gateway = json.loads(bastion.ok("network", "inspect", other))[0]["IPAM"]["Config"][0]
        out = bastion.ok(
            "run", "--rm", "--network", other, bastion.image,
            "sh", "-c", FETCH.format(url=f"http://{gateway['Gateway']}:{web['port']}/index.html"),
        )  # fmt: skip
        assert out == "served\n"
    finally:
        bastion.ok("network", "rm", other)


def test_switched_traffic_is_not_tracked_and_hairpin_is(
    bastion: Bastion, web: dict[str, Any]
) -> None:
    """Container to container on one bridge skips conntrack (the table's `switched` chain,
    for the throughput: docs/network.md); through the host's published port it is tracked,
    NAT needs it. Read from the host's conntrack table right after both requests."""
    gateway, port = web["gateway"], web["port"]
    direct = FETCH.format(url=f"http://{web['address']}/index.html")
    hairpin = FETCH.format(url=f"http://{gateway}:{port}/index.html")
    out = bastion.ok(
        "run", "--rm", "--network", web["network"], bastion.image,
        "sh", "-c", f"ip -o -4 addr show eth0; ({direct}) && ({hairpin})",
    )  # fmt: skip
    first, *served = out.splitlines()
    assert served == ["served", "served"]
    client = first.split()[3].split("/")[0]
    with open("/proc/net/nf_conntrack") as f:
        tracked = f.read()
    assert f"src={client} dst={gateway} " in tracked  # the hairpin's (the control)
    assert f"src={client} dst={web['address']} " not in tracked
    # an administrator reads the chains by name with nft's command line (a chain named
    # `notrack`, a keyword there, could not be)
    table = bastion.network_prefix
    dispatch = subprocess.run(
        ["nft", "list", "chain", "inet", table, "switched"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    chains = [piece.split()[0].rstrip(",") for piece in dispatch.split("jump ")[1:]]
    inside = [
        subprocess.run(
            ["nft", "list", "chain", "inet", table, chain],
            capture_output=True, text=True, check=True,
        ).stdout
        for chain in chains
    ]  # fmt: skip
    assert any(f"ip daddr != {gateway} notrack" in text for text in inside)


def test_publish_all_publishes_the_images_exposed_ports(
    bastion: Bastion, busybox_rootfs: str, tmp_path: Any
) -> None:
    """`-P`: each of the image config's ExposedPorts gets an ephemeral host port (its
    protocol kept), and the TCP one answers on 127.0.0.1."""
    from bastion_testing.layers import tar_directory, write_oci_image
    from bastion_testing.registry import skopeo_copy

    registry = bastion.image.split("/", 1)[0]
    source = str(tmp_path / "source")
    write_oci_image(
        source,
        "exposed",
        [tar_directory(busybox_rootfs)],
        config={
            "ExposedPorts": {"80/tcp": {}, "5353/udp": {}},
            "Cmd": ["sh", "-c", "echo served > /tmp/index.html; httpd -f -p 80 -h /tmp"],
        },
    )
    image = f"{registry}/exposed:1"
    skopeo_copy(
        f"oci:{source}:exposed",
        f"docker://{image}",
        "--dest-tls-verify=false",
        workdir=str(tmp_path),
    )
    bastion.ok("pull", "-q", image)
    cid = bastion.ok("run", "-d", "-P", image).strip()
    try:
        ports: Any = bastion.inspect(cid)["NetworkSettings"]["Ports"]  # type: ignore[index]
        assert set(ports) == {"80/tcp", "5353/udp"}
        host_ports = {key: int(value[0]["HostPort"]) for key, value in ports.items()}
        assert all(32768 <= port <= 60999 for port in host_ports.values())
        url = f"http://127.0.0.1:{host_ports['80/tcp']}/index.html"
        for attempt in range(20):
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    assert r.read() == b"served\n"
                break
            except OSError:
                assert attempt < 19
                time.sleep(0.2)
    finally:
        bastion.ok("rm", "-f", cid)
        bastion.ok("rmi", image)
