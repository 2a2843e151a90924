r"""The parser of Falco rule conditions: text to the AST of `bastion.sensor.rules.ast`.

A recursive-descent parser over `lexer.Scanner`, following libsinsp ``filter/parser.h``. The
grammar (EBNF; terminals quoted, ``blank`` is one or more of space, tab, ``\b``, ``\r``, ``\n``,
and blanks may stand between any two symbols where this does not glue tokens)::

    Condition       ::= OrExpr EOF
    OrExpr          ::= AndExpr ( 'or' ( blank AndExpr | '(' OrExpr ')' ) )*
    AndExpr         ::= NotExpr ( 'and' ( blank NotExpr | '(' OrExpr ')' ) )*
    NotExpr         ::= ( 'not' blank )* ( 'not(' OrExpr ')' | Check )
    Check           ::= '(' OrExpr ')'
                      | FieldExpr CheckTail
                      | Identifier                              (* a macro *)
    CheckTail       ::= UnaryOp
                      | NumOp ( NumValue | RhsField )
                      | StrOp ( StrValue | RhsField )
                      | ListOp ( ListValue | Identifier | RhsField )
    FieldExpr       ::= Transformer FieldExpr ')' | Field
    Field           ::= FieldName ( '[' ( QuotedStr | FieldArgBareStr ) ']' )?
    RhsField        ::= 'val(' Field ')' | Transformer FieldExpr ')'
    ListValue       ::= '(' ( ListItem ( ',' ListItem )* )? ')'
    ListItem        ::= StrValue                 (* a bare Identifier-shaped word may name a list *)
    NumValue        ::= HexNumber | Number
    StrValue        ::= QuotedStr | BareStr

    UnaryOp         ::= 'exists'
    NumOp           ::= '<=' | '<' | '>=' | '>'
    StrOp           ::= '==' | '=' | '!=' | ( 'glob' | 'iglob' | 'contains' | 'icontains'
                      | 'bcontains' | 'startswith' | 'bstartswith' | 'endswith' | 'regex' ) blank
    ListOp          ::= 'intersects' | 'in' | 'pmatch'
    Transformer     ::= ( 'tolower' | 'toupper' | 'b64' | 'basename' | 'len' ) '('

    Identifier      ::= /[a-zA-Z]+[a-zA-Z0-9_]*/
    FieldName       ::= /[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+/
    FieldArgBareStr ::= /[^ \t\b\r\n\[\]"']+/
    HexNumber       ::= /0[xX][0-9a-zA-Z]+/
    Number          ::= /[+\-]?[0-9]+\.?[0-9]*([eE][+\-][0-9]+)?/
    QuotedStr       ::= '"' ( /[^"\\]/ | Escape )* '"' | "'" ( /[^'\\]/ | Escape )* "'"
    Escape          ::= '\b' | '\f' | '\n' | '\r' | '\t' | '\\' | '\/' | '\ ' | '\' quote
    BareStr         ::= /[^ \t\b\r\n(),="']+/

Keywords are lower case only, as in Falco (``AND`` is a macro name). Precedence is
``not`` > ``and`` > ``or``. Like libsinsp, ``x or(y) and z`` fails: a parenthesis glued to
``or``/``and`` is that operand whole. One liberty: a word operator may be followed by any blank,
not only a space. Nesting (parentheses, ``not``, transformers) is capped at `MAX_DEPTH`.
"""

from __future__ import annotations

from bastion.sensor.rules import lexer
from bastion.sensor.rules.ast import (
    And,
    BinaryCheck,
    Expr,
    FieldRef,
    FieldValue,
    Identifier,
    ListValue,
    Literal,
    Not,
    Or,
    UnaryCheck,
    Value,
)
from bastion.sensor.rules.errors import ConditionSyntaxError

MAX_DEPTH = 100

_OPERATORS = ", ".join(lexer.UNARY_OPS + lexer.NUM_OPS + lexer.STR_OPS + lexer.LIST_OPS)


def parse_condition(text: str) -> Expr:
    """Parse a Falco condition; raises `ConditionSyntaxError` with the offending offset."""
    return _Parser(text).parse()


