"""Falco's comparison operators and field transformers, on plain Python values.

Each operator is a factory: given its right-hand side (the literal texts, already list-expanded)
it returns a predicate ``value -> bool`` with everything parseable done once (numbers, globs,
regexes, path prefixes). Field values are ``str``, ``int``/``float``, ``bool``, ``bytes``,
`ipaddress` addresses or networks, or a list/tuple/set for a multi-valued (``EPF_IS_LIST``)
field. The compiler never passes `MISSING` here: an unreadable field fails the check before.

Semantics follow libsinsp ``sinsp_filtercheck.cpp`` (``compare_rhs``, ``compare_nocache``) and
``utils.cpp`` (``glob_match``):

- numbers compare numerically, other values as strings (``<``/``>`` are ``strcmp`` order);
- ``glob``/``iglob`` are ``fnmatch(pattern, value, 0 | FNM_CASEFOLD)``: no ``FNM_PATHNAME``, so
  ``*`` crosses ``/``; no ``FNM_PERIOD``; ``\\`` escapes the next character; ``[!...]`` and
  ``[^...]`` negate a class; the whole value must match;
- ``regex`` is RE2 with ``ANCHOR_BOTH``: the whole value must match (`re.fullmatch`);
- ``pmatch`` is ``path_prefix_search``: paths split on ``/`` (empty components dropped) and a
  pattern matches when its components are a prefix of the value's, so ``/usr`` matches
  ``/usr/bin/x`` and ``/usr`` but not ``/usrx``;
- on a list field ``in`` means every value is in the set (an empty list is in anything),
  ``intersects`` means some value is; libsinsp rejects other operators on list fields, here
  they hold when some value satisfies them;
- ``bcontains``/``bstartswith`` take hex text (``CAFEBABE``) and compare bytes.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Final

Pred = Callable[[object], bool]

MULTI: Final = (list, tuple, set, frozenset)
_IP = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_NET = (ipaddress.IPv4Network, ipaddress.IPv6Network)


class _Missing:
    """The type of `MISSING`: a field that cannot be read for this event."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class OperandError(ValueError):
    """A right-hand side the operator cannot use (bad hex, bad regex); the compiler wraps it."""


def parse_number(text: str) -> int | float | None:
    """A number as Falco's value parser reads it (decimal, ``0x`` hex, float), else None."""
    t = text.strip()
    try:
        if t[:2].lower() == "0x" or t[:3].lower() in ("+0x", "-0x"):
            return int(t, 16)
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return None


