"""The engine's networks: their records and address leases in the metadata, and what a
container's attachment makes on the host (docs/network.md).

A bridge-mode container's network namespace is the engine's own: made and bind-mounted at
`<root>/netns/<id>` before the runtime creates the container (whose config.json names that
path in `linux.namespaces`), wired (a veth per network, its address leased inside one
`BEGIN IMMEDIATE` transaction), and unmounted when the container is released. Podman does the
same with netavark. The firewall's table and the DNS responders' names are rebuilt from the
metadata after every change, under its write lock, so they always say what it says.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.engine.container_files import host_resolvers, hosts_text, resolv_text
from bastion.network import ipam, netns, plumbing
from bastion.network.errors import (
    AddressError,
    NetworkError,
    NetworkInUseError,
    NetworkNameInUseError,
    NoSuchNetworkError,
    PortError,
    SubnetError,
)
from bastion.network.model import (
    DEFAULT_NETWORK,
    SPECIAL_MODES,
    Naming,
    Network,
    PublishedPort,
    parse_publish,
)
from bastion.runtime.store import write_atomic

if TYPE_CHECKING:
    from bastion.engine.metadata import ContainerRecord, Metadata

#: Where ephemeral host ports come from (Linux's default ip_local_port_range).
EPHEMERAL = (32768, 60999)
_NETWORK_COLUMNS = "id, name, driver, bridge, subnets, gateways, internal, ipv6, labels, created"


@dataclass(frozen=True)
class Lease:
    network_id: str
    container_id: str
    ipv4: str | None
    ipv6: str | None
    mac: str
    veth: str
    aliases: tuple[str, ...]


class Networks:
    """The networks of the engine whose metadata is `metadata` and root `root`."""

    def __init__(self, metadata: Metadata, root: str, naming: Naming | None = None) -> None:
        self.metadata = metadata
        self.root = root
        self.naming = self._settle_naming(naming or Naming.from_environment())

    def _settle_naming(self, given: Naming | None) -> Naming:
        """The prefix a root was first used with is kept in its metadata, so every later
        process (conmon's `bastion cleanup` too) names the same bridges and table."""
        rows = dict(self.metadata.query("SELECT key, value FROM settings"))
        if given is None:
            if "network_prefix" in rows:
                return Naming(rows["network_prefix"], rows.get("default_subnet") or "")
            return Naming()
        if rows.get("network_prefix") != given.prefix:
            with self.metadata.write() as db:
                db.execute(
                    "INSERT OR REPLACE INTO settings VALUES ('network_prefix', ?)", (given.prefix,)
                )
                db.execute(
                    "INSERT OR REPLACE INTO settings VALUES ('default_subnet', ?)",
                    (given.default_subnet,),
                )
        return given

    # --- networks ---------------------------------------------------------------------------

    def all(self) -> list[Network]:
        rows = self.metadata.query(f"SELECT {_NETWORK_COLUMNS} FROM networks ORDER BY created")
        return [_network(row) for row in rows]

    def get(self, name_or_id: str) -> Network:
        networks = self.all()
        for network in networks:
            if name_or_id in (network.name, network.id):
                return network
        if name_or_id == DEFAULT_NETWORK:
            return self.ensure_default()
        matches = [n for n in networks if name_or_id and n.id.startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        raise NoSuchNetworkError(
            f"network {name_or_id} not found",
            hint="`bastion network ls` lists them; `bastion network create` makes one",
        )

    def ensure_default(self) -> Network:
        """The default network `bridge`, made on first use."""
        for network in self.all():
            if network.name == DEFAULT_NETWORK:
                return network
        with contextlib.suppress(NetworkNameInUseError):
            return self.create(
                DEFAULT_NETWORK,
                subnets=(self.naming.default_subnet,),
                bridge=self.naming.default_bridge,
            )
        return self.get(DEFAULT_NETWORK)  # another process made it meanwhile

    def create(
        self,
        name: str,
        *,
        subnets: tuple[str, ...] = (),
        gateway: str | None = None,
        internal: bool = False,
        ipv6: bool = False,
        labels: dict[str, str] | None = None,
        bridge: str | None = None,
    ) -> Network:
        """Record a network and make its bridge. `subnets`: at most one per family; with
        `ipv6` and no IPv6 one, a unique-local /64 is picked, and without an IPv4 one a free
        /24 (`--ipv6 --subnet fd00::/64` gets both)."""
        if name in SPECIAL_MODES or name.startswith("container:") or not name:
            raise NetworkError(f"{name!r} is a network mode, not a network name")
        if name == DEFAULT_NETWORK and bridge is None:
            raise NetworkNameInUseError(f"{name} is the pre-defined default network's name")
        network_id = os.urandom(32).hex()
        bridge = bridge or self.naming.bridge(network_id)
        # a bridge left by a lost record would overlap itself
        routes = [route for route in plumbing.host_routes() if route[1] != bridge]
        with self.metadata.write() as db:
            if db.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone():
                raise NetworkNameInUseError(f"network with name {name} already exists")
            taken = [
                (row[0], s)
                for row in db.execute("SELECT name, subnets FROM networks")
                for s in json.loads(row[1])
            ]
            given = [ipam.parse_subnet(text) for text in subnets]
            v4 = next((g for g in given if g.version == 4), None)
            v6 = next((g for g in given if g.version == 6), None)
            if len(given) != len({g.version for g in given}):
                raise SubnetError("at most one --subnet per address family")
            if v6 is not None and not ipv6:
                raise SubnetError(f"subnet {v6} is IPv6", hint="add --ipv6")
            chosen: list[ipam.IPNetwork] = [v4 or ipam.auto_subnet(routes, taken)]
            if ipv6:
                chosen.append(v6 or _auto_v6(network_id))
            gateways = []
            for each in chosen:
                ipam.check_overlap(each, routes, taken)
                # --gateway belongs to the subnet of its family (malformed: the first one's
                # check says so)
                fits = gateway and (
                    not _is_ip(gateway) or ipaddress.ip_address(gateway).version == each.version
                )
                gateways.append(str(ipam.gateway_for(each, gateway if fits else None)))
            network = Network(
                id=network_id,
                name=name,
                bridge=bridge,
                subnets=tuple(str(s) for s in chosen),
                gateways=tuple(gateways),
                internal=internal,
                ipv6=ipv6,
                labels=dict(labels or {}),
                created=time.time(),
            )
            db.execute(
                f"INSERT INTO networks ({_NETWORK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(network),
            )
            try:
                self._make_bridge(network)
                self._apply_firewall(db)
            except BaseException:
                plumbing.delete_link(network.bridge)
                raise
        return network

    def _make_bridge(self, network: Network, mtu: int | None = None) -> None:
        addresses = tuple(
            f"{gateway}/{ipaddress.ip_network(subnet).prefixlen}"
            for subnet, gateway in zip(network.subnets, network.gateways, strict=True)
        )
        plumbing.ensure_bridge(network.bridge, addresses, mtu or plumbing.host_mtu())

    def remove(self, name_or_id: str, *, users: list[str], predefined_ok: bool = False) -> str:
        """Remove a network nobody is attached to (`users`: the names of the containers
        whose config names it): its bridge, responder and rules."""
        network = self.get(name_or_id)
        if network.name == DEFAULT_NETWORK and not predefined_ok:
            raise NetworkError(f"{DEFAULT_NETWORK} is a pre-defined network and cannot be removed")
        with self.metadata.write() as db:
            leased = db.execute(
                "SELECT container_id FROM leases WHERE network_id = ?", (network.id,)
            ).fetchall()
            if users or leased:
                names = users or [row[0][:12] for row in leased]
                raise NetworkInUseError(
                    f"network {network.name} is in use by the container(s) {', '.join(names)}",
                    hint="remove them, or `bastion network disconnect` them first",
                )
            db.execute("DELETE FROM networks WHERE id = ?", (network.id,))
            db.execute("DELETE FROM kept_addresses WHERE network_id = ?", (network.id,))
            self._apply_firewall(db)
        from bastion.network import dns

        dns.stop_responder(self._network_dir(network.id))
        plumbing.delete_link(network.bridge)
        import shutil

        shutil.rmtree(self._network_dir(network.id), ignore_errors=True)
        return network.name

    # --- containers -------------------------------------------------------------------------

    def netns_path(self, container_id: str) -> str:
        return os.path.join(self.root, "netns", container_id)

    def plan(self, mode: str, ip: str | None, aliases: tuple[str, ...]) -> list[dict[str, Any]]:
        """The `networks` entry of a container's config for `--network mode` (a network's
        name; `bridge` made on first use): checked now, so a wrong name makes nothing."""
        network = self.get(mode)
        if ip:
            subnets = [ipaddress.ip_network(s) for s in network.subnets]
            address = ipaddress.ip_address(ip) if _is_ip(ip) else None
            if address is None or not any(address in s for s in subnets):
                raise AddressError(
                    f"--ip {ip} is not an address of network {network.name} "
                    f"({', '.join(network.subnets)})"
                )
        return [{"id": network.id, "ip": ip or "", "aliases": list(aliases)}]

    def ports(
        self, publish: tuple[str, ...], publish_all: bool, exposed: tuple[str, ...]
    ) -> list[dict[str, object]]:
        """`-p` and `-P` as the container config's `ports`: an ephemeral host port where none
        was given (`-p 80`, `-P` for each of the image's ExposedPorts), and a clear error
        when a host port is already published by another container."""
        wanted = [parse_publish(text) for text in publish]
        if publish_all:
            for text in exposed:
                number, _, protocol = text.partition("/")
                if number.isdigit():
                    wanted.append(PublishedPort("", 0, int(number), protocol or "tcp"))
        if not wanted:
            return []
        published = [
            PublishedPort.from_dict(doc)
            for (config,) in self.metadata.query("SELECT config FROM containers")
            for doc in json.loads(config).get("ports", [])
        ]
        taken = {(p.host_port, p.protocol) for p in published}
        out = []
        for port in wanted:
            if port.host_port == 0:
                port = dataclasses.replace(port, host_port=ephemeral_port(port.protocol, taken))
            taken.add((port.host_port, port.protocol))
            out.append(port.as_dict())
        return out

    def connect(
        self, record: ContainerRecord, network: Network, ip: str | None, aliases: tuple[str, ...]
    ) -> dict[str, Any]:
        """Attach a container to one more network: its config entry, and when it runs (in
        a namespace of the engine's), its veth and lease now."""
        if any(a["id"] == network.id for a in record.config.get("networks", [])):
            raise NetworkError(f"container {record.name} is already on network {network.name}")
        (attachment,) = self.plan(network.id, ip, aliases)
        path = self.netns_path(record.id)
        if netns.is_mounted(path):
            _, lease = self._lease(record, attachment)
            try:
                index = len(self.leases(record.id)) - 1
                mtu = plumbing.link_mtu(network.bridge) or plumbing.host_mtu()
                self._wire(path, network, lease, mtu, f"eth{index}")
                with self.metadata.write() as db:
                    self._apply_firewall(db)
            except BaseException:
                self.teardown(record.id, network.id)
                raise
            self._refresh_dns({network.id})
        return attachment

    def leases(self, container_id: str | None = None) -> list[Lease]:
        sql = "SELECT network_id, container_id, ipv4, ipv6, mac, veth, aliases FROM leases"
        rows = (
            self.metadata.query(sql + " WHERE container_id = ?", (container_id,))
            if container_id
            else self.metadata.query(sql)
        )
        return [
            Lease(row[0], row[1], row[2], row[3], row[4], row[5], tuple(json.loads(row[6])))
            for row in rows
        ]

    def setup(self, record: ContainerRecord, directory: str) -> None:
        """Everything a bridge-mode container's network needs before its process runs."""
        path = self.netns_path(record.id)
        netns.remove(path)  # a restart's, or a killed start's
        netns.create(path)
        try:
            attachments = record.config.get("networks", [])
            entries: list[tuple[str, list[str]]] = []
            nameservers: list[str] = []
            # the rules depend on the networks and on the published ports of wired
            # containers only: a container publishing nothing, on bridges that exist, leaves
            # them as they are (no nft batch on its start)
            rules_change = bool(record.config.get("ports"))
            for index, attachment in enumerate(attachments):
                network, lease = self._lease(record, attachment)
                mtu = plumbing.link_mtu(network.bridge) if plumbing.is_up(network.bridge) else None
                if mtu is None:  # gone (a reboot, a crash): made again, and its rules
                    mtu = plumbing.host_mtu()
                    self._make_bridge(network, mtu)
                    rules_change = True
                self._wire(path, network, lease, mtu, f"eth{index}")
                entries.extend(_hosts_entries(record, lease))
                if network.user_defined:
                    nameservers.append(network.gateways[0])
            self._write_etc(directory, entries, nameservers)
            if rules_change:
                with self.metadata.write() as db:
                    self._apply_firewall(db)
            self._refresh_dns({a["id"] for a in attachments})
        except BaseException:
            self.teardown(record.id)
            raise

    def _lease(self, record: ContainerRecord, attachment: dict[str, Any]) -> tuple[Network, Lease]:
        """An address (or `--ip`'s) on the attachment's network, and a check that no other
        wired container publishes the same host ports: one transaction, so concurrent
        `run`s queue and never share either."""
        network = self.get(attachment["id"])
        ports = [PublishedPort.from_dict(p) for p in record.config.get("ports", [])]
        with self.metadata.write() as db:
            self._check_ports(db, record.id, ports)
            # the addresses of the other containers' leases, and those kept for the other
            # existing containers (stopped: their next start gets them back)
            used = db.execute(
                "SELECT ipv4, ipv6 FROM leases WHERE network_id = ? AND container_id != ? "
                "UNION ALL SELECT k.ipv4, k.ipv6 FROM kept_addresses k JOIN containers c "
                "ON c.id = k.container_id WHERE k.network_id = ? AND k.container_id != ?",
                (network.id, record.id, network.id, record.id),
            ).fetchall()
            kept = db.execute(
                "SELECT ipv4, ipv6 FROM kept_addresses WHERE network_id = ? AND container_id = ?",
                (network.id, record.id),
            ).fetchone()
            addresses: dict[int, str] = {}
            for subnet_text, gateway in zip(network.subnets, network.gateways, strict=True):
                subnet = ipaddress.ip_network(subnet_text)
                column = 0 if subnet.version == 4 else 1
                taken = {row[column] for row in used} - {None}
                static = attachment.get("ip") or ""
                if static and ipaddress.ip_address(static).version == subnet.version:
                    address = ipam.static(subnet, gateway, taken, static)
                elif kept and kept[column] and kept[column] not in taken:
                    address = ipaddress.ip_address(kept[column])
                else:
                    address = ipam.allocate(subnet, gateway, taken)
                addresses[subnet.version] = str(address)
            first = addresses.get(4) or addresses[6]
            lease = Lease(
                network_id=network.id,
                container_id=record.id,
                ipv4=addresses.get(4),
                ipv6=addresses.get(6),
                mac=ipam.mac_for(first),
                veth=self.naming.veth(record.id, network.id),
                aliases=tuple(attachment.get("aliases", ())),
            )
            # a lease again: nothing kept (and what removed containers kept goes too)
            db.execute(
                "DELETE FROM kept_addresses WHERE (network_id = ? AND container_id = ?) "
                "OR container_id NOT IN (SELECT id FROM containers)",
                (network.id, record.id),
            )
            db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    *(lease.network_id, lease.container_id, lease.ipv4, lease.ipv6),
                    lease.mac,
                    lease.veth,
                    json.dumps(list(lease.aliases)),
                ),
            )
        return network, lease

    def _check_ports(
        self, db: sqlite3.Connection, container_id: str, ports: list[PublishedPort]
    ) -> None:
        if not ports:
            return
        rows = db.execute(
            "SELECT DISTINCT c.name, c.config FROM containers c JOIN leases l "
            "ON l.container_id = c.id WHERE c.id != ?",
            (container_id,),
        ).fetchall()
        for name, config in rows:
            for doc in json.loads(config).get("ports", []):
                other = PublishedPort.from_dict(doc)
                for port in ports:
                    if _clash(port, other):
                        raise PortError(
                            f"host port {port.host_port}/{port.protocol} is already published "
                            f"by container {name}",
                            hint="choose another host port, or stop that container",
                        )

    def _wire(self, path: str, network: Network, lease: Lease, mtu: int, ifname: str) -> None:
        addresses = []
        gateways = []
        for subnet_text, gateway in zip(network.subnets, network.gateways, strict=True):
            subnet = ipaddress.ip_network(subnet_text)
            address = lease.ipv4 if subnet.version == 4 else lease.ipv6
            if address:
                addresses.append(f"{address}/{subnet.prefixlen}")
                gateways.append(gateway)
        endpoint = plumbing.Endpoint(
            bridge=network.bridge,
            host_ifname=lease.veth,
            addresses=tuple(addresses),
            # one default route, the first network's (Docker's); none out of an internal one
            gateways=tuple(gateways) if ifname == "eth0" and not network.internal else (),
            mac=lease.mac,
            ifname=ifname,
        )
        plumbing.attach(path, endpoint, mtu)

    def rewrite_hosts(self, record: ContainerRecord, directory: str) -> None:
        """A running container's /etc/hosts after `network connect`/`disconnect`: its
        addresses on the networks it is on now. Written in place: the container's bind mount
        holds the file's inode, a renamed new file would not be seen."""
        path = os.path.join(directory, "hosts")
        if not netns.is_mounted(self.netns_path(record.id)) or not os.path.exists(path):
            return
        entries = [e for lease in self.leases(record.id) for e in _hosts_entries(record, lease)]
        with open(path, "r+") as f:
            f.write(hosts_text(entries))
            f.truncate()

    def _write_etc(
        self, directory: str, entries: list[tuple[str, list[str]]], nameservers: list[str]
    ) -> None:
        servers, search, options = host_resolvers()
        write_atomic(os.path.join(directory, "hosts"), hosts_text(entries).encode(), 0o644)
        text = resolv_text(nameservers or servers, search, options)
        write_atomic(os.path.join(directory, "resolv.conf"), text.encode(), 0o644)

    def teardown(self, container_id: str, network_id: str | None = None) -> None:
        """Undo `setup` (or one network's part of it): veths, leases, then the namespace,
        the rules and the names. Each step tolerates what is already gone, so a crashed
        container, a killed `run` and `system prune` all end here."""
        leases = [
            lease
            for lease in self.leases(container_id)
            if network_id is None or lease.network_id == network_id
        ]
        path = self.netns_path(container_id)
        if not leases and (network_id is not None or not os.path.exists(path)):
            return
        if network_id is not None:
            # one network off a namespace that stays: its veth goes now. With the whole
            # namespace going, the kernel deletes its veths with it (a restart's stale pair,
            # not freed yet, is deleted by `plumbing.attach`; `repair` deletes any left).
            for lease in leases:
                plumbing.delete_link(lease.veth)
        with self.metadata.write() as db:
            for lease in leases:
                db.execute(
                    "DELETE FROM leases WHERE network_id = ? AND container_id = ?",
                    (lease.network_id, container_id),
                )
            row = db.execute("SELECT config FROM containers WHERE id = ?", (container_id,))
            config = row.fetchone()
            for lease in leases:
                # stopped, not removed: its next start gets the same address (Docker keeps it
                # while the container exists); disconnected or removed: released
                if network_id is None and config is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO kept_addresses VALUES (?, ?, ?, ?)",
                        (lease.network_id, container_id, lease.ipv4, lease.ipv6),
                    )
                else:
                    db.execute(
                        "DELETE FROM kept_addresses WHERE network_id = ? AND container_id = ?",
                        (lease.network_id, container_id),
                    )
            # its published ports were in the rules (a record already gone: rebuilt anyway)
            if leases and (config is None or json.loads(config[0]).get("ports")):
                self._apply_firewall(db)
        if network_id is None:
            netns.remove(path)
        self._refresh_dns({lease.network_id for lease in leases})

    # --- the firewall and the names ---------------------------------------------------------

    def _apply_firewall(self, db: sqlite3.Connection) -> None:
        """Rebuild the firewall's table from the metadata, inside the caller's transaction
        (the write lock), so concurrent changes apply in the order they commit."""
        from bastion.network import firewall

        networks = [
            _network(row)
            for row in db.execute(f"SELECT {_NETWORK_COLUMNS} FROM networks ORDER BY created")
        ]
        policies = tuple(
            firewall.NetworkPolicy(
                name=n.name,
                bridge=n.bridge,
                subnets=n.subnets,
                internal=n.internal,
                gateways=n.gateways,
            )
            for n in networks
        )
        mappings = []
        rows = db.execute(
            "SELECT c.id, c.config, l.ipv4 FROM containers c JOIN leases l "
            "ON l.container_id = c.id WHERE l.ipv4 IS NOT NULL ORDER BY c.id, l.rowid"
        ).fetchall()
        seen: set[str] = set()
        for container_id, config, ipv4 in rows:
            if container_id in seen:
                continue  # a container on several networks: its first address
            seen.add(container_id)
            for doc in json.loads(config).get("ports", []):
                port = PublishedPort.from_dict(doc)
                mappings.append(
                    firewall.PortMapping(
                        host_ip=port.host_ip,
                        host_port=port.host_port,
                        container_ip=ipv4,
                        container_port=port.container_port,
                        protocol=port.protocol,
                    )
                )
        ruleset = firewall.Ruleset(networks=policies, ports=tuple(mappings))
        firewall.apply(ruleset, table=self.naming.table)

    def remove_firewall(self) -> None:
        """The firewall's table, and the sysctls its rules turned on put back (the engine's
        networks are all gone: `reset_networks`)."""
        from bastion.network import firewall

        firewall.remove(table=self.naming.table)
        firewall.restore_sysctls(firewall.record_path(self.naming.table))

    def _network_dir(self, network_id: str) -> str:
        return os.path.join(self.root, "networks", network_id)

    def _refresh_dns(self, network_ids: set[str]) -> None:
        """Rewrite each user network's names file from its leases and make sure its
        responder runs on the gateway (it re-reads the file when it changes)."""
        for network in self.all():
            if network.id not in network_ids or not network.user_defined:
                continue
            from bastion.network import dns

            directory = self._network_dir(network.id)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            rows = self.metadata.query(
                "SELECT l.ipv4, l.ipv6, l.aliases, c.name, c.config FROM leases l "
                "JOIN containers c ON c.id = l.container_id WHERE l.network_id = ?",
                (network.id,),
            )
            lines: list[str] = []
            for ipv4, ipv6, aliases, name, config in rows:
                hostname = json.loads(config).get("hostname", "")
                names = [n for n in dict.fromkeys([name, *json.loads(aliases), hostname]) if n]
                lines.extend(f"{a} {' '.join(names)}" for a in (ipv4, ipv6) if a)
            names_file = os.path.join(directory, "names")
            write_atomic(names_file, ("\n".join(lines) + "\n").encode(), 0o644)
            dns.ensure_responder(
                directory,
                listen=network.gateways[0],
                names_file=names_file,
                upstreams=tuple(host_resolvers()[0]),
            )

    # --- repair -----------------------------------------------------------------------------

    def repair(self, live: set[str]) -> None:
        """Remove what no live container (`live`: ids of running or starting containers)
        owns: leases, their veths, namespaces under `<root>/netns`, this engine's links that
        no record names; then rebuild the rules."""
        for lease in self.leases():
            if lease.container_id not in live:
                self.teardown(lease.container_id)
        directory = os.path.join(self.root, "netns")
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(directory):
                if name not in live:
                    netns.remove(os.path.join(directory, name))
        known = {n.bridge for n in self.all()} | {lease.veth for lease in self.leases()}
        for name in plumbing.link_names():
            if self.naming.owns_link(name) and name not in known:
                plumbing.delete_link(name)
        with self.metadata.write() as db:
            self._apply_firewall(db)


