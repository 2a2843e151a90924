"""A small option parser with urfave/cli's conventions (what runc uses), instead of argparse.

Why not argparse: it costs 10 ms to import here (re, gettext), most of a runc-sized budget.
Accepted forms: `--name value`, `--name=value`, `-n value`, `-nvalue` for options with values;
`--flag`, `-f`, `--flag=true|false` for booleans; `--` ends options. Go's flag package also
accepts a single dash for long names (`-bundle`), so do we.
"""

from __future__ import annotations

from bastion.errors import BastionError, ExitCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class UsageError(BastionError):
    """The command line does not fit the command's options or arguments."""

    reference = "usage"
    exit_code = ExitCode.USAGE


class Option:
    __slots__ = ("default", "help", "kind", "metavar", "names", "repeat")

    def __init__(
        self,
        names: str,
        kind: str = "bool",
        default: Any = None,
        help: str = "",
        metavar: str = "VALUE",
        repeat: bool = False,
    ) -> None:
        self.names = tuple(names.split(","))
        self.kind = kind  # "bool", "str", "int"
        self.default: Any = (
            default
            if default is not None
            else ([] if repeat else (False if kind == "bool" else None))
        )
        self.help = help
        self.metavar = metavar
        self.repeat = repeat

    @property
    def key(self) -> str:
        return self.names[0].lstrip("-").replace("-", "_")


def parse(
    argv: list[str], options: list[Option], *, stop_at_positional: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Parse `argv`; returns (values by key, positional arguments)."""
    by_name: dict[str, Option] = {}
    for declared in options:
        for name in declared.names:
            by_name[name] = declared
            if name.startswith("--"):
                by_name[name[1:]] = declared  # Go style single-dash long name
    values: dict[str, Any] = {o.key: (list(o.default) if o.repeat else o.default) for o in options}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            if stop_at_positional:
                positional.extend(argv[i:])
                break
            continue
        name, eq, inline = arg.partition("=")
        opt = by_name.get(name)
        if opt is None and not eq and len(arg) > 2 and arg[1] != "-" and arg[:2] in by_name:
            opt, name, inline, eq = by_name[arg[:2]], arg[:2], arg[2:], "="
        if opt is None:
            raise UsageError(f"unknown option {name}", hint="see --help")
        if opt.kind == "bool":
            if eq and inline not in ("true", "false", "1", "0"):
                raise UsageError(f"option {name} takes true or false, not {inline!r}")
            value: Any = (inline in ("true", "1")) if eq else True
        else:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"option {name} needs a value")
                inline = argv[i]
                i += 1
            value = inline
            if opt.kind == "int":
                try:
                    value = int(inline)
                except ValueError:
                    raise UsageError(f"option {name} needs an integer, not {inline!r}") from None
        if opt.repeat:
            values[opt.key].append(value)
        else:
            values[opt.key] = value
    return values, positional


def usage(command: str, summary: str, arguments: str, options: list[Option]) -> str:
    lines = [f"usage: bastion-runc {command} [options] {arguments}".rstrip(), "", summary, ""]
    if options:
        lines.append("options:")
        for opt in options:
            names = ", ".join(opt.names)
            if opt.kind != "bool":
                names += f" {opt.metavar}"
            lines.append(f"  {names:<28} {opt.help}")
    return "\n".join(lines)
