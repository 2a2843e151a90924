"""user.*, group.*, container.* and k8s.* over hand-built records."""

from __future__ import annotations

import pytest

from bastion.sensor.fields.container import split_image
from bastion.sensor.state.model import Container, Group, Thread, User
from bastion_testing.sensor_fakes import MISSING, FakeState, event, family, get, matches

FULL_ID = "0123456789abcdef" * 4


def _in_container(labels: dict[str, str] | None = None) -> tuple[FakeState, Thread]:
    state, py = family()
    c = Container(
        id=FULL_ID,
        name="web",
        kind="bastion",
        image="registry.local:5000/team/nginx:1.25@sha256:abc",
        image_id="sha256:def",
        labels=labels or {},
        privileged=False,
        start_ts=1_699_999_999_000_000_000,
    )
    state.containers[FULL_ID] = c
    py.container_id = FULL_ID
    state.users.users[(FULL_ID, 0)] = User(uid=0, gid=0, name="root", home="/root", shell="/bin/sh")
    state.users.users[(FULL_ID, 1000)] = User(uid=1000, gid=1000, name="app")
    state.users.groups[(FULL_ID, 0)] = Group(gid=0, name="root")
    return state, py


def test_user_and_group_from_the_containers_tables() -> None:
    state, py = _in_container()
    evt = event(thread=py)
    assert get(state, "user.uid", evt) == 0  # effective uid
    assert get(state, "user.name", evt) == "root"
    assert get(state, "user.homedir", evt) == "/root"
    assert get(state, "user.shell", evt) == "/bin/sh"
    assert get(state, "user.loginuid", evt) == 1000
    assert get(state, "user.loginname", evt) == "app"
    assert get(state, "group.gid", evt) == 0
    assert get(state, "group.name", evt) == "root"


def test_unknown_user_and_unset_loginuid() -> None:
    state, py = family()  # on the host, where the fake has no user table
    py.loginuid = 0xFFFFFFFF
    evt = event(thread=py)
    # libsinsp without a user-table entry: root is root, anyone else the string "<NA>"
    assert get(state, "user.name", evt) == "root"
    assert get(state, "user.homedir", evt) == "/root"
    assert get(state, "user.shell", evt) == "<NA>"
    assert get(state, "user.loginuid", evt) == -1
    assert matches(state, "user.loginuid = -1", evt)
    assert get(state, "user.loginname", evt) == "<NA>"
    py.euid = 4242
    assert get(state, "user.name", evt) == "<NA>"
    assert matches(state, "user.name != root", evt)
    assert get(state, "user.uid", event(thread=None)) is MISSING


def test_container_fields() -> None:
    state, py = _in_container()
    evt = event(thread=py)
    assert get(state, "container.id", evt) == FULL_ID[:12]
    assert get(state, "container.full_id", evt) == FULL_ID
    assert get(state, "container.name", evt) == "web"
    assert get(state, "container.type", evt) == "bastion"
    assert get(state, "container.image", evt) == "registry.local:5000/team/nginx:1.25@sha256:abc"
    assert get(state, "container.image.repository", evt) == "registry.local:5000/team/nginx"
    assert get(state, "container.image.tag", evt) == "1.25"
    assert get(state, "container.image.digest", evt) == "sha256:abc"
    assert get(state, "container.image.id", evt) == "sha256:def"
    assert get(state, "container.privileged", evt) is False
    assert get(state, "container.start_ts", evt) == 1_699_999_999_000_000_000
    assert get(state, "k8s.pod.name", evt) is MISSING
    assert get(state, "k8s.ns.name", evt) is MISSING


def test_host_fields() -> None:
    state, py = family()
    evt = event(thread=py)
    assert get(state, "container.id", evt) == "host"
    assert get(state, "container.name", evt) == "host"
    assert get(state, "container.image.repository", evt) is MISSING
    assert get(state, "container.privileged", evt) is MISSING
    assert matches(state, "container.id = host", evt)
    assert not matches(state, "container.privileged = false", evt)


def test_labels_and_kubernetes() -> None:
    labels = {
        "io.kubernetes.pod.name": "web-7d9",
        "io.kubernetes.pod.namespace": "prod",
        "io.kubernetes.pod.uid": "u-1",
        "app": "web",
    }
    state, py = _in_container(labels)
    evt = event(thread=py)
    assert get(state, "container.label", evt, "app") == "web"
    assert get(state, "container.label", evt, "nope") is MISSING
    assert "app:web" in str(get(state, "container.labels", evt))
    assert get(state, "k8s.pod.name", evt) == "web-7d9"
    assert get(state, "k8s.ns.name", evt) == "prod"
    assert get(state, "k8s.pod.uid", evt) == "u-1"
    assert get(state, "k8s.pod.label", evt, "app") == "web"
    assert get(state, "k8s.pod.labels", evt) == "app:web"


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("nginx", ("nginx", "", "")),
        ("nginx:1", ("nginx", "1", "")),
        ("localhost:5000/a/b", ("localhost:5000/a/b", "", "")),
        ("docker.io/library/nginx@sha256:x", ("docker.io/library/nginx", "", "sha256:x")),
    ],
)
def test_split_image(image: str, parts: tuple[str, str, str]) -> None:
    assert split_image(image) == parts
