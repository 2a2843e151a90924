"""rtnetlink (rtnetlink(7)) over a plain `AF_NETLINK` socket: the few requests a container's
attachment makes, encoded with `struct`.

Why not pyroute2 here: importing any part of it runs its package `__init__`, which loads the
whole library (asyncio, multiprocessing, conntrack, NDB...): ~100-200 ms of CPU, more than
everything else a bridge attachment does. pyroute2 stays for the cold paths (making a bridge,
reading the host's routes); a container's start and end use this module only.

A `Socket` sends several requests in one `sendmsg` (the kernel handles them in order, as one
skb) and then reads one acknowledgement per request; the first refusal is raised as
`OSError(errno, "<what>: <strerror>")` naming the request.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
# linux/if_link.h
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_GSO_IPV4_MAX_SIZE = 63  # Linux 6.3; older kernels ignore attributes they do not know
IFLA_GRO_IPV4_MAX_SIZE = 64
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
# linux/if_addr.h, linux/rtnetlink.h
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_F_NODAD = 0x02
RTA_GATEWAY = 5
RTA_OIF = 4
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1
IFF_UP = 0x1
LOOPBACK_IFINDEX = 1  # every network namespace's `lo` (net/core/dev.c)

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_ERRMSG = struct.Struct("=i")


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def text(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def ifinfo(*, index: int = 0, up: bool = False, family: int = socket.AF_UNSPEC) -> bytes:
    flags = IFF_UP if up else 0
    return _IFINFOMSG.pack(family, 0, index, flags, IFF_UP if up else 0)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def gso_ipv4(size: int) -> bytes:
    """The attributes that let a link carry IPv4 TCP segmentation-offload packets of up to
    `size` bytes, sent (GSO) and aggregated (GRO): "BIG TCP" above 64 KiB."""
    return u32(IFLA_GSO_IPV4_MAX_SIZE, size) + u32(IFLA_GRO_IPV4_MAX_SIZE, size)


def veth(
    host: str, peer: str, *, mtu: int, master: int, netns_fd: int, mac: str, gso_max_size: int = 0
) -> bytes:
    """RTM_NEWLINK's body for a veth pair: `host` up on the bridge `master`, its peer named
    `peer` made directly in the namespace `netns_fd` with the address `mac`; both ends with
    `gso_ipv4(gso_max_size)` unless it is 0. The peer is made down: asked up here the kernel
    (6.x) refuses the request (ENOTCONN); it is set up from inside the namespace, with its
    addresses."""
    sizes = gso_ipv4(gso_max_size) if gso_max_size else b""
    peer_info = ifinfo() + b"".join(
        (text(IFLA_IFNAME, peer), u32(IFLA_MTU, mtu), u32(IFLA_NET_NS_FD, netns_fd), sizes)
    )
    peer_info += attr(IFLA_ADDRESS, mac_bytes(mac))
    linkinfo = text(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
    return (
        ifinfo(up=True)
        + b"".join((text(IFLA_IFNAME, host), u32(IFLA_MTU, mtu), u32(IFLA_MASTER, master), sizes))
        + attr(IFLA_LINKINFO, linkinfo)
    )


def attributes(payload: bytes) -> dict[int, bytes]:
    """The rtattrs of `payload` by type (the last one of a type wins), their payloads bare."""
    out: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(payload):
        length, kind = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            break
        out[kind & 0x3FFF] = payload[offset + _RTATTR.size : offset + length]  # less NLA_F_*
        offset += (length + 3) & ~3
    return out


def address(index: int, ip: str, prefixlen: int) -> bytes:
    """RTM_NEWADDR's body: `ip/prefixlen` on link `index`, usable at once (no DAD)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    raw = socket.inet_pton(family, ip)
    body = _IFADDRMSG.pack(family, prefixlen, IFA_F_NODAD, RT_SCOPE_UNIVERSE, index)
    return body + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)


def default_route(index: int, gateway: str) -> bytes:
    """RTM_NEWROUTE's body: the default route of the gateway's family via `gateway` on `index`."""
    family = socket.AF_INET6 if ":" in gateway else socket.AF_INET
    body = _RTMSG.pack(
        family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
    )
    return body + attr(RTA_GATEWAY, socket.inet_pton(family, gateway)) + u32(RTA_OIF, index)


class Socket:
    """An rtnetlink socket of the network namespace it was opened in."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, *requests: tuple[int, int, bytes, str]) -> None:
        """Send (type, extra flags, body, what) requests at once; wait for every one's
        acknowledgement. Raises OSError for the first one refused (after reading them all)."""
        first = self._seq + 1
        buffer = bytearray()
        for kind, flags, body, _ in requests:
            self._seq += 1
            header = _NLMSGHDR.pack(
                _NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, self._seq, 0
            )
            buffer += header + body
        self._sock.sendto(bytes(buffer), (0, 0))
        failures: dict[int, int] = {}
        pending = set(range(first, self._seq + 1))
        while pending:
            for kind, seq, payload in self._messages():
                if kind == NLMSG_ERROR and seq in pending:
                    pending.discard(seq)
                    (code,) = _ERRMSG.unpack_from(payload)
                    if code:
                        failures[seq] = -code
        if failures:
            seq = min(failures)
            what = requests[seq - first][3]
            raise OSError(failures[seq], f"{what}: {os.strerror(failures[seq])}")

    def link_index(self, name: str) -> int | None:
        """The index of the link `name`, or None when there is none."""
        link = self.link(name)
        return None if link is None else link[0]

    def link(self, name: str) -> tuple[int, dict[int, bytes]] | None:
        """The index and the attributes (`attributes`) of the link `name`, None without it."""
        self._seq += 1
        body = ifinfo() + text(IFLA_IFNAME, name)
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, self._seq, 0
        )
        self._sock.sendto(header + body, (0, 0))
        while True:
            for kind, seq, payload in self._messages():
                if seq != self._seq:
                    continue
                if kind == NLMSG_ERROR:
                    (code,) = _ERRMSG.unpack_from(payload)
                    if -code == errno.ENODEV:
                        return None
                    raise OSError(-code, f"RTM_GETLINK {name}: {os.strerror(-code)}")
                if kind == RTM_NEWLINK:
                    index = int(_IFINFOMSG.unpack_from(payload)[2])
                    return index, attributes(payload[_IFINFOMSG.size :])

    def _messages(self) -> list[tuple[int, int, bytes]]:
        data = self._sock.recv(65536)
        out = []
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, kind, _, seq, _ = _NLMSGHDR.unpack_from(data, offset)
            if length < _NLMSGHDR.size:
                break
            out.append((kind, seq, data[offset + _NLMSGHDR.size : offset + length]))
            offset += (length + 3) & ~3
        return out
