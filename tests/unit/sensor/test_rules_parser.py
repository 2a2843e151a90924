"""The Falco condition parser: grammar, AST shapes, positions and errors."""

from __future__ import annotations

import pytest

from bastion.errors import BastionError
from bastion.sensor.rules import ConditionSyntaxError, parse_condition
from bastion.sensor.rules.ast import (
    And,
    BinaryCheck,
    FieldRef,
    FieldValue,
    Identifier,
    ListValue,
    Literal,
    Node,
    Not,
    Or,
    UnaryCheck,
    Visitor,
    walk,
)


def check(field: str, op: str, value: str, arg: str | None = None) -> BinaryCheck:
    return BinaryCheck(FieldRef(field, arg), op, Literal(value))


def syntax_error(text: str) -> ConditionSyntaxError:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    return info.value


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("=", "bash"),
        ("==", "bash"),
        ("!=", "bash"),
        ("contains", "bash"),
        ("icontains", "bash"),
        ("bcontains", "cafebabe"),
        ("startswith", "/etc"),
        ("bstartswith", "7f454c46"),
        ("endswith", ".sh"),
        ("glob", "/etc/*"),
        ("iglob", "/ETC/*"),
        ("regex", "^ba.*$"),
    ],
)
def test_string_operators(op: str, value: str) -> None:
    assert parse_condition(f"proc.name {op} {value}") == check("proc.name", op, value)


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("value", ["0", "1024", "-1", "+3", "1.5", "1e+10", "0x1F"])
def test_number_operators(op: str, value: str) -> None:
    assert parse_condition(f"fd.sport {op} {value}") == check("fd.sport", op, value)
    assert parse_condition(f"fd.sport{op}{value}") == check("fd.sport", op, value)


@pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
def test_list_operators(op: str) -> None:
    expected = BinaryCheck(
        FieldRef("proc.args"), op, ListValue((Literal("-V"), Identifier("known"), Literal("a b")))
    )
    assert parse_condition(f'proc.args {op} (-V, known, "a b")') == expected
    assert parse_condition(f'proc.args {op}(-V,known,"a b")') == expected


def test_exists() -> None:
    assert parse_condition("k8s.ns.name exists") == UnaryCheck(FieldRef("k8s.ns.name"), "exists")


def test_word_operator_needs_a_blank() -> None:
    error = syntax_error('fd.name contains"x"')
    assert error.pos == 8
    assert "operator" in error.expected


def test_list_name_and_empty_list() -> None:
    assert parse_condition("proc.name in shell_binaries") == BinaryCheck(
        FieldRef("proc.name"), "in", Identifier("shell_binaries")
    )
    assert parse_condition("proc.name in ( )") == BinaryCheck(
        FieldRef("proc.name"), "in", ListValue(())
    )


def test_precedence_and_over_or() -> None:
    a, b, c = Identifier("a"), Identifier("b"), Identifier("c")
    assert parse_condition("a and b or c") == Or((And((a, b)), c))
    assert parse_condition("a or b and c") == Or((a, And((b, c))))
    assert parse_condition("a or b or c") == Or((a, b, c))
    assert parse_condition("a and b and c") == And((a, b, c))


def test_precedence_not_over_and() -> None:
    a, b = Identifier("a"), Identifier("b")
    assert parse_condition("not a and b") == And((Not(a), b))
    assert parse_condition("not (a and b)") == Not(And((a, b)))
    assert parse_condition("not(a and b)") == Not(And((a, b)))
    assert parse_condition("not not a") == Not(Not(a))
    assert parse_condition("a and not b or not a") == Or((And((a, Not(b))), Not(a)))


def test_nested_parentheses() -> None:
    a, b, c, d = (Identifier(x) for x in "abcd")
    assert parse_condition("((a or (b)) and ((c or d)))") == And((Or((a, b)), Or((c, d))))
    assert parse_condition("a and(b or c)") == And((a, Or((b, c))))
    assert parse_condition("a or(b)") == Or((a, b))
    assert parse_condition("\n ( a )\n") == a


def test_keywords_are_lower_case_only() -> None:
    # As in Falco: 'AND' is no keyword, so 'a AND b' is a macro followed by garbage.
    assert syntax_error("a AND b").pos == 2
    assert parse_condition("NOT") == Identifier("NOT")
    assert parse_condition("notx and nota") == And((Identifier("notx"), Identifier("nota")))


def test_macro_and_field_names() -> None:
    assert parse_condition("spawned_process") == Identifier("spawned_process")
    assert parse_condition("evt.arg.flags contains O_CREAT") == check(
        "evt.arg.flags", "contains", "O_CREAT"
    )


