"""`bastion build`: the classic builder through the CLI, its images run by `bastion run`.

One engine rig for the module (registry on 127.0.0.1 with the busybox test image, private
engine root); each test writes its own context directory under the rig's directory.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, engine_rig, mounts_under

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-build-") as b:
        yield b


def context(b: Bastion, name: str, files: dict[str, str | bytes]) -> str:
    directory = os.path.join(os.path.dirname(b.root), "contexts", name)
    os.makedirs(directory)
    for path, content in files.items():
        full = os.path.join(directory, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
    return directory


def run_out(b: Bastion, image: str, *command: str) -> str:
    return b.ok("run", "--rm", image, *command)


def test_build_run_copy_env_workdir_cmd(bastion: Bastion) -> None:
    directory = context(
        bastion,
        "basic",
        {
            "Dockerfile": f"""# escape=\\
# a comment
ARG BASE={bastion.image}
FROM ${{BASE}}
ARG GREETING=hello
ENV WHO=world \\
    PLACE="the moon"
LABEL purpose=test "other label"=yes
WORKDIR /app
COPY hello.txt ./
COPY data/ /app/data/
RUN echo "$GREETING $WHO" > made.txt && \\
    # a comment inside a continuation
    rm /bin/true && mkdir -p /var/gone
RUN rmdir /var/gone && rm -rf /usr/share && mkdir /usr/share && echo x > /usr/share/only
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/made.txt /app/hello.txt /app/data/x; echo $PLACE; id -u; pwd"]
""",
            "hello.txt": "from the context\n",
            "data/x": "x file\n",
            "data/skipped.log": "ignored\n",
            ".dockerignore": "# logs stay out\n**/*.log\n",
        },
    )
    out = bastion.ok(
        "build", "-t", "built:1", "-t", "built:2", "--build-arg", "GREETING=hi", directory
    )
    assert "Step 1/17 : ARG BASE=" in out, out
    assert "Successfully built " in out and "Successfully tagged built:1" in out, out
    assert run_out(bastion, "built:2").splitlines() == [
        "hi world",
        "from the context",
        "x file",
        "the moon",
        "1000",
        "/app",
    ]
    listing = run_out(
        bastion, "built:1", "ls /app/data; ls /bin/true 2>&1; ls -d /var/gone 2>&1; true"
    )
    assert "skipped.log" not in listing and "x\n" in listing, listing  # .dockerignore
    assert "No such file" in listing  # the RUN's deletions are whiteouts in its layer
    # a directory removed and made again: opaque in its layer, the lower one's files hidden
    assert run_out(bastion, "built:1", "ls /usr/share") == "only\n"
    inspected = json.loads(bastion.ok("image", "inspect", "built:1"))[0]
    config = inspected["Config"]
    assert config["Labels"] == {"purpose": "test", "other label": "yes"}
    assert sorted(config["ExposedPorts"]) == ["53/udp", "8080/tcp"]
    assert config["User"] == "1000:1000" and config["StopSignal"] == "SIGINT"
    assert config["Volumes"] == {"/data": {}}
    assert "WHO=world" in config["Env"] and not any(e.startswith("GREETING") for e in config["Env"])
    history = bastion.ok("history", "built:1")
    assert "rmdir /var/gone" in history


def test_second_build_uses_the_cache(bastion: Bastion) -> None:
    directory = context(
        bastion,
        "cached",
        {
            "Dockerfile": f"FROM {bastion.image}\nCOPY a /a\nRUN cat /a > /b\n",
            "a": "one\n",
        },
    )
    first = bastion.ok("build", "-q", "-t", "cached:1", directory).strip()
    second_out = bastion.ok("build", "-t", "cached:1", directory)
    assert second_out.count("Using cache") == 2, second_out
    assert f"Successfully built {first[7:19]}" in second_out
    with open(os.path.join(directory, "a"), "w") as f:
        f.write("two\n")
    third = bastion.ok("build", "-t", "cached:1", directory)
    assert "Using cache" not in third  # COPY's content changed: it and what follows run again
    assert run_out(bastion, "cached:1", "cat", "/b") == "two\n"
    no_cache = bastion.ok("build", "--no-cache", "-t", "cached:1", directory)
    assert "Using cache" not in no_cache


def test_failing_run_makes_no_image(bastion: Bastion) -> None:
    directory = context(
        bastion,
        "failing",
        {"Dockerfile": f"FROM {bastion.image}\nRUN echo before\nRUN echo oops >&2; exit 7\n"},
    )
    before = bastion.ok("images", "-q")
    result = bastion("build", "-t", "failing:1", directory)
    assert result.returncode != 0
    assert "oops" in result.stdout
    assert "returned a non-zero code: 7" in result.stderr, result.stderr
    assert bastion.ok("images", "-q") == before
    assert mounts_under(bastion.root) == []
    assert not os.listdir(os.path.join(bastion.root, "build"))


def test_bad_dockerfile_is_named(bastion: Bastion) -> None:
    directory = context(bastion, "bad", {"Dockerfile": f"FROM {bastion.image}\nFROB x\n"})
    result = bastion("build", directory)
    assert result.returncode == 125
    assert "Dockerfile:2" in result.stderr and "unknown instruction: FROB" in result.stderr
    missing = context(bastion, "missing", {"Dockerfile": f"FROM {bastion.image}\nCOPY nope /\n"})
    result = bastion("build", missing)
    assert result.returncode == 125 and "nope" in result.stderr, result.stderr


def test_onbuild_triggers_run_in_the_child_build(bastion: Bastion) -> None:
    parent = context(
        bastion,
        "onbuild-parent",
        {"Dockerfile": f"FROM {bastion.image}\nONBUILD COPY note /note\nONBUILD RUN cat /note\n"},
    )
    bastion.ok("build", "-t", "onbuild:parent", parent)
    child = context(
        bastion, "onbuild-child", {"Dockerfile": "FROM onbuild:parent\n", "note": "triggered\n"}
    )
    out = bastion.ok("build", "-t", "onbuild:child", child)
    assert "# Executing 2 build triggers" in out and "triggered" in out, out
    assert run_out(bastion, "onbuild:child", "cat", "/note") == "triggered\n"
    grandchild = context(bastion, "onbuild-grandchild", {"Dockerfile": "FROM onbuild:child\n"})
    assert "Executing" not in bastion.ok("build", grandchild)  # the child did not inherit them


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_add_tar_multistage_target_scratch(bastion: Bastion) -> None:
    directory = context(
        bastion,
        "stages",
        {
            "Dockerfile": f"""FROM {bastion.image} AS builder
