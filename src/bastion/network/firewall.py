"""bastion's nftables table: NAT, published ports and isolation for its bridges (docs/network.md).

bastion owns one table (`inet bastion`) and never touches any other: no iptables, no other table's
chains. The whole table is rebuilt from a `Ruleset` (the engine derives it from its metadata) in one
libnftables batch, `add table; delete table; add table; chains; rules`, which the kernel applies
whole or not at all: a crash, or a refused rule, never leaves half a ruleset, and a second `apply`
leaves exactly the new rules. The rules follow Docker's (libnetwork's iptables driver) and
netavark's:

- switched (filter, prerouting at raw priority): container to container within one subnet, not
  to the gateway, skips conntrack (br_netfilter would track every switched packet). One verdict
  map on the input bridge jumps to that network's chain (`switched-<bridge>`), so a packet meets
  its own network's rules only, whatever the number of networks.
- forward (filter): the packets of tracked flows pass first; traffic within a bridge passes; an
  internal network forwards nothing in or out; published ports (conntrack status DNAT) pass to a
  routed network, from another bastion network too; other traffic between two bastion bridges is
  dropped (Docker's DOCKER-ISOLATION chains); any other network forwards what its containers
  send out, and drops other traffic routed to its containers. Each step is one rule matching a
  set of bridges (a hash lookup), so the chain has at most eight rules whatever the number of
  networks.
- prerouting and output (nat): packets to a local address (`fib daddr type local`, 127.0.0.1
  included) go through the `published` chain, one DNAT rule per published port, matched on the
  host address when one is given.
- postrouting (nat): masquerade what a network's subnet sends out through anything but its own
  bridge (not for internal networks); masquerade DNATed traffic from a subnet back into its own
  bridge (hairpin: a container reaching a published port through the host's address), and
  127.0.0.0/8 sources leaving through a bridge (the host reaching a published port on 127.0.0.1,
  routed thanks to the bridge's `route_localnet`, as Docker does without its userland proxy).

A port published on every address also answers on the host's IPv6 loopback, [::1], where no
rule can reach a container: `apply` keeps a userland proxy per such TCP port running
(`bastion.network.proxy`), and `remove` stops them.

`apply` also turns on the sysctls the rules need (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding
for IPv6 subnets, route_localnet on bridges with published ports) and records the values it changed
in a JSON file, so that `restore_sysctls` can put them back.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from bastion import jsonio
from bastion._sys import nft
from bastion.errors import BastionError
from bastion.identity import DEFAULT_STATE_ROOT
from bastion.network import daemon, proxy

DEFAULT_TABLE = "bastion"
#: the chain (and the prefix of its per-network chains) where switched traffic skips conntrack;
#: not `notrack`, a keyword the nft command line cannot name a chain by
SWITCHED = "switched"
#: Where `apply` records the sysctls it changed when the caller names no file: a plain file beside
#: the runtime's container directories, which its listing skips.
RECORD_DIR = DEFAULT_STATE_ROOT
_FAMILY = "inet"  # one table for IPv4 and IPv6; inet NAT chains need Linux 5.2
_IFNAMSIZ = 15
_LOOPBACK_NET = "127.0.0.0/8"


class FirewallError(BastionError):
    """The firewall ruleset is malformed (`where` names the field) or nftables refused it."""

    reference = "network-firewall"


@dataclass(frozen=True)
class NetworkPolicy:
    """One bridge network: its bridge, its subnets (CIDR strings) and whether it is internal."""

    name: str
    bridge: str
    subnets: tuple[str, ...]
    internal: bool
    #: the bridge's own addresses (one per subnet); with them, traffic between two of the
    #: network's containers skips conntrack (the `switched` chain)
    gateways: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortMapping:
    """A published port: host_ip "" (or 0.0.0.0 / ::) means every local address."""

    host_ip: str
    host_port: int
    container_ip: str
    container_port: int
    protocol: str  # "tcp" | "udp"


@dataclass(frozen=True)
class Ruleset:
    networks: tuple[NetworkPolicy, ...]
    ports: tuple[PortMapping, ...]


def apply(ruleset: Ruleset, *, table: str = DEFAULT_TABLE, record: str | None = None) -> None:
    """Replace bastion's table with the rules for `ruleset`, in one nftables transaction.

    Turns on the sysctls the rules need first and records what it changed in `record` (default
    /run/bastion/<table>-sysctl.json), then makes the [::1] proxies those the ports want.
    Raises FirewallError for a malformed ruleset (nothing is changed then), when a proxy cannot
    listen (the table is left as it was) or when nftables refuses the batch (likewise).
    """
    commands = build(ruleset, table=table)
    _enable_sysctls(ruleset, record or record_path(table))
    try:
        proxy.reconcile(proxy_dir(table), ruleset.ports)
    except daemon.DaemonFailed as e:
        raise FirewallError(
            f"a published port cannot answer on the host's IPv6 loopback: {e.reason}",
            where=proxy_dir(table),
            hint="free the port on [::1], or publish another one",
        ) from None
    _run(commands, f"nft table {_FAMILY} {table}")


def record_path(table: str = DEFAULT_TABLE) -> str:
    """Where `apply` records the sysctls it changed for `table` when told no other file."""
    return os.path.join(RECORD_DIR, f"{table}-sysctl.json")


def proxy_dir(table: str = DEFAULT_TABLE) -> str:
    """Where the [::1] proxies of `table`'s published ports keep their pid files: a directory
    beside the runtime's container directories, named with a dot, which its listing skips."""
    return os.path.join(RECORD_DIR, f".{table}-proxies")


