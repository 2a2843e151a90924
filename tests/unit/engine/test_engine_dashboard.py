"""The dashboard's model (`engine.dashboard.build_snapshot`): container rows from two samples,
alert counts by short id, the newest alerts; and its rendering by `bastion dashboard`."""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from bastion.cli.front.commands.dashboard import check_options, configure, render
from bastion.engine import InvalidOptionError
from bastion.engine.dashboard import AlertFeed, build_snapshot
from bastion.engine.metadata import ContainerRecord
from bastion.engine.operations import ContainerStats
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.store import AlertStore
from bastion_testing.records import container_record

GIB = 1 << 30


def record(cid: str, name: str, status: str = "running") -> ContainerRecord:
    return container_record(id=cid, name=name, image="localhost/busybox:latest", status=status)


def sample(cid: str, at: float, cpu_ns: int, limit: int | None = None) -> ContainerStats:
    return ContainerStats(
        id=cid, name="", time=at, cpu_ns=cpu_ns, memory_usage=64 << 20, memory_limit=limit,
        pids=3, pids_limit=None,
    )  # fmt: skip


A, B, C = ("a" * 64, "b" * 64, "c" * 64)
ALERT = Alert(
    time_ns=1_700_000_000_000_000_000,
    rule="Write Below Binary Directory",
    priority="Error",
    output="write below a binary directory (file=/usr/bin/dropper\n  proc=sh)",
    container_id=A[:12],
    container_name="web",
)


def test_rows_carry_cpu_memory_and_alert_counts() -> None:
    snap = build_snapshot(
        [record(A, "web"), record(B, "worker")],
        {A: sample(A, 10.0, 0)},  # worker's first sample: no CPU % yet
        {A: sample(A, 12.0, 1_000_000_000, limit=GIB), B: sample(B, 12.0, 5)},
        {A[:12]: 4},
        [ALERT],
        taken=5.0,
        memory_total=8 * GIB,
    )
    web, worker = snap.containers
    assert (web.id, web.name, web.alerts) == (A[:12], "web", 4)
    assert web.cpu_percent == 50.0  # 1 s of CPU in 2 s
    assert (web.memory_usage, web.memory_limit, web.pids) == (64 << 20, GIB, 3)
    assert worker.cpu_percent is None and worker.alerts == 0
    assert worker.memory_limit == 8 * GIB  # no limit: the host's memory bounds it
    assert snap.total_alerts == 4
    assert [a.rule for a in snap.alerts] == ["Write Below Binary Directory"]
    assert snap.alerts[0].container == "web"


def test_running_containers_come_first_and_a_stopped_one_has_no_figures() -> None:
    snap = build_snapshot(
        [record(C, "old", status="exited"), record(B, "worker"), record(A, "web")],
        {},
        {A: sample(A, 1.0, 0), B: sample(B, 1.0, 0)},
        {C[:12]: 1},
        [],
        taken=5.0,
        memory_total=GIB,
    )
    assert [r.name for r in snap.containers] == ["web", "worker", "old"]
    old = snap.containers[-1]
    assert (old.cpu_percent, old.memory_usage, old.pids, old.alerts) == (None, None, None, 1)
    assert snap.total_alerts == 1 and snap.alerts == ()


def test_the_view_shows_every_row_and_the_latest_alert() -> None:
    snap = build_snapshot(
        [record(A, "web")],
        {A: sample(A, 10.0, 0)},
        {A: sample(A, 12.0, 1_000_000_000, limit=GIB)},
        {A[:12]: 4},
        [ALERT],
        taken=5.0,
        memory_total=GIB,
    )
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render(snap, 0.5))
    text = out.getvalue()
    assert "1 containers, 4 alerts (every 0.5 s; q quits)" in text
    assert A[:12] in text and "web" in text and "50.0%" in text and "64MiB / 1GiB" in text
    # the rule, and the output on one line
    assert "Write Below Binary Directory" in text
    assert "(file=/usr/bin/dropper proc=sh)" in text


