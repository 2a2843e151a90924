"""The scanner of Falco conditions: on-demand tokens at a cursor.

Falco's grammar is scannerless: what a piece of text is depends on where the parser stands
(``a=b`` is a field, an operator and a bare word; ``in`` ends a field but starts a bare word).
So the lexer is a `Scanner` whose methods each try one token class at the cursor, as libsinsp's
``lex_*`` helpers do, and return a `Token` (advancing) or None (not moving). The token regular
expressions are the ones of libsinsp ``filter/parser.h``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.sensor.rules.errors import ConditionSyntaxError

BLANKS = " \t\b\r\n"
NOT_BLANK = re.compile(r"not[ \t\b\r\n]+")
IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
FIELD_NAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
FIELD_ARG_BARE = re.compile(r"[^ \t\b\r\n\[\]\"']+")
HEX_NUMBER = re.compile(r"0[xX][0-9a-zA-Z]+")
NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
BARE_STR = re.compile(r"[^ \t\b\r\n(),=\"']+")

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
# Word operators must be followed by a blank (libsinsp spells them "glob " etc.).
STR_OPS = (
    "==",
    "=",
    "!=",
    "glob",
    "iglob",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "regex",
)
LIST_OPS = ("intersects", "in", "pmatch")
TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", " ": "\\", "\\": "\\", "/": "/"}


@dataclass(frozen=True, slots=True)
class Token:
    """`text` as it stands in the condition (quoted strings: unescaped), starting at `pos`."""

    text: str
    pos: int


class Scanner:
    """A cursor over a condition string with one method per token class."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def blank(self) -> bool:
        """Skip blanks; True if there were any."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in BLANKS:
            self.pos += 1
        return self.pos > start

    def literal(self, word: str) -> Token | None:
        """`word` exactly, at the cursor."""
        if self.text.startswith(word, self.pos):
            token = Token(word, self.pos)
            self.pos += len(word)
            return token
        return None

    def regex(self, pattern: re.Pattern[str]) -> Token | None:
        """The longest match of `pattern` at the cursor (patterns here are greedy)."""
        match = pattern.match(self.text, self.pos)
        if match is None or not match.group():
            return None
        self.pos = match.end()
        return Token(match.group(), match.start())

    def one_of(self, words: tuple[str, ...], *, blank_after: bool = False) -> Token | None:
        """The first of `words` at the cursor; alphabetic ones need a blank after them when
        `blank_after` (so ``containsx`` is no operator)."""
        for word in words:
            end = self.pos + len(word)
            if not self.text.startswith(word, self.pos):
                continue
            if (
                blank_after
                and word[0].isalpha()
                and (end >= len(self.text) or self.text[end] not in BLANKS)
            ):
                continue
            token = Token(word, self.pos)
            self.pos = end
            return token
        return None

    def transformer(self, names: tuple[str, ...]) -> Token | None:
        """``name(`` for one of `names`; the token text is the name alone."""
        for name in names:
            if self.text.startswith(name + "(", self.pos):
                token = Token(name, self.pos)
                self.pos += len(name) + 1
                return token
        return None

    def quoted(self) -> Token | None:
        """A single- or double-quoted string, unescaped with Falco's escapes.

        Raises `ConditionSyntaxError` on an unterminated string or an unknown escape.
        """
        if self.pos >= len(self.text) or self.text[self.pos] not in "\"'":
            return None
        start = self.pos
        delimiter = self.text[start]
        out: list[str] = []
        i = start + 1
        while i < len(self.text):
            c = self.text[i]
            if c == delimiter:
                self.pos = i + 1
                return Token("".join(out), start)
            if c != "\\":
                out.append(c)
                i += 1
                continue
            if i + 1 >= len(self.text):
                break
            e = self.text[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
            elif e == delimiter:
                out.append(e)
            else:
                raise ConditionSyntaxError(
                    f"unsupported escape sequence \\{e} in a {delimiter}-quoted string",
                    pos=i,
                    expected="one of \\b \\f \\n \\r \\t \\\\ \\/ or \\" + delimiter,
                )
            i += 2
        raise ConditionSyntaxError(
            "unterminated string",
            pos=start,
            expected=f"a closing {delimiter}",
            hint=f"close the string with {delimiter}, escaping inner ones as \\{delimiter}",
        )