def to_text(value: object) -> str:
    """The string form of a field value, as Falco prints it (bools as ``true``/``false``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def _to_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return to_text(value).encode("utf-8", "surrogateescape")


def _hex(text: str) -> bytes:
    try:
        return binascii.unhexlify(text.strip())
    except (binascii.Error, ValueError) as exc:
        raise OperandError(f"{text!r} is not an even-length hex string") from exc


def _any(pred: Pred) -> Pred:
    """Lift `pred` to multi-valued fields: some value satisfies it."""

    def check(value: object) -> bool:
        if type(value) is str:  # most values: one exact type test before the tuple of four
            return pred(value)
        if isinstance(value, MULTI):
            return any(pred(v) for v in value)
        return pred(value)

    return check


# --- equality and ordering -----------------------------------------------------------------


def _ip_eq(value: object, text: str) -> bool | None:
    """`=` for an address or network value: address equality or membership, None if n/a."""
    if not isinstance(value, _IP + _NET):
        return None
    try:
        rhs = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    if isinstance(value, _NET):
        return value.version == rhs.version and value.subnet_of(rhs)  # type: ignore[arg-type]
    return value in rhs


def _ordering(
    text: str,
    num_cmp: Callable[[float, float], bool],
    str_cmp: Callable[[str, str], bool],
    ip_sense: bool | None = None,
) -> Pred:
    num = parse_number(text)
    truth = text.strip().lower()

    def check(value: object) -> bool:
        if type(value) is int:  # the common cases first (fd.num >= 0, evt.rawres >= 0)
            return num is not None and num_cmp(value, num)
        if type(value) is str:  # (fd.name = /etc/shadow): what to_text would give back
            return str_cmp(value, text)
        if isinstance(value, bool):
            if truth not in ("true", "false"):
                return False
            return num_cmp(int(value), int(truth == "true"))
        if isinstance(value, int | float):
            return num is not None and num_cmp(value, num)
        if ip_sense is not None and isinstance(value, _IP + _NET):
            return _ip_eq(value, text) is ip_sense
        return str_cmp(to_text(value), text)

    return _any(check)


def eq(text: str) -> Pred:
    """``=``/``==``: numeric equality for numbers, address/network match for IPs, else strings."""
    return _ordering(text, lambda a, b: a == b, lambda a, b: a == b, True)


def ne(text: str) -> Pred:
    """``!=``."""
    return _ordering(text, lambda a, b: a != b, lambda a, b: a != b, False)


def lt(text: str) -> Pred:
    """``<``: numbers numerically, strings in byte order (libsinsp ``strcmp``)."""
    return _ordering(text, lambda a, b: a < b, lambda a, b: a < b)


def le(text: str) -> Pred:
    """``<=``."""
    return _ordering(text, lambda a, b: a <= b, lambda a, b: a <= b)


def gt(text: str) -> Pred:
    """``>``."""
    return _ordering(text, lambda a, b: a > b, lambda a, b: a > b)


def ge(text: str) -> Pred:
    """``>=``."""
    return _ordering(text, lambda a, b: a >= b, lambda a, b: a >= b)


# --- substring operators ----------------------------------------------------------------------


def contains(text: str) -> Pred:
    """``contains``: `text` is a substring of the value."""
    return _any(lambda v: text in (v if type(v) is str else to_text(v)))


def icontains(text: str) -> Pred:
    """``icontains``: case-insensitive ``contains``."""
    low = text.lower()
    return _any(lambda v: low in to_text(v).lower())


def startswith(text: str) -> Pred:
    """``startswith``."""
    return _any(lambda v: (v if type(v) is str else to_text(v)).startswith(text))


def endswith(text: str) -> Pred:
    """``endswith``."""
    return _any(lambda v: (v if type(v) is str else to_text(v)).endswith(text))


def bcontains(text: str) -> Pred:
    """``bcontains``: the hex-decoded bytes occur in the value's bytes."""
    needle = _hex(text)
    return _any(lambda v: needle in _to_bytes(v))


def bstartswith(text: str) -> Pred:
    """``bstartswith``: the value's bytes start with the hex-decoded bytes."""
    needle = _hex(text)
    return _any(lambda v: _to_bytes(v).startswith(needle))


# --- patterns ---------------------------------------------------------------------------------


