"""Falco's output formatting: a rule's ``output`` compiled once into a renderer.

Syntax, as libsinsp ``sinsp_evt_formatter::set_format`` reads it:

- ``%FIELD`` substitutes a field: ``%proc.name``, ``%proc.aname[2]``, ``%evt.arg.flags``,
  ``%tolower(proc.name)``. The field ends where the condition grammar's field name ends
  (``[a-zA-Z][a-zA-Z0-9_]*`` parts joined by dots, then an optional ``[arg]``), so
  ``(%proc.name)`` and ``%fd.name"`` work; if that longest name is not a field, shorter ones
  are tried (``%proc.name.`` is ``proc.name`` followed by a dot), and if none is, the format is
  an error naming the field.
- ``%NNFIELD`` pads the value with spaces, or cuts it, to exactly NN characters.
- A leading ``*`` is dropped: libsinsp then prints ``<NA>`` for unreadable values, which is
  what Falco does for every rule output, so it is always the behaviour here.
- A ``%`` with nothing after it is an error; there is no ``%%`` escape in Falco.

The renderer returns the text and ``output_fields``: each substituted field by its name as
written (``proc.aname[2]``) with its value in JSON-friendly form, None when unreadable. For a
transformed field the inner field is listed, not the transformed value (libsinsp does not
resolve transformed fields for output_fields by default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from bastion.errors import BastionError
from bastion.sensor.rules import lexer
from bastion.sensor.rules.compiler import FieldTable, Getter
from bastion.sensor.rules.errors import ConditionSyntaxError
from bastion.sensor.rules.ops import MISSING, MULTI, TRANSFORMERS, to_text

NA = "<NA>"
_BLANKS = lexer.BLANKS


class OutputFormatError(BastionError):
    """Raised by `compile_output` for an output string that cannot be compiled.

    References: ``output-unknown-field`` (`name` is the text after ``%``),
    ``output-format-syntax`` (a ``%`` at the end, a width with no field).
    """

    reference = "output-format"

    def __init__(self, message: str, *, reference: str, name: str = "") -> None:
        super().__init__(message, reference=reference, hint="see `bastion fields` for field names")
        self.name = name


@dataclass(frozen=True, slots=True)
class _Ref:
    """A parsed ``%`` token: its name as written, the getter, and inner fields to list."""

    key: str
    getter: Getter
    listed: tuple[tuple[str, Getter], ...]


def json_value(value: object) -> object:
    """A field value as output_fields holds it: None when unreadable, JSON types otherwise."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return to_text(value)
    if isinstance(value, MULTI) and not hasattr(value, "any_of"):
        return [json_value(v) for v in value]
    return str(value)


def text_value(value: object) -> str:
    """A field value as the text line prints it (``<NA>`` when unreadable)."""
    if value is MISSING or value is None:
        return NA
    if isinstance(value, MULTI) and not hasattr(value, "any_of"):
        return "(" + ",".join(text_value(v) for v in value) + ")"
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return to_text(value)


class _Scanner:
    """Reads one field expression of the output at `pos`, within `text[:limit]`."""

    def __init__(self, text: str, pos: int, limit: int, fields: FieldTable) -> None:
        self.scan = lexer.Scanner(text[:limit])
        self.scan.pos = pos
        self.fields = fields
        self.unknown = ""

    def expr(self) -> _Ref | None:
        start = self.scan.pos
        tr = self.scan.transformer(lexer.TRANSFORMERS)
        if tr is None:
            return self.field()
        self.scan.blank()
        inner = self.expr()
        if inner is None:
            return None
        self.scan.blank()
        if self.scan.literal(")") is None:
            return None
        fn = TRANSFORMERS[tr.text]
        get = inner.getter
        key = self.scan.text[start : self.scan.pos]
        return _Ref(key, _transformed(get, fn), inner.listed)

    def field(self) -> _Ref | None:
        token = self.scan.regex(lexer.FIELD_NAME)
        if token is None:
            return None
        arg: str | None = None
        if self.scan.literal("[") is not None:
            try:
                arg_token = self.scan.quoted() or self.scan.regex(lexer.FIELD_ARG_BARE)
            except ConditionSyntaxError:
                return None
            if arg_token is None or self.scan.literal("]") is None:
                return None
            arg = arg_token.text
        get = self.fields.resolve(token.text, arg)
        key = token.text if arg is None else f"{token.text}[{arg}]"
        if get is None:
            self.unknown = key
            return None
        return _Ref(key, get, ((key, get),))


