"""`bastion.sensor.live`, the live-capture library behind `bastion capture`, `events` and
`watch`: event names, container ids to cgroup ids, the stopper, the report as data."""

from __future__ import annotations

import json
import os
import signal
from typing import TYPE_CHECKING

import pytest

from bastion.identity import IDENTITY_FILE, ContainerIdentity
from bastion.sensor.live import (
    ContainerNotFoundError,
    Counter,
    Stopper,
    UnknownEventError,
    live_filter,
    parse_events,
    resolve_containers,
    statistics,
)

if TYPE_CHECKING:
    from pathlib import Path


def _container(root: Path, cid: str, cgroup_ids: tuple[int, ...] = (7,)) -> ContainerIdentity:
    ident = ContainerIdentity(id=cid, name=cid, cgroup_ids=cgroup_ids)
    (root / cid).mkdir()
    (root / cid / IDENTITY_FILE).write_text(json.dumps(ident.to_dict()))
    return ident


def test_event_names_are_checked_against_the_table() -> None:
    assert parse_events(None) is None
    assert parse_events(" openat, close ,") == ["openat", "close"]
    with pytest.raises(UnknownEventError) as err:
        parse_events("openat,nosuchevent")
    assert "nosuchevent" in err.value.message
    with pytest.raises(UnknownEventError):
        parse_events(" , ")


def test_containers_resolve_by_id_or_unique_prefix(tmp_path: Path) -> None:
    _container(tmp_path, "abc123", (11, 12))
    _container(tmp_path, "abd456", (13,))
    _container(tmp_path, "abc", (14,))  # a whole id wins over being the prefix of abc123
    found = resolve_containers(str(tmp_path), ["abc1", "abd"])
    assert [(i.id, i.cgroup_ids) for i in found] == [("abc123", (11, 12)), ("abd456", (13,))]
    assert [i.cgroup_ids for i in resolve_containers(str(tmp_path), ["abc"])] == [(14,)]
    live = live_filter(str(tmp_path), ["abc1", "abd"], "openat", drop_failed=True, ring_size=4096)
    assert live.cgroup_ids == [11, 12, 13]
    assert (live.events, live.drop_failed, live.ring_size) == (["openat"], True, 4096)


def test_no_container_means_no_cgroup_filter(tmp_path: Path) -> None:
    live = live_filter(str(tmp_path))
    assert (live.identities, live.cgroup_ids, live.events) == ([], None, None)


@pytest.mark.parametrize("wanted", ["zzz", "ab"])
def test_unknown_or_ambiguous_container(tmp_path: Path, wanted: str) -> None:
    _container(tmp_path, "abc123")
    _container(tmp_path, "abd456")
    with pytest.raises(ContainerNotFoundError) as err:
        resolve_containers(str(tmp_path), [wanted])
    assert err.value.where == os.path.join(tmp_path, wanted)


def test_container_without_identity_or_cgroup_id(tmp_path: Path) -> None:
    (tmp_path / "bare").mkdir()
    _container(tmp_path, "nocg", ())
    for wanted in ("bare", "nocg"):
        with pytest.raises(ContainerNotFoundError) as err:
            resolve_containers(str(tmp_path), [wanted])
        assert err.value.where == os.path.join(tmp_path, wanted, IDENTITY_FILE)


def test_stopper_stops_on_sigterm_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with Stopper(None) as stop:
        assert not stop.done()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.done()
    assert signal.getsignal(signal.SIGTERM) == before


def test_stopper_duration_counts_from_the_first_check() -> None:
    with Stopper(0.0) as stop:
        assert stop.done()
    with Stopper(3600.0) as stop:
        assert not stop.done()


def test_statistics_are_labelled_data_in_order() -> None:
    report = statistics(
        {"events shown": 3, "produced": 10, "load_seconds": 0.5, "dropped_ring_full": 2}
    )
    assert report.counters == (
        Counter("events shown", "events shown", 3),
        Counter("produced", "produced by the probe", 10),
        Counter("dropped_ring_full", "dropped (ring buffer full)", 2),
    )
    assert report.lost == 2
    assert statistics({"state fds_dropped": 1}).counters[0].label == "state fds dropped"
    assert statistics({}).lost == 0
