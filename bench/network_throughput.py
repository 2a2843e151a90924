"""TCP throughput between two bastion containers on one bridge, and through a published port,
against the same between plain network namespaces wired by hand the same way (a bridge, a veth
per namespace, no nft rules).

    .venv/bin/python bench/network_throughput.py [--seconds S] [--rounds N]

iperf3 (Debian's) runs inside the network namespaces with `nsenter --net`: the host's binary,
the container's network (bastion keeps each container's namespace at `<root>/netns/<id>`), so
the same program measures every path:
- bridge: container A → container B's address on a user network (veth, bridge, veth, nft);
- published: the host → 127.0.0.1:PORT, DNAT'd to container B (`-p PORT:5201`);
- hand bridge: namespace C → namespace D on a bridge made with `ip` (veth, bridge, veth, no
  nft table of bastion's): the reference of the bridge row;
- hand host: namespace H (the hand bridge's "host") → namespace D's address over that bridge
  (no NAT): the reference of the published row;
- veth pair: namespace A → namespace B over one veth pair, no bridge (an extra row).
Each round runs every path once, in an order rotated each round; medians of the Gbit/s and
the ratios to the references, and the load average. Everything (engine root, containers,
network, namespaces, links) is removed at the end. Traffic stays on loopback and in
namespaces this bench makes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from bastion_testing.engine import free_subnet  # noqa: E402

IMAGE = "localhost/busybox:latest"
PORT = 5201


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        list(argv), check=True, capture_output=True, text=True, env=env, timeout=120
    ).stdout


def iperf(client_ns: str | None, server_ns: str, target: str, port: int, seconds: int) -> float:
    """Gbit/s from a client (in `client_ns`, or the host) to a server in `server_ns`."""
    server = subprocess.Popen(
        ["nsenter", f"--net={server_ns}", "iperf3", "-s", "-1", "-p", str(PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)  # the server's listen
        client = ["iperf3", "-c", target, "-p", str(port), "-t", str(seconds), "-J"]
        if client_ns is not None:
            client = ["nsenter", f"--net={client_ns}", *client]
        report = json.loads(run(*client))
        return float(report["end"]["sum_received"]["bits_per_second"]) / 1e9
    finally:
        server.wait(timeout=30)


@contextlib.contextmanager
def engine() -> Iterator[tuple[list[str], dict[str, str], str]]:
    work = tempfile.mkdtemp(prefix="bst-test-bench-net-")
    env = {
        **os.environ,
        "BASTION_NETWORK_PREFIX": f"bst{secrets.token_hex(2)}",
        "BASTION_NETWORK_SUBNET": free_subnet(),
    }
    bastion = [
        os.path.join(ROOT, ".venv", "bin", "bastion"),
        *("--root", f"{work}/engine", "--runtime-root", f"{work}/rt"),
        *("--cgroup-parent", f"/bastion-test/{os.path.basename(work)}"),
    ]
    try:
        run(os.path.join(ROOT, "scripts", "images"), "busybox", "--root", f"{work}/engine")
        yield bastion, env, work
    finally:
        ids = subprocess.run([*bastion, "ps", "-a", "-q"], capture_output=True, text=True, env=env)
        for cid in ids.stdout.split():
            subprocess.run([*bastion, "rm", "-f", cid], capture_output=True, env=env)
        subprocess.run([*bastion, "network", "prune", "-f"], capture_output=True, env=env)
        from bastion.engine import Engine
        from bastion.network.model import Naming

        naming = Naming(env["BASTION_NETWORK_PREFIX"], env["BASTION_NETWORK_SUBNET"])
        with Engine(f"{work}/engine", runtime_root=f"{work}/rt", naming=naming) as e:
            e.reset_networks()
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            for hierarchy in os.listdir("/sys/fs/cgroup"):
                with contextlib.suppress(OSError):
                    os.rmdir(f"/sys/fs/cgroup/{hierarchy}/bastion-test/{os.path.basename(work)}")


@contextlib.contextmanager
def hand_bridge(mtu: int) -> Iterator[tuple[str, str, str, str]]:
    """A bridge holding a gateway address and two namespaces on it, each by a veth whose
    inside end is eth0 with the bridge's MTU, as bastion wires a container but made with `ip`;
    all of it inside a namespace H of its own standing for the host, so that no nft table
    (bastion's, or another engine's on this machine, which turn conntrack on for the whole
    host namespace) touches it: (ns H path, ns C path, ns D path, D's address)."""
    tag = secrets.token_hex(2)
    host, c, d = (f"bst-bench-{tag}{x}" for x in "hcd")
    subnet = free_subnet().rsplit(".", 1)[0]
    try:
        for ns in (host, c, d):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", host, "link", "add", "br0", "mtu", str(mtu), "type", "bridge")
        run("ip", "-n", host, "addr", "add", f"{subnet}.1/24", "dev", "br0")
        run("ip", "-n", host, "link", "set", "br0", "up")
        for number, ns in enumerate((c, d), start=2):
            veth = f"veth{number}"
            run("ip", "-n", host, "link", "add", veth, "mtu", str(mtu), "type", "veth",
                "peer", "name", "eth0", "mtu", str(mtu), "netns", ns)  # fmt: skip
            run("ip", "-n", host, "link", "set", veth, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{subnet}.{number}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "route", "add", "default", "via", f"{subnet}.1")
        yield f"/run/netns/{host}", f"/run/netns/{c}", f"/run/netns/{d}", f"{subnet}.3"
    finally:
        for ns in (c, d, host):  # the bridge and veths go with H and C, D
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextlib.contextmanager
def by_hand() -> Iterator[tuple[str, str, str]]:
    """Two named namespaces and a veth pair between them: (ns A path, ns B path, B's address)."""
    tag = secrets.token_hex(2)
    a, b = f"bst-bench-{tag}a", f"bst-bench-{tag}b"
    subnet = free_subnet().rsplit(".", 1)[0]
    try:
        run("ip", "netns", "add", a)
        run("ip", "netns", "add", b)
        run("ip", "link", "add", f"bstb{tag}a", "type", "veth", "peer", "name", f"bstb{tag}b")
        run("ip", "link", "set", f"bstb{tag}a", "netns", a)
        run("ip", "link", "set", f"bstb{tag}b", "netns", b)
        for ns, link, host in ((a, f"bstb{tag}a", 1), (b, f"bstb{tag}b", 2)):
            run("ip", "-n", ns, "addr", "add", f"{subnet}.{host}/24", "dev", link)
            run("ip", "-n", ns, "link", "set", link, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        yield f"/run/netns/{a}", f"/run/netns/{b}", f"{subnet}.2"
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per iperf3 run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from bastion.network.plumbing import host_mtu

    results: dict[str, list[float]] = {
        "hand bridge": [],
        "hand host": [],
        "veth pair": [],
        "bastion bridge": [],
        "bastion published": [],
    }
    with (
        engine() as (bastion, env, work),
        by_hand() as (hand_a, hand_b, hand_ip),
        hand_bridge(host_mtu()) as (hand_h, hand_c, hand_d, hand_d_ip),
    ):
        net = f"bstbench{secrets.token_hex(2)}"
        run(*bastion, "network", "create", "--subnet", free_subnet(), net, env=env)
        host_port = 20000 + secrets.randbelow(20000)
        server = run(
            *bastion, "run", "-d", "--network", net, "-p", f"127.0.0.1:{host_port}:{PORT}",
            IMAGE, "sleep", "3600", env=env,
        ).strip()  # fmt: skip
        client = run(
            *bastion, "run", "-d", "--network", net, IMAGE, "sleep", "3600", env=env
        ).strip()
        doc = json.loads(run(*bastion, "inspect", server, env=env))[0]
        server_ip = doc["NetworkSettings"]["Networks"][net]["IPAddress"]
        server_ns, client_ns = (f"{work}/engine/netns/{cid}" for cid in (server, client))
        paths = {
            "hand bridge": (hand_c, hand_d, hand_d_ip, PORT),
            "hand host": (hand_h, hand_d, hand_d_ip, PORT),
            "veth pair": (hand_a, hand_b, hand_ip, PORT),
            "bastion bridge": (client_ns, server_ns, server_ip, PORT),
            "bastion published": (None, server_ns, "127.0.0.1", host_port),
        }
        order = list(paths)
        for r in range(args.rounds):
            for name in order[r % len(order) :] + order[: r % len(order)]:
                results[name].append(iperf(*paths[name], args.seconds))
    print(f"TCP throughput, iperf3 {args.seconds} s x {args.rounds} rounds (median Gbit/s)")
    # the machine is shared: a ratio is also taken within each round (the paths of one round
    # ran within seconds of each other) and its median printed, which the load moves less
    references = {"bastion bridge": "hand bridge", "bastion published": "hand host"}
    for name, values in results.items():
        median = statistics.median(values)
        reference = references.get(name, "hand bridge")
        ratio = median / statistics.median(results[reference])
        paired = statistics.median(
            v / r for v, r in zip(values, results[reference], strict=True) if r
        )
        against = f"{ratio:.2f}x {reference}, paired {paired:.2f}x"
        print(f"  {name:<18} {median:7.2f}  ({against})")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load}")


if __name__ == "__main__":
    main()