def remove(*, table: str = DEFAULT_TABLE) -> None:
    """Delete bastion's table and stop its [::1] proxies; no error when they do not exist.
    Sysctls are left as they are."""
    # Adding the table first makes the delete succeed whether or not it existed (one batch).
    ref = {"family": _FAMILY, "name": table}
    _run([{"add": {"table": ref}}, {"delete": {"table": ref}}], f"nft table {_FAMILY} {table}")
    try:
        proxy.remove(proxy_dir(table))
    except daemon.DaemonFailed as e:
        raise FirewallError(
            f"a [::1] proxy did not stop: {e.reason}", where=proxy_dir(table), hint="kill it"
        ) from None


def restore_sysctls(record: str) -> None:
    """Put back the sysctls recorded by `apply` that still hold the value bastion set."""
    try:
        with open(record) as f:
            changed: dict[str, list[str]] = jsonio.loads(f.read())
    except FileNotFoundError:
        return
    for path, (original, ours) in changed.items():
        try:
            if _read(path) == ours:
                _write(path, original)
        except FileNotFoundError:  # the bridge is gone, and its settings with it
            pass
    os.unlink(record)


# --- the rules -------------------------------------------------------------------------------


def build(ruleset: Ruleset, *, table: str = DEFAULT_TABLE) -> list[dict[str, Any]]:
    """The nftables JSON commands (libnftables-json(5)) that rebuild `table` for `ruleset`."""
    _check(ruleset, table)
    ref = {"family": _FAMILY, "table": table}
    cmds: list[dict[str, Any]] = [
        {"add": {"table": {"family": _FAMILY, "name": table}}},
        {"delete": {"table": {"family": _FAMILY, "name": table}}},
        {"add": {"table": {"family": _FAMILY, "name": table}}},
    ]
    chains = (
        (SWITCHED, "filter", "prerouting", -300),  # NF_IP_PRI_RAW: before conntrack
        ("forward", "filter", "forward", 0),
        ("prerouting", "nat", "prerouting", -100),
        ("output", "nat", "output", -100),
        ("postrouting", "nat", "postrouting", 100),
    )
    for name, kind, hook, prio in chains:
        chain = {**ref, "name": name, "type": kind, "hook": hook, "prio": prio, "policy": "accept"}
        cmds.append({"add": {"chain": chain}})
    cmds.append({"add": {"chain": {**ref, "name": "published"}}})
    switched = _switched_rules(ruleset)
    cmds += [{"add": {"chain": {**ref, "name": _switched_chain(b)}}} for b in switched]

    def rule(chain: str, *expr: dict[str, Any]) -> None:
        cmds.append({"add": {"rule": {**ref, "chain": chain, "expr": list(expr)}}})

    if switched:
        to_network = [
            [bridge, {"jump": {"target": _switched_chain(bridge)}}] for bridge in switched
        ]
        rule(SWITCHED, {"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": to_network}}})
    for bridge, rules in switched.items():
        for expr in rules:
            rule(_switched_chain(bridge), *expr)
    for chain_name, rules in (
        ("forward", _forward_rules(ruleset)),
        ("postrouting", _postrouting_rules(ruleset)),
        ("published", _published_rules(ruleset)),
    ):
        for expr in rules:
            rule(chain_name, *expr)
    to_local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
    rule("prerouting", to_local, {"jump": {"target": "published"}})
    rule("output", to_local, {"jump": {"target": "published"}})
    return cmds


