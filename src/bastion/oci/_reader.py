"""`SpecError` and the typed readers the config.json decoder is built from.

Every reader takes the parsed JSON object `d`, a key and the JSON path of `d`, and either returns
a Python value or raises `SpecError` naming the path of the offending value. Paths are only
joined when an error is raised or an object or array item is entered, so a valid config
costs little.

Go's encoding/json is the model (runc decodes config.json with it): `null` reads as absent, a
JSON number with a fraction or exponent never fills an integer, integers out of the Go type's range
are refused, and invalid UTF-16 in strings becomes U+FFFD. One deliberate difference: a NUL
character in a string is refused here, because no path, argument or sysctl can carry it to the
kernel and failing before any side effect names the field (runc fails later with EINVAL).
"""

from __future__ import annotations

from bastion.errors import BastionError, ExitCode
from bastion.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    _T = TypeVar("_T")


class SpecError(BastionError):
    """Raised when config.json is not a valid runtime spec (by type, shape or meaning).

    `where` is the JSON path of the offending value (`process.capabilities.bounding[3]`), or
    `file:line:column` when the text is not JSON. The reference says what kind of problem:
    spec-not-json, spec-missing-field, spec-wrong-type, spec-invalid-value, spec-unreadable
    (config.json exists but cannot be read), seccomp-unknown-syscall (a seccomp rule names
    something that is not a syscall), or spec-invalid.
    """

    reference = "spec-invalid"
    exit_code = ExitCode.INVALID_INPUT


class SpecNotFound(SpecError):
    """Raised by `load_spec` when the bundle has no config.json."""

    reference = "spec-not-found"
    exit_code = ExitCode.NOT_FOUND


NOT_JSON = "spec-not-json"
MISSING = "spec-missing-field"
WRONG_TYPE = "spec-wrong-type"
INVALID = "spec-invalid-value"

