"""`top`'s table: the host's `ps` (default `-ef`) cut down to the rows of a container's pids, as
`docker top` does: one implementation for the CLI's `bastion top` and the API's
`/containers/{id}/top`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence

from bastion.engine.errors import EngineError


def ps_table(pids: Iterable[int], options: Sequence[str] = ()) -> tuple[list[str], list[list[str]]]:
    """(titles, rows) of `ps OPTIONS` for the given pids; the last column keeps its spaces
    (CMD)."""
    wanted = set(pids)
    argv = ["ps", *(options or ["-ef"])]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EngineError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    lines = result.stdout.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise EngineError("ps's output has no PID column", hint="keep -o pid (or -ef)")
    column = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            rows.append(fields)
    return titles, rows
