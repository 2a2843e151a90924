"""A network's DNS responder as a real detached process: local names, forwarding, restart, stop.

The responder listens on a loopback address of this test's own (127.A.B.1, port 53) and forwards
to a fake upstream resolver the test runs on another (127.A.B.2, port 53), which answers every
name under `upstream.test.` and records what it was asked. Queries are packed with dnslib and
sent over UDP and TCP sockets.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from bastion._sys.proc import is_alive
from bastion.network import dns

pytestmark = pytest.mark.privileged


def query(server: str, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    packet = DNSRecord.question(name, qtype).pack()
    if tcp:
        with socket.create_connection((server, 53), timeout=5) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            size = struct.unpack("!H", s.recv(2))[0]
            data = b""
            while len(data) < size:
                data += s.recv(size - len(data))
            return DNSRecord.parse(data)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(packet, (server, 53))
        return DNSRecord.parse(s.recv(65535))


def addresses(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


@dataclass
class FakeUpstream:
    """The test's own resolver: A 192.0.2.53 for *.upstream.test, NXDOMAIN for the rest."""

    address: str
    asked: list[tuple[str, str]] = field(default_factory=list)  # (transport, name)

    def __post_init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((self.address, 53))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.address, 53))
        self.tcp.listen(8)
        self.threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _answer(self, packet: bytes, transport: str) -> bytes:
        q = DNSRecord.parse(packet)
        name = str(q.q.qname).lower()
        self.asked.append((transport, name))
        reply = q.reply()
        if name.endswith("upstream.test."):
            reply.add_answer(RR(q.q.qname, QTYPE.A, ttl=60, rdata=A("192.0.2.53")))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply.pack()

    def _serve_udp(self) -> None:
        while True:
            try:
                packet, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            if not packet:  # shutdown() woke us
                return
            self.udp.sendto(self._answer(packet, "udp"), peer)

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack("!H", conn.recv(2))[0]
                reply = self._answer(conn.recv(size), "tcp")
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def close(self) -> None:
        for s in (self.udp, self.tcp):
            # Wakes the blocked recvfrom/accept; on the unconnected UDP socket it also says
            # ENOTCONN, which is expected.
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in self.threads:
            t.join()


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
