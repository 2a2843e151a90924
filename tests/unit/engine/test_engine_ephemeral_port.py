"""The host port the engine picks for `-p 80` / `-P`: one that every listener it implies can take.

A TCP port published on every address is also served on [::1] by a userland proxy
(network/proxy.py), so a port held there alone must not be chosen: the proxy could not
listen and the `run` would fail. The range is narrowed to the one held port, so the old choice
(checking 0.0.0.0 only) would return it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bastion.engine import networks
from bastion.network.errors import PortError


@pytest.fixture
def held_on_loopback6() -> Iterator[int]:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as held:
        try:
            held.bind(("::1", 0))
        except OSError as e:
            pytest.skip(f"this host has no ::1 to hold a port on: {e}")
        held.listen()
        yield held.getsockname()[1]


def test_a_tcp_port_held_on_ipv6_loopback_is_not_chosen(
    held_on_loopback6: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = held_on_loopback6
    monkeypatch.setattr(networks, "EPHEMERAL", (port, port + 1))
    with pytest.raises(PortError):
        networks.ephemeral_port("tcp", set())


def test_udp_is_not_proxied_so_the_same_port_is_free_for_it(
    held_on_loopback6: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = held_on_loopback6
    monkeypatch.setattr(networks, "EPHEMERAL", (port, port + 1))
    assert networks.ephemeral_port("udp", set()) == port
