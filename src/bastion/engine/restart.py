"""Restart policies (`--restart`), as Docker's restartmanager decides them.

- `no`: never restarted (the default).
- `on-failure[:N]`: restarted when it exits with a non-zero status, at most N times (no N:
  without limit).
- `always`, `unless-stopped`: restarted whatever its status. They differ in Docker only when the
  daemon starts (a stopped `always` container is started again); bastion has no daemon, so both
  behave alike here.

A container stopped by the user (`stop`, `kill`) is never restarted, whatever its policy, until
the user starts it again (which also resets its restart count, as `docker start`). Before each
restart the engine waits Docker's backoff: 100 ms doubled at each restart, at most a minute,
back to 100 ms when the container had run for 10 s or more.

Who restarts it: the monitor's exit command (`bastion cleanup ID`, see `Engine.cleanup`), since
there is no daemon. The decision is taken once, when the engine records the exit (`_sync`): the
record goes to `restarting` rather than `exited`, so anyone who sees `exited` knows no restart
is coming.
"""

from __future__ import annotations

from bastion._record import record
from bastion.engine.errors import InvalidOptionError

NAMES = ("no", "on-failure", "always", "unless-stopped")

#: Docker's restartmanager: the first delay, the cap, and the run time that resets it.
FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@record
class RestartPolicy:
    """`name` is one of `NAMES`; `maximum` is on-failure's N (0: no limit)."""

    name: str = "no"
    maximum: int = 0

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """`no`, `on-failure`, `on-failure:N`, `always`, `unless-stopped` (Docker's
        `ParseRestartPolicy`)."""
        name, sep, count = text.partition(":")
        if name not in NAMES:
            raise InvalidOptionError(
                f"invalid restart policy {text!r}",
                hint="use no, on-failure[:N], always or unless-stopped",
            )
        if sep and name != "on-failure":
            raise InvalidOptionError(
                f"invalid restart policy {text!r}: only on-failure takes a maximum retry count"
            )
        maximum = 0
        if sep:
            if not count.isdigit():
                raise InvalidOptionError(
                    f"invalid restart policy {text!r}: the maximum retry count must be a "
                    "number of 0 or more"
                )
            maximum = int(count)
        return cls(name=name, maximum=maximum)

    @classmethod
    def from_config(cls, saved: object) -> RestartPolicy:
        """The policy as a container's record keeps it (Docker's HostConfig.RestartPolicy)."""
        if not isinstance(saved, dict):
            return cls()
        return cls(
            name=str(saved.get("Name") or "no"),
            maximum=int(saved.get("MaximumRetryCount") or 0),
        )

    def document(self) -> dict[str, object]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum}

    @property
    def enabled(self) -> bool:
        return self.name != "no"

    def should_restart(self, exit_code: int, restart_count: int, stopped_by_user: bool) -> bool:
        """Whether a container that just ended with `exit_code`, after `restart_count`
        restarts by this policy, is restarted."""
        if stopped_by_user or not self.enabled:
            return False
        if self.name == "on-failure":
            if exit_code == 0:
                return False
            return self.maximum == 0 or restart_count < self.maximum
        return True


def backoff(restart_count: int, ran_for: float) -> float:
    """Seconds to wait before restart number `restart_count + 1` of a container that ran for
    `ran_for` seconds."""
    if ran_for >= RESET_AFTER:
        return FIRST_DELAY
    delay: float = FIRST_DELAY * 2 ** min(restart_count, 16)
    return min(MAX_DELAY, delay)
