"""A network's DNS responder as a real detached process: local names, forwarding, restart, stop.

The responder listens on a loopback address of this test's own (127.A.B.1, port 53) and forwards
to a fake upstream resolver the test runs on another (127.A.B.2, port 53), which answers every
name under `upstream.test.` and records what it was asked. Queries are packed with dnslib and
sent over UDP and TCP sockets.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dnslib import RCODE

from bastion._sys.proc import is_alive
from bastion.network import dns
from bastion_testing.netns_sockets import FakeUpstream, addresses, query

pytestmark = pytest.mark.privileged


@dataclass
class Rig:
    directory: str
    names: Path
    listen: str
    upstream: FakeUpstream

    def write_names(self, text: str) -> None:
        tmp = self.names.with_suffix(".tmp")  # replaced atomically, as the engine writes it
        tmp.write_text(text)
        os.replace(tmp, self.names)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    prefix = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}"
    upstream = FakeUpstream(f"{prefix}.2")
    names = tmp_path / "names"
    names.write_text("10.88.0.2 web web-alias\n10.88.0.3 db\nfd00:88::3 db\n")
    r = Rig(str(tmp_path / "dns"), names, f"{prefix}.1", upstream)
    try:
        yield r
    finally:
        dns.stop_responder(r.directory)
        upstream.close()


def test_local_names_forwarding_and_file_changes(rig: Rig) -> None:
    pid = dns.ensure_responder(
        rig.directory,
        listen=rig.listen,
        names_file=str(rig.names),
        upstreams=(rig.upstream.address,),
    )
    assert is_alive(pid, None)

    # Names and aliases from the file, without case, over UDP and TCP.
    assert addresses(query(rig.listen, "web")) == ["10.88.0.2"]
    assert addresses(query(rig.listen, "WEB-alias.")) == ["10.88.0.2"]
    assert addresses(query(rig.listen, "db", tcp=True)) == ["10.88.0.3"]
    assert addresses(query(rig.listen, "db", "AAAA")) == ["fd00:88::3"]
    # A known name without an address of that type: NODATA, not NXDOMAIN (and not forwarded).
    nodata = query(rig.listen, "web", "AAAA")
    assert nodata.header.rcode == RCODE.NOERROR and not nodata.rr
    reverse = query(rig.listen, "2.0.88.10.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reverse.rr] == ["web."]
    assert rig.upstream.asked == []

    # An answer past UDP's 512 bytes comes truncated over UDP and whole over TCP.
    rig.write_names("".join(f"10.88.1.{i} many\n" for i in range(1, 60)))
    truncated = query(rig.listen, "many")
    assert truncated.header.tc and not truncated.rr
    assert len(query(rig.listen, "many", tcp=True).rr) == 59
    rig.write_names("10.88.0.2 web web-alias\n10.88.0.3 db\nfd00:88::3 db\n")

    # Other names go to the upstream, over the transport the client used, and come back.
    assert addresses(query(rig.listen, "www.upstream.test")) == ["192.0.2.53"]
    assert addresses(query(rig.listen, "tcp.upstream.test", tcp=True)) == ["192.0.2.53"]
    assert query(rig.listen, "missing.example").header.rcode == RCODE.NXDOMAIN
    assert rig.upstream.asked == [
        ("udp", "www.upstream.test."),
        ("tcp", "tcp.upstream.test."),
        ("udp", "missing.example."),
    ]

    # A changed file is picked up: a new name, a moved one, a removed one (now forwarded).
    rig.write_names("10.88.0.9 web\n10.88.0.4 cache\n")
    assert addresses(query(rig.listen, "cache")) == ["10.88.0.4"]
    assert addresses(query(rig.listen, "web")) == ["10.88.0.9"]
    assert query(rig.listen, "db").header.rcode == RCODE.NXDOMAIN
    assert rig.upstream.asked[-1] == ("udp", "db.")

    # Same settings: the same process. Other upstreams: a new one. Stop: gone, port free.
    same = dns.ensure_responder(
        rig.directory,
        listen=rig.listen,
        names_file=str(rig.names),
        upstreams=(rig.upstream.address,),
    )
    assert same == pid
    alone = dns.ensure_responder(
        rig.directory, listen=rig.listen, names_file=str(rig.names), upstreams=()
    )
    assert alone != pid and not is_alive(pid, None)
    # Without upstreams an unknown name is NXDOMAIN from the responder itself.
    before = len(rig.upstream.asked)
    assert query(rig.listen, "nothing.upstream.test").header.rcode == RCODE.NXDOMAIN
    assert len(rig.upstream.asked) == before

    dns.stop_responder(rig.directory)
    assert not is_alive(alone, None)
    assert not os.path.exists(os.path.join(rig.directory, dns.PID_FILE))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((rig.listen, 53))  # the port is free again
    dns.stop_responder(rig.directory)  # nothing running: no error


def test_dead_upstream_is_servfail(rig: Rig) -> None:
    dead = rig.listen.rsplit(".", 1)[0] + ".3"  # nothing listens there: refused at once
    dns.ensure_responder(
        rig.directory, listen=rig.listen, names_file=str(rig.names), upstreams=(dead,)
    )
    assert query(rig.listen, "www.upstream.test").header.rcode == RCODE.SERVFAIL
    assert addresses(query(rig.listen, "web")) == ["10.88.0.2"]


def test_port_taken_is_a_clear_error_and_leaves_nothing(rig: Rig) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((rig.listen, 53))
        with pytest.raises(dns.DnsResponderError) as info:
            dns.ensure_responder(
                rig.directory, listen=rig.listen, names_file=str(rig.names), upstreams=()
            )
    assert info.value.reference == "network-dns"
    assert info.value.where == f"{rig.listen}:53"
    assert not os.path.exists(os.path.join(rig.directory, dns.PID_FILE))
