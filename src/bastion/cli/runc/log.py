"""runc's --log / --log-format: what containerd and Podman read when a runtime call fails.

With `--log FILE --log-format json` each line is `{"level": ..., "msg": ..., "time": ...}` as
runc's logrus writes; errors also go to stderr, as runc does. No `logging` import: 6 ms.

An error's line also carries its code as a `reference` field, as logrus adds a field: containerd
and Podman decode `level` and `msg` (Go's encoding/json ignores the other keys), so `msg` stays
the one rendered error line (`error[CODE]: ...`) they show to their users. The text format, which
no client parses, is unchanged.
"""

from __future__ import annotations

import os
import sys
import time

from bastion import jsonio


class Log:
    __slots__ = ("debug_enabled", "fmt", "path")

    def __init__(self, path: str | None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt
        self.debug_enabled = debug

    def write(self, level: str, msg: str, reference: str | None = None) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            entry = {"level": level, "msg": msg, "time": now}
            if reference is not None:
                entry["reference"] = reference
            line = jsonio.dumps(entry)
        else:
            line = f'time="{now}" level={level} msg="{msg}"'
        if self.path:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        elif level != "error":
            sys.stderr.write(line + "\n")

    def error(self, msg: str, reference: str | None = None) -> None:
        self.write("error", msg, reference)
        sys.stderr.write(msg + "\n")

    def warning(self, msg: str) -> None:
        self.write("warning", msg)
        if self.path:
            sys.stderr.write(msg + "\n")

    def debug(self, msg: str) -> None:
        if self.debug_enabled:
            self.write("debug", msg)
