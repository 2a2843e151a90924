"""The pytest plugin of bastion's tests (loaded by tests/conftest.py through `pytest_plugins`).

- Tests marked `privileged` or `bpf` are skipped, with the reason, when not running as root.
- A session-scoped autouse fixture snapshots the host at the start (mounts, `bst-test-*` cgroups,
  processes in test cgroups, netns, links, nft tables; see `leaks.py`) and fails the run at the
  end if anything new is left: the last test gets an error at teardown listing each leak.
- Fixtures: `busybox_rootfs`, `bastion_runc`, `container_id`, `runtime_root`, `bundle_factory`,
  `runc` (a `bastion_testing.runc.Runc` on `runtime_root`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from bastion_testing import bundle as _bundle
from bastion_testing import leaks as _leaks
from bastion_testing import rootfs as _rootfs
from bastion_testing.runc import Runc

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

#: How long the end-of-session check waits for exiting processes and busy cgroups to go away.
SETTLE_SECONDS = 3.0
_NEEDS_ROOT = ("privileged", "bpf")


def pytest_configure(config: pytest.Config) -> None:
    """Give the processes the tests start default SIGINT and SIGQUIT, as from a terminal. A
    shell starts a background job (`.ci/run &`) with both ignored, and an ignored signal stays
    ignored across exec: Ctrl-C in a pty, `kill -INT` to a foreground `run`, the end of an
    `events` stream would then prove nothing (or fail). A handler Python installs is reset to
    the default in the children."""
    del config
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    for item in items:
        needs = [name for name in _NEEDS_ROOT if item.get_closest_marker(name)]
        if needs:
            reason = f"marked {needs[0]}: needs root (scripts/test runs as root)"
            item.add_marker(pytest.mark.skip(reason=reason))


_EARLIER_LEFTOVERS = pytest.StashKey[_leaks.Snapshot]()


@pytest.fixture(scope="session", autouse=True)
def _bst_leak_check(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Fail the session if its tests left mounts, cgroups, processes, netns or links behind."""
    roots = (str(tmp_path_factory.getbasetemp()),)
    before = _leaks.snapshot(roots)
    parents_before = _leaks.parent_cgroups()
    request.config.stash[_EARLIER_LEFTOVERS] = before
    yield
    # the empty /bastion and /bastion-test parents the session's containers needed go too
    _leaks.remove_empty_parents(_leaks.parent_cgroups() - parents_before)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        leaked = _leaks.new_since(before, _leaks.snapshot(roots), _bundle.SESSION)
        if leaked.is_empty() or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not leaked.is_empty():
        pytest.fail(
            "the test session left these behind (tests must remove what they make):\n"
            + _leaks.report(leaked),
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Things with test names that were there before this session: left by an earlier run."""
    earlier = terminalreporter.config.stash.get(_EARLIER_LEFTOVERS, None)
    if earlier is not None and not earlier.is_empty():
        terminalreporter.write_sep(
            "-", "there before this session (an earlier or a concurrent run): not counted"
        )
        terminalreporter.write_line(_leaks.report(earlier))


@pytest.fixture(scope="session")
def busybox_rootfs() -> str:
    """The cached busybox test image (read-only by convention: copy it, as bundles do)."""
    return _rootfs.busybox_rootfs()


@pytest.fixture(scope="session")
def bastion_runc() -> str:
    """The path of the `bastion-runc` launcher of the environment running the tests."""
    return bastion_runc_path()


def bastion_runc_path() -> str:
    return os.path.join(os.path.dirname(sys.executable), "bastion-runc")


@pytest.fixture
def container_id() -> str:
    """A fresh container id, `bst-test-<session>-<random>` (see `bundle.new_name`)."""
    return _bundle.new_name()


@pytest.fixture
def runtime_root() -> Iterator[str]:
    """A fresh directory for `bastion-runc --root`, removed afterwards.

    It lives at `/tmp/bst-test-<session>-<random>-root-*` rather than in the test's tmp_path so
    that socket paths under it stay within the 108 bytes of `sun_path`. Containers left in it
    are deleted with `bastion-runc delete --force` first, so a failing test does not leak them.
    """
    root = tempfile.mkdtemp(prefix=f"{_bundle.new_name()}-root-")
    try:
        yield root
    finally:
        _force_delete_all(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def runc(bastion_runc: str, runtime_root: str) -> Runc:
    """`runc("create", "--bundle", b, cid)`: bastion-runc on this test's `runtime_root`."""
    if not os.access(bastion_runc, os.X_OK):
        pytest.fail(f"{bastion_runc} is missing: run scripts/setup", pytrace=False)
    return Runc(bastion_runc, runtime_root)


def _force_delete_all(root: str) -> None:
    runtime = bastion_runc_path()
    for name in sorted(os.listdir(root)):
        if os.path.isdir(os.path.join(root, name)) and os.access(runtime, os.X_OK):
            subprocess.run(
                [runtime, "--root", root, "delete", "--force", name],
                capture_output=True,
                timeout=30,
                check=False,
            )


class BundleFactory(Protocol):
    def __call__(
        self,
        *,
        args: Sequence[str],
        rootfs: str | None = None,
        readonly: bool = True,
        spec: dict[str, Any] | None = None,
        **edits: Any,
    ) -> str: ...


@pytest.fixture
def bundle_factory(tmp_path: Path) -> BundleFactory:
    """`bundle_factory(args=[...], **edits)`: `make_bundle` in this test's tmp_path."""

    def factory(
        *,
        args: Sequence[str],
        rootfs: str | None = None,
        readonly: bool = True,
        spec: dict[str, Any] | None = None,
        **edits: Any,
    ) -> str:
        return _bundle.make_bundle(
            tmp_path, args=args, rootfs=rootfs, readonly=readonly, spec=spec, **edits
        )

    return factory
