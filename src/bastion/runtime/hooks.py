"""OCI hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.

Each hook gets the container's state JSON on stdin, runs with exactly its `args` and `env`, and is
killed after `timeout` seconds. Failure semantics are the runtime-spec's (config.md "POSIX-platform
Hooks"): a failing prestart/createRuntime/createContainer/startContainer hook is an error that
stops the lifecycle; a failing poststart or poststop hook is only a warning.

Where they run: prestart and createRuntime in the runtime's namespaces, called by `create` when the
init has made its mounts but not yet pivoted; createContainer by the init at the same point, inside
the container's namespaces (paths still resolve on the host, as in runc); startContainer by the
init after `start`, just before exec (paths resolve in the container); poststart by `start`;
poststop by `delete`. `subprocess` is imported only when a hook exists.
"""

from __future__ import annotations

from bastion import jsonio
from bastion.errors import BastionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.oci.spec import Hook, Hooks

# OCI key -> attribute of `Hooks`
KINDS = {
    "prestart": "prestart",
    "createRuntime": "create_runtime",
    "createContainer": "create_container",
    "startContainer": "start_container",
    "poststart": "poststart",
    "poststop": "poststop",
}


class HookFailed(BastionError):
    """A hook exited non-zero, timed out or could not be started; `where` is hooks.<kind>[i]."""

    reference = "hook-failed"


def of(hooks: Hooks | None, kind: str) -> tuple[Hook, ...]:
    if hooks is None:
        return ()
    found: tuple[Hook, ...] = getattr(hooks, KINDS[kind])
    return found


def preload(hooks: Hooks | None) -> None:
    """Import what running hooks needs, now: the init runs startContainer hooks after
    pivot_root, when the host's Python library is no longer reachable."""
    if hooks is not None and any(of(hooks, kind) for kind in KINDS):
        import subprocess  # noqa: F401


def run(hooks: Hooks | None, kind: str, state: dict[str, Any]) -> None:
    """Run the `kind` hooks in order; the first failure raises HookFailed."""
    for index, hook in enumerate(of(hooks, kind)):
        _run_one(hook, f"hooks.{kind}[{index}]", state)


def run_warning(hooks: Hooks | None, kind: str, state: dict[str, Any]) -> list[str]:
    """Run the `kind` hooks in order, all of them; failures come back as warning lines."""
    warnings = []
    for index, hook in enumerate(of(hooks, kind)):
        try:
            _run_one(hook, f"hooks.{kind}[{index}]", state)
        except HookFailed as exc:
            warnings.append(exc.render())
    return warnings


def _run_one(hook: Hook, where: str, state: dict[str, Any]) -> None:
    import subprocess

    argv = list(hook.args) or [hook.path]
    env = dict(item.partition("=")[::2] for item in hook.env)
    try:
        result = subprocess.run(
            argv,
            executable=hook.path,
            env=env,
            input=jsonio.dumps(state).encode(),
            capture_output=True,
            timeout=hook.timeout,
            check=False,
            close_fds=True,
        )
    except subprocess.TimeoutExpired:
        raise HookFailed(f"{hook.path} timed out after {hook.timeout} s", where=where) from None
    except OSError as exc:
        raise HookFailed(
            f"cannot run {hook.path}: {exc.strerror}",
            where=f"{where}.path",
            hint="the path must name an executable that exists where the hook runs",
        ) from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode(errors="replace").strip()
        tail = f": {output.splitlines()[-1]}" if output else ""
        raise HookFailed(f"{hook.path} exited with status {result.returncode}{tail}", where=where)