def _hosts_entries(record: ContainerRecord, lease: Lease) -> list[tuple[str, list[str]]]:
    """/etc/hosts lines of one lease: each address with the hostname, name and aliases."""
    names = [record.config.get("hostname", ""), record.name, *lease.aliases]
    unique = [n for n in dict.fromkeys(names) if n]
    return [(a, unique) for a in (lease.ipv4, lease.ipv6) if a]


def _clash(a: PublishedPort, b: PublishedPort) -> bool:
    same_address = not a.host_ip or not b.host_ip or a.host_ip == b.host_ip
    return a.protocol == b.protocol and a.host_port == b.host_port and same_address


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _auto_v6(network_id: str) -> ipam.IPNetwork:
    """A unique-local /64 from the network's id (RFC 4193's random global id)."""
    return ipaddress.ip_network(f"fd{network_id[:2]}:{network_id[2:6]}:{network_id[6:10]}::/64")


def ephemeral_port(protocol: str, taken: set[tuple[int, str]]) -> int:
    """A host port nothing has published and nothing listens on (bound to check)."""
    from bastion.network.proxy import loopback6_free  # only -p/-P without a host port need it

    low, high = EPHEMERAL
    # os.urandom, not `secrets`: that module (random, hmac, hashlib) is on every -p run's path
    start = int.from_bytes(os.urandom(4), "little") % (high - low)
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    for offset in range(high - low):
        port = low + (start + offset) % (high - low)
        if (port, protocol) in taken:
            continue
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        if protocol == "tcp" and not loopback6_free(port):
            continue  # its [::1] proxy could not listen (network/proxy.py)
        return port
    raise PortError("no free ephemeral host port left")


