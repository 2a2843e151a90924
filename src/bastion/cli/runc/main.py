"""bastion-runc entry point: global flags, the lazy command table, and the one error renderer."""

from __future__ import annotations

import os
import sys

from bastion.cli.runc.args import Option, UsageError, parse, usage
from bastion.cli.runc.log import Log
from bastion.errors import BastionError, ExitCode
from bastion.identity import DEFAULT_STATE_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

# verb -> module under bastion.cli.runc.commands; imported only when called
# (docs/conventions.md §13).
COMMANDS: dict[str, str] = {
    "create": "create",
    "start": "start",
    "run": "run",
    "exec": "exec",
    "state": "state",
    "kill": "kill",
    "delete": "delete",
    "list": "list_",
    "spec": "spec",
    "features": "features",
    "pause": "pause",
    "resume": "resume",
    "update": "update",
    "events": "events",
    "ps": "ps",
}

GLOBAL_OPTIONS = [
    Option("--root", "str", DEFAULT_STATE_ROOT, "directory for container state", "DIR"),
    Option("--log", "str", None, "log file (default: stderr)", "FILE"),
    Option("--log-format", "str", "text", "text or json", "FORMAT"),
    Option("--debug", "bool", help="log debug messages"),
    Option("--systemd-cgroup", "bool", help="accepted for compatibility; not supported"),
    Option("--rootless", "str", None, "accepted for compatibility (auto, true, false)"),
    Option("--criu", "str", None, "accepted for compatibility; checkpointing is not supported"),
    Option("--help,-h", "bool", help="show help"),
    Option("--version,-v", "bool", help="show the version"),
]


class Context:
    """Global options, as every command sees them."""

    __slots__ = ("debug", "log", "root", "systemd_cgroup")

    def __init__(self, values: dict[str, Any]) -> None:
        self.root: str = values["root"]
        self.debug: bool = values["debug"]
        self.systemd_cgroup: bool = values["systemd_cgroup"]
        self.log = Log(values["log"], values["log_format"], values["debug"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = Log(None)
    try:
        values, rest = parse(argv, GLOBAL_OPTIONS, stop_at_positional=True)
        if values["log_format"] not in ("text", "json"):
            raise UsageError(f"--log-format must be text or json, not {values['log_format']!r}")
        ctx = Context(values)
        log = ctx.log
        if values["version"]:
            from bastion import __version__

            sys.stdout.write(f"bastion-runc version {__version__}\nspec: 1.1.0\n")
            return ExitCode.OK
        if values["help"] or not rest:
            sys.stdout.write(_help())
            return ExitCode.OK if values["help"] else ExitCode.USAGE
        verb, args = rest[0], rest[1:]
        if verb not in COMMANDS:
            raise UsageError(f"unknown command {verb!r}", hint="run bastion-runc --help")
        module = __import__(f"bastion.cli.runc.commands.{COMMANDS[verb]}", fromlist=["run"])
        opts: list[Option] = [*module.OPTIONS, Option("--help,-h", "bool", help="show help")]
        # exec's command line is the container's: options end at the first argument (runc's
        # SkipArgReorder), so `exec ID sh -c CMD` keeps its `-c`.
        stop = getattr(module, "STOP_AT_POSITIONAL", False)
        cmd_values, positional = parse(args, opts, stop_at_positional=stop)
        if cmd_values.pop("help"):
            sys.stdout.write(usage(verb, module.SUMMARY, module.ARGUMENTS, module.OPTIONS) + "\n")
            return ExitCode.OK
        result: int = module.run(ctx, cmd_values, positional)
        return result
    except BastionError as exc:
        log.error(exc.render(), reference=exc.reference)
        return exc.exit_code
    except OSError as exc:
        return report_os_error(log, exc)
    except KeyboardInterrupt:
        return 130


def report_os_error(log: Log, exc: OSError) -> int:
    """An OSError no library turned into a BastionError: logged as one (`os-error`)."""
    unexpected = BastionError(str(exc), reference="os-error")
    log.error(unexpected.render(), reference=unexpected.reference)
    return ExitCode.FAILURE


def run_and_exit() -> NoReturn:
    """The console entry point: `main()`, then exit at once.

    Skipping the interpreter's teardown (module and ctypes finalisation) saves about 10 ms per
    call here; stdio is flushed first so nothing written is lost.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _help() -> str:
    lines = [
        "usage: bastion-runc [global options] COMMAND [options] [arguments]",
        "",
        "An OCI runtime with runc's command line.",
        "",
        "commands:",
    ]
    lines += [f"  {verb}" for verb in COMMANDS]
    lines += ["", "global options:"]
    for opt in GLOBAL_OPTIONS:
        names = ", ".join(opt.names) + ("" if opt.kind == "bool" else f" {opt.metavar}")
        lines.append(f"  {names:<28} {opt.help}")
    return "\n".join(lines) + "\n"


def require_id(positional: list[str], command: str, extra: int = 0) -> str:
    """The container id argument (runc: exactly one, plus `extra` optional ones)."""
    if not positional:
        raise UsageError(f"{command} needs a container id", hint=f"bastion-runc {command} ID")
    if len(positional) > 1 + extra:
        raise UsageError(f"{command}: unexpected arguments {positional[1 + extra :]}")
    return positional[0]
