"""A .scap's ``container`` events carry their container to the rules (issue [falco-parity]
item 3): id, name, image, privileged and mounts are applied to the container table, and the
event itself reads them, so Falco's PSP-style rules match on captures."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Event
from bastion.sensor.fields.registry import FieldRegistry
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.replay import open_replay
from bastion.sensor.rules import MISSING
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

PSP_PRIVILEGED = ("falco", "captures", "psp_privileged.scap")


def new_state() -> SensorState:
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    return state


@shared_data.needs(*PSP_PRIVILEGED)
def test_a_psp_rule_on_container_events_matches_a_capture(tmp_path: Path) -> None:
    rules = tmp_path / "psp.yaml"
    rules.write_text(
        textwrap.dedent("""\
        - rule: privileged container
          desc: PSP-style
          condition: evt.type=container and container.privileged=true
          output: "%container.id %container.name %container.image.repository:%container.image.tag"
          priority: WARNING
        - rule: unprivileged container
          desc: PSP-style
          condition: evt.type=container and container.privileged=false
          output: "%container.id"
          priority: WARNING
        """)
    )
    state = new_state()
    engine = load_rules([str(rules)], state, rule_matching="all").engine
    pipeline = Pipeline(engine=engine, state=state, hostname="test")
    capture = shared_data.shared_path(*PSP_PRIVILEGED)
    alerts = pipeline.feed(open_replay(str(capture), state))
    assert Counter(a.rule for a in alerts) == {"privileged container": 1}
    assert alerts[0].output == "9dbcbd0c435f epic_cray nginx:latest"


def container_event(doc: dict[str, object]) -> Event:
    return Event(
        num=1, ts=1, cpu=0, tid=2**64 - 1, pid=0, type="container", dir=">",
        category="internal", params={"json": json.dumps({"container": doc})}, specs={},
    )  # fmt: skip


def test_container_event_mounts_are_readable() -> None:
    state = new_state()
    event = container_event(
        {
            "id": "0123456789ab",
            "name": "web",
            "image": "nginx:1.25",
            "privileged": True,
            "Mounts": [
                {"Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock",
                 "Mode": "", "RW": True, "Propagation": "rprivate"},
                {"Source": "/etc", "Destination": "/host/etc", "Mode": "ro", "RW": False,
                 "Propagation": ""},
            ],
        }
    )  # fmt: skip
    state.apply(event)
    fields = FieldRegistry(state)

    def read(name: str, arg: str | None = None) -> object:
        get = fields.resolve(name, arg)
        assert get is not None, name
        return get(event)

    assert read("container.id") == "0123456789ab" and read("container.privileged") is True
    assert read("container.mounts") == (
        "/var/run/docker.sock:/var/run/docker.sock::true:rprivate,/etc:/host/etc:ro:false:"
    )
    assert read("container.mount.dest", "1") == "/host/etc"
    assert read("container.mount.dest", "/etc") == "/host/etc"
    assert read("container.mount.source", "/host/*") == "/etc"
    assert read("container.mount.rdwr", "/var/run/*") == "true"
    assert read("container.mount", "/nowhere") == "none"
    assert read("container.mount.mode", "7") is MISSING