@pytest.mark.parametrize(
    ("text", "name", "arg"),
    [
        ("evt.arg[0] = x", "evt.arg", "0"),
        ("proc.aname[2] = x", "proc.aname", "2"),
        ("k8s.pod.label[app] = x", "k8s.pod.label", "app"),
        ("proc.env[HOME] = x", "proc.env", "HOME"),
        ('k8s.pod.label["app.kubernetes.io/name"] = x', "k8s.pod.label", "app.kubernetes.io/name"),
    ],
)
def test_field_arguments(text: str, name: str, arg: str) -> None:
    assert parse_condition(text) == check(name, "=", "x", arg)


def test_values_quoted_and_bare() -> None:
    # As in Falco, a bare word after an operator is a value even when it spells a keyword.
    assert parse_condition("proc.name = and") == check("proc.name", "=", "and")
    assert parse_condition("fd.name = /usr/bin") == check("fd.name", "=", "/usr/bin")
    assert parse_condition("fd.name=<NA>") == check("fd.name", "=", "<NA>")
    assert parse_condition("proc.args = ''") == check("proc.args", "=", "")
    assert parse_condition("proc.args = \"a 'b' c\"") == check("proc.args", "=", "a 'b' c")
    assert parse_condition("proc.args = 'a \"b\" c'") == check("proc.args", "=", 'a "b" c')


@pytest.mark.parametrize(
    ("quoted", "text"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'a\'b'", "a'b"),
        (r'"\\"', "\\"),
        (r'"\/x"', "/x"),
        (r'"\b\f\n\r\t"', "\b\f\n\r\t"),
        (r'"a\ b"', "a\\b"),  # Falco keeps this old mistake readable: '\ ' is a backslash
    ],
)
def test_escapes(quoted: str, text: str) -> None:
    assert parse_condition(f"proc.cmdline = {quoted}") == check("proc.cmdline", "=", text)


@pytest.mark.parametrize(("quoted", "offset"), [(r'"\x41"', 1), (r"'\"'", 1), (r'"\'"', 1)])
def test_bad_escapes(quoted: str, offset: int) -> None:
    assert syntax_error(f"proc.cmdline = {quoted}").pos == 15 + offset


def test_transformers() -> None:
    assert parse_condition("tolower(proc.name) = bash") == BinaryCheck(
        FieldRef("proc.name", None, ("tolower",)), "=", Literal("bash")
    )
    assert parse_condition("basename( tolower(fd.name) ) in (a)") == BinaryCheck(
        FieldRef("fd.name", None, ("tolower", "basename")), "in", ListValue((Identifier("a"),))
    )
    for name in ("toupper", "b64", "basename", "len"):
        node = parse_condition(f"{name}(proc.env[HOME]) exists")
        assert node == UnaryCheck(FieldRef("proc.env", "HOME", (name,)), "exists")


def test_val_and_transformed_right_hand_side() -> None:
    assert parse_condition("proc.name = val(proc.pname)") == BinaryCheck(
        FieldRef("proc.name"), "=", FieldValue(FieldRef("proc.pname"))
    )
    assert parse_condition("proc.pid > val( proc.aname[1] )") == BinaryCheck(
        FieldRef("proc.pid"), ">", FieldValue(FieldRef("proc.aname", "1"))
    )
    assert parse_condition("tolower(fd.name) in toupper(fd.directory)") == BinaryCheck(
        FieldRef("fd.name", None, ("tolower",)),
        "in",
        FieldValue(FieldRef("fd.directory", None, ("toupper",))),
    )


def test_positions() -> None:
    text = "not proc.name in (bash, 'sh') and fd.name = val(proc.exe)"
    node = parse_condition(text)
    assert isinstance(node, And)
    first, second = node.children
    assert isinstance(first, Not) and first.pos == 0
    inner = first.child
    assert isinstance(inner, BinaryCheck) and inner.pos == 4 and inner.field.pos == 4
    assert isinstance(inner.value, ListValue) and inner.value.pos == 17
    assert [item.pos for item in inner.value.items] == [18, 24]
    assert isinstance(second, BinaryCheck) and second.pos == 34
    assert isinstance(second.value, FieldValue)
    assert second.value.pos == 44 and second.value.field.pos == 48
    # Every node's position points into the text at the start of its own syntax.
    for sub in walk(node):
        assert 0 <= sub.pos < len(text)


