"""Autoscale formulas -> statements of expression trees (recursive descent).

    formula    := statement? (';' statement?)*          at most 100 statements
    statement  := NAME '=' expr | expr                 an expression statement: stop()
    expr       := or ('?' expr ':' expr)?
    or         := and ('||' and)*
    and        := equality ('&&' equality)*
    equality   := relation (('==' | '!=') relation)*
    relation   := additive (('<' | '<=' | '>' | '>=') additive)*
    additive   := term (('+' | '-') term)*
    term       := unary (('*' | '/') unary)*
    unary      := ('-' | '!') unary | postfix
    postfix    := primary ('.' NAME ('(' args ')')?)*  methods (GetSample) and members (hour)
    primary    := NUMBER | STRING | NAME ('(' args ')')? | '(' expr ')'

Every node keeps the line and column of its first token so evaluation errors can point
at the spot, as the service's messages do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from shipyard.engine.services.autoscale.lexer import (
    MAX_FORMULA_CHARS,
    ErrorKind,
    FormulaError,
    Kind,
    Token,
    tokenize,
)

MAX_STATEMENTS = 100


@dataclass(frozen=True)
class Node:
    line: int
    col: int


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Ternary(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Method(Node):
    target: Node
    method: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Member(Node):
    target: Node
    member: str


@dataclass(frozen=True)
class Assign(Node):
    name: str
    value: Node


@dataclass(frozen=True)
class Effect(Node):
    """An expression evaluated for its effect alone (``stop();``)."""

    value: Node


Statement = Assign | Effect


_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/"))


def parse(text: str) -> list[Statement]:
    """The statements of ``text``; ``FormulaError`` (SYNTAX) when it does not parse."""
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(ErrorKind.SYNTAX, 1, 1,
                           f"The formula is {len(text)} characters long; the limit is "
                           f"{MAX_FORMULA_CHARS}")
    try:
        return _Parser(tokenize(text)).formula()
    except RecursionError:
        raise FormulaError(ErrorKind.SYNTAX, 1, 1, "The formula nests too deeply") from None


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    # -- token helpers ---------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def at(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind is Kind.OP and token.text in ops

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, op: str) -> Token:
        if not self.at(op):
            self.fail(f"Expected '{op}'")
        return self.take()

    def fail(self, reason: str) -> NoReturn:
        token = self.peek()
        found = "end of formula" if token.kind is Kind.END else f"'{token.text}'"
        raise FormulaError(ErrorKind.SYNTAX, token.line, token.col, f"{reason}, found {found}")

    # -- grammar ---------------------------------------------------------------------------
    def formula(self) -> list[Statement]:
        statements: list[Statement] = []
        while self.peek().kind is not Kind.END:
            if self.at(";"):
                self.take()
                continue
            statements.append(self.statement())
            if len(statements) > MAX_STATEMENTS:
                token = self.peek()
                raise FormulaError(ErrorKind.SYNTAX, token.line, token.col,
                                   f"A formula holds at most {MAX_STATEMENTS} statements")
            if self.peek().kind is not Kind.END:
                self.expect(";")
        return statements

    def statement(self) -> Statement:
        token = self.peek()
        following = self.tokens[self.pos + 1]
        if token.kind is Kind.NAME and following.kind is Kind.OP and following.text == "=":
            self.pos += 2
            return Assign(token.line, token.col, token.text, self.expr())
        value = self.expr()
        return Effect(value.line, value.col, value)

    def expr(self) -> Node:
        condition = self.binary(0)
        if not self.at("?"):
            return condition
        self.take()
        then = self.expr()
        self.expect(":")
        otherwise = self.expr()
        return Ternary(condition.line, condition.col, condition, then, otherwise)

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.at(*_LEVELS[level]):
            op = self.take().text
            left = Binary(left.line, left.col, op, left, self.binary(level + 1))
        return left

    def unary(self) -> Node:
        if self.at("-", "!"):
            token = self.take()
            return Unary(token.line, token.col, token.text, self.unary())
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.at("."):
            self.take()
            token = self.peek()
            if token.kind is not Kind.NAME:
                self.fail("Expected a method or member name after '.'")
            self.take()
            if self.at("("):
                node = Method(token.line, token.col, node, token.text, self.arguments())
            else:
                node = Member(token.line, token.col, node, token.text)
        return node

    def primary(self) -> Node:
        token = self.peek()
        if token.kind is Kind.NUMBER:
            self.take()
            return Number(token.line, token.col, float(token.text))
        if token.kind is Kind.STRING:
            self.take()
            return String(token.line, token.col, token.text)
        if token.kind is Kind.NAME:
            self.take()
            if self.at("("):
                return Call(token.line, token.col, token.text, self.arguments())
            return Name(token.line, token.col, token.text)
        if self.at("("):
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        self.fail("Expected an expression")

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.expr())
            while self.at(","):
                self.take()
                args.append(self.expr())
        self.expect(")")
        return tuple(args)
