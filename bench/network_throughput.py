"""TCP throughput between two bastion containers on one bridge, and through a published port,
against the same between plain network namespaces wired by hand the same way (a bridge, a veth
per namespace, no nft rules).

    .venv/bin/python bench/network_throughput.py [--seconds S] [--rounds N] [--pin] [--verbose]

iperf3 (Debian's) runs inside the network namespaces with `nsenter --net`: the host's binary,
the container's network (bastion keeps each container's namespace at `<root>/netns/<id>`), so
the same program measures every path. Rows, each beside its reference:
- hand bridge: namespace C → namespace D on a bridge made with `ip` inside a namespace H of its
  own that stands for the host (veth, bridge, veth; MTU, queues, offloads, hairpin and the
  IPv4 GSO/GRO limit as bastion's links, and br_netfilter on there too, but no nft table: no
  conntrack);
- bastion bridge: container A → container B's address on a user network (veth, bridge, veth,
  bastion's table) — against hand bridge;
- hand host: namespace H → D's address over that bridge (routed, no NAT);
- bastion published: the host → 127.0.0.1:PORT, DNAT'd to container B (`-p PORT:5201`) —
  against hand host, and again against hand NAT (the same published path wired by hand);
- bastion published gw: the host → its bridge-side address (the network's gateway):PORT, the
  other way issue 12 asks a published port to answer from the host (`-p GATEWAY:PORT:5201`) —
  against hand host, and again against hand NAT gw;
- hand NAT: the same published path wired by hand in a namespace trio of its own (an output
  DNAT, the loopback masquerade and `route_localnet`, nothing else) — against hand host: what
  the NAT itself costs, the floor of any published port done by NAT;
- hand NAT gw: the same by hand through the bridge's address (an output DNAT; the source is
  already the bridge's address, so the masquerade bastion's hairpin rule applies changes
  nothing) — against hand host;
- ip's bridge: the hand bridge as `ip` makes it, its veths with the kernel's 64 KiB GSO limit
  (what bastion's links had before BIG TCP) — against hand bridge;
- veth pair: namespace A → namespace B over one veth pair, no bridge (an extra row).

Each round runs every row once; the order is reversed every other round, so a row and its
reference run back to back, each first half the time (the machine is shared: its load moves
between rounds more than within one). Per row: the median Gbit/s; the paired ratio to its
reference (the median of the per-round ratios, with their quartiles: the spread); and the
efficiency, Gbit moved per CPU-second of the two iperf3 processes (iperf3's own user+system
figures; without IRQ time accounting the softirq work done in their context is in it), which
the load moves less than throughput. `--pin` puts every client on CPU 0 and every server on
CPU 1 (iperf3 -A), for both sides alike. The load average is printed before and after, and
what the host's namespace held at the first and the last round (its nftables tables, the BPF
tracing programs loaded): the bastion rows' packets meet its tables, the hand rows' do not; a
syscall hook taxes every row.
Everything (engine root, containers, network, namespaces, links, the iperf3 servers) is removed
at the end. Traffic stays on loopback and in namespaces this bench makes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from bastion_testing.engine import free_subnet  # noqa: E402

IMAGE = "localhost/busybox:latest"
PORT = 5201
TAG = secrets.token_hex(2)  # every namespace and link this bench makes carries it


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        list(argv), check=True, capture_output=True, text=True, env=env, timeout=120
    ).stdout


@dataclass
class Path:
    """One measured path: the client's namespace (None: the host's) and the target."""

    client_ns: str | None
    target: str
    port: int
    reference: str | None = None
    gbps: list[float] = field(default_factory=list)
    #: Gbit per CPU-second of the iperf3 client and server
    efficiency: list[float] = field(default_factory=list)


@contextlib.contextmanager
def iperf_server(ns: str) -> Iterator[None]:
    """An iperf3 server on PORT in the namespace `ns` for the whole bench, ready on return."""
    server = subprocess.Popen(
        ["nsenter", f"--net={ns}", "iperf3", "-s", "-p", str(PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not run("nsenter", f"--net={ns}", "ss", "-Hltn", f"sport = :{PORT}").strip():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"iperf3 -s did not listen in {ns}")
            time.sleep(0.05)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def iperf(path: Path, seconds: int, pin: bool) -> tuple[float, float]:
    """(Gbit/s, Gbit per CPU-second) of one iperf3 run over `path`."""
    client = ["iperf3", "-c", path.target, "-p", str(path.port), "-t", str(seconds), "-J"]
    if pin:
        client += ["-A", "0,1"]
    if path.client_ns is not None:
        client = ["nsenter", f"--net={path.client_ns}", *client]
    for attempt in range(3):
        done = subprocess.run(client, capture_output=True, text=True, timeout=seconds + 60)
        report = json.loads(done.stdout or "{}")
        if done.returncode == 0 and "error" not in report:
            break
        # the server may still be closing the previous test under load ("busy"): again
        if attempt == 2:
            raise RuntimeError(f"iperf3 to {path.target}:{path.port}: {report.get('error')}")
        time.sleep(1)
    end = report["end"]
    received = end["sum_received"]
    cpu = end["cpu_utilization_percent"]
    cpu_seconds = (cpu["host_total"] + cpu["remote_total"]) / 100 * received["seconds"]
    gbit = received["bytes"] * 8 / 1e9
    return gbit / received["seconds"], gbit / cpu_seconds


@contextlib.contextmanager
def engine() -> Iterator[tuple[list[str], dict[str, str], str]]:
    work = tempfile.mkdtemp(prefix="bst-test-bench-net-")
    env = {
        **os.environ,
        "BASTION_NETWORK_PREFIX": f"bst{TAG}",
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


def set_gso(ns: str, link: str, size: int) -> None:
    """Give `link` in the namespace at `ns` the IPv4 GSO/GRO limit `size` (iproute2 6.1's `ip`
    has no word for it: through bastion's netlink encoder)."""
    from bastion._sys import rtnl
    from bastion.network import netns

    def inside() -> None:
        with rtnl.Socket() as sock:
            body = rtnl.ifinfo(index=sock.link_index(link) or 0) + rtnl.gso_ipv4(size)
            sock.request((rtnl.RTM_NEWLINK, 0, body, f"GSO size of {link}"))

    netns.run_inside(ns, inside)


@contextlib.contextmanager
def hand_bridge(
    name: str, mtu: int, members: int, gso: int = 0
) -> Iterator[tuple[str, list[str], str]]:
    """A bridge holding a gateway address and `members` namespaces on it, each by a veth whose
    inside end is eth0 with the bridge's MTU (and, with `gso`, both ends with that IPv4 GSO/GRO
    limit), as bastion wires a container but made with `ip`; all of it inside a namespace of
    its own standing for the host, so that no nft table (bastion's, or another engine's on
    this machine, which turn conntrack on for the whole host namespace) touches it: (host ns
    path, member ns paths, the subnet's first three bytes)."""
    host = f"bst-bench-{TAG}{name}h"
    inside = [f"bst-bench-{TAG}{name}{i}" for i in range(members)]
    subnet = free_subnet().rsplit(".", 1)[0]
    try:
        for ns in (host, *inside):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", host, "link", "add", "br0", "mtu", str(mtu), "type", "bridge")
        run("ip", "-n", host, "addr", "add", f"{subnet}.1/24", "dev", "br0")
        run("ip", "-n", host, "link", "set", "br0", "up")
        for number, ns in enumerate(inside, start=2):
            veth = f"veth{number}"
            run("ip", "-n", host, "link", "add", veth, "mtu", str(mtu), "type", "veth",
                "peer", "name", "eth0", "mtu", str(mtu), "netns", ns)  # fmt: skip
            # as bastion's ports: hairpin mode (a container reaching its own published port)
            run("ip", "-n", host, "link", "set", veth, "master", "br0", "up")
            run("ip", "-n", host, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
            run("ip", "-n", ns, "addr", "add", f"{subnet}.{number}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "route", "add", "default", "via", f"{subnet}.1")
            if gso:
                set_gso(f"/run/netns/{host}", veth, gso)
                set_gso(f"/run/netns/{ns}", "eth0", gso)
        yield f"/run/netns/{host}", [f"/run/netns/{ns}" for ns in inside], subnet
    finally:
        for ns in (*inside, host):  # the bridge and veths go with the namespaces
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def hand_nat(host_ns: str, target: str, host_port: int, gateway: str) -> None:
    """In `host_ns`, what a published port needs and nothing more: 127.0.0.1:`host_port` and
    `gateway`:`host_port` (br0's address) DNAT'd to `target`:PORT, the loopback source
    masqueraded out of br0, which may route it (and, as bastion's hairpin rule, a DNAT'd
    source of br0's subnet: the gateway's own address, a masquerade that changes nothing)."""
    subnet = f"{gateway.rsplit('.', 1)[0]}.0/24"
    rules = f"""table ip nat {{
        chain output {{ type nat hook output priority -100; policy accept;
            ip daddr {{ 127.0.0.1, {gateway} }} tcp dport {host_port} dnat to {target}:{PORT}
        }}
        chain postrouting {{ type nat hook postrouting priority 100; policy accept;
            oifname "br0" ip saddr 127.0.0.0/8 masquerade
            oifname "br0" ip saddr {subnet} ct status dnat masquerade
        }}
    }}"""
    subprocess.run(
        ["nsenter", f"--net={host_ns}", "nft", "-f", "-"], input=rules, text=True, check=True
    )
    run("nsenter", f"--net={host_ns}", "sysctl", "-qw", "net.ipv4.conf.br0.route_localnet=1")


@contextlib.contextmanager
def veth_pair(gso: int) -> Iterator[tuple[str, str, str]]:
    """Two named namespaces and a veth pair between them, both ends with the IPv4 GSO/GRO
    limit `gso`: (ns A path, ns B path, B's address)."""
    a, b = f"bst-bench-{TAG}a", f"bst-bench-{TAG}b"
    subnet = free_subnet().rsplit(".", 1)[0]
    try:
        run("ip", "netns", "add", a)
        run("ip", "netns", "add", b)
        run("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
            "netns", b)  # fmt: skip
        for ns, host in ((a, 1), (b, 2)):
            run("ip", "-n", ns, "addr", "add", f"{subnet}.{host}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            set_gso(f"/run/netns/{ns}", "eth0", gso)
        yield f"/run/netns/{a}", f"/run/netns/{b}", f"{subnet}.2"
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def spread(values: list[float]) -> str:
    """The median and the quartiles of `values`."""
    median = statistics.median(values)
    if len(values) < 2:
        return f"{median:.2f}x"
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return f"{median:.2f}x [{low:.2f}-{high:.2f}]"


#: rows also compared with a second reference measured in the same rounds: a published port
#: beside the same DNAT wired by hand ("the same path between namespaces wired by hand"), as
#: well as beside the routed path without NAT (its own reference above)
SECOND_REFERENCES = [("bastion published", "hand NAT"), ("bastion published gw", "hand NAT gw")]


def host_hooks() -> str:
    """What else the host's namespace runs on the bastion rows' packets and not on the hand
    rows' (those have namespaces of their own): its nftables tables (another engine's, or a
    test's, add chains and conntrack to every bridged packet through br_netfilter) and the
    BPF tracing programs loaded (a sensor's syscall hooks tax iperf3 on every row alike)."""
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    names = [" ".join(line.split()[1:]) for line in tables.splitlines() if line.strip()]
    progs = subprocess.run(["bpftool", "prog", "list"], capture_output=True, text=True).stdout
    kinds = ("tracing", "raw_tracepoint", "tracepoint", "kprobe")
    tracing = sum(
        1 for line in progs.splitlines() if line[:1].isdigit() and line.split()[1] in kinds
    )
    return f"nft tables {', '.join(names) or 'none'}; BPF tracing programs {tracing}"


def report(
    paths: dict[str, Path], args: argparse.Namespace, load_before: str, hooks: list[str]
) -> None:
    pinned = ", client on CPU 0, server on CPU 1" if args.pin else ""
    print(f"TCP throughput, iperf3 {args.seconds} s x {args.rounds} rounds{pinned}")
    print("  medians; paired: median of the per-round ratios to the reference [quartiles]")
    print(f"  {'path':<20} {'Gbit/s':>7}  {'paired':<19} {'Gbit/CPU-s':>10}  {'paired':<19}")
    shown = ["hand bridge", "bastion bridge", "ip's bridge", "veth pair", "hand host"]
    for name in [*shown, *(n for n in paths if n not in shown)]:
        p = paths[name]
        line = f"  {name:<20} {statistics.median(p.gbps):7.2f}  "
        if p.reference is None:
            print(line + f"{'':<19} {statistics.median(p.efficiency):10.2f}")
            continue
        ref = paths[p.reference]
        gbps = spread([v / r for v, r in zip(p.gbps, ref.gbps, strict=True)])
        eff = spread([v / r for v, r in zip(p.efficiency, ref.efficiency, strict=True)])
        print(line + f"{gbps:<19} {statistics.median(p.efficiency):10.2f}  {eff:<19}")
        print(f"  {'':<20} {'':>7}  (of {p.reference})")
    for name, reference in SECOND_REFERENCES:
        p, ref = paths[name], paths[reference]
        gbps = spread([v / r for v, r in zip(p.gbps, ref.gbps, strict=True)])
        eff = spread([v / r for v, r in zip(p.efficiency, ref.efficiency, strict=True)])
        print(f"  {name:<20} {'':>7}  {gbps:<19} {'':>10}  {eff:<19}")
        print(f"  {'':<20} {'':>7}  (of {reference}: the same path wired by hand)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): before {load_before}, after {load}")
    print(f"host namespace, first round: {hooks[0]}")
    print(f"host namespace, last round: {hooks[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per iperf3 run")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pin", action="store_true", help="clients on CPU 0, servers on CPU 1")
    parser.add_argument("--verbose", action="store_true", help="print every run")
    args = parser.parse_args()
    # a SIGTERM (timeout(1), a killed session) unwinds like an exception: the `with` blocks
    # below remove the containers, namespaces, links and servers on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bastion.network.plumbing import GSO_IPV4_MAX_SIZE, host_mtu

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    nat_port = 20000 + secrets.randbelow(20000)
    with (
        engine() as (bastion, env, work),
        veth_pair(GSO_IPV4_MAX_SIZE) as (pair_a, pair_b, pair_ip),
        hand_bridge("x", host_mtu(), 2, GSO_IPV4_MAX_SIZE) as (hand_h, (hand_c, hand_d), hand_net),
        hand_bridge("n", host_mtu(), 1, GSO_IPV4_MAX_SIZE) as (nat_h, (nat_e,), nat_net),
        hand_bridge("p", host_mtu(), 2) as (_, (plain_c, plain_d), plain_net),
    ):
        hand_nat(nat_h, f"{nat_net}.2", nat_port, f"{nat_net}.1")
        net = f"bstbench{TAG}"
        subnet = free_subnet()
        run(*bastion, "network", "create", "--subnet", subnet, net, env=env)
        gateway = f"{subnet.rsplit('.', 1)[0]}.1"  # network create's default: the first address
        host_port = 20000 + secrets.randbelow(20000)
        # on loopback and the bridge's address only: nothing published on the host's uplink
        server = run(
            *bastion, "run", "-d", "--network", net, "-p", f"127.0.0.1:{host_port}:{PORT}",
            "-p", f"{gateway}:{host_port}:{PORT}", IMAGE, "sleep", "3600", env=env,
        ).strip()  # fmt: skip
        client = run(
            *bastion, "run", "-d", "--network", net, IMAGE, "sleep", "3600", env=env
        ).strip()
        doc = json.loads(run(*bastion, "inspect", server, env=env))[0]
        server_ip = doc["NetworkSettings"]["Networks"][net]["IPAddress"]
        server_ns, client_ns = (f"{work}/engine/netns/{cid}" for cid in (server, client))
        # each reference between its rows: reversing the order every other round runs each
        # pair back to back, each of the two first half the time
        paths = {
            "ip's bridge": Path(plain_c, f"{plain_net}.3", PORT, "hand bridge"),
            "veth pair": Path(pair_a, pair_ip, PORT, "hand bridge"),
            "bastion bridge": Path(client_ns, server_ip, PORT, "hand bridge"),
            "hand bridge": Path(hand_c, f"{hand_net}.3", PORT),
            "hand NAT": Path(nat_h, "127.0.0.1", nat_port, "hand host"),
            "bastion published": Path(None, "127.0.0.1", host_port, "hand host"),
            "hand host": Path(hand_h, f"{hand_net}.3", PORT),
            "bastion published gw": Path(None, gateway, host_port, "hand host"),
            "hand NAT gw": Path(nat_h, f"{nat_net}.1", nat_port, "hand host"),
        }
        with (
            iperf_server(hand_d),
            iperf_server(server_ns),
            iperf_server(nat_e),
            iperf_server(pair_b),
            iperf_server(plain_d),
        ):
            order = list(paths)
            hooks = [host_hooks()]  # this bench's own table among them
            for r in range(args.rounds):
                for name in order if r % 2 == 0 else order[::-1]:
                    gbps, efficiency = iperf(paths[name], args.seconds, args.pin)
                    paths[name].gbps.append(gbps)
                    paths[name].efficiency.append(efficiency)
                    if args.verbose:
                        print(f"  round {r} {name:<20} {gbps:6.2f} Gbit/s {efficiency:6.2f}")
            hooks.append(host_hooks())
    report(paths, args, load_before, hooks)


if __name__ == "__main__":
    main()
