"""The AST of a Falco condition: frozen slotted dataclasses walked by visitors.

Every node carries `pos`, the 0-based offset in the condition string where it starts. `pos` is
keyword-only, defaults to 0 and takes no part in equality or hashing, so two conditions that
differ only in layout compare equal (handy for tests and for caching macro expansions).

Expressions (`Expr`): `And`, `Or`, `Not`, `Identifier` (a macro reference), `BinaryCheck` and
`UnaryCheck`. Right-hand sides (`Value`): `Literal`, `ListValue`, `FieldValue` and `Identifier`
(a list referenced by name, as in ``proc.name in shell_binaries``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field, as in ``proc.aname[2]``, ``proc.env[HOME]`` or ``basename(tolower(fd.name))``.

    `name` is the dotted name as written (``evt.arg.flags`` stays whole: only the field tables
    know that ``.flags`` is an argument); `arg` is the text between brackets, unquoted.
    `transformers` are in the order they apply, innermost first: ``basename(tolower(fd.name))``
    gives ``("tolower", "basename")``.
    """

    name: str
    arg: str | None = None
    transformers: tuple[str, ...] = ()
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Literal:
    """A value: a quoted string (unescaped), a bare word or a number, kept as text.

    `bare` is true for an unquoted word: only a bare word can name a list (Falco's legacy list
    substitution, ``proc.name = shell_binaries``).
    """

    text: str
    pos: int = _field(default=0, compare=False, kw_only=True)
    bare: bool = _field(default=False, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Identifier:
    """A name: a macro reference as an expression, a list reference as a value or list item.

    Inside a list, any bare word shaped like an identifier (``bash`` in ``(bash, "sh")``) is an
    `Identifier`: the list resolver expands it when a list of that name exists and otherwise
    takes it as the literal word, as Falco does.
    """

    name: str
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ListValue:
    """A parenthesised list of values, as in ``(a, "b c", other_list)``."""

    items: tuple[Literal | Identifier, ...]
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class FieldValue:
    """A field on the right-hand side: ``val(proc.pname)`` or a transformed field."""

    field: FieldRef
    pos: int = _field(default=0, compare=False, kw_only=True)


Value: TypeAlias = Literal | ListValue | FieldValue | Identifier


@dataclass(frozen=True, slots=True)
class BinaryCheck:
    """``field op value``, with `op` as written (``=``, ``contains``, ``in``, ...)."""

    field: FieldRef
    op: str
    value: Value
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class UnaryCheck:
    """``field op`` with a unary operator (``exists``)."""

    field: FieldRef
    op: str
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class And:
    """Every child holds; two children or more."""

    children: tuple[Expr, ...]
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Or:
    """Some child holds; two children or more."""

    children: tuple[Expr, ...]
    pos: int = _field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not hold."""

    child: Expr
    pos: int = _field(default=0, compare=False, kw_only=True)


Expr: TypeAlias = And | Or | Not | Identifier | BinaryCheck | UnaryCheck
Node: TypeAlias = Expr | FieldRef | Literal | ListValue | FieldValue


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of `node`, left to right."""
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    if isinstance(node, BinaryCheck):
        return (node.field, node.value)
    if isinstance(node, UnaryCheck):
        return (node.field,)
    if isinstance(node, ListValue):
        return node.items
    if isinstance(node, FieldValue):
        return (node.field,)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node under `node` (itself included), depth first, left to right, parents first."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


class Visitor(Generic[T]):
    """Dispatches `visit(node)` to `visit_<ClassName>(node)`, e.g. `visit_BinaryCheck`.

    A node class without a method goes to `generic_visit`, which raises `TypeError`; override it
    for a default.
    """

    def visit(self, node: Node) -> T:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            return self.generic_visit(node)
        result: T = method(node)
        return result

    def generic_visit(self, node: Node) -> T:
        raise TypeError(f"{type(self).__name__} cannot visit {type(node).__name__}")
