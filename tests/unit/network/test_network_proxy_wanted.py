"""Which published ports get a userland proxy on the host's IPv6 loopback, built without root."""

from __future__ import annotations

from bastion.network import proxy
from bastion.network.firewall import PortMapping


def test_tcp_ports_published_on_every_address_get_a_proxy_to_the_containers_address() -> None:
    ports = [
        PortMapping("", 8080, "10.77.1.2", 80, "tcp"),
        PortMapping("::", 8443, "10.77.1.3", 443, "tcp"),
    ]
    assert proxy.wanted(ports) == {
        "tcp-8080.pid": {"port": 8080, "target": "10.77.1.2:80"},
        "tcp-8443.pid": {"port": 8443, "target": "10.77.1.3:443"},
    }


def test_no_proxy_for_one_address_ipv4_only_or_udp() -> None:
    ports = [
        PortMapping("127.0.0.1", 8080, "10.77.1.2", 80, "tcp"),  # one address: not ::1
        PortMapping("0.0.0.0", 8081, "10.77.1.2", 80, "tcp"),  # IPv4 only, as with Docker
        PortMapping("10.77.1.1", 8082, "10.77.1.2", 80, "tcp"),
        PortMapping("", 5353, "10.77.1.2", 53, "udp"),  # UDP is not proxied
    ]
    assert proxy.wanted(ports) == {}
