"""Network tests' helpers: sockets inside a named network namespace, a free test range, a fake
upstream DNS resolver and a DNS query."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from pyroute2 import IPRoute

from bastion._sys.ns import setns

_CLONE_NEWNET = 0x40000000


def in_netns(ns: str | None, make: Callable[[], socket.socket]) -> socket.socket:
    """A socket made by `make` inside network namespace /run/netns/`ns` (None: the host's).

    setns(2) changes the namespace of the calling thread only, so a short thread makes it; the
    socket stays in that namespace for its whole life."""
    if ns is None:
        return make()
    box: list[socket.socket | BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                setns(fd, _CLONE_NEWNET)
            finally:
                os.close(fd)
            box.append(make())
        except BaseException as e:
            box.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def free_base() -> str:
    """A "10.X" whose 10.X.0.0/16 no route or address of the host touches."""
    with IPRoute() as ipr:
        used = []
        for r in ipr.get_routes(family=socket.AF_INET):
            dst = r.get_attr("RTA_DST")
            if dst:
                used.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
        used += [
            ipaddress.ip_network(f"{a.get_attr('IFA_ADDRESS')}/32")
            for a in ipr.get_addr(family=socket.AF_INET)
        ]
    candidates = [f"10.{n}" for n in range(180, 250)]
    secrets.SystemRandom().shuffle(candidates)
    for base in candidates:
        net = ipaddress.ip_network(f"{base}.0.0/16")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return base
    raise RuntimeError("no free 10.X.0.0/16 for a test topology")


def query(
    server: str, name: str, qtype: str = "A", *, tcp: bool = False, ns: str | None = None
) -> DNSRecord:
    """Ask `server` (port 53) from network namespace `ns` over UDP or TCP; the parsed reply."""
    packet = DNSRecord.question(name, qtype).pack()
    if tcp:

        def make_tcp() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            return s

        with in_netns(ns, make_tcp) as s:
            s.connect((server, 53))
            s.sendall(struct.pack("!H", len(packet)) + packet)
            size = struct.unpack("!H", s.recv(2))[0]
            data = b""
            while len(data) < size:
                data += s.recv(size - len(data))
            return DNSRecord.parse(data)

    def make_udp() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        return s

    with in_netns(ns, make_udp) as s:
        s.sendto(packet, (server, 53))
        return DNSRecord.parse(s.recv(65535))


def addresses(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


@dataclass
class FakeUpstream:
    """The test's own resolver: A 192.0.2.53 for *.upstream.test, NXDOMAIN for the rest."""

    address: str
    ns: str | None = None  # the network namespace it runs in (None: the host's)
    asked: list[tuple[str, str]] = field(default_factory=list)  # (transport, name)

    def __post_init__(self) -> None:
        def udp() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((self.address, 53))
            return s

        def tcp() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.address, 53))
            s.listen(8)
            return s

        self.udp = in_netns(self.ns, udp)
        self.tcp = in_netns(self.ns, tcp)
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