def _row(network: Network) -> tuple[Any, ...]:
    return (
        network.id,
        network.name,
        network.driver,
        network.bridge,
        json.dumps(list(network.subnets)),
        json.dumps(list(network.gateways)),
        int(network.internal),
        int(network.ipv6),
        json.dumps(network.labels),
        network.created,
    )


def _network(row: tuple[Any, ...]) -> Network:
    return Network(
        id=row[0],
        name=row[1],
        driver=row[2],
        bridge=row[3],
        subnets=tuple(json.loads(row[4])),
        gateways=tuple(json.loads(row[5])),
        internal=bool(row[6]),
        ipv6=bool(row[7]),
        labels=json.loads(row[8]),
        created=row[9],
    )


def network_document(network: Network, leases: list[tuple[Lease, str]]) -> dict[str, Any]:
    """`network inspect`'s document, Docker's fields (API NetworkResource); `leases` pairs
    each lease with its container's name."""
    from bastion.engine.inspect import rfc3339

    def with_prefix(address: str | None) -> str:
        if not address:
            return ""
        for subnet in network.subnets:
            net = ipaddress.ip_network(subnet)
            if ipaddress.ip_address(address) in net:
                return f"{address}/{net.prefixlen}"
        return address

    return {
        "Name": network.name,
        "Id": network.id,
        "Created": rfc3339(network.created),
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": network.ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [
                {"Subnet": s, "Gateway": g}
                for s, g in zip(network.subnets, network.gateways, strict=True)
            ],
        },
        "Internal": network.internal,
        "Attachable": False,
        "Containers": {
            lease.container_id: {
                "Name": name,
                "EndpointID": lease.veth,
                "MacAddress": lease.mac,
                "IPv4Address": with_prefix(lease.ipv4),
                "IPv6Address": with_prefix(lease.ipv6),
            }
            for lease, name in leases
        },
        "Options": {"com.docker.network.bridge.name": network.bridge},
        "Labels": network.labels,
    }