class _Parser:
    __slots__ = ("depth", "last", "scan")

    def __init__(self, text: str) -> None:
        self.scan = lexer.Scanner(text)
        self.depth = 0
        self.last = ""

    def error(self, message: str, expected: str, pos: int | None = None) -> ConditionSyntaxError:
        return ConditionSyntaxError(
            message, pos=self.scan.pos if pos is None else pos, expected=expected
        )

    def push(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"condition nests deeper than {MAX_DEPTH} levels",
                "a shallower condition",
                pos,
            )

    def parse(self) -> Expr:
        if not self.scan.text.strip(lexer.BLANKS):
            raise self.error("empty condition", "a field check, a macro or '('", 0)
        node = self.parse_or()
        if not self.scan.at_end():
            raise self.error(
                f"unexpected text after {self.last!r}", "'and', 'or' or the end of the condition"
            )
        return node

    def keyword_operand(self, keyword: str, operand_pos: int) -> Expr:
        """After 'and'/'or': a blank then the next operand, or a glued '(' group."""
        if self.scan.blank():
            return self.parse_and() if keyword == "or" else self.parse_not()
        if self.scan.literal("("):
            return self.embedded(operand_pos)
        raise self.error(f"expected a blank or '(' after {keyword!r}", "a blank or '('")

    def parse_or(self) -> Expr:
        self.scan.blank()
        start = self.scan.pos
        children = [self.parse_and()]
        self.scan.blank()
        while (token := self.scan.literal("or")) is not None:
            self.last = "or"
            children.append(self.keyword_operand("or", token.pos))
            self.scan.blank()
        return children[0] if len(children) == 1 else Or(tuple(children), pos=start)

    def parse_and(self) -> Expr:
        self.scan.blank()
        start = self.scan.pos
        children = [self.parse_not()]
        self.scan.blank()
        while (token := self.scan.literal("and")) is not None:
            self.last = "and"
            children.append(self.keyword_operand("and", token.pos))
            self.scan.blank()
        return children[0] if len(children) == 1 else And(tuple(children), pos=start)

    def parse_not(self) -> Expr:
        self.scan.blank()
        nots: list[int] = []
        depth = self.depth
        while (token := self.scan.regex(lexer.NOT_BLANK)) is not None:
            self.push(token.pos)
            nots.append(token.pos)
        if (token := self.scan.literal("not(")) is not None:
            self.last = "not("
            self.push(token.pos)
            nots.append(token.pos)
            child = self.embedded(token.pos)
        else:
            child = self.parse_check()
        for pos in reversed(nots):
            child = Not(child, pos=pos)
        self.depth = depth
        return child

    def embedded(self, open_pos: int) -> Expr:
        """The rest of a parenthesised expression, after its '('."""
        self.push(open_pos)
        child = self.parse_or()
        self.scan.blank()
        if self.scan.literal(")") is None:
            raise self.error(
                f"expected ')' to close the '(' at offset {open_pos}", "')'", self.scan.pos
            )
        self.last = ")"
        self.depth -= 1
        return child

    def parse_check(self) -> Expr:
        self.scan.blank()
        start = self.scan.pos
        if (token := self.scan.literal("(")) is not None:
            return self.embedded(token.pos)
        field = self.field_expr(allow_bare=True)
        if field is not None:
            return self.check_tail(field)
        if (token := self.scan.regex(lexer.IDENTIFIER)) is not None:
            self.last = token.text
            return Identifier(token.text, pos=token.pos)
        raise self.error(
            "expected a field check, a macro name or '('", "a field check, a macro or '('", start
        )

    def field_expr(self, *, allow_bare: bool) -> FieldRef | None:
        """A field, maybe inside transformers; None when there is neither at the cursor."""
        start = self.scan.pos
        token = self.scan.transformer(lexer.TRANSFORMERS)
        if token is None:
            return self.field() if allow_bare else None
        self.push(token.pos)
        self.scan.blank()
        inner = self.field_expr(allow_bare=True)
        if inner is None:
            raise self.error(
                f"expected a field or a transformer inside {token.text}()",
                "a field name such as proc.name",
            )
        self.close_paren(token.text + "(")
        self.depth -= 1
        return FieldRef(inner.name, inner.arg, (*inner.transformers, token.text), pos=start)

    def close_paren(self, opener: str) -> None:
        self.scan.blank()
        if self.scan.literal(")") is None:
            raise self.error(f"expected ')' to close {opener!r}", "')'")
        self.last = ")"

    def field(self) -> FieldRef | None:
        token = self.scan.regex(lexer.FIELD_NAME)
        if token is None:
            return None
        self.last = token.text
        arg: str | None = None
        if self.scan.literal("[") is not None:
            arg_token = self.scan.quoted() or self.scan.regex(lexer.FIELD_ARG_BARE)
            if arg_token is None:
                raise self.error(
                    f"expected an argument for {token.text}[...]", "a quoted or bare field argument"
                )
            arg = arg_token.text
            if self.scan.literal("]") is None:
                raise self.error(f"expected ']' after the argument of {token.text}", "']'")
            self.last = "]"
        return FieldRef(token.text, arg, pos=token.pos)

    def check_tail(self, field: FieldRef) -> Expr:
        self.scan.blank()
        if (op := self.scan.one_of(lexer.UNARY_OPS)) is not None:
            self.last = op.text
            return UnaryCheck(field, op.text, pos=field.pos)
        value: Value
        if (op := self.scan.one_of(lexer.NUM_OPS)) is not None:
            self.last = op.text
            value = self.rhs_field() or self.num_value(op.text)
        elif (op := self.scan.one_of(lexer.STR_OPS, blank_after=True)) is not None:
            self.last = op.text
            value = self.rhs_field() or self.str_value(op.text)
        elif (op := self.scan.one_of(lexer.LIST_OPS)) is not None:
            self.last = op.text
            value = self.rhs_field() or self.list_value(op.text)
        else:
            raise self.error(
                f"expected an operator after {field.name}", f"an operator: one of {_OPERATORS}"
            )
        return BinaryCheck(field, op.text, value, pos=field.pos)

    def rhs_field(self) -> FieldValue | None:
        """``val(field)`` or a transformed field on the right-hand side."""
        self.scan.blank()
        start = self.scan.pos
        if self.scan.literal("val(") is not None:
            self.scan.blank()
            field = self.field()
            if field is None:
                raise self.error("expected a field inside val()", "a field name such as proc.name")
            self.close_paren("val(")
            return FieldValue(field, pos=start)
        field = self.field_expr(allow_bare=False)
        return None if field is None else FieldValue(field, pos=start)

    def num_value(self, op: str) -> Literal:
        self.scan.blank()
        token = self.scan.regex(lexer.HEX_NUMBER) or self.scan.regex(lexer.NUMBER)
        if token is None:
            raise self.error(f"expected a number after {op!r}", "a number")
        self.last = token.text
        return Literal(token.text, pos=token.pos)

    def str_value(self, op: str) -> Literal:
        self.scan.blank()
        token = self.scan.quoted()
        bare = token is None
        if token is None:
            token = self.scan.regex(lexer.BARE_STR)
        if token is None:
            raise self.error(f"expected a value after {op!r}", "a quoted string or a bare word")
        self.last = token.text
        return Literal(token.text, pos=token.pos, bare=bare)

    def list_value(self, op: str) -> ListValue | Identifier:
        self.scan.blank()
        start = self.scan.pos
        if self.scan.literal("(") is not None:
            items: list[Literal | Identifier] = []
            self.scan.blank()
            item = self.list_item()
            if item is not None:
                items.append(item)
                self.scan.blank()
                while self.scan.literal(",") is not None:
                    self.scan.blank()
                    item = self.list_item()
                    if item is None:
                        raise self.error("expected a list item after ','", "a list item")
                    items.append(item)
                    self.scan.blank()
            if self.scan.literal(")") is None:
                raise self.error("expected ',' or ')' in the list", "',' or ')'")
            self.last = ")"
            return ListValue(tuple(items), pos=start)
        if (token := self.scan.regex(lexer.IDENTIFIER)) is not None:
            self.last = token.text
            return Identifier(token.text, pos=token.pos)
        raise self.error(f"expected a list or a list name after {op!r}", "'(' or a list name")

    def list_item(self) -> Literal | Identifier | None:
        if (token := self.scan.quoted()) is not None:
            self.last = token.text
            return Literal(token.text, pos=token.pos)
        if (token := self.scan.regex(lexer.BARE_STR)) is None:
            return None
        self.last = token.text
        if lexer.IDENTIFIER.fullmatch(token.text):
            return Identifier(token.text, pos=token.pos)
        return Literal(token.text, pos=token.pos)
