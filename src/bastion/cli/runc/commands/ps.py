"""bastion-runc ps: the processes of the container (host pids), as runc shows them.

`--format json` prints the pids of the container's cgroup as a JSON array. The table runs the
host's `ps` (with `-ef`, or the ps options given after the id, as in `ps ID -o pid,comm` or
`ps ID -- -o pid,comm`) and keeps the header and the rows whose PID column is in the cgroup.
"""

from __future__ import annotations

import os
import sys

from bastion.cli.runc.args import Option, UsageError
from bastion.cli.runc.main import require_id
from bastion.errors import BastionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "display the processes running inside a container"
ARGUMENTS = "ID [ps options]"
OPTIONS = [Option("--format,-f", "str", "table", "select one of: table or json", "FORMAT")]
#: Everything after the id goes to ps (urfave/cli stops at the first argument, and runc's users
#: rely on it: `runc ps ID -o pid,comm`); `main` honours this.
STOP_AT_POSITIONAL = True


class PsFailed(BastionError):
    """Raised when the host's `ps` cannot be run, fails, or prints no PID column."""

    reference = "ps-failed"


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container
    from bastion.runtime.control import processes

    if values["format"] not in ("table", "json"):
        raise UsageError(f"--format must be table or json, not {values['format']!r}")
    container_id = require_id(positional, "ps", extra=len(positional))
    ps_args = positional[1:]
    if ps_args[:1] == ["--"]:
        ps_args = ps_args[1:]
    pids = processes(Container.load(ctx.root, container_id))
    if values["format"] == "json":
        from bastion.jsonio import dumps

        sys.stdout.write(dumps(pids) + "\n")
        return 0
    sys.stdout.write(filter_table(run_ps(ps_args or ["-ef"]), set(pids)))
    return 0


def filter_table(output: str, pids: set[int]) -> str:
    """The header of `ps` output and the rows whose PID column holds one of `pids`."""
    lines = output.splitlines()
    if not lines:
        raise PsFailed("ps printed nothing")
    header = lines[0].split()
    if "PID" not in header:
        raise PsFailed(
            "couldn't find PID field in ps output", hint="keep the pid column, e.g. -o pid,comm"
        )
    column = header.index("PID")
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[column])
        except (IndexError, ValueError):
            raise PsFailed(f"unable to parse pid in ps output line {line!r}") from None
        if pid in pids:
            kept.append(line)
    return "\n".join(kept) + "\n"


def run_ps(args: list[str]) -> str:
    """The combined stdout and stderr of the host's `ps ARGS` (without `subprocess`: 8 ms)."""
    read_end, write_end = os.pipe()
    try:
        try:
            pid = os.posix_spawnp(
                "ps",
                ["ps", *args],
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, write_end, 1),
                    (os.POSIX_SPAWN_DUP2, write_end, 2),
                ],
            )
        except OSError as exc:
            raise PsFailed(
                f"cannot run ps: {exc.strerror}", hint="install procps (the ps command)"
            ) from None
        os.close(write_end)
        write_end = -1
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        _, raw = os.waitpid(pid, 0)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    output = b"".join(chunks).decode(errors="replace")
    code = os.waitstatus_to_exitcode(raw)
    if code != 0:
        detail = " ".join(output.split("\n", 1)[0].split())
        raise PsFailed(f"ps {' '.join(args)} exited with status {code}: {detail}")
    return output