def network_settings(
    config: dict[str, Any], networks: dict[str, Network], leases: list[Lease], sandbox: str
) -> dict[str, Any]:
    """A container's `NetworkSettings` in `inspect` (Docker's fields): its addresses per
    network, the first network's at the top level, and its published ports."""
    ports: dict[str, list[dict[str, str]] | None] = {}
    for doc in config.get("ports", []):
        port = PublishedPort.from_dict(doc)
        ports.setdefault(f"{port.container_port}/{port.protocol}", []).append(  # type: ignore[union-attr]
            {"HostIp": port.host_ip or "0.0.0.0", "HostPort": str(port.host_port)}
        )
    by_network = {lease.network_id: lease for lease in leases}
    attached: dict[str, Any] = {}
    for attachment in config.get("networks", []):
        network = networks.get(attachment["id"])
        if network is None:
            continue
        lease = by_network.get(network.id)
        v4 = ipaddress.ip_network(network.subnets[0])
        v6 = ipaddress.ip_network(network.subnets[1]) if len(network.subnets) > 1 else None
        attached[network.name] = {
            "Aliases": list(attachment.get("aliases", [])) or None,
            "NetworkID": network.id,
            "EndpointID": lease.veth if lease else "",
            "Gateway": network.gateways[0] if lease else "",
            "IPAddress": (lease.ipv4 or "") if lease else "",
            "IPPrefixLen": v4.prefixlen if lease else 0,
            "IPv6Gateway": network.gateways[1] if lease and v6 else "",
            "GlobalIPv6Address": (lease.ipv6 or "") if lease else "",
            "GlobalIPv6PrefixLen": v6.prefixlen if lease and v6 else 0,
            "MacAddress": lease.mac if lease else "",
            "IPAMConfig": {"IPv4Address": attachment["ip"]} if attachment.get("ip") else None,
        }
    first = next(iter(attached.values()), None)
    keys = (
        "Gateway",
        "IPAddress",
        "IPPrefixLen",
        "IPv6Gateway",
        "GlobalIPv6Address",
        "GlobalIPv6PrefixLen",
        "MacAddress",
    )
    return {
        "Bridge": "",
        "SandboxKey": sandbox,
        "Ports": ports,
        **{
            key: (first[key] if first else ("" if key != "IPPrefixLen" and "Len" not in key else 0))
            for key in keys
        },
        "Networks": attached,
    }
