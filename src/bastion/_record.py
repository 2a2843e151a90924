"""`record`: frozen, keyword-only value classes without importing `dataclasses`.

Why not `@dataclass(frozen=True, slots=True, kw_only=True)` as CONVENTIONS.md §6 suggests:
importing `dataclasses` costs 24 ms and `typing` 17 ms on this machine, more than the whole budget
of a `bastion-runc run` (runc takes 10-14 ms). Type checkers see `record` through PEP 681's
`dataclass_transform`, so to mypy a record *is* a frozen keyword-only dataclass; at run time the
decorator below builds the same behaviour (init from keywords with defaults, equality, repr,
immutability) from the class annotations, which are strings under `from __future__ import
annotations` and are never evaluated.

Mutable defaults are not allowed (use tuples and `None`), exactly as with dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")

    @dataclass_transform(frozen_default=True, kw_only_default=True)
    def record(cls: type[_T]) -> type[_T]: ...

else:
    _MISSING = object()

    def _fields_of(cls: type) -> tuple[str, ...]:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if name not in names and not name.startswith("_"):
                    names.append(name)
        return tuple(names)

    def record(cls):
        fields = _fields_of(cls)
        defaults = {f: getattr(cls, f) for f in fields if hasattr(cls, f)}
        name = cls.__qualname__

        def __init__(self, **kwargs: Any) -> None:
            for field in fields:
                value = kwargs.pop(field, _MISSING)
                if value is _MISSING:
                    value = defaults.get(field, _MISSING)
                    if value is _MISSING:
                        raise TypeError(f"{name}() missing keyword argument {field!r}")
                object.__setattr__(self, field, value)
            if kwargs:
                raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kwargs)}")

        def __setattr__(self, key: str, value: Any) -> None:
            raise AttributeError(f"cannot assign to field {key!r} of frozen record {name}")

        def __delattr__(self, key: str) -> None:
            raise AttributeError(f"cannot delete field {key!r} of frozen record {name}")

        def __eq__(self, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, f) == getattr(other, f) for f in fields)

        def __hash__(self) -> int:
            return hash(tuple(getattr(self, f) for f in fields))

        def __repr__(self) -> str:
            inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in fields)
            return f"{name}({inner})"

        def replace(self, **changes: Any) -> Any:
            values = {f: getattr(self, f) for f in fields}
            values.update(changes)
            return cls(**values)

        cls.__init__ = __init__
        cls.__setattr__ = __setattr__
        cls.__delattr__ = __delattr__
        cls.__eq__ = __eq__
        cls.__hash__ = __hash__
        cls.__repr__ = __repr__
        cls._replace = replace
        cls.__record_fields__ = fields
        return cls


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record class or instance, in declaration order."""
    return obj.__record_fields__  # type: ignore[attr-defined, no-any-return]


def replace(obj: _R, **changes: object) -> _R:
    """A copy of record `obj` with some fields changed (like `dataclasses.replace`)."""
    return obj._replace(**changes)  # type: ignore[attr-defined, no-any-return]


if TYPE_CHECKING:
    _R = TypeVar("_R")
