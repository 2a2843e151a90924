"""The parent <-> child channel on a real socketpair and a real fork: payload records arrive as
records, and an error raised in the child is raised in the parent as the same class, with the
same reference, fields and exit code (not as InitFailed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from bastion.errors import BastionError, ExitCode
from bastion.oci.decode import SpecError
from bastion.runtime.errors import InitFailed, InvalidState, RuntimeFailure
from bastion.runtime.hooks import HookFailed
from bastion.runtime.init.channel import Channel, pair
from bastion.runtime.init.messages import Console, HookState, Message, Pid

_children: list[tuple[int, Channel]] = []


def _in_child(body: Callable[[Channel], object]) -> Channel:
    """Fork; the child runs `body(child end)` and exits; returns the parent's end (closed and
    the child reaped after the test)."""
    parent, child = pair()
    pid = os.fork()
    if pid == 0:
        try:
            parent.close()
            body(child)
        finally:
            os._exit(0)
    child.close()
    _children.append((pid, parent))
    return parent


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    yield
    while _children:
        pid, parent = _children.pop()
        parent.close()
        os.waitpid(pid, 0)


def _raising(exc: BaseException) -> Channel:
    def body(chan: Channel) -> None:
        try:
            raise exc
        except BaseException as caught:
            chan.send_error(caught)

    return _in_child(body)


def test_payloads_arrive_as_records() -> None:
    def body(chan: Channel) -> None:
        chan.send(Message.INIT, Pid(pid=1234))
        chan.recv(Message.GO)
        state = chan.recv_record(Message.HOOKS_DONE, HookState).state
        read, write = os.pipe()
        os.write(write, b"x")
        chan.send_fd(Message.CONSOLE, read, Console(name=f"/dev/pts/{state['id']}"))

    parent = _in_child(body)
    assert parent.recv_record(Message.INIT, Pid) == Pid(pid=1234)
    parent.send(Message.GO)
    parent.send(Message.HOOKS_DONE, HookState(state={"id": 7}))
    console, fd = parent.recv_fd_record(Message.CONSOLE, Console)
    assert console == Console(name="/dev/pts/7")
    assert os.read(fd, 1) == b"x"  # the descriptor itself came across
    os.close(fd)


def test_a_runtime_failure_keeps_its_class_and_reference() -> None:
    sent = RuntimeFailure(
        "cannot enter '/nope'", where="process.cwd", hint="h", reference="cwd-missing"
    )
    with pytest.raises(BastionError) as err:
        _raising(sent).recv(Message.READY)
    assert type(err.value) is RuntimeFailure
    assert (err.value.message, err.value.where, err.value.hint, err.value.reference) == (
        "cannot enter '/nope'",
        "process.cwd",
        "h",
        "cwd-missing",
    )


@pytest.mark.parametrize(
    ("sent", "exit_code"),
    [
        (SpecError("bad", where="linux.sysctl", reference="spec-invalid-value"), 5),
        (InvalidState("c1", "paused", "exec"), ExitCode.INVALID_STATE),
        (HookFailed("/bin/hook exited with status 3", where="hooks.createContainer[0]"), 1),
    ],
)
def test_the_class_brings_its_exit_code_and_own_fields(sent: BastionError, exit_code: int) -> None:
    with pytest.raises(BastionError) as err:
        _raising(sent).recv_record(Message.INIT, Pid)
    assert type(err.value) is type(sent)
    assert err.value.exit_code == exit_code
    assert str(err.value) == str(sent)
    assert err.value.reference == sent.reference
    if isinstance(sent, InvalidState):  # a subclass with its own __init__ and attributes
        assert isinstance(err.value, InvalidState)
        assert (err.value.container_id, err.value.status, err.value.operation) == (
            "c1",
            "paused",
            "exec",
        )


def test_any_other_exception_is_init_failed() -> None:
    with pytest.raises(InitFailed) as err:
        _raising(FileNotFoundError(2, "No such file or directory", "/x")).recv(Message.READY)
    assert err.value.reference == InitFailed.reference
    assert "No such file or directory" in err.value.message
    assert err.value.where == "/x"


def test_an_os_error_with_a_bytes_path_still_arrives() -> None:
    with pytest.raises(InitFailed) as err:
        _raising(FileNotFoundError(2, "No such file or directory", b"/x")).recv(Message.READY)
    assert "No such file or directory" in err.value.message
    assert err.value.where is None


def test_a_child_that_dies_is_init_failed() -> None:
    with pytest.raises(InitFailed) as err:
        _in_child(lambda chan: None).recv(Message.READY)
    assert "exited before sending 'ready'" in err.value.message


def test_an_unexpected_message_is_named() -> None:
    with pytest.raises(InitFailed) as err:
        _in_child(lambda chan: chan.send(Message.IDMAP)).recv(Message.READY)
    assert "sent 'idmap', expected 'ready'" in err.value.message