ADD bundle.tar.gz /opt/
RUN cat /opt/inner/file > /opt/result
FROM scratch AS final
COPY --from=builder /opt/result /result
FROM {bastion.image}
COPY --from=final /result /copied
CMD ["cat", "/copied"]
""",
            "bundle.tar.gz": _tar_gz({"inner/file": b"from the tar\n"}),
        },
    )
    bastion.ok("build", "-t", "stages:all", directory)
    assert run_out(bastion, "stages:all") == "from the tar\n"
    bastion.ok("build", "--target", "final", "-t", "stages:final", directory)
    inspected = json.loads(bastion.ok("image", "inspect", "stages:final"))[0]
    assert len(inspected["RootFS"]["Layers"]) == 1  # scratch + one COPY


def _kill_a_build_mid_run(b: Bastion, name: str) -> None:
    import signal
    import subprocess
    import time

    slow = context(b, name, {"Dockerfile": f"FROM {b.image}\nRUN echo started; sleep 60\n"})
    proc = subprocess.Popen(
        b.argv("build", "--no-cache", slow),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **b.env},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "started":  # the RUN's output, not its Step line
            break
    proc.send_signal(signal.SIGKILL)  # no cleanup of its own
    proc.wait()
    proc.stdout.close()
    time.sleep(0.5)
    assert mounts_under(os.path.join(b.root, "build"))  # the step's overlay is left


def _nothing_left_of_builds(b: Bastion) -> None:
    assert mounts_under(b.root) == []
    assert os.listdir(os.path.join(b.root, "build")) == []
    assert not [n for n in os.listdir(b.runtime_root) if n.startswith("build-")]


@pytest.mark.parametrize("sweeper", ["next build", "system prune"])
def test_a_killed_build_is_swept(bastion: Bastion, sweeper: str) -> None:
    _kill_a_build_mid_run(bastion, f"killed-{sweeper.replace(' ', '-')}")
    if sweeper == "next build":
        quick = context(bastion, "after-kill", {"Dockerfile": f"FROM {bastion.image}\nRUN true\n"})
        bastion.ok("build", quick)
    else:
        bastion.ok("system", "prune", "-f")  # Engine.repair
    _nothing_left_of_builds(bastion)


def _cache_entries(b: Bastion) -> list[str]:
    with open(os.path.join(b.root, "images", "index.json")) as f:
        index = json.load(f)
    names = [
        m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
        for m in index["manifests"]
    ]
    return [n for n in names if n.startswith("localhost/bastion-build-cache:")]


def test_image_prune_all_drops_the_build_cache(bastion: Bastion) -> None:
    """Last in the module: it removes every image."""
    assert _cache_entries(bastion)  # the builds above kept their steps
    assert "bastion-build-cache" not in bastion.ok("images")  # not images of the engine
    bastion.ok("image", "prune", "-a", "-f")
    assert _cache_entries(bastion) == []
