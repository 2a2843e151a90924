"""Interactive containers and exec, end to end through the `bastion` CLI: `run -it` under a
real pty (the container's terminal, its size following ours, Ctrl-C, the exit status), `run -i`
with piped stdin, `create -i`/`-it` + `start -a -i`, `attach` and its detach keys, and `exec`
(output, status, -u, -e, -w, -i, -d, 126/127, -it under a pty).

The rig (`bastion_testing.engine`) gives a private engine root, a registry on 127.0.0.1 with
busybox, and checks at the end that no container, overlay mount, conmon or cgroup is left.
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, engine_rig
from bastion_testing.terminal import Terminal

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

PROMPT = rb"# "


def shell_ready(t: Terminal) -> None:
    """Until the container's shell reads its terminal: an empty line gets a new prompt (what
    is typed before it sets its terminal up may be lost, as on any terminal)."""
    for _ in range(40):
        t.send(b"\r")
        if t.try_expect(PROMPT, 0.5):
            return
    raise AssertionError(f"no prompt: {t.output!r}")


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-tty-") as b:
        yield b


@pytest.fixture(scope="module")
def target(bastion: Bastion) -> Iterator[str]:
    """A running container for the exec tests, with an env of its own."""
    bastion.ok("run", "-d", "--name", "exec-target", "-e", "BASE=from-run", bastion.image,
               "sleep", "1000")  # fmt: skip
    try:
        yield "exec-target"
    finally:
        bastion.ok("rm", "-f", "exec-target")


def piped(bastion: Bastion, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bastion.argv(*args), input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


# --- run -it, run -i, start -a -i ----------------------------------------------------------


def test_run_it_is_a_real_terminal_resized_interrupted_and_exits_with_its_status(
    bastion: Bastion,
) -> None:
    with Terminal(bastion.argv("run", "-it", "--rm", bastion.image, "sh"), rows=30, cols=100) as t:
        shell_ready(t)
        t.send(b"tty; stty size; echo term=$TERM\r")
        found = t.expect(rb"(/dev/pts/\d+)\r\n(\d+) (\d+)\r\nterm=(\S+)\r\n")
        assert found.group(2, 3, 4) == (b"30", b"100", b"xterm")
        # our window changes: SIGWINCH -> the monitor's ctl fifo -> the container's pty
        t.resize(41, 132)
        for _ in range(40):
            t.send(b"stty size\r")
            if t.try_expect(rb"\r\n41 132\r\n", 0.5):
                break
        else:
            raise AssertionError(f"the resize never reached the container: {t.output!r}")
        # Ctrl-C is a byte on our raw terminal; the container's line discipline makes it SIGINT
        t.send(b"sh -c 'echo sleeping; exec sleep 100'\r")
        t.expect(rb"\r\nsleeping\r\n")
        t.send(b"\x03")
        t.expect(PROMPT)  # not after 100 s: the sleep was interrupted
        t.send(b"echo status=$?\r")
        t.expect(rb"\r\nstatus=130\r\n")  # 128 + SIGINT
        t.send(b"exit 7\r")
        assert t.wait() == 7
    assert bastion.ok("ps", "-a", "-q") == ""


def test_run_i_pipes_stdin_and_its_end_closes_the_containers(bastion: Bastion) -> None:
    result = piped(bastion, "run", "-i", "--rm", bastion.image, "cat", stdin="hello\n")
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    script = "cat; echo after-eof; echo to-stderr >&2; exit 3"
    result = piped(bastion, "run", "-i", "--rm", bastion.image, "sh", "-c", script, stdin="a\nb")
    assert (result.returncode, result.stdout) == (3, "a\nbafter-eof\n")
    assert result.stderr == "to-stderr\n"


def test_run_i_passes_any_bytes_through(bastion: Bastion) -> None:
    data = bytes(range(256)) * 64 + b"\x10\x11 not the detach keys without a terminal\n"
    result = subprocess.run(
        bastion.argv("run", "-i", "--rm", bastion.image, "cat"),
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, data), result.stderr


def test_run_without_i_gives_the_container_no_stdin(bastion: Bastion) -> None:
    result = piped(bastion, "run", "--rm", bastion.image, "cat", stdin="not for it\n")
    assert (result.returncode, result.stdout) == (0, "")


def test_create_i_then_start_a_i(bastion: Bastion) -> None:
    cid = bastion.ok("create", "-i", bastion.image, "sh", "-c", "read x; echo got $x; exit 6")
    try:
        result = piped(bastion, "start", "-a", "-i", cid.strip(), stdin="line\n")
        assert (result.returncode, result.stdout) == (6, "got line\n"), result.stderr
        state = bastion.inspect(cid.strip())["State"]
        assert isinstance(state, dict) and (state["Status"], state["ExitCode"]) == ("exited", 6)
    finally:
        bastion.ok("rm", cid.strip())


def test_create_it_then_start_ai_under_a_terminal(bastion: Bastion) -> None:
    cid = bastion.ok("create", "-it", bastion.image, "sh").strip()
    try:
        config = bastion.inspect(cid)["Config"]
        assert isinstance(config, dict) and config["Tty"] and config["OpenStdin"]
        with Terminal(bastion.argv("start", "-a", "-i", cid), rows=20, cols=70) as t:
            shell_ready(t)
            t.send(b"tty; stty size; exit 4\r")
            t.expect(rb"/dev/pts/\d+\r\n20 70\r\n")
            assert t.wait() == 4
    finally:
        bastion.ok("rm", cid)


def test_attach_detach_keys_then_attach_again_until_it_ends(bastion: Bastion) -> None:
    bastion.ok("run", "-dit", "--name", "attached", bastion.image, "sh")
    try:
        with Terminal(bastion.argv("attach", "attached")) as t:
            shell_ready(t)
            t.send(b"echo $((6*7))\r")
            t.expect(rb"\r\n42\r\n")
            t.send(b"\x10\x11")  # Ctrl-P Ctrl-Q: we leave, it runs on
            assert t.wait() == 0
        state = bastion.inspect("attached")["State"]
        assert isinstance(state, dict) and state["Running"] is True
        with Terminal(bastion.argv("attach", "attached")) as t:
            shell_ready(t)
            t.send(b"exit 3\r")
            assert t.wait() == 3  # the container's status, once it ended
    finally:
        bastion.ok("rm", "-f", "attached")


def test_attach_refuses_a_container_that_does_not_run(bastion: Bastion) -> None:
    cid = bastion.ok("create", bastion.image, "true").strip()
    try:
        result = bastion("attach", cid)
        assert result.returncode == 125
        assert "error[engine-container-state]" in result.stderr
    finally:
        bastion.ok("rm", cid)


# --- exec ------------------------------------------------------------------------------------


def test_exec_output_and_status(bastion: Bastion, target: str) -> None:
    result = bastion("exec", target, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    # it runs in the container: its hostname and its pid namespace (sleep is pid 1)
    hostname = bastion.ok("exec", target, "hostname").strip()
    assert bastion.inspect(target)["Config"]["Hostname"] == hostname  # type: ignore[index]
    assert bastion.ok("exec", target, "cat", "/proc/1/cmdline").startswith("sleep\0")


def test_exec_env_user_and_workdir(bastion: Bastion, target: str) -> None:
    script = "id -u; id -g; pwd; echo $BASE $FOO $HOME"
    assert bastion.ok("exec", target, "sh", "-c", script).splitlines() == [
        "0",
        "0",
        "/",
        "from-run /root",
    ]
    out = bastion.ok(
        *("exec", "-u", "nobody", "-w", "/tmp", "-e", "FOO=bar", "-e", "BASE=over"),
        *(target, "sh", "-c", script),
    )
    assert out.splitlines() == ["65534", "65534", "/tmp", "over bar /nonexistent"]
    out = bastion.ok("exec", "-u", "1234:5678", target, "sh", "-c", "id -u; id -g")
    assert out.splitlines() == ["1234", "5678"]
    unknown = bastion("exec", "-u", "nosuchuser", target, "true")
    assert unknown.returncode == 125 and "unable to find user nosuchuser" in unknown.stderr


def test_exec_statuses_of_a_command_that_cannot_run(bastion: Bastion, target: str) -> None:
    missing = bastion("exec", target, "nosuchcommand")
    assert missing.returncode == 127, missing.stderr
    assert "nosuchcommand" in missing.stderr
    not_executable = bastion("exec", target, "/etc/passwd")
    assert not_executable.returncode == 126, not_executable.stderr


def test_exec_stdin_only_with_i(bastion: Bastion, target: str) -> None:
    assert piped(bastion, "exec", target, "cat", stdin="piped\n").stdout == ""
    result = piped(bastion, "exec", "-i", target, "cat", stdin="piped\n")
    assert (result.returncode, result.stdout) == (0, "piped\n")


def test_exec_detached_returns_while_it_runs(bastion: Bastion, target: str) -> None:
    result = bastion("exec", "-d", target, "sh", "-c", "sleep 0.2; echo done > /tmp/marker")
    assert (result.returncode, result.stdout) == (0, "")
    deadline = time.monotonic() + 20
    while bastion("exec", target, "cat", "/tmp/marker").stdout != "done\n":
        assert time.monotonic() < deadline, "the detached exec never ran"
        time.sleep(0.1)


def test_exec_in_a_container_that_does_not_run(bastion: Bastion) -> None:
    cid = bastion.ok("create", bastion.image, "true").strip()
    try:
        result = bastion("exec", cid, "true")
        assert result.returncode == 125
        assert "error[engine-container-state]" in result.stderr
    finally:
        bastion.ok("rm", cid)


def test_exec_it_under_a_terminal(bastion: Bastion, target: str) -> None:
    with Terminal(bastion.argv("exec", "-it", target, "sh"), rows=25, cols=90) as t:
        shell_ready(t)
        t.send(b"tty; stty size; echo $TERM; exit 5\r")
        t.expect(rb"/dev/pts/\d+\r\n25 90\r\nxterm\r\n")
        assert t.wait() == 5


# --- --rm when nobody stays attached ---------------------------------------------------------


def gone(bastion: Bastion, name: str) -> bool:
    return bastion("inspect", name).returncode != 0


def until_gone(bastion: Bastion, name: str) -> None:
    deadline = time.monotonic() + 20
    while not gone(bastion, name):
        assert time.monotonic() < deadline, f"{name} was not removed"
        time.sleep(0.05)


def test_run_it_rm_detached_is_removed_by_its_monitor_when_it_ends(bastion: Bastion) -> None:
    argv = bastion.argv("run", "-it", "--rm", "--name", "leaves", bastion.image, "sh")
    with Terminal(argv) as t:
        shell_ready(t)
        t.send(b"\x10\x11")
        assert t.wait() == 0
    state = bastion.inspect("leaves")["State"]
    assert isinstance(state, dict) and state["Running"] is True
    bastion.ok("kill", "leaves")
    until_gone(bastion, "leaves")


def test_create_rm_then_start_is_removed_when_it_ends(bastion: Bastion) -> None:
    bastion.ok("create", "--rm", "--name", "once", bastion.image, "true")
    bastion.ok("start", "once")
    until_gone(bastion, "once")
    # attached, it exits with its status and is removed all the same
    bastion.ok("create", "--rm", "--name", "twice", bastion.image, "sh", "-c", "exit 5")
    assert bastion("start", "-a", "twice").returncode == 5
    assert gone(bastion, "twice")
