"""The in-container helper program `bst-helper`: its source, its build, and its output.

`helper.c` (next to this file) is a small static C program for the checks busybox cannot do
(capability sets, rlimits, open fds, the /proc/PID/exe overwrite attack, memory and pids limits).
Every subcommand prints `key=value` pairs separated by spaces, one record a line.
"""

from __future__ import annotations

import os
import re
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helper.c")

#: Where the helper sits inside the test image (and so inside a container).
PATH_IN_ROOTFS = "/usr/bin/bst-helper"

_PAIR = re.compile(r"([A-Za-z_][\w.]*)=(.*?)(?= [A-Za-z_][\w.]*=|$)")


def compile_helper(dest: str) -> None:
    """Compile `helper.c` into a static executable at `dest`; raise CalledProcessError."""
    subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", dest, SOURCE],
        check=True,
        capture_output=True,
        text=True,
    )


def parse_records(text: str) -> list[dict[str, str]]:
    """One dict per output line that holds `key=value` pairs (other lines are skipped).

    A value runs to the next ` key=` or the end of the line, so the last value of a line may
    hold spaces (`fd=3 target=/tmp/a b`).
    """
    records = []
    for line in text.splitlines():
        pairs = dict(_PAIR.findall(line.strip()))
        if pairs:
            records.append(pairs)
    return records


def parse(text: str) -> dict[str, str]:
    """All `key=value` pairs of the output in one dict (a later line wins on a repeated key)."""
    merged: dict[str, str] = {}
    for record in parse_records(text):
        merged.update(record)
    return merged
