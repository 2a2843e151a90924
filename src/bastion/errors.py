"""The one error root of bastion, rendered once by each CLI (docs/conventions.md §8).

Every package raises subclasses of `BastionError`; each subclass says in its docstring when it is
raised. Tests assert on `reference` and the fields, never on message text. This module imports
nothing heavy: it is on bastion-runc's start-up path.
"""

from __future__ import annotations


class ExitCode:
    """Process exit statuses of the CLIs (a plain class: `enum` costs 7 ms to import here)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    INVALID_STATE = 4
    INVALID_INPUT = 5


class BastionError(Exception):
    """Root of every error bastion raises on purpose.

    `reference` is a stable kebab-case name, `message` says what went wrong, `where` where
    (a path, a JSON path such as ``linux.resources.memory.limit`` or ``file:line:col``) and `hint`
    how to fix it.
    """

    reference = "bastion-error"
    exit_code = ExitCode.FAILURE

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        reference: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        if reference is not None:
            self.reference = reference

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def render(self) -> str:
        """One line for a terminal or a log: reference, where, what and how to fix."""
        return f"error[{self.reference}]: {self}"
