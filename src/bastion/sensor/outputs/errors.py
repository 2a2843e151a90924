"""Errors of the alert outputs: bad output options and an unusable alert store."""

from __future__ import annotations

from bastion.errors import BastionError, ExitCode
from bastion.sensor.outputs.alert import PRIORITIES


class OutputConfigError(BastionError):
    """Raised when an output cannot be built from its options (a malformed webhook URL, a
    Prometheus port that cannot be bound, an unknown format): before any alert flows."""

    reference = "output-config"
    exit_code = ExitCode.INVALID_INPUT


class UnknownPriorityError(BastionError):
    """Raised for a priority name that is not one of Falco's eight (`PRIORITIES`)."""

    reference = "unknown-priority"
    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, name: str, *, where: str | None = None) -> None:
        super().__init__(
            f"unknown priority {name!r}",
            where=where,
            hint="use one of " + ", ".join(PRIORITIES) + " (case-insensitive; 'info' too)",
        )
        self.name = name


class AlertStoreError(BastionError):
    """Raised when the SQLite alert store cannot be opened, created or read; `where` is its
    path."""

    reference = "alert-store"


class AlertStoreMissingError(AlertStoreError):
    """Raised when a reader opens an alert store that does not exist (nothing was stored yet,
    or the path is wrong)."""

    reference = "alert-store-missing"
    exit_code = ExitCode.NOT_FOUND
