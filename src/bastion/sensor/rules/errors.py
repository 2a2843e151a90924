"""Errors of the Falco rules engine that carry a position inside a condition string."""

from __future__ import annotations

from bastion.errors import BastionError


class ConditionSyntaxError(BastionError):
    """Raised by `parse_condition` when a condition does not follow Falco's grammar.

    `pos` is the 0-based offset of the offending character in the condition string and `expected`
    says what the parser wanted there. The rules loader adds the YAML file:line:col of the
    condition as `where` and prints `caret(condition)` under its message.
    """

    reference = "rule-condition-syntax"

    def __init__(
        self,
        message: str,
        *,
        pos: int,
        expected: str,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.pos = pos
        self.expected = expected

    def line_col(self, condition: str) -> tuple[int, int]:
        """1-based line and column of `pos` inside `condition` (conditions span YAML lines)."""
        pos = min(max(self.pos, 0), len(condition))
        line = condition.count("\n", 0, pos) + 1
        start = condition.rfind("\n", 0, pos) + 1
        return line, pos - start + 1

    def caret(self, condition: str) -> str:
        """The line of `condition` holding `pos`, then a line with `^` under its column.

        Tabs before the column are kept in the caret line so that the caret lines up in a
        terminal; a position at the end of the condition puts the caret just past the last
        character.
        """
        pos = min(max(self.pos, 0), len(condition))
        start = condition.rfind("\n", 0, pos) + 1
        end = condition.find("\n", pos)
        if end < 0:
            end = len(condition)
        line = condition[start:end].rstrip("\r")
        pad = "".join("\t" if c == "\t" else " " for c in condition[start:pos])
        return f"{line}\n{pad}^"
