"""The Dockerfile's text: parser directives, lines, instructions, and the shell-like words of
their arguments with `$VAR` substitution (moby's buildkit/frontend/dockerfile/parser and
shell/lex.go, as the classic builder reads them).

- Parser directives (`# escape=\\``, `# syntax=...`) count only before the first instruction,
  comment or blank line; `escape` changes the line-continuation and quoting character.
- A line ending in the escape character continues on the next; comment lines and blank lines
  inside a continued instruction are dropped, as Docker does.
- `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`, `COPY`, `ADD` and `VOLUME` take a JSON array (the exec
  form) or plain text (the shell form); `--name=value` flags come first (`COPY --from=stage`).
- Substitution (`expand_words`): `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` (and
  their `-`/`+` forms without the colon); single quotes keep text literal, double quotes keep
  spaces; the escape character makes the next character literal. An unset variable is empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from bastion.engine.errors import DockerfileError

#: The instructions the classic builder runs.
INSTRUCTIONS = frozenset(
    [
        "FROM",
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "SHELL",
        "COPY",
        "ADD",
        "ENV",
        "ARG",
        "WORKDIR",
        "USER",
        "LABEL",
        "EXPOSE",
        "VOLUME",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "ONBUILD",
        "MAINTAINER",
    ]
)
#: The ones whose argument may be a JSON array (exec form).
JSON_FORMS = frozenset(["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"])
#: The `--flags` each instruction takes in the classic builder (BuildKit's `RUN --mount`,
#: `COPY --link`, ... are refused rather than ignored).
FLAGS = {
    "COPY": frozenset(["from", "chown"]),
    "ADD": frozenset(["chown"]),
    "FROM": frozenset(["platform"]),
    "RUN": frozenset(),
    "HEALTHCHECK": frozenset(["interval", "timeout", "start-period", "start-interval", "retries"]),
}

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(.*))?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    """One instruction: its keyword (upper case), its `--flags`, its argument text (flags
    removed) or JSON array, and the line it starts on (1-based) with its original text."""

    keyword: str
    text: str
    json: tuple[str, ...] | None = None
    flags: dict[str, str] = field(default_factory=dict)
    line: int = 0
    original: str = ""

    def __str__(self) -> str:
        return self.original


@dataclass(frozen=True, slots=True, kw_only=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    escape: str = "\\"


def parse(source: str, *, name: str = "Dockerfile") -> Dockerfile:
    """The instructions of the Dockerfile text `source`; `DockerfileError` (naming the file
    and the line) for an unknown instruction or a malformed one."""
    lines = source.splitlines()
    escape, first = _directives(lines, name)
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines[first:], start=first + 1):
        stripped = raw.strip()
        if not pending:
            if not stripped or stripped.startswith("#"):
                continue
            start = number
        elif not stripped or stripped.startswith("#"):
            continue  # inside a continued instruction: comments and blank lines drop out
        body = raw.rstrip()
        if body.endswith(escape) and not body.endswith(escape * 2):
            pending.append(body[:-1])
            continue
        pending.append(body)
        instructions.append(_instruction(" ".join(p.strip() for p in pending), start, name))
        pending = []
    if pending:  # a continuation at the end of the file: moby takes what there is
        instructions.append(_instruction(" ".join(p.strip() for p in pending), start, name))
    if not instructions:
        raise DockerfileError(f"{name} has no instructions", where=name)
    return Dockerfile(instructions=tuple(instructions), escape=escape)


def _directives(lines: list[str], name: str) -> tuple[str, int]:
    escape, seen = "\\", set()
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            return escape, index
        key, value = match.group(1).lower(), match.group(2)
        if key in seen:
            raise DockerfileError(
                f"the parser directive {key!r} is given twice", where=f"{name}:{index + 1}"
            )
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(
                    f"invalid escape character {value!r}",
                    where=f"{name}:{index + 1}",
                    hint="write # escape=\\ or # escape=`",
                )
            escape = value
        elif key != "syntax":
            return escape, index  # an unknown directive is an ordinary comment
    return escape, len(lines)


def _instruction(text: str, line: int, name: str) -> Instruction:
    keyword, _, rest = text.strip().partition(" ")
    keyword = keyword.upper()
    where = f"{name}:{line}"
    if keyword not in INSTRUCTIONS:
        raise DockerfileError(
            f"unknown instruction: {keyword}",
            where=where,
            hint=f"use one of {', '.join(sorted(INSTRUCTIONS))}",
        )
    rest = rest.strip()
    flags: dict[str, str] = {}
    if keyword in FLAGS:
        while rest.startswith("--"):
            word, _, after = rest.partition(" ")
            match = _FLAG.match(word)
            if match is None:
                raise DockerfileError(f"malformed flag {word!r} in {keyword}", where=where)
            flag = match.group(1).lower()
            if flag not in FLAGS[keyword]:
                allowed = ", ".join(f"--{f}" for f in sorted(FLAGS[keyword])) or "none"
                raise DockerfileError(
                    f"{keyword} --{flag} is not supported by the classic builder",
                    where=where,
                    hint=f"{keyword} takes: {allowed}",
                )
            flags[flag] = match.group(2) or ""
            rest = after.strip()
    parsed: tuple[str, ...] | None = None
    if keyword in JSON_FORMS and rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None  # not JSON: the shell form, as Docker falls back
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            parsed = tuple(value)
    if not rest and keyword not in ("RUN", "CMD", "ENTRYPOINT"):
        raise DockerfileError(f"{keyword} requires at least one argument", where=where)
    return Instruction(
        keyword=keyword, text=rest, json=parsed, flags=flags, line=line, original=text.strip()
    )


# -- words and substitution ------------------------------------------------------------------


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """`text` split into words as the builder's shell lexer does: quotes removed, `$VAR`
    substituted (see the module docstring); whitespace outside quotes separates words."""
    return _Lexer(text, env, escape).words()


def expand_word(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """`text` as one word: substituted and unquoted, its whitespace kept."""
    return _Lexer(text, env, escape).words(split=False)[0]


class _Lexer:
    def __init__(self, text: str, env: dict[str, str], escape: str) -> None:
        self.text, self.env, self.escape = text, env, escape
        self.pos = 0

    def words(self, *, split: bool = True) -> list[str]:
        words: list[str] = []
        current: list[str] = []
        started = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if split and char.isspace():
                if started:
                    words.append("".join(current))
                    current, started = [], False
                self.pos += 1
                continue
            started = True
            if char == "'":
                current.append(self._single_quoted())
            elif char == '"':
                current.append(self._double_quoted())
            elif char == self.escape:
                self.pos += 1
                if self.pos < len(self.text):
                    current.append(self.text[self.pos])
                    self.pos += 1
            elif char == "$":
                value = self._variable()
                if not split:
                    current.append(value)
                    continue
                # an unquoted expansion is split on whitespace, as moby's ProcessWords does
                pieces = value.split()
                if value[:1].isspace() and current:
                    words.append("".join(current))
                    current = []
                for index, piece in enumerate(pieces):
                    if index:
                        words.append("".join(current))
                        current = []
                    current.append(piece)
                if value[-1:].isspace() and current:
                    words.append("".join(current))
                    current, started = [], False
            else:
                current.append(char)
                self.pos += 1
        if started or not split:
            words.append("".join(current))
        return words

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise DockerfileError(f"unmatched ' in {self.text!r}")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == self.escape and self.pos + 1 < len(self.text):
                following = self.text[self.pos + 1]
                if following in ('"', "$", self.escape):
                    out.append(following)
                    self.pos += 2
                    continue
                out.append(char)
                self.pos += 1
            elif char == "$":
                out.append(self._variable())
            else:
                out.append(char)
                self.pos += 1
        raise DockerfileError(f'unmatched " in {self.text!r}')

    def _variable(self) -> str:
        text = self.text
        self.pos += 1  # the $
        if self.pos >= len(text):
            return "$"
        if text[self.pos] == "{":
            end = _closing_brace(text, self.pos)
            if end < 0:
                raise DockerfileError(f"missing '}}' in {text!r}")
            inner = text[self.pos + 1 : end]
            self.pos = end + 1
            return self._braced(inner)
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[self.pos :])
        if match is None:
            return "$"
        self.pos += match.end()
        return self.env.get(match.group(0), "")

    def _braced(self, inner: str) -> str:
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-+])?(.*)$", inner, re.DOTALL)
        if match is None:
            raise DockerfileError(f"bad substitution ${{{inner}}}")
        name, operator, word = match.groups()
        if operator is None:
            if word:
                raise DockerfileError(f"unsupported modifier in ${{{inner}}}")
            return self.env.get(name, "")
        value = self.env.get(name)
        # `:-` and `:+` test set-and-non-empty; `-` and `+` test only set
        present = bool(value) if operator.startswith(":") else value is not None
        alternative = expand_word(word, self.env, self.escape)
        if operator.endswith("-"):
            return value if present and value is not None else alternative
        return alternative if present else ""


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def key_values(
    text: str, env: dict[str, str], escape: str, *, keyword: str
) -> list[tuple[str, str | None]]:
    """`ENV`/`LABEL`/`ARG`'s pairs: `K=V K2="v 2"`, or the old one-pair form `K value with
    spaces` (ENV and LABEL only); an `ARG NAME` without a default has the value None."""
    words = expand_words(text, env, escape)
    if keyword != "ARG" and words and "=" not in words[0]:
        name, _, value = text.strip().partition(" ")
        return [(name, expand_word(value.strip(), env, escape) if value.strip() else "")]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, value = word.partition("=")
        if not name or (not sep and keyword != "ARG"):
            raise DockerfileError(
                f"{keyword} expects NAME=VALUE pairs, got {word!r}",
                hint=f'write {keyword} NAME=VALUE (quote a value with spaces: NAME="a b")',
            )
        pairs.append((name, value if sep else None))
    return pairs
