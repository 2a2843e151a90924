"""`bastion watch` as a process for the live tests: started, waited for until its probe is
attached, stopped with SIGINT, its JSON alerts and its statistics read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")


class Watch:
    """A running `bastion --root ROOT watch -o json ARGS`; `stop()` ends it with SIGINT and
    returns (alerts, stats). `env` is added to the test's environment."""

    def __init__(self, root: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        argv = [BASTION, "--root", root, "watch", "-o", "json", *args]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.head: list[str] = []
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # until the probe is attached
            self.head.append(line)
            if line.startswith("bastion: watching"):
                return
        self.proc.wait()
        raise AssertionError(f"watch exited {self.proc.returncode}: {''.join(self.head)}")

    def stop(self, timeout: float = 30) -> tuple[list[dict[str, Any]], dict[str, str]]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, "".join(self.head) + err
        alerts = [json.loads(line) for line in out.splitlines() if line.strip()]
        return alerts, statistics(err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def statistics(stderr: str) -> dict[str, str]:
    """The `statistics:` block of watch's stderr as {label: value}."""
    lines = stderr.splitlines()
    assert "statistics:" in lines, stderr
    block = lines[lines.index("statistics:") + 1 :]
    found = {}
    for line in block:
        if not line.startswith("  "):
            break
        label, _, value = line.strip().rpartition("  ")
        found[label.strip()] = value.strip()
    return found