@pytest.mark.parametrize(
    "argv", [["--interval", "0"], ["--interval", "-1"], ["--interval", "nan"], ["--alerts", "-2"]]
)
def test_bad_options_are_refused_before_anything_is_drawn(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    configure(parser)
    with pytest.raises(InvalidOptionError) as caught:
        check_options(parser.parse_args(argv))
    assert caught.value.exit_code == 125
    assert argv[0] in str(caught.value)


def test_good_options_pass() -> None:
    parser = argparse.ArgumentParser()
    configure(parser)
    check_options(parser.parse_args(["--interval", "0.2", "--alerts", "0"]))


def numbered(n: int, container: str = A[:12], name: str = "web") -> Alert:
    return dataclasses.replace(
        ALERT,
        time_ns=ALERT.time_ns + n,
        output=f"alert {n}",
        container_id=container,
        container_name=name,
    )


def test_the_feed_reads_only_the_alerts_stored_since_the_last_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    writer = AlertStore(db)
    reader = AlertStore(db, readonly=True)
    feed = AlertFeed(2)
    try:
        for n in range(3):
            writer.emit(numbered(n, B[:12] if n == 1 else A[:12]))
        writer.flush()
        first = reader.tail(feed.seen, limit=2)
        assert [a.output for a in first.alerts] == ["alert 1", "alert 2"]  # the newest 2
        assert first.counts == {A[:12]: 2, B[:12]: 1}  # every alert counted
        feed.apply(first)
        assert reader.tail(feed.seen, limit=2).alerts == []  # nothing new: nothing read
        writer.emit(numbered(3))
        writer.flush()
        feed.apply(reader.tail(feed.seen, limit=2))
        assert [a.output for a in feed.lines] == ["alert 2", "alert 3"]
        assert feed.counts == {A[:12]: 3, B[:12]: 1}
        snap = build_snapshot(
            [record(A, "web")], {}, {}, feed.counts, feed.lines, taken=1.0, memory_total=GIB
        )
        assert snap.total_alerts == 4 and snap.containers[0].alerts == 3
        assert [a.output for a in snap.alerts] == ["alert 2", "alert 3"]
    finally:
        reader.close()
        writer.close()


def test_the_feed_of_one_container(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    writer = AlertStore(db)
    for n in range(4):
        writer.emit(numbered(n, B[:12], "worker") if n % 2 else numbered(n))
    writer.close()
    reader = AlertStore(db, readonly=True)
    try:
        for wanted in ("worker", B[:12], B[:5]):  # a name, a short id, an id prefix
            tail = reader.tail(0, container=wanted, limit=10)
            assert [a.output for a in tail.alerts] == ["alert 1", "alert 3"]
            assert tail.counts == {B[:12]: 2}
    finally:
        reader.close()


def test_a_new_store_starts_the_feed_over(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    for path, count in ((old, 3), (new, 1)):
        writer = AlertStore(path)
        for n in range(count):
            writer.emit(numbered(n))
        writer.close()
    feed = AlertFeed(10)
    with_old, with_new = AlertStore(old, readonly=True), AlertStore(new, readonly=True)
    try:
        feed.apply(with_old.tail(feed.seen))
        assert feed.seen == 3
        tail = with_new.tail(feed.seen)  # fewer rows than the id seen: another store
        assert tail.restarted
        feed.apply(tail)
        assert [a.output for a in feed.lines] == ["alert 0"] and feed.counts == {A[:12]: 1}
    finally:
        with_old.close()
        with_new.close()


def test_no_lines_asked_still_counts(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    writer = AlertStore(db)
    writer.emit(numbered(0))
    writer.close()
    feed = AlertFeed(0)
    reader = AlertStore(db, readonly=True)
    try:
        feed.apply(reader.tail(feed.seen, limit=0))
    finally:
        reader.close()
    assert list(feed.lines) == [] and feed.counts == {A[:12]: 1}
