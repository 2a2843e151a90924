"""The engine's event log (engine/events_log.py): moby's documents, appends from several
writers, rotation at the size limit, a reader that follows across it, filters and replay."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from bastion.engine.errors import InvalidOptionError
from bastion.engine.events_log import (
    FILE,
    EventLog,
    event,
    matches,
    parse_filters,
    select,
)
from bastion.engine.metadata import ContainerRecord
from bastion_testing.records import container_record

if TYPE_CHECKING:
    from pathlib import Path


def _container(name: str = "web", labels: dict[str, str] | None = None) -> ContainerRecord:
    return container_record(
        name=name, image="docker.io/library/busybox:latest", config={"labels": labels or {}}
    )


def test_a_container_event_is_mobys_document(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path))
    before = time.time_ns()
    log.container(_container(labels={"app": "x", "name": "from-a-label"}), "die", exitCode="3")
    [found] = log.events()
    assert found["Type"] == "container" and found["Action"] == "die"
    assert found["status"] == "die" and found["id"] == "ab" * 32
    assert found["from"] == "docker.io/library/busybox:latest"
    assert found["Actor"] == {
        "ID": "ab" * 32,
        # the container's own name wins over a label of that name, as in moby
        "Attributes": {
            "app": "x",
            "name": "web",
            "image": "docker.io/library/busybox:latest",
            "exitCode": "3",
        },
    }
    assert found["scope"] == "local"
    assert before <= found["timeNano"] <= time.time_ns()
    assert found["time"] == found["timeNano"] // 10**9


def test_other_events_carry_no_legacy_fields() -> None:
    found = event("image", "pull", "busybox:latest", {"name": "busybox:latest"})
    assert "status" not in found and "from" not in found and found["Type"] == "image"


def test_the_log_is_rotated_at_its_limit_and_keeps_one_old_file(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path), rotate_at=2000)
    for n in range(60):
        log.record("volume", "create", f"v{n}")
    assert os.path.getsize(log.path) <= 2000 + 200
    assert os.path.exists(log.path + ".1")
    kept = [e["Actor"]["ID"] for e in log.events()]
    # the newest are all there, in order, and what went is the oldest
    assert kept == [f"v{n}" for n in range(60 - len(kept), 60)]
    assert 10 < len(kept) < 60


def test_a_tail_from_now_sees_only_new_events_across_a_rotation(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path), rotate_at=1000)
    log.record("volume", "create", "old")
    with log.tail(from_start=False) as tail:
        assert tail.read() == []
        names = [f"n{n}" for n in range(40)]
        seen: list[str] = []
        for name in names:
            log.record("volume", "create", name)
            if name.endswith("5"):  # read now and then: one or two rotations in between
                seen += [e["Actor"]["ID"] for e in tail.read()]
        seen += [e["Actor"]["ID"] for e in tail.read()]
    assert seen == names


def test_a_tail_started_before_the_log_exists_reads_it_from_its_start(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path))
    with log.tail(from_start=False) as tail:
        assert tail.read() == []
        log.record("network", "create", "n1")
        assert [e["Actor"]["ID"] for e in tail.read()] == ["n1"]


def test_a_torn_or_unfinished_line_is_not_an_event(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path))
    log.record("volume", "create", "a")
    with open(os.path.join(tmp_path, FILE), "ab") as f:
        f.write(b"{not json\n")
    with log.tail(from_start=True) as tail:
        assert [e["Actor"]["ID"] for e in tail.read()] == ["a"]
        with open(log.path, "ab") as f:
            f.write(b'{"Type": "volume", "Actor": {"ID": "b"')  # a writer mid-line
        assert tail.read() == []
        with open(log.path, "ab") as f:
            f.write(b', "Attributes": {}}, "timeNano": 1}\n')
        assert [e["Actor"]["ID"] for e in tail.read()] == ["b"]


def test_an_unwritable_log_does_not_fail_the_verb(tmp_path: Path) -> None:
    os.mkdir(tmp_path / FILE)  # a directory where the file should be
    EventLog(str(tmp_path)).record("volume", "create", "a")


def test_filters_as_moby_reads_them() -> None:
    web = event("container", "start", "c" * 64, {"name": "web", "image": "busybox", "app": "x"})
    pulled = event("image", "pull", "busybox", {"name": "busybox"})
    net = event("network", "create", "n" * 64, {"name": "front"})
    assert matches(web, {"container": {"web"}, "event": {"start", "die"}})
    assert matches(web, {"container": {"c" * 12}})
    assert not matches(web, {"container": {"db"}})
    assert matches(web, {"label": {"app", "app=x"}})
    assert not matches(web, {"label": {"app=y"}})
    assert matches(web, {"image": {"busybox"}}) and matches(pulled, {"image": {"busybox"}})
    assert not matches(net, {"container": {"front"}})
    assert matches(net, {"network": {"front"}, "type": {"network"}})
    assert not matches(pulled, {"type": {"container", "network"}})


def test_filter_options_are_parsed_and_checked() -> None:
    assert parse_filters(["type=container", "type=image", "event=die"]) == {
        "type": {"container", "image"},
        "event": {"die"},
    }
    for bad in ("nope=1", "type"):
        with pytest.raises(InvalidOptionError) as caught:
            parse_filters([bad])
        assert caught.value.reference == "engine-invalid-option"


def test_select_replays_between_since_and_until(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path))
    for name in ("a", "b", "c"):
        log.record("volume", "create", name)
    stamps = {e["Actor"]["ID"]: e["timeNano"] / 1e9 for e in log.events()}
    found = select(log, since=stamps["b"], until=stamps["b"], follow=True)
    assert [e["Actor"]["ID"] for e in found] == ["b"]
    everything = select(log, since=0, follow=False, filters={"volume": {"a", "c"}})
    assert [e["Actor"]["ID"] for e in everything] == ["a", "c"]
    assert list(select(log, follow=False)) == []  # no since, no follow: nothing