_Rule = list[dict[str, Any]]
_ACCEPT: dict[str, Any] = {"accept": None}
_DROP: dict[str, Any] = {"drop": None}
_MASQUERADE: dict[str, Any] = {"masquerade": None}


def _match(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _iif(name: str | dict[str, list[str]], op: str = "==") -> dict[str, Any]:
    return _match({"meta": {"key": "iifname"}}, name, op)


def _oif(name: str | dict[str, list[str]], op: str = "==") -> dict[str, Any]:
    return _match({"meta": {"key": "oifname"}}, name, op)


def _set(names: list[str]) -> dict[str, list[str]]:
    """An anonymous set: the match is one hash lookup, not a comparison per element."""
    return {"set": names}


def _addr(field: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> dict[str, Any]:
    proto = "ip" if net.version == 4 else "ip6"
    right: Any = (
        str(net.network_address)
        if net.prefixlen == net.max_prefixlen
        else {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    )
    return _match({"payload": {"protocol": proto, "field": field}}, right)


def _ct(key: str, values: str | list[str]) -> dict[str, Any]:
    return _match({"ct": {"key": key}}, values, "in")


def _switched_chain(bridge: str) -> str:
    return f"{SWITCHED}-{bridge}"


def _switched_rules(ruleset: Ruleset) -> dict[str, list[_Rule]]:
    """Per bridge, its network's rules of the `switched` chain: container to container (both
    addresses in one subnet, not to the gateway) is plain switching that no NAT rule can
    concern, so conntrack is skipped for it, both ways (br_netfilter sends bridged packets
    through these hooks). What goes to the gateway stays tracked: the DNS responder, and a
    hairpin's masqueraded replies. A network whose gateways are not known gets no chain."""
    rules: dict[str, list[_Rule]] = {}
    for n in ruleset.networks:
        for subnet, gateway in zip(n.subnets, n.gateways, strict=False):
            net = ipaddress.ip_network(subnet, strict=False)
            proto = "ip" if net.version == 4 else "ip6"
            rules.setdefault(n.bridge, []).append(
                [
                    _addr("saddr", net),
                    _addr("daddr", net),
                    _match({"payload": {"protocol": proto, "field": "daddr"}}, gateway, "!="),
                    {"notrack": None},
                ]
            )
    return rules


def _forward_rules(ruleset: Ruleset) -> list[_Rule]:
    """Most packets end at the first rule (a tracked flow's) or the second (switched within a
    bridge, untracked). Every rule matches a set of bridges, one hash lookup however many
    networks there are, and they keep the order of the per-network rules they stand for."""
    bridges = sorted({n.bridge for n in ruleset.networks})
    if not bridges:
        return []
    internal = sorted({n.bridge for n in ruleset.networks if n.internal})
    routed = sorted({n.bridge for n in ruleset.networks if not n.internal})
    within = {"set": [{"concat": [b, b]} for b in bridges]}
    iif_oif = {"concat": [{"meta": {"key": "iifname"}}, {"meta": {"key": "oifname"}}]}
    rules: list[_Rule] = [
        [_ct("state", ["established", "related"]), _ACCEPT],
        [_match(iif_oif, within), _ACCEPT],
    ]
    if internal:  # an internal network forwards nothing in or out
        rules += [[_iif(_set(internal)), _DROP], [_oif(_set(internal)), _DROP]]
    if routed:
        # a published port reached from another network through the host's address crosses
        # bridges: DNAT'd traffic passes before the isolation (Docker lets it too)
        rules.append([_oif(_set(routed)), _ct("status", "dnat"), _ACCEPT])
    if len(bridges) > 1:
        # isolation: never from one bastion bridge to another (within one passed above)
        rules.append([_iif(_set(bridges)), _oif(_set(bridges)), _DROP])
    if routed:
        rules += [[_iif(_set(routed)), _ACCEPT], [_oif(_set(routed)), _DROP]]
    return rules


def _postrouting_rules(ruleset: Ruleset) -> list[_Rule]:
    rules: list[_Rule] = []
    for n in ruleset.networks:
        for subnet in n.subnets:
            net = ipaddress.ip_network(subnet, strict=False)
            if not n.internal:
                rules.append([_addr("saddr", net), _oif(n.bridge, "!="), _MASQUERADE])
            # hairpin: the reply must come back through the host to be un-DNATed
            rules.append([_oif(n.bridge), _addr("saddr", net), _ct("status", "dnat"), _MASQUERADE])
    if ruleset.ports:
        loopback = ipaddress.ip_network(_LOOPBACK_NET)
        rules += [[_oif(n.bridge), _addr("saddr", loopback), _MASQUERADE] for n in ruleset.networks]
    return rules


def _published_rules(ruleset: Ruleset) -> list[_Rule]:
    rules: list[_Rule] = []
    for p in ruleset.ports:
        target = ipaddress.ip_address(p.container_ip)
        family = "ip" if target.version == 4 else "ip6"
        expr: _Rule = [_match({"meta": {"key": "nfproto"}}, "ipv4" if family == "ip" else "ipv6")]
        if p.host_ip and not ipaddress.ip_address(p.host_ip).is_unspecified:
            host = ipaddress.ip_address(p.host_ip)
            expr.append(_addr("daddr", ipaddress.ip_network(host)))
        expr.append(_match({"payload": {"protocol": p.protocol, "field": "dport"}}, p.host_port))
        expr.append({"dnat": {"family": family, "addr": str(target), "port": p.container_port}})
        rules.append(expr)
    return rules


def _check(ruleset: Ruleset, table: str) -> None:
    """Refuse a malformed ruleset before anything is changed, naming the bad field."""
    if not table or len(table) > 64 or not table.replace("-", "_").isidentifier():
        raise FirewallError(f"bad nftables table name {table!r}", where="table")
    for i, n in enumerate(ruleset.networks):
        where = f"networks[{i}]"
        if not n.bridge or len(n.bridge) > _IFNAMSIZ or "/" in n.bridge or " " in n.bridge:
            raise FirewallError(f"bad bridge name {n.bridge!r}", where=f"{where}.bridge")
        for subnet in n.subnets:
            try:
                ipaddress.ip_network(subnet, strict=False)
            except ValueError as e:
                raise FirewallError(str(e), where=f"{where}.subnets") from None
    for i, p in enumerate(ruleset.ports):
        where = f"ports[{i}]"
        if p.protocol not in ("tcp", "udp"):
            raise FirewallError(
                f"unknown protocol {p.protocol!r}", where=f"{where}.protocol", hint="tcp or udp"
            )
        for field, port in (("host_port", p.host_port), ("container_port", p.container_port)):
            if not 1 <= port <= 65535:
                raise FirewallError(f"port {port} out of range", where=f"{where}.{field}")
        try:
            target = ipaddress.ip_address(p.container_ip)
            host = ipaddress.ip_address(p.host_ip) if p.host_ip else None
        except ValueError as e:
            raise FirewallError(str(e), where=where) from None
        if host is not None and not host.is_unspecified and host.version != target.version:
            raise FirewallError(
                f"host address {p.host_ip} and container address {p.container_ip} are of "
                "different IP versions",
                where=f"{where}.host_ip",
                hint="publish an IPv4 host address to an IPv4 container address",
            )
        # Two mappings of one port whose host addresses overlap ("" or 0.0.0.0 is every one):
        # the first DNAT would win and the second never answer.
        for j, q in enumerate(ruleset.ports[:i]):
            if (q.host_port, q.protocol) == (p.host_port, p.protocol) and (
                _every(p.host_ip) or _every(q.host_ip) or p.host_ip == q.host_ip
            ):
                raise FirewallError(
                    f"{p.protocol} port {p.host_port} is published twice (ports[{j}] too)",
                    where=f"{where}.host_port",
                    hint="publish another host port, or the same one on another host address",
                )


def _every(host_ip: str) -> bool:
    return not host_ip or ipaddress.ip_address(host_ip).is_unspecified


def _run(commands: list[dict[str, Any]], where: str) -> None:
    try:
        nft.run(jsonio.dumps({"nftables": commands}))
    except OSError as e:
        raise FirewallError(
            e.strerror or str(e),
            where=where,
            hint="check that the kernel has nf_tables and nft_nat (modprobe nf_tables)",
        ) from None


# --- sysctls ---------------------------------------------------------------------------------


def _wanted_sysctls(ruleset: Ruleset) -> dict[str, str]:
    wanted: dict[str, str] = {}
    if ruleset.ports:  # DNAT from other hosts is forwarded
        wanted["/proc/sys/net/ipv4/ip_forward"] = "1"
    for n in ruleset.networks:
        versions = {ipaddress.ip_network(s, strict=False).version for s in n.subnets}
        if not n.internal and 4 in versions:
            wanted["/proc/sys/net/ipv4/ip_forward"] = "1"
        if not n.internal and 6 in versions:
            wanted["/proc/sys/net/ipv6/conf/all/forwarding"] = "1"
    targets = {ipaddress.ip_address(p.container_ip) for p in ruleset.ports}
    for n in ruleset.networks:
        nets = [ipaddress.ip_network(s, strict=False) for s in n.subnets]
        if any(t in net for t in targets for net in nets):
            wanted[f"/proc/sys/net/ipv4/conf/{n.bridge}/route_localnet"] = "1"
    return wanted


def _enable_sysctls(ruleset: Ruleset, record: str) -> None:
    try:
        with open(record) as f:
            changed: dict[str, list[str]] = jsonio.loads(f.read())
    except FileNotFoundError:
        changed = {}
    before = dict(changed)
    for path, value in _wanted_sysctls(ruleset).items():
        try:
            current = _read(path)
        except FileNotFoundError:  # a bridge not made yet: the caller applies again after
            continue
        if current != value:
            _write(path, value)
            changed.setdefault(path, [current, value])
    if changed != before:
        os.makedirs(os.path.dirname(record) or ".", exist_ok=True)
        tmp = f"{record}.tmp"
        with open(tmp, "w") as f:
            f.write(jsonio.dumps(changed, indent=2) + "\n")
        os.replace(tmp, record)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise FirewallError(
            f"cannot set {path} to {value}: {e.strerror}",
            where=path,
            hint="run as root in the host's network namespace",
        ) from None
