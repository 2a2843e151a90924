"""Container networking on the host: Linux bridges, veth pairs and network namespaces through
netlink (pyroute2), address management (IPAM) over subnets, and the names a network gives its
containers (docs/network.md).

A library layer below the engine (docs/architecture.md): it knows nothing of containers'
records or the metadata. The engine (`bastion.engine.networks`) keeps networks and leases in
its SQLite database and calls down here to make what they describe. The firewall (nftables,
`firewall`), the DNS responder of user networks (`dns`) and CNI plugins (`cni`) live beside it.
Not on bastion-runc's start-up path.
"""
