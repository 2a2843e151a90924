"""bastion-runc's lean front: `start` and `delete` of a plain container, before the CLI loads.

The Python launcher (scripts/setup; the compiled front, cli/runc/front.c, execs it for what it
does not do itself) calls `run_lean` after installing its module archive and before
importing `bastion.cli.runc.main`, when `start` or `delete` is among its arguments. It handles
`[--root DIR] [--log FILE] [--log-format text|json] start|delete ID` (each global option also
as `--name=value` and Go's `-name`), and `delete --force ID` (`-f`, `-force`: what Podman calls)
as `delete ID`, since the flag changes nothing once the init is gone and a live init is the full
path's to kill; and only for a plain container (bastion/runtime/lean.py):
the call then imports no `os`, no option parser, no `Container` and no cgroup manager, ~1.3 ms
of CPU less than the full path. Anything else (another option or flag,
a container that is not plain, every refusal and error) returns to the launcher,
which takes the full path: that path stays the reference, so the messages and exit codes are
always its own (runc's). A successful `start` or `delete` writes nothing to the log, on either
path. `BASTION_TEST_NO_LEAN=1` in the environment forces the full path (tests compare them).
"""

from __future__ import annotations

import posix
import sys

from bastion.identity import DEFAULT_STATE_ROOT

TYPE_CHECKING = False

# The global options handled here (the full path's GLOBAL_OPTIONS), by their names on the
# command line; each takes a value.
_OPTIONS = {
    "--root": "root",
    "-root": "root",
    "--log": "log",
    "-log": "log",
    "--log-format": "log_format",
    "-log-format": "log_format",
}
VERBS = ("start", "delete")
#: `delete`'s flag, as runc spells it (`-f` too) and Go's flag package reads it (`-force`)
FORCE_FLAGS = ("--force", "-force", "-f")


def run_lean() -> None:
    """Do the call and exit, or return (nothing done) for the full path."""
    code = main(sys.argv[1:])
    if code is None:
        return None
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        posix._exit(code)


def main(argv: list[str]) -> int | None:
    """The exit status of the call `argv` (without the program's name), or None if it is not
    one for the lean path."""
    if posix.environ.get(b"BASTION_TEST_NO_LEAN"):
        return None
    values = {"root": DEFAULT_STATE_ROOT, "log": "", "log_format": "text"}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        key = _OPTIONS.get(name)
        if key is None:
            return None
        if not eq:
            i += 1
            if i == len(argv):
                return None
            value = argv[i]
        values[key] = value
        i += 1
    rest = argv[i:]
    if len(rest) == 3 and rest[0] == "delete" and rest[1] in FORCE_FLAGS:
        rest = [rest[0], rest[2]]  # a live init: lean.delete declines, the full path kills
    if len(rest) != 2 or rest[0] not in VERBS or rest[1].startswith("-"):
        return None
    if values["log_format"] not in ("text", "json"):
        return None
    from bastion.runtime import lean

    action = lean.start if rest[0] == "start" else lean.delete
    try:
        return 0 if action(values["root"], rest[1]) else None
    except OSError as exc:  # past the point of no return: reported as the full path does
        from bastion.cli.runc.log import Log
        from bastion.cli.runc.main import report_os_error

        return report_os_error(Log(values["log"] or None, values["log_format"]), exc)
    except KeyboardInterrupt:
        return 130
