"""Render ``bastion_events.h``: the event codes and parameter counts of events/schema.py for C.

The header is checked in next to bastion.bpf.c (the C build needs no Python) and
tests/unit/sensor/test_event_schema.py checks that it equals `render()`. After editing
schema.py, regenerate it with ``python -m bastion.sensor.probe.header``.
"""

from __future__ import annotations

import os

from bastion.sensor.events.schema import EVENTS

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bastion_events.h")


def render() -> str:
    """The header's full text, derived only from the event table."""
    lines = [
        "// SPDX-License-Identifier: GPL-2.0",
        "// GENERATED from src/bastion/sensor/events/schema.py by",
        "// `python -m bastion.sensor.probe.header`: do not edit by hand.",
        "// BST_EVT_<NAME>: the event code in a record header; BST_NPARAMS_<NAME>: how many",
        "// parameters (length slots) its record carries, in schema.py's order.",
        "#ifndef BASTION_EVENTS_H",
        "#define BASTION_EVENTS_H",
        "",
    ]
    for spec in EVENTS:
        name = spec.name.upper()
        lines.append(f"#define BST_EVT_{name} {spec.code}")
        lines.append(f"#define BST_NPARAMS_{name} {len(spec.params)}")
    lines += ["", f"#define BST_EVT_MAX {max(e.code for e in EVENTS) + 1}", "", "#endif", ""]
    return "\n".join(lines)


def main() -> None:
    with open(PATH, "w") as f:
        f.write(render())


if __name__ == "__main__":
    main()