def test_walk_and_visitor() -> None:
    node = parse_condition("a and (proc.name = x or not fd.name exists)")
    kinds = [type(n).__name__ for n in walk(node)]
    assert kinds == [
        "And",
        "Identifier",
        "Or",
        "BinaryCheck",
        "FieldRef",
        "Literal",
        "Not",
        "UnaryCheck",
        "FieldRef",
    ]

    class Fields(Visitor[list[str]]):
        def visit_And(self, node: And) -> list[str]:
            return [f for child in node.children for f in self.visit(child)]

        visit_Or = visit_And

        def visit_Not(self, node: Not) -> list[str]:
            return self.visit(node.child)

        def visit_Identifier(self, node: Identifier) -> list[str]:
            return []

        def visit_BinaryCheck(self, node: BinaryCheck) -> list[str]:
            return [node.field.name]

        def visit_UnaryCheck(self, node: UnaryCheck) -> list[str]:
            return [node.field.name]

    assert Fields().visit(node) == ["proc.name", "fd.name"]

    with pytest.raises(TypeError):
        Fields().visit(Literal("x"))


def test_nodes_are_frozen_and_hashable() -> None:
    node: Node = parse_condition("proc.name in (a, b)")
    assert hash(node) == hash(parse_condition("proc.name  in  ( a ,b )"))
    with pytest.raises(AttributeError):
        node.pos = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "pos", "expected"),
    [
        ("(a and b", 8, "')'"),  # unbalanced: missing ')'
        ("((a) or b", 9, "')'"),
        ("a and b)", 7, "'and', 'or' or the end of the condition"),  # unbalanced: extra ')'
        ("proc.name =", 11, "a quoted string or a bare word"),  # missing value
        ("fd.sport > x", 11, "a number"),
        ("proc.name in", 12, "'(' or a list name"),
        ("proc.name in (a,", 16, "a list item"),
        ("proc.name in (a b)", 16, "',' or ')'"),
        ("proc.name like x", 10, ""),  # unknown operator
        ("proc.name", 9, ""),
        ("proc.name = 'abc", 12, "a closing '"),  # unterminated string
        ('fd.name contains "abc and x', 17, 'a closing "'),
        ("a and b c", 8, "'and', 'or' or the end of the condition"),  # trailing garbage
        ("proc.name = x y", 14, "'and', 'or' or the end of the condition"),
        ("", 0, "a field check, a macro or '('"),
        ("  \n", 0, "a field check, a macro or '('"),
        ("a and", 5, "a blank or '('"),
        ("a and ", 6, "a field check, a macro or '('"),
        ("a andb", 5, "a blank or '('"),
        ("not (", 5, "a field check, a macro or '('"),
        ("proc.env[ = x", 9, "a quoted or bare field argument"),
        ("proc.env[HOME = x", 13, "']'"),
        ("tolower(proc.name = x", 18, "')'"),
        ("tolower(x) = y", 8, "a field name such as proc.name"),
        ("proc.name = val(x)", 16, "a field name such as proc.name"),
        ("proc.name = val(proc.pname", 26, "')'"),
        ("= x", 0, "a field check, a macro or '('"),
    ],
)
def test_error_positions(text: str, pos: int, expected: str) -> None:
    error = syntax_error(text)
    assert error.pos == pos
    if expected:
        assert error.expected == expected
    else:
        assert error.expected
    assert isinstance(error, BastionError)
    assert error.reference == "rule-condition-syntax"


def test_unknown_operator_lists_the_operators() -> None:
    error = syntax_error("proc.name like x")
    for op in ("exists", "<=", "contains", "regex", "intersects", "pmatch"):
        assert op in error.expected


def test_depth_limit() -> None:
    deep = "(" * 150 + "a" + ")" * 150
    error = syntax_error(deep)
    assert error.pos == 100
    assert parse_condition("(" * 50 + "a" + ")" * 50) == Identifier("a")
    assert syntax_error("not " * 150 + "a").pos == 400


def test_caret() -> None:
    text = "proc.name = x and\n\tfd.name like y"
    error = syntax_error(text)
    assert error.pos == 27
    assert error.line_col(text) == (2, 10)
    assert error.caret(text) == "\tfd.name like y\n\t        ^"
    end = syntax_error("proc.name =")
    assert end.caret("proc.name =") == "proc.name =\n           ^"
    first = syntax_error("= x")
    assert first.caret("= x") == "= x\n^"
    assert first.line_col("= x") == (1, 1)


def test_error_renders_with_where() -> None:
    error = syntax_error("a and b)")
    error.where = "rules.yaml:3:14"
    assert error.render().startswith("error[rule-condition-syntax]: rules.yaml:3:14: ")
