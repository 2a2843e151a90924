"""Render ``bastion_events.h`` from the event table (events/schema.py): codes, parameter counts
and the probe's writer sequence for every event.

The header is checked in next to bastion.bpf.c (the C build needs no Python) and
tests/unit/sensor/test_event_schema.py checks that it equals `render()`. After editing
schema.py, regenerate it with ``python -m bastion.sensor.probe.header``.

Each live parameter's `write` token says how the probe writes it; `c_writes` expands the
tokens of an event into C statements, in the table's parameter order, so the order the probe
writes in is the table's by construction. Tokens:

- ``ret``: the syscall's return value (``p_s64(rp, ret)``)
- ``int(N)``: argument N as a C int, sign-extended (fds, pids, dirfds)
- ``str(N)``: argument N as a user-space string
- ``u8(N)``, ``u16(N)``, ``u32(N)``, ``u64(N)``, ``s32(N)``, ``s64(N)``: argument N as that integer
- ``+``: written by the C call of an earlier parameter (a helper that writes several)
- anything else: a C call, written as it is (``p_dev_ino(rp, ret)``)

In scope where the statements run: ``rp`` (the record), ``ret`` and ``a`` (the syscall's
return value and arguments) for syscall events; the scheduler programs provide their own names.
"""

from __future__ import annotations

import os
import re

from bastion.sensor.events.schema import EVENTS, EventSpec

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bastion_events.h")

_ARG = re.compile(r"(int|str|u8|u16|u32|u64|s32|s64)\((\d)\)")
_ARG_C = {
    "int": "p_s64(rp, (int)a->a[{n}])",
    "str": "p_ustr(rp, a->a[{n}])",
    "u8": "p_u8(rp, a->a[{n}])",
    "u16": "p_u16(rp, a->a[{n}])",
    "u32": "p_u32(rp, a->a[{n}])",
    "u64": "p_u64(rp, a->a[{n}])",
    "s32": "p_s32(rp, a->a[{n}])",
    "s64": "p_s64(rp, a->a[{n}])",
}


def c_writes(spec: EventSpec) -> list[str]:
    """The C statements that write `spec`'s parameters, in order (a ``+`` adds none)."""
    out: list[str] = []
    previous = ""
    for param in spec.params:
        token = param.write
        if not token:
            raise ValueError(f"{spec.name}.{param.name}: no write token")
        if token == "+":
            if not previous or previous == "ret" or _ARG.fullmatch(previous):
                raise ValueError(f"{spec.name}.{param.name}: '+' must follow a C call")
            continue
        previous = token
        if token == "ret":
            out.append("p_s64(rp, ret)")
        elif match := _ARG.fullmatch(token):
            out.append(_ARG_C[match[1]].format(n=match[2]))
        else:
            out.append(token)
    return out


def open_filter_events() -> list[EventSpec]:
    """The open-family events with a path and a flags parameter: those the probe's open
    filter may keep to itself (creat always writes)."""
    return [e for e in EVENTS if e.handler == "open" and "name" in e.specs and "flags" in e.specs]


def _open_path(spec: EventSpec) -> str:
    """The C expression of an open-family event's user path pointer: its ``str(N)`` argument."""
    match = _ARG.fullmatch(spec.params[spec.param_index("name")].write or "")
    if match is None or match[1] != "str":
        raise ValueError(f"{spec.name}.name: the open filter needs a str(N) write token")
    return f"a->a[{match[2]}]"


#: openat2's flags sit in the caller's struct open_how: the filter reads them itself.
_HOW = re.compile(r"p_open_how\(rp, a->a\[(\d)\]\)")


def _open_flags(spec: EventSpec) -> str:
    """The C expression of an open-family event's flags: a ``u32(N)`` argument, or openat2's
    ``open_how`` read by the probe's ``bst_how_flags``."""
    token = spec.params[spec.param_index("flags")].write or ""
    if (match := _ARG.fullmatch(token)) and match[1] == "u32":
        return f"(__u32)a->a[{match[2]}]"
    if match := _HOW.fullmatch(token):
        return f"bst_how_flags(a->a[{match[1]}])"
    raise ValueError(f"{spec.name}.flags: the open filter cannot read flags written by {token!r}")


def _close_fd(spec: EventSpec) -> str:
    """The C expression of the fd a close-family event closes: its ``int(N)`` argument (the
    probe checks it before building the record)."""
    match = _ARG.fullmatch(spec.params[spec.param_index("fd")].write or "")
    if match is None or match[1] != "int":
        raise ValueError(f"{spec.name}.fd: the close filter needs an int(N) write token")
    return f"(int)a->a[{match[2]}]"


def render() -> str:
    """The header's full text, derived only from the event table."""
    lines = [
        "// SPDX-License-Identifier: GPL-2.0",
        "// GENERATED from src/bastion/sensor/events/schema.py by",
        "// `python -m bastion.sensor.probe.header`: do not edit by hand.",
        "// BST_EVT_<NAME>: the event code in a record header; BST_NPARAMS_<NAME>: how many",
        "// parameters (length slots) its record carries; BST_WRITE_<NAME>: the statements that",
        "// write them, in schema.py's order (in scope: rp, and ret and a for syscall events).",
        "// BST_SYSCALL_EVENTS: BST_CASE(NAME) for every event a syscall's exit produces.",
        "// BST_OPEN_FILTER_EVENTS: BST_OPEN_CASE(NAME, path, flags) for the opens the",
        "// kernel-side open filter may keep (sensor/kernel_filter.py), path and flags the C",
        "// expressions of the user path pointer and the open flags (in scope: a);",
        "// BST_CLOSE_FILTER_EVENTS: BST_CLOSE_CASE(NAME, fd) for the closes it may keep, fd",
        "// the C expression of the closed fd (in scope: a), so it is checked before the record.",
        "#ifndef BASTION_EVENTS_H",
        "#define BASTION_EVENTS_H",
        "",
    ]
    for spec in EVENTS:
        name = spec.name.upper()
        lines.append(f"#define BST_EVT_{name} {spec.code}")
        lines.append(f"#define BST_NPARAMS_{name} {len(spec.params)}")
    lines += ["", f"#define BST_EVT_MAX {max(e.code for e in EVENTS) + 1}", ""]
    for spec in EVENTS:
        lines.append(f"#define BST_WRITE_{spec.name.upper()} \\")
        lines += [f"\t{statement}; \\" for statement in c_writes(spec)]
        lines.append("\tdo {} while (0)")
    lines += ["", "#define BST_SYSCALL_EVENTS \\"]
    lines += [f"\tBST_CASE({spec.name.upper()}) \\" for spec in EVENTS if spec.syscalls]
    lines += ["\t/* end of BST_SYSCALL_EVENTS */", ""]
    lines += ["#define BST_OPEN_FILTER_EVENTS \\"]
    lines += [
        f"\tBST_OPEN_CASE({spec.name.upper()}, {_open_path(spec)}, {_open_flags(spec)}) \\"
        for spec in open_filter_events()
    ]
    lines += ["\t/* end of BST_OPEN_FILTER_EVENTS */", ""]
    lines += ["#define BST_CLOSE_FILTER_EVENTS \\"]
    lines += [
        f"\tBST_CLOSE_CASE({spec.name.upper()}, {_close_fd(spec)}) \\"
        for spec in EVENTS
        if spec.handler == "close"
    ]
    lines += ["\t/* end of BST_CLOSE_FILTER_EVENTS */", "", "#endif", ""]
    return "\n".join(lines)


def main() -> None:
    with open(PATH, "w") as f:
        f.write(render())


if __name__ == "__main__":
    main()
