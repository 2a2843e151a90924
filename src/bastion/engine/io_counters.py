"""The block I/O and network counters of `stats` (Docker's BlockIO and NetIO columns, the API's
`blkio_stats` and `networks`), read where dockerd reads them.

- Block I/O: the blkio controller's bytes per device and direction; cgroup v1's
  `blkio.throttle.io_service_bytes_recursive` ("8:0 Read 4096"), cgroup2's `io.stat`
  ("8:0 rbytes=4096 wbytes=0 ..."). Its children's I/O is in both.
- Network: the container's own interfaces, from `/proc/PID/net/dev` of its init (which shows
  the network namespace the process is in), loopback left out as Docker leaves it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

#: (major, minor, "read" or "write", bytes): one `io_service_bytes_recursive` entry
BlockEntry = tuple[int, int, str, int]

#: `/proc/net/dev`'s columns (receive then transmit) as Docker's `networks` names them; None:
#: a column Docker does not report
_NET_COLUMNS = (
    *("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", None, None, None, None),
    *("tx_bytes", "tx_packets", "tx_errors", "tx_dropped"),
)


def block_io(cgroup_dirs: Iterable[str]) -> tuple[BlockEntry, ...]:
    """The cgroup's bytes read and written per device (the first directory among
    `cgroup_dirs` that has the blkio/io counters: one hierarchy does)."""
    for directory in cgroup_dirs:
        for name, parse in (
            ("blkio.throttle.io_service_bytes_recursive", _v1_entries),
            ("io.stat", _v2_entries),
        ):
            try:
                with open(os.path.join(directory, name), "rb") as f:
                    text = f.read().decode()
            except OSError:
                continue
            return tuple(parse(text))
    return ()


def _v1_entries(text: str) -> list[BlockEntry]:
    entries = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[1] in ("Read", "Write") and ":" in words[0]:
            major, minor = words[0].split(":")
            entries.append((int(major), int(minor), words[1].lower(), int(words[2])))
    return entries


def _v2_entries(text: str) -> list[BlockEntry]:
    entries = []
    for line in text.splitlines():
        device, *pairs = line.split()
        if ":" not in device:
            continue
        major, minor = device.split(":")
        values = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            entries.append((int(major), int(minor), op, int(values.get(key, 0))))
    return entries


def totals(entries: Iterable[BlockEntry]) -> tuple[int, int]:
    """Bytes read and written, over every device (the docker CLI's BlockIO column)."""
    read = written = 0
    for _major, _minor, op, value in entries:
        if op == "read":
            read += value
        elif op == "write":
            written += value
    return read, written


def network(pid: int) -> dict[str, dict[str, int]]:
    """The counters of each interface (but `lo`) of the network namespace process `pid` is
    in; {} when it has ended."""
    try:
        with open(f"/proc/{pid}/net/dev", "rb") as f:
            text = f.read().decode()
    except OSError:
        return {}
    interfaces: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:  # two header lines
        name, _, numbers = line.partition(":")
        name = name.strip()
        if not numbers or name == "lo":
            continue
        values = numbers.split()
        interfaces[name] = {
            key: int(value)
            for key, value in zip(_NET_COLUMNS, values, strict=False)
            if key is not None
        }
    return interfaces
