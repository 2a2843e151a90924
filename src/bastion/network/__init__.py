"""Networks: bridges, veths, addresses, the nftables firewall, the DNS responder (docs/network.md).

Sits beside `runtime`, `images` and `sensor` in the layers (docs/architecture.md): it may import
`oci`, `identity`, `errors` and `_sys`, never `runtime`, `images`, `sensor`, `engine` or `cli`.
It is not on bastion-runc's start-up path.
"""
