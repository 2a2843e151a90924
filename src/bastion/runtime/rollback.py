"""Undo steps for a sequence that makes things (docs/conventions.md §3), without contextlib (5 ms).

Each step that makes something pushes its undo; on failure the undos run newest first and the
original error is re-raised with any cleanup failure attached as a note, so nothing is left half
made and nothing is hidden.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Rollback:
    __slots__ = ("_undo",)

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, undo: Callable[[], object]) -> None:
        self._undo.append((what, undo))

    def commit(self) -> None:
        """The sequence succeeded: keep everything it made."""
        self._undo.clear()

    def unwind(self, error: BaseException) -> None:
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:
                error.add_note(f"while undoing {what}: {exc}")