# Ranges of the integer types in defs.json (and the Go types behind them).
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT16 = (0, 2**16 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
_RANGE_NAMES = {
    INT32: "int32",
    INT64: "int64",
    UINT16: "uint16",
    UINT32: "uint32",
    UINT64: "uint64",
}


def json_kind(value: object) -> str:
    """The JSON type name of a parsed value, for "expected X, found Y" messages."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if type(value) is int:
        return "integer"
    if type(value) is float:
        return "number"
    if type(value) is str:
        return "string"
    if type(value) is list:
        return "array"
    return "object"


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def map_key(path: str, key: str) -> str:
    # Map keys may hold dots ("net.ipv4.ip_forward"), so they are quoted as JSON strings.
    return f"{path}[{dumps(key)}]"


def wrong_type(where: str, expected: str, value: object) -> SpecError:
    return SpecError(
        f"expected {expected}, found {json_kind(value)}", where=where, reference=WRONG_TYPE
    )


def missing(where: str, what: str = "this field") -> SpecError:
    return SpecError(f"{what} is required but missing", where=where, reference=MISSING)


def obj(value: object, where: str) -> dict[str, object]:
    """`value` as a JSON object, or SpecError."""
    if type(value) is not dict:
        raise wrong_type(where, "object", value)
    return value


def _text(value: str, where: str, *, allow_nul: bool = False) -> str:
    if "\x00" in value and not allow_nul:
        raise SpecError(
            "string contains a NUL character, which no Linux interface accepts",
            where=where,
            reference=INVALID,
        )
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone UTF-16 surrogate escape ("\ud800"): Go's decoder turns it into U+FFFD, and
        # it could not be encoded for a syscall anyway.
        value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def string(d: dict[str, object], key: str, path: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise wrong_type(child(path, key), "string", value)
    if value.isascii() and "\x00" not in value:  # the common case, without building a path
        return value
    return _text(value, child(path, key))


def req_string(d: dict[str, object], key: str, path: str) -> str:
    value = string(d, key, path)
    if value is None:
        raise _absent(d, key, path, "string")
    return value


def boolean(d: dict[str, object], key: str, path: str) -> bool | None:
    value = d.get(key)
    if value is None or value is True or value is False:
        return value
    raise wrong_type(child(path, key), "boolean", value)


def req_boolean(d: dict[str, object], key: str, path: str) -> bool:
    value = boolean(d, key, path)
    if value is None:
        raise _absent(d, key, path, "boolean")
    return value


def flag(d: dict[str, object], key: str, path: str) -> bool:
    """A boolean whose absence means False (terminal, readonly, noNewPrivileges)."""
    return boolean(d, key, path) is True


def check_int(value: object, where: str, bounds: tuple[int, int]) -> int:
    # `type(...) is int` rather than isinstance: JSON true must not pass as 1.
    if type(value) is not int:
        raise wrong_type(where, "integer", value)
    low, high = bounds
    if not low <= value <= high:
        name = _RANGE_NAMES.get(bounds, "integer")
        raise SpecError(
            f"expected {name} ({low} to {high}), found {value}", where=where, reference=INVALID
        )
    return value


def integer(d: dict[str, object], key: str, path: str, bounds: tuple[int, int]) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    return check_int(value, child(path, key), bounds)


def req_integer(d: dict[str, object], key: str, path: str, bounds: tuple[int, int]) -> int:
    value = d.get(key)
    if value is None:
        raise _absent(d, key, path, "integer")
    return check_int(value, child(path, key), bounds)


def _absent(d: dict[str, object], key: str, path: str, expected: str) -> SpecError:
    if key in d:  # present but null
        return wrong_type(child(path, key), expected, None)
    return missing(child(path, key))


def strings(d: dict[str, object], key: str, path: str) -> tuple[str, ...]:
    value = d.get(key)
    if value is None:
        return ()
    if type(value) is not list:
        raise wrong_type(child(path, key), "array", value)
    where = child(path, key)
    for i, item in enumerate(value):
        if type(item) is not str:
            raise wrong_type(f"{where}[{i}]", "string", item)
        if not item.isascii() or "\x00" in item:
            value[i] = _text(item, f"{where}[{i}]")
    return tuple(value)


def req_strings(d: dict[str, object], key: str, path: str) -> tuple[str, ...]:
    if d.get(key) is None:
        raise _absent(d, key, path, "array")
    return strings(d, key, path)


def integers(d: dict[str, object], key: str, path: str, bounds: tuple[int, int]) -> tuple[int, ...]:
    value = d.get(key)
    if value is None:
        return ()
    if type(value) is not list:
        raise wrong_type(child(path, key), "array", value)
    where = child(path, key)
    return tuple([check_int(item, f"{where}[{i}]", bounds) for i, item in enumerate(value)])


def sub(
    d: dict[str, object], key: str, path: str, decode: Callable[[object, str], _T]
) -> _T | None:
    """An optional nested object decoded by `decode(value, its_path)`."""
    value = d.get(key)
    if value is None:
        return None
    return decode(value, child(path, key))


def req_sub(d: dict[str, object], key: str, path: str, decode: Callable[[object, str], _T]) -> _T:
    value = d.get(key)
    if value is None:
        raise _absent(d, key, path, "object")
    return decode(value, child(path, key))


def array(
    d: dict[str, object], key: str, path: str, decode: Callable[[object, str], _T]
) -> tuple[_T, ...]:
    """An optional array of objects, each decoded by `decode(value, its_path)`."""
    value = d.get(key)
    if value is None:
        return ()
    where = child(path, key)
    if type(value) is not list:
        raise wrong_type(where, "array", value)
    return tuple([decode(item, f"{where}[{i}]") for i, item in enumerate(value)])


def str_map(
    d: dict[str, object], key: str, path: str, *, allow_nul: bool = False
) -> dict[str, str] | None:
    """A JSON object of strings (annotations, sysctl, unified)."""
    value = d.get(key)
    if value is None:
        return None
    where = child(path, key)
    result: dict[str, str] = {}
    for name, item in obj(value, where).items():
        if type(item) is not str:
            raise wrong_type(map_key(where, name), "string", item)
        clean = _text(name, where, allow_nul=allow_nul)
        result[clean] = _text(item, map_key(where, clean), allow_nul=allow_nul)
    return result


def obj_map(
    d: dict[str, object], key: str, path: str, decode: Callable[[object, str], _T]
) -> dict[str, _T] | None:
    """A JSON object whose values are objects (timeOffsets, rdma)."""
    value = d.get(key)
    if value is None:
        return None
    where = child(path, key)
    return {
        _text(name, where): decode(item, map_key(where, name))
        for name, item in obj(value, where).items()
    }
