"""`record`: frozen, keyword-only value classes without importing `dataclasses`.

Why not `@dataclass(frozen=True, slots=True, kw_only=True)` as docs/conventions.md §6 suggests:
importing `dataclasses` costs 24 ms and `typing` 17 ms on this machine, more than the whole budget
of a `bastion-runc run` (runc takes 10-14 ms). Type checkers see `record` through PEP 681's
`dataclass_transform`, so to mypy a record *is* a frozen keyword-only dataclass; at run time the
decorator below builds the same behaviour (init from keywords with defaults, equality, repr,
immutability) from the class annotations, which are strings under `from __future__ import
annotations` and are never evaluated.

A default that is an empty or filled dict, list or set is copied for each instance (what
`field(default_factory=dict)` does for a dataclass), so no two records share one.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar, dataclass_transform

    _T = TypeVar("_T")

    @dataclass_transform(frozen_default=True, kw_only_default=True)
    def record(cls: type[_T]) -> type[_T]: ...

else:
    _MISSING = object()
    _MUTABLE = (dict, list, set)

    def _fields_of(cls: type) -> tuple[str, ...]:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if name not in names and not name.startswith("_"):
                    names.append(name)
        return tuple(names)

    class _RecordMethods:
        """The behaviour every record shares; `record` copies these onto the class, so that
        decorating a class costs two attribute computations, not seven new closures."""

        def __init__(self, **kwargs):
            cls = self.__class__
            for field in cls.__record_fields__:
                value = kwargs.pop(field, _MISSING)
                if value is _MISSING:
                    value = cls.__record_defaults__.get(field, _MISSING)
                    if value is _MISSING:
                        raise TypeError(f"{cls.__qualname__}() missing keyword argument {field!r}")
                    if value.__class__ in _MUTABLE:
                        value = value.copy()
                object.__setattr__(self, field, value)
            if kwargs:
                raise TypeError(
                    f"{cls.__qualname__}() got unexpected keyword arguments {sorted(kwargs)}"
                )

        def __setattr__(self, key, value):
            raise AttributeError(
                f"cannot assign to field {key!r} of frozen record {type(self).__qualname__}"
            )

        def __delattr__(self, key):
            raise AttributeError(
                f"cannot delete field {key!r} of frozen record {type(self).__qualname__}"
            )

        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, f) == getattr(other, f) for f in self.__record_fields__)

        def __hash__(self):
            return hash(tuple(getattr(self, f) for f in self.__record_fields__))

        def __repr__(self):
            inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__record_fields__)
            return f"{type(self).__qualname__}({inner})"

        def _replace(self, **changes):
            values = {f: getattr(self, f) for f in self.__record_fields__}
            values.update(changes)
            return self.__class__(**values)

    _SHARED = {
        name: value
        for name, value in vars(_RecordMethods).items()
        if name
        in ("__init__", "__setattr__", "__delattr__", "__eq__", "__hash__", "__repr__", "_replace")
    }

    def record(cls):
        fields = _fields_of(cls)
        cls.__record_fields__ = fields
        cls.__record_defaults__ = {f: getattr(cls, f) for f in fields if hasattr(cls, f)}
        for name, value in _SHARED.items():
            setattr(cls, name, value)
        return cls


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record class or instance, in declaration order."""
    return obj.__record_fields__  # type: ignore[attr-defined, no-any-return]


def replace(obj: _R, **changes: object) -> _R:
    """A copy of record `obj` with some fields changed (like `dataclasses.replace`)."""
    return obj._replace(**changes)  # type: ignore[attr-defined, no-any-return]


if TYPE_CHECKING:
    _R = TypeVar("_R")