def _transformed(get: Getter, fn: Callable[[object], object]) -> Getter:
    return lambda evt: fn(get(evt))


def _parse_field(text: str, pos: int, fields: FieldTable) -> tuple[_Ref, int]:
    """The longest field expression at `pos` that resolves, and where it ends (libsinsp
    shrinks the candidate text one character at a time until one compiles)."""
    limit = len(text)
    first_unknown = ""
    while limit > pos:
        scanner = _Scanner(text, pos, limit, fields)
        ref = scanner.expr()
        if ref is not None:
            return ref, scanner.scan.pos
        first_unknown = first_unknown or scanner.unknown
        if scanner.scan.pos <= pos:
            break
        # the text past where the scanner stopped did not matter: cut just before that point
        limit = scanner.scan.pos - 1
    shown = first_unknown or text[pos : pos + 30].split(" ", 1)[0] or "(nothing)"
    raise OutputFormatError(
        f"unknown field {shown!r} in output at offset {pos}",
        reference="output-unknown-field",
        name=shown,
    )


Piece = str | tuple[Getter, int]


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """A compiled output string: call it on an event for ``(text, output_fields)``."""

    source: str
    pieces: tuple[Piece, ...]
    listed: tuple[tuple[str, Getter], ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.listed)

    def __call__(self, evt: object) -> tuple[str, dict[str, object]]:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            get, width = piece
            text = text_value(get(evt))
            out.append(text[:width].ljust(width) if width else text)
        return "".join(out), {name: json_value(get(evt)) for name, get in self.listed}


# What Falco's engine pastes for %container.info when nothing else is asked for.
DEFAULT_CONTAINER_INFO = "container_id=%container.id container_name=%container.name"
# Falco's -pc / -pcontainer preset.
CONTAINER_PRESETS = {
    "c": "container_id=%container.id container_image=%container.image.repository "
    "container_image_tag=%container.image.tag container_name=%container.name",
}
CONTAINER_PRESETS["container"] = CONTAINER_PRESETS["c"]
CONTAINER_INFO = "%container.info"


def expand_container_info(output: str, info: str | None) -> str:
    """A rule output with Falco's ``%container.info`` substitution done.

    ``%container.info`` becomes `info` (``c``/``container`` name Falco's ``-pc`` preset), or
    Falco's default when `info` is None. As Falco's ``-p`` does, a given `info` is appended to
    an output that has no ``%container.info``.
    """
    text = DEFAULT_CONTAINER_INFO if info is None else CONTAINER_PRESETS.get(info, info)
    if CONTAINER_INFO in output:
        return output.replace(CONTAINER_INFO, text)
    return output if info is None else f"{output} {text}"


def compile_output(fmt: str, fields: FieldTable) -> OutputFormat:
    """Compile `fmt` once; raises `OutputFormatError` naming a field no table knows."""
    text = fmt[1:] if fmt.startswith("*") else fmt
    pieces: list[Piece] = []
    listed: dict[str, Getter] = {}
    literal_start = 0
    i = 0
    while i < len(text):
        if text[i] != "%":
            i += 1
            continue
        if i > literal_start:
            pieces.append(text[literal_start:i])
        j = i + 1
        if j >= len(text):
            raise OutputFormatError(
                "an output cannot end with '%'", reference="output-format-syntax", name="%"
            )
        while j < len(text) and text[j].isdigit():
            j += 1
        width = int(text[i + 1 : j]) if j > i + 1 else 0
        if j >= len(text):
            raise OutputFormatError(
                "an output cannot end with a field width",
                reference="output-format-syntax",
                name=text[i:],
            )
        ref, end = _parse_field(text, j, fields)
        pieces.append((ref.getter, width))
        for name, get in ref.listed:
            listed.setdefault(name, get)
        i = literal_start = end
    if literal_start < len(text):
        pieces.append(text[literal_start:])
    return OutputFormat(fmt, tuple(pieces), tuple(listed.items()))
