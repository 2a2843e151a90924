"""The DNS responder of one network: names from a file, everything else forwarded (docs/network.md).

Like Docker's embedded DNS server, it answers on the network's gateway address, UDP and TCP port 53:

- A, AAAA (and PTR) for the names in the names file, lines "IP NAME [ALIAS...]" as /etc/hosts
  writes them, matched without case and without a trailing dot. The file is re-read when it
  changes (its inode, size or mtime), so the engine just rewrites it (atomically) on `run`/`rm`.
  A known name asked for a type it has no address of gets an empty NOERROR answer (NODATA), so
  that resolvers do not take it for a missing name.
- Any other name is relayed unchanged to the upstream resolvers in order (UDP over UDP, TCP over
  TCP, so a truncated UDP answer makes the client retry over TCP as usual); SERVFAIL when none
  answers, NXDOMAIN when there are no upstreams.

The responder runs in the host's network namespace (the gateway address is the host's), so the
host's own resolvers, loopback ones included, are reachable from it. Queries are answered on the
main thread; a forwarded UDP query and each TCP connection get a thread of their own, so a slow
upstream never holds up local names. dnslib (PyPI) packs and parses the messages; it is imported
only here, never on the engine's run path (`bastion.network.dns` starts this as a process).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import selectors
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSError, DNSRecord

from bastion.network import daemon

TTL = 600  # Docker's embedded server answers with 600 s too
UPSTREAM_TIMEOUT = 2.0  # per upstream, as resolv.conf's default `timeout:` is 5 for a whole try
TCP_IDLE = 10.0
_UDP_MAX = 512  # no EDNS0 here: the classic limit for every client
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Names:
    """The names file, parsed again whenever it changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._forward: dict[str, list[_Address]] = {}
        self._reverse: dict[str, str] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            signature = (0, 0, 0)
        if signature == self._signature:
            return
        forward: dict[str, list[_Address]] = {}
        reverse: dict[str, str] = {}
        try:
            with open(self.path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            try:
                address = ipaddress.ip_address(fields[0])
            except ValueError:
                continue
            for name in fields[1:]:
                forward.setdefault(_norm(name), []).append(address)
            reverse.setdefault(address.reverse_pointer, fields[1])
        self._forward, self._reverse, self._signature = forward, reverse, signature

    def lookup(self, name: str) -> list[_Address] | None:
        with self._lock:
            self._refresh()
            return self._forward.get(name)

    def pointer(self, name: str) -> str | None:
        with self._lock:
            self._refresh()
            return self._reverse.get(name)


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


def answer(names: Names, query: DNSRecord, *, forwarding: bool) -> DNSRecord | None:
    """The local answer to `query`, or None when it should be forwarded."""
    if not query.questions:
        reply = query.reply()
        reply.header.rcode = RCODE.FORMERR
        return reply
    q = query.q
    name = _norm(str(q.qname))
    reply = query.reply(ra=1, aa=1)
    if q.qtype == QTYPE.PTR:
        target = names.pointer(name)
        if target is not None:
            reply.add_answer(RR(q.qname, QTYPE.PTR, ttl=TTL, rdata=PTR(target + ".")))
            return reply
    addresses = names.lookup(name)
    if addresses is None:
        if forwarding:
            return None
        reply.header.rcode = RCODE.NXDOMAIN
        return reply
    for address in addresses:
        if address.version == 4 and q.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(q.qname, QTYPE.A, ttl=TTL, rdata=A(str(address))))
        elif address.version == 6 and q.qtype in (QTYPE.AAAA, QTYPE.ANY):
            reply.add_answer(RR(q.qname, QTYPE.AAAA, ttl=TTL, rdata=AAAA(str(address))))
    return reply  # no record of that type: NODATA (NOERROR, no answer)


