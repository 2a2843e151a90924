"""bastion-runc list: the containers under --root, as a table, JSON, or ids only."""

from __future__ import annotations

import sys

from bastion.cli.runc.args import Option, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "list containers"
ARGUMENTS = ""
OPTIONS = [
    Option("--format,-f", "str", "table", "table or json", "FORMAT"),
    Option("--quiet,-q", "bool", help="print only the ids"),
]


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.jsonio import dumps
    from bastion.runtime.container import list_containers

    if positional:
        raise UsageError(f"list takes no arguments, got {positional}")
    if values["format"] not in ("table", "json"):
        raise UsageError(f"--format must be table or json, not {values['format']!r}")
    states = [c.state() for c in list_containers(ctx.root)]
    if values["quiet"]:
        sys.stdout.write("".join(f"{s['id']}\n" for s in states))
    elif values["format"] == "json":
        sys.stdout.write(dumps(states) + "\n")
    else:
        keys = ("id", "pid", "status", "bundle", "created", "owner")
        rows = [tuple(k.upper() for k in keys)]
        rows += [tuple(str(s[k]) for k in keys) for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            sys.stdout.write(
                "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
            )
    return 0
