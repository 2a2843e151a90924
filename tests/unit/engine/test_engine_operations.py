"""The engine's small pure parts of the container verbs: `--since`/`--until` times and the
filter of log lines, container names, published ports, Docker's binary sizes, the page cache
`stats` leaves out."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from bastion.cli.front.engine_args import binary_size
from bastion.engine.errors import InvalidOptionError
from bastion.engine.monitor import LogLine
from bastion.engine.operations import (
    ContainerStats,
    between,
    check_name,
    page_cache,
    parse_time,
    published_ports,
)
from bastion_testing.records import container_record

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1733480000.5", 1733480000.5),
        ("90s", NOW - 90),
        ("10m", NOW - 600),
        ("1h30m", NOW - 5400),
        (
            "2026-12-06T10:00:00Z",
            datetime.datetime(2026, 12, 6, 10, tzinfo=datetime.UTC).timestamp(),
        ),
        (
            "2026-12-06T12:00:00+02:00",
            datetime.datetime(2026, 12, 6, 10, tzinfo=datetime.UTC).timestamp(),
        ),
        ("2026-12-06", datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC).timestamp()),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "10x", "1h30", "", "m"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(InvalidOptionError):
        parse_time(text, now=NOW)


def test_between_keeps_since_and_drops_until() -> None:
    lines = [
        LogLine(
            time=f"2026-12-06T10:00:0{i}.123456789Z", stream="stdout", text=b"%d" % i, partial=False
        )
        for i in range(4)
    ]
    at = [parse_time(f"2026-12-06T10:00:0{i}.123456789Z") for i in range(4)]
    assert [x.text for x in between(lines, at[1], at[3])] == [b"1", b"2"]
    assert [x.text for x in between(lines, None, at[0])] == []
    assert [x.text for x in between(lines, at[3], None)] == [b"3"]


@pytest.mark.parametrize("name", ["a", "web-1", "x.y_z", "9lives"])
def test_container_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["", "-a", "a/b", "a b", "é", ".x"])
def test_bad_container_names(name: str) -> None:
    with pytest.raises(InvalidOptionError):
        check_name(name)


def test_published_ports_read_the_network_steps_record() -> None:
    record = container_record(
        config={
            "ports": [
                {"container_port": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 8080},
                {"container_port": 53, "protocol": "udp", "host_ip": "::1", "host_port": 53},
            ]
        },
    )
    assert [str(p) for p in published_ports(record)] == [
        "53/udp -> [::1]:53",
        "80/tcp -> 0.0.0.0:8080",
    ]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (48 * 1024 * 1024, "48MiB"),
        (1536 * 1024, "1.5MiB"),
    ],
)
def test_binary_size(size: int, text: str) -> None:
    assert binary_size(size) == text


def test_page_cache_reads_the_memory_controllers_stat(tmp_path: Path) -> None:
    cpu, memory, unified = (tmp_path / name for name in ("cpu", "memory", "unified"))
    for directory in (cpu, memory, unified):
        directory.mkdir()
    (cpu / "cpu.stat").write_text("nr_periods 0\n")
    # cgroup v1: the hierarchical total, not the cgroup's own inactive_file
    (memory / "memory.stat").write_text(
        "cache 9000\ninactive_file 100\nactive_file 5\ntotal_inactive_file 4096\n"
    )
    assert page_cache([str(cpu), str(unified), str(memory)]) == 4096
    (unified / "memory.stat").write_text("anon 10\ninactive_file 2048\nactive_file 1\n")
    assert page_cache([str(unified)]) == 2048  # cgroup2
    assert page_cache([str(cpu), str(tmp_path / "gone")]) == 0


@pytest.mark.parametrize(("usage", "cache", "used"), [(10_000, 4_000, 6_000), (100, 400, 100)])
def test_memory_used_is_the_usage_without_the_cache(usage: int, cache: int, used: int) -> None:
    stats = ContainerStats(
        id="c",
        name="n",
        time=0.0,
        cpu_ns=0,
        memory_usage=usage,
        memory_limit=None,
        pids=1,
        pids_limit=None,
        memory_cache=cache,
    )
    assert stats.memory_used == used  # a cache above the usage (racy reads) leaves it whole