def parse_upstream(text: str) -> tuple[str, int]:
    """ "IP", "IP:PORT" or "[IPv6]:PORT" -> (address, port)."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host, int(port or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _servfail(packet: bytes) -> bytes | None:
    try:
        reply = DNSRecord.parse(packet).reply()
    except DNSError:
        return None
    reply.header.rcode = RCODE.SERVFAIL
    return reply.pack()


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _recv_framed(conn: socket.socket) -> bytes | None:
    """One DNS message over TCP: a two-byte length, then the message (RFC 1035 §4.2.2)."""
    head = _recv_exact(conn, 2)
    return None if head is None else _recv_exact(conn, struct.unpack("!H", head)[0])


class Responder:
    def __init__(self, listen: str, port: int, names: Names, upstreams: list[str]) -> None:
        self.names = names
        self.upstreams = [parse_upstream(u) for u in upstreams]
        family = _family(listen)
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.udp.bind((listen, port))
        self.tcp = socket.socket(family, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((listen, port))
        self.tcp.listen(64)
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dns-forward")

    def _local(self, packet: bytes) -> bytes | None:
        """The local answer, b"" to drop a message that is not DNS, None to forward."""
        try:
            query = DNSRecord.parse(packet)
        except DNSError:
            return b""
        if query.header.qr:  # a response sent to us: never answer those (no loops)
            return b""
        reply = answer(self.names, query, forwarding=bool(self.upstreams))
        return None if reply is None else reply.pack()

    def _local_udp(self, packet: bytes) -> bytes | None:
        """As `_local`, within UDP's 512 bytes (RFC 1035 §4.2.1): a longer answer (an alias
        many containers share) goes out truncated, and the client asks again over TCP."""
        reply = self._local(packet)
        if reply is not None and len(reply) > _UDP_MAX:
            reply = DNSRecord.parse(reply).truncate().pack()
        return reply

    def serve_forever(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ)
        sel.register(self.tcp, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj is self.udp:
                    self._on_udp()
                else:
                    conn, _peer = self.tcp.accept()
                    threading.Thread(target=self._on_tcp, args=(conn,), daemon=True).start()

    def _on_udp(self) -> None:
        try:
            packet, client = self.udp.recvfrom(65535)
        except OSError:
            return
        reply = self._local_udp(packet)
        if reply is None:
            self.pool.submit(self._forward_udp, packet, client)
        elif reply:
            self.udp.sendto(reply, client)

    def _forward_udp(self, packet: bytes, client: tuple[str, int]) -> None:
        for host, port in self.upstreams:
            with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
                s.settimeout(UPSTREAM_TIMEOUT)
                try:
                    s.connect((host, port))
                    s.send(packet)
                    while True:  # skip stray datagrams until the answer to this query's id
                        reply = s.recv(65535)
                        if reply[:2] == packet[:2]:
                            break
                except OSError:
                    continue
            self.udp.sendto(reply, client)
            return
        failed = _servfail(packet)
        if failed:
            self.udp.sendto(failed, client)

    def _forward_tcp(self, packet: bytes) -> bytes | None:
        for host, port in self.upstreams:
            try:
                with socket.create_connection((host, port), timeout=UPSTREAM_TIMEOUT) as s:
                    s.sendall(struct.pack("!H", len(packet)) + packet)
                    reply = _recv_framed(s)
            except OSError:
                continue
            if reply is not None:
                return reply
        return _servfail(packet)

    def _on_tcp(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TCP_IDLE)
            try:
                while (packet := _recv_framed(conn)) is not None:
                    reply = self._local(packet)
                    if reply is None:
                        reply = self._forward_tcp(packet)
                    if not reply:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return


def main(argv: list[str] | None = None) -> None:
    """`python -m bastion.network.dns`: bind, detach, say "ok PID" on --ready-fd, serve."""
    parser = argparse.ArgumentParser(prog="python -m bastion.network.dns")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--names", required=True)
    parser.add_argument("--upstream", action="append", default=[])
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    ready = os.fdopen(args.ready_fd, "w")
    try:
        responder = Responder(args.listen, args.port, Names(args.names), args.upstream)
    except OSError as e:
        daemon.refuse(ready, f"cannot listen on {args.listen} port {args.port}: {e.strerror}")
    settings = {
        "listen": args.listen,
        "port": args.port,
        "names": args.names,
        "upstreams": args.upstream,
    }
    daemon.detach(ready, args.pid_file, settings, responder.serve_forever)
