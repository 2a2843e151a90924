"""bastion-runc spec: write a default config.json, like `runc spec`."""

from __future__ import annotations

import os

from bastion.cli.runc.args import Option, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "write a default config.json into the bundle directory"
ARGUMENTS = ""
OPTIONS = [
    Option("--bundle,-b", "str", ".", "where to write config.json", "DIR"),
    Option("--rootless", "bool", help="a config for a rootless container (user namespace)"),
]


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.jsonio import dumps
    from bastion.oci.defaults import default_spec

    path = os.path.join(values["bundle"], "config.json")
    if os.path.exists(path):
        raise UsageError(f"{path} already exists", hint="remove it first", reference="spec-exists")
    text = dumps(default_spec(rootless=values["rootless"]), indent=2) + "\n"
    with open(path, "x") as f:
        f.write(text)
    return 0