def glob_to_regex(pattern: str, *, icase: bool = False) -> re.Pattern[str]:
    """An anchored regex equivalent to glibc ``fnmatch(pattern, ., flags)`` without PATHNAME."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            j = i
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '['
                out.append(re.escape(c))
                continue
            body = pattern[i:j]
            i = j + 1
            neg = body[:1] in ("!", "^")
            if neg:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if neg else ''}{body}]")
        else:
            out.append(re.escape(c))
    flags = re.DOTALL | (re.IGNORECASE if icase else 0)
    return re.compile("".join(out), flags)


def glob(text: str) -> Pred:
    """``glob``: fnmatch without FNM_PATHNAME, so ``*`` crosses ``/``."""
    rx = glob_to_regex(text).fullmatch
    return _any(lambda v: rx(to_text(v)) is not None)


def iglob(text: str) -> Pred:
    """``iglob``: ``glob`` with FNM_CASEFOLD."""
    rx = glob_to_regex(text, icase=True).fullmatch
    return _any(lambda v: rx(to_text(v)) is not None)


def regex(text: str) -> Pred:
    """``regex``: RE2 anchored at both ends, i.e. the whole value matches."""
    try:
        rx = re.compile(text, re.DOTALL).fullmatch
    except re.error as exc:
        raise OperandError(f"invalid regex {text!r}: {exc}") from exc
    return _any(lambda v: rx(to_text(v)) is not None)


def _components(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


def pmatch(texts: Sequence[str]) -> Pred:
    """``pmatch``: some pattern's path components are a prefix of the value's components."""
    prefixes = {_components(t) for t in texts}
    lengths = sorted({len(p) for p in prefixes})

    def check(value: object) -> bool:
        parts = _components(to_text(value))
        return any(parts[:k] in prefixes for k in lengths if k <= len(parts))

    return _any(check)


# --- set operators ----------------------------------------------------------------------------


def _member(texts: Sequence[str]) -> Pred:
    """Whether one value equals some item (typed like ``=``)."""
    strings = frozenset(texts)
    nums = frozenset(n for n in map(parse_number, texts) if n is not None)
    truths = frozenset(t.strip().lower() for t in texts)

    def check(value: object) -> bool:
        if isinstance(value, str):
            return value in strings
        if isinstance(value, bool):
            return ("true" if value else "false") in truths
        if isinstance(value, int | float):
            return value in nums
        if isinstance(value, _IP + _NET):
            return any(_ip_eq(value, t) for t in texts)
        return to_text(value) in strings

    return check


def in_(texts: Sequence[str]) -> Pred:
    """``in``: the value is an item; for a list field, every value is an item.

    A value flagged ``any_of`` (``proc.aname`` without an index: libsinsp compares each ancestor
    in turn) matches when some value is an item.
    """
    member = _member(texts)

    def check(value: object) -> bool:
        if isinstance(value, MULTI):
            if getattr(value, "any_of", False):
                return any(member(v) for v in value)
            return all(member(v) for v in value)
        return member(value)

    return check


def intersects(texts: Sequence[str]) -> Pred:
    """``intersects``: some value of the (list) field is an item."""
    return _any(_member(texts))


SCALAR_OPS: Final[dict[str, Callable[[str], Pred]]] = {
    "=": eq,
    "==": eq,
    "!=": ne,
    "<": lt,
    "<=": le,
    ">": gt,
    ">=": ge,
    "contains": contains,
    "icontains": icontains,
    "bcontains": bcontains,
    "startswith": startswith,
    "bstartswith": bstartswith,
    "endswith": endswith,
    "glob": glob,
    "iglob": iglob,
    "regex": regex,
}
"""Operators whose right-hand side is one value."""

LIST_OPS: Final[dict[str, Callable[[Sequence[str]], Pred]]] = {
    "in": in_,
    "intersects": intersects,
    "pmatch": pmatch,
}
"""Operators whose right-hand side is a list of values."""


def make_predicate(op: str, texts: Sequence[str]) -> Pred:
    """The predicate of `op` against `texts` (one item for a scalar operator)."""
    if op in LIST_OPS:
        return LIST_OPS[op](texts)
    if len(texts) != 1:
        raise OperandError(f"operator {op!r} takes one value, got {len(texts)}")
    return SCALAR_OPS[op](texts[0])


# --- transformers ---------------------------------------------------------------------------


def _each(fn: Callable[[object], object]) -> Callable[[object], object]:
    def apply(value: object) -> object:
        if value is MISSING:
            return MISSING
        if isinstance(value, MULTI):
            out = [fn(v) for v in value]
            return MISSING if any(v is MISSING for v in out) else out
        return fn(value)

    return apply


def _b64(value: object) -> object:
    try:
        raw = base64.b64decode(_to_bytes(value), validate=True)
    except (binascii.Error, ValueError):
        return MISSING  # libsinsp: a failed transform makes the extraction fail
    return raw.decode("utf-8", "surrogateescape")


def _basename(value: object) -> object:
    text = to_text(value)
    return text[text.rfind("/") + 1 :]


def _len(value: object) -> object:
    if value is MISSING:
        return MISSING
    if isinstance(value, (*MULTI, bytes, bytearray)):
        return len(value)
    return len(to_text(value))


TRANSFORMERS: Final[dict[str, Callable[[object], object]]] = {
    "tolower": _each(lambda v: to_text(v).lower()),
    "toupper": _each(lambda v: to_text(v).upper()),
    "b64": _each(_b64),
    "basename": _each(_basename),
    "len": _len,
}
"""Field transformers by name: each maps a value (or `MISSING`) to a value (or `MISSING`)."""
