"""`import --change`'s Dockerfile instructions, as the image config they make."""

from __future__ import annotations

import pytest

from bastion.engine.errors import InvalidOptionError
from bastion.engine.image_verbs import config_changes, is_untagged


def test_exec_and_shell_forms() -> None:
    config = config_changes(['CMD ["/bin/bash", "-l"]', "ENTRYPOINT echo $HOME"])
    assert config == {"Cmd": ["/bin/bash", "-l"], "Entrypoint": ["/bin/sh", "-c", "echo $HOME"]}


def test_env_label_and_plain_values() -> None:
    config = config_changes(
        ["ENV A=1", "ENV B 2", "ENV A=3", 'LABEL "k"="v"', "WORKDIR /srv", "user nobody"]
    )
    assert config == {
        "Env": ["B=2", "A=3"],
        "Labels": {"k": "v"},
        "WorkingDir": "/srv",
        "User": "nobody",
    }


@pytest.mark.parametrize("change", ["RUN apt-get update", "CMD", "CMD [broken"])
def test_what_cannot_apply_is_refused(change: str) -> None:
    with pytest.raises(InvalidOptionError):
        config_changes([change])


def test_untagged_names_are_ids() -> None:
    assert is_untagged("sha256:" + "a" * 64)
    assert not is_untagged("docker.io/library/busybox:latest")
