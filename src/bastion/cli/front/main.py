"""bastion entry point: a table of verbs, one module each under `commands/`.

The engine's verbs (images, containers, volumes, networks, the system) and the sensor's
(sensor, capture, events, watch, rules, fields, alerts). A verb whose module is absent is
skipped, so the table names the verbs being built. A `BastionError` is rendered once, here, and
exits with its `exit_code` (125 for the engine's, as Docker).

`--root` is the engine's root for the engine's verbs (`$BASTION_ROOT`, else /var/lib/bastion),
and bastion-runc's state directory for the sensor's verbs, as it always was for them (`bastion
--root R watch`); `--runtime-root` names bastion-runc's state directory for either (default
/run/bastion). The verbs read `args.engine_root` and `args.root` (the runtime's).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from bastion import __version__
from bastion.errors import BastionError
from bastion.identity import DEFAULT_STATE_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

# verb -> module under bastion.cli.front.commands (a trailing _ where the verb is a keyword)
COMMANDS: dict[str, str] = {
    # images
    "pull": "pull",
    "push": "push",
    "images": "images",
    "rmi": "rmi",
    "tag": "tag",
    "history": "history",
    "load": "load",
    "save": "save",
    "import": "import_",
    "login": "login",
    "logout": "logout",
    "image": "image",
    "build": "build",
    # containers
    "create": "create",
    "start": "start",
    "run": "run",
    "ps": "ps",
    "logs": "logs",
    "stop": "stop",
    "kill": "kill",
    "rm": "rm",
    "wait": "wait",
    "inspect": "inspect",
    "exec": "exec_",
    "attach": "attach",
    "restart": "restart",
    "pause": "pause",
    "unpause": "unpause",
    "stats": "stats",
    "top": "top",
    "dashboard": "dashboard",
    "cp": "cp",
    "export": "export",
    "update": "update",
    "rename": "rename",
    "port": "port",
    "container": "container",
    "audit": "audit",
    "cleanup": "cleanup",
    "healthcheck": "healthcheck",
    # volumes, networks, the engine as a whole
    "volume": "volume",
    "network": "network",
    "system": "system",
    "info": "info",
    "version": "version_",
    # the sensor
    "sensor": "sensor",
    "capture": "capture",
    "events": "events",
    "watch": "watch",
    "rules": "rules",
    "fields": "fields",
    "alerts": "alerts",
    "errors": "errors",
}


#: The verbs whose `--root` is bastion-runc's state directory, as it always was for them
#: (`bastion --root R watch`); every other verb's `--root` is the engine's root.
SENSOR_COMMANDS = frozenset(
    ["sensor", "capture", "events", "watch", "rules", "fields", "alerts", "errors"]
)
ENGINE_COMMANDS = frozenset(COMMANDS) - SENSOR_COMMANDS

#: Set by `main` for an engine verb: `run_and_exit` may skip the interpreter's teardown.
_exit_now = [False]
#: Set by `run_and_exit` (the lean launcher): the process ends with `os._exit` after an engine
#: verb, so the verb need not close what the exit drops anyway (`engine_args.open_engine`).
_quick_exit = [False]


def quick_exit() -> bool:
    """Whether this process ends with `os._exit` when the verb returns."""
    return _quick_exit[0] and _exit_now[0]


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, with the terminal's width read once per process: argparse makes a
    formatter for every `add_argument` (to check its metavar), and each one asked for the
    terminal's size (an ioctl and environment look-ups): 46 times for `run`'s options."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            if not _columns:
                _columns.append(_terminal_columns() - 2)  # argparse's own width
            width = _columns[0]
        super().__init__(prog, indent_increment, max_help_position, width)


_columns: list[int] = []


def _terminal_columns() -> int:
    """shutil.get_terminal_size's columns ($COLUMNS, else stdout's terminal, else 80), without
    importing shutil (its archive formats' bz2 and lzma: ~1-2 ms of every `bastion` call)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; when `argv` names a verb, only that verb's module is imported and only its
    sub-parser is made: importing every verb costs `bastion run` ~60 ms."""
    wanted = next((arg for arg in argv or () if arg in COMMANDS), None)
    parser = argparse.ArgumentParser(
        prog="bastion", description="containers, isolated and watched", formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    parser.add_argument(
        "--root",
        dest="given_root",
        default=None,
        help="engine verbs: the engine's root (default: $BASTION_ROOT or /var/lib/bastion); "
        "sensor verbs: bastion-runc's state directory",
    )
    parser.add_argument(
        "--runtime-root",
        default=None,
        help=f"bastion-runc's state directory (default: {DEFAULT_STATE_ROOT})",
    )
    parser.add_argument(
        "--cgroup-parent",
        default="/bastion",
        help="the cgroup containers are made under (default: /bastion)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb, name in COMMANDS.items():
        if wanted is not None and verb != wanted:
            continue  # a sub-parser per verb costs ~8 ms (argparse's gettext look-ups)
        verb_parser = add_verb(sub, verb, name)
        if verb_parser is not None:
            verb_parser.set_defaults(engine_verb=verb in ENGINE_COMMANDS)
    return parser


def add_verb(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], verb: str, name: str
) -> argparse.ArgumentParser | None:
    """The sub-parser of `verb`, configured by the module `name` under `commands/` (its `run`
    as `func`); None when that module is not there. The groups (`container`, `image`) add
    their sub-verbs with it too."""
    try:
        module = importlib.import_module(f"bastion.cli.front.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bastion.cli.front.commands.{name}":
            raise
        return None
    # `create`/`run` take Docker's -h (hostname): they add --help themselves
    add_help = getattr(module, "ADD_HELP", True)
    verb_parser = sub.add_parser(
        verb,
        help=module.HELP,
        description=module.HELP,
        add_help=add_help,
        formatter_class=_Formatter,
    )
    module.configure(verb_parser)
    verb_parser.set_defaults(func=module.run)
    return verb_parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    if args.engine_verb:
        _exit_now[0] = True
    if not gc.isenabled():
        # the lean launcher keeps the collector off through the interpreter's and the parser's
        # start-up (collections there free nothing); the verb runs with it on (long-lived
        # verbs: `watch`, `logs -f`, `stats`), past the frozen start-up objects: ~1 ms
        gc.freeze()
        gc.enable()
    if args.engine_verb:
        args.engine_root = args.given_root
        args.root = args.runtime_root or DEFAULT_STATE_ROOT
    else:
        args.engine_root = None
        args.root = args.given_root or args.runtime_root or DEFAULT_STATE_ROOT
    try:
        result: int = args.func(args)
    except BastionError as exc:
        sys.stderr.write(f"bastion: {exc.render()}\n")
        # `run`/`create` exit as `docker run` does: 125 for any failure of the engine's own
        # (an image that cannot be pulled too), the error's code for the command's 126/127
        status = getattr(sys.modules.get(args.func.__module__), "ERROR_STATUS", None)
        if status is not None and exc.exit_code not in (126, 127):
            return int(status)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return result


def run_and_exit() -> NoReturn:
    """The lean launcher's entry point (scripts/setup): `main()`, then exit at once.

    For the engine's verbs, skipping the interpreter's teardown (module finalisation) saves
    ~10 ms per call, as in bastion-runc; stdio is flushed first so nothing written is lost, and
    the verbs close what they opened (the engine's metadata) before `main` returns. The sensor's
    verbs (threads, outputs, atexit handlers) exit the ordinary way.
    """
    _quick_exit[0] = True
    code = main()
    if not _exit_now[0]:
        sys.exit(code)  # the sensor's verbs: their threads and outputs finish as usual
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    finally:
        os._exit(code)
