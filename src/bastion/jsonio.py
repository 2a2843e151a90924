"""JSON read and write on top of the C accelerator `_json`, without importing `json`.

Why: `import json` pulls in `re`, `enum`, `functools` and `collections`, 13 ms on this machine,
more than runc needs for a whole container start. The C scanner and encoder that `json` itself
uses are reachable directly; this module gives them the small context object they expect.
Only on a syntax error do we import `json.decoder` (the C scanner does so itself to raise
`JSONDecodeError`), where speed no longer matters.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _parse_constant(name: str) -> float:
    # JSON has no NaN/Infinity; Python's json accepts them, so must a runc-compatible reader
    # (runc uses Go's encoding/json, which rejects them: so do we).
    raise ValueError(f"invalid JSON constant {name}")


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_parse_constant)

    def __init__(self) -> None:
        self.memo: dict[str, str] = {}


class JSONSyntaxError(ValueError):
    """Raised by `loads` for text that is not one JSON document; `pos`, `lineno`, `colno`."""

    def __init__(self, msg: str, doc: str, pos: int) -> None:
        lineno = doc.count("\n", 0, pos) + 1
        colno = pos - doc.rfind("\n", 0, pos)
        super().__init__(f"{msg}: line {lineno} column {colno} (char {pos})")
        self.msg = msg
        self.pos = pos
        self.lineno = lineno
        self.colno = colno


_WS = " \t\n\r"


def loads(text: str | bytes) -> Any:
    """Parse one JSON document, like `json.loads` (no NaN or Infinity)."""
    doc = text.decode("utf-8") if isinstance(text, bytes) else text
    if doc.startswith("\ufeff"):
        raise JSONSyntaxError("unexpected UTF-8 BOM", doc, 0)
    ctx = _Context()
    scan = _json.make_scanner(ctx)  # type: ignore[arg-type]  # duck-typed context
    start = len(doc) - len(doc.lstrip(_WS))
    try:
        value, end = scan(doc, start)
    except (StopIteration, ValueError, SystemError):
        # The C scanner reports syntax errors through `json.decoder`, and only if that module is
        # already loaded (SystemError otherwise): let `json` itself find and describe the error.
        _raise_syntax_error(doc)
        raise
    finally:
        ctx.memo.clear()
    rest = len(doc) - len(doc[end:].lstrip(_WS))
    if rest != len(doc):
        raise JSONSyntaxError("extra data", doc, rest)
    return value


def _raise_syntax_error(doc: str) -> None:
    import json

    try:
        json.loads(doc, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise JSONSyntaxError(exc.msg, doc, exc.pos) from None
    except ValueError as exc:
        raise JSONSyntaxError(str(exc), doc, 0) from None


def _pretty(value: Any, indent: int, sort_keys: bool, level: int) -> str:
    """`json.dumps(value, indent=indent)` without importing json (`state` is called often)."""
    if isinstance(value, dict) and value:
        pad = " " * (indent * (level + 1))
        items = sorted(value.items()) if sort_keys else value.items()
        key = _json.encode_basestring_ascii
        inner = ",\n".join(
            f"{pad}{key(str(k))}: {_pretty(v, indent, sort_keys, level + 1)}" for k, v in items
        )
        return "{\n" + inner + "\n" + " " * (indent * level) + "}"
    if isinstance(value, (list, tuple)) and value:
        pad = " " * (indent * (level + 1))
        inner = ",\n".join(pad + _pretty(v, indent, sort_keys, level + 1) for v in value)
        return "[\n" + inner + "\n" + " " * (indent * level) + "]"
    return dumps(value, sort_keys=sort_keys)


def _no_default(obj: object) -> object:
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def dumps(
    value: Any, *, indent: int | None = None, sort_keys: bool = False, compact: bool = False
) -> str:
    """Serialise `value` to JSON text, like `json.dumps` (ASCII only, no NaN); `compact`
    without spaces after `:` and `,`, as Go's encoder writes (the API's answers)."""
    if indent is not None:
        return _pretty(value, indent, sort_keys, 0)
    encoder = _json.make_encoder(
        None,  # markers: None disables the cycle check, our values are trees
        _no_default,
        _json.encode_basestring_ascii,
        None,
        ":" if compact else ": ",
        "," if compact else ", ",
        sort_keys,
        False,
        False,
    )
    return "".join(encoder(value, 0))
