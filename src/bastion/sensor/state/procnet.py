"""Sockets from /proc/<pid>/net/{tcp,tcp6,udp,udp6,unix}: socket inode -> a template `Fd`.

``readlink /proc/PID/fd/N`` only says ``socket:[INODE]``; the tables of the process's network
namespace say what that inode is. Addresses are hex in host byte order per 32-bit word.
A connected socket whose local port is one its namespace listens on is the server side
(accepted), so its name reads ``peer->local`` as an accepted fd's would.
"""

from __future__ import annotations

import ipaddress
import struct

from bastion.sensor.events.ip import IpAddress
from bastion.sensor.state.model import Fd, FdType

_TCP_LISTEN = "0A"
_FILES = (
    ("tcp", FdType.IPV4, "tcp"),
    ("udp", FdType.IPV4, "udp"),
    ("tcp6", FdType.IPV6, "tcp"),
    ("udp6", FdType.IPV6, "udp"),
)


def _address(text: str) -> tuple[IpAddress, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        addr: IpAddress = ipaddress.IPv4Address(raw[::-1])
    else:  # four little-endian 32-bit words
        words = struct.unpack("<4I", raw)
        addr = ipaddress.IPv6Address(struct.pack(">4I", *words))
    return addr, int(port, 16)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().splitlines()[1:]
    except OSError:
        return []


def _fmt(addr: IpAddress, port: int) -> str:
    return f"{addr}:{port}"


def read_sockets(net_dir: str) -> dict[int, Fd]:
    """Every inet and unix socket of one network namespace (``/proc/<pid>/net``), by inode.
    The `Fd.num` of each template is 0; the caller copies it with the real number."""
    found: dict[int, Fd] = {}
    rows: list[tuple[int, str, str, IpAddress, int, IpAddress, int, bool]] = []
    listening: set[tuple[str, int]] = set()
    for name, kind, proto in _FILES:
        for line in _read_lines(f"{net_dir}/{name}"):
            cols = line.split()
            if len(cols) < 10:
                continue
            try:
                local, lport = _address(cols[1])
                remote, rport = _address(cols[2])
                inode = int(cols[9])
            except ValueError:
                continue
            listen = (proto == "tcp" and cols[3] == _TCP_LISTEN) or (proto == "udp" and not rport)
            if listen:
                listening.add((proto, lport))
            rows.append((inode, kind, proto, local, lport, remote, rport, listen))
    for inode, kind, proto, local, lport, remote, rport, listen in rows:
        if not inode:
            continue
        fd = Fd(num=0, type=kind, ino=inode, l4proto=proto)
        if listen:
            fd.server, fd.sport, fd.is_server = local, lport, True
            fd.name = _fmt(local, lport)
        elif (proto, lport) in listening:  # accepted: the peer is the client
            fd.client, fd.cport, fd.server, fd.sport = remote, rport, local, lport
            fd.is_server = True
            fd.name = f"{_fmt(remote, rport)}->{_fmt(local, lport)}"
        else:
            fd.client, fd.cport, fd.server, fd.sport = local, lport, remote, rport
            fd.name = f"{_fmt(local, lport)}->{_fmt(remote, rport)}"
        found[inode] = fd
    for line in _read_lines(f"{net_dir}/netlink"):
        cols = line.split()
        if len(cols) >= 10 and cols[9].isdigit():  # "sk Eth Pid Groups ... Inode"
            found[int(cols[9])] = Fd(num=0, type=FdType.NETLINK, ino=int(cols[9]))
    for line in _read_lines(f"{net_dir}/unix"):
        cols = line.split(maxsplit=7)
        if len(cols) < 7:
            continue
        try:
            inode = int(cols[6])
        except ValueError:
            continue
        found[inode] = Fd(num=0, type=FdType.UNIX, ino=inode, name=cols[7] if len(cols) > 7 else "")
    return found
