"""The files of a container's directory that are not the monitor's: config.json, the /etc
files bind-mounted into the container, the start lock; and reading the image's own /etc files
from its layers before any overlay is mounted."""

from __future__ import annotations

import contextlib
import fcntl
import os

from bastion.runtime.store import write_atomic

#: Held (flock) by a `start` in progress: see `Engine._sync`.
LOCK_FILE = "start.lock"


def etc_files(directory: str, hostname: str, network: str) -> dict[str, str]:
    """The /etc files Docker bind-mounts; on a network, `start` rewrites /etc/hosts and
    resolv.conf with the container's address and the network's resolver."""
    files = {"/etc/hostname": f"{hostname}\n"}
    if network == "host":
        with contextlib.suppress(OSError), open("/etc/hosts") as f:
            files["/etc/hosts"] = f.read()
        with contextlib.suppress(OSError), open("/etc/resolv.conf") as f:
            files["/etc/resolv.conf"] = f.read()
    else:
        if network != "none":  # on a network: the host's resolvers until `start` knows more
            files["/etc/resolv.conf"] = resolv_text(*host_resolvers())
        files["/etc/hosts"] = (
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"127.0.0.1\t{hostname}\n"
        )
    out = {}
    for path, text in files.items():
        host = os.path.join(directory, path.rsplit("/", 1)[1])
        write_atomic(host, text.encode(), 0o644)
        out[path] = host
    return out


def start_lock(directory: str, *, blocking: bool) -> int | None:
    """An exclusive flock on the container's start lock (its fd), or None if held."""
    fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def read_in_layers(lowerdirs: list[str], path: str) -> str:
    """A small file of the image as the merged root would show it (top layer first)."""
    for layer in lowerdirs:
        candidate = os.path.join(layer, path)
        if os.path.isfile(candidate) and not os.path.islink(candidate):
            with contextlib.suppress(OSError, UnicodeDecodeError), open(candidate) as f:
                return f.read()
            return ""
    return ""


#: systemd-resolved's list of the real upstreams, when /etc/resolv.conf names its stub.
RESOLVED_UPSTREAMS = "/run/systemd/resolve/resolv.conf"


def host_resolvers(path: str = "/etc/resolv.conf") -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of the host, loopback nameservers dropped
    (127.0.0.53 and the like mean nothing inside a container's namespace); with only a
    loopback stub, systemd-resolved's own upstream list, as Docker reads it."""
    import ipaddress

    def parse(file: str) -> tuple[list[str], list[str], list[str], bool]:
        servers: list[str] = []
        search: list[str] = []
        options: list[str] = []
        loopback = False
        with contextlib.suppress(OSError), open(file) as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) < 2:
                    continue
                if words[0] == "nameserver":
                    try:
                        if ipaddress.ip_address(words[1].split("%")[0]).is_loopback:
                            loopback = True
                            continue
                    except ValueError:
                        continue
                    servers.append(words[1])
                elif words[0] in ("search", "domain"):
                    search = words[1:]
                elif words[0] == "options":
                    options.extend(words[1:])
        return servers, search, options, loopback

    servers, search, options, loopback = parse(path)
    if not servers and loopback and path == "/etc/resolv.conf":
        servers = parse(RESOLVED_UPSTREAMS)[0]
    return servers, search, options


def resolv_text(nameservers: list[str], search: list[str], options: list[str]) -> str:
    lines = [f"nameserver {server}" for server in nameservers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def hosts_text(entries: list[tuple[str, list[str]]]) -> str:
    """Docker's /etc/hosts of a container on a bridge: localhost, then `ADDRESS NAMES...` for
    each of its addresses (its hostname, name and aliases)."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    lines.extend(f"{address}\t{' '.join(names)}" for address, names in entries)
    return "\n".join(lines) + "\n"
