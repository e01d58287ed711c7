"""The autoscale formula lexer and parser: structure, precedence, positions, syntax errors."""

from __future__ import annotations

import pytest

from shipyard.engine.services.autoscale import parser
from shipyard.engine.services.autoscale.lexer import ErrorKind, FormulaError, Kind, tokenize
from shipyard.engine.services.autoscale.parser import (
    Assign,
    Binary,
    Call,
    Effect,
    Member,
    Method,
    Name,
    Number,
    String,
    Ternary,
    Unary,
)


def expr(text: str) -> parser.Node:
    (statement,) = parser.parse(f"$x = {text}")
    return statement.value


def syntax_error(text: str) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        parser.parse(text)
    assert caught.value.kind is ErrorKind.SYNTAX
    return caught.value


def test_tokens_carry_line_and_column() -> None:
    tokens = tokenize('$a = 1.5e2;\n  b = "x" // note\n/* block\n */ c=.5')
    spots = [(t.kind, t.text, t.line, t.col) for t in tokens]
    assert spots == [
        (Kind.NAME, "$a", 1, 1), (Kind.OP, "=", 1, 4), (Kind.NUMBER, "1.5e2", 1, 6),
        (Kind.OP, ";", 1, 11), (Kind.NAME, "b", 2, 3), (Kind.OP, "=", 2, 5),
        (Kind.STRING, "x", 2, 7), (Kind.NAME, "c", 4, 5), (Kind.OP, "=", 4, 6),
        (Kind.NUMBER, ".5", 4, 7), (Kind.END, "", 4, 9)]


@pytest.mark.parametrize("op", ["&&", "||", "==", "!=", "<=", ">=", "<", ">"])
def test_two_character_operators_are_one_token(op: str) -> None:
    assert [t.text for t in tokenize(f"a{op}b")] == ["a", op, "b", ""]


def test_statements_with_empty_ones_and_trailing_semicolon() -> None:
    statements = parser.parse(";$a = 1;; b = 2;\n")
    assert [(s.name, s.line, s.col) for s in statements] == [("$a", 1, 2), ("b", 1, 11)]
    assert parser.parse("") == [] and parser.parse(" // only a comment") == []


def test_precedence_and_associativity() -> None:
    assert expr("1 + 2 * 3") == Binary(1, 6, "+", Number(1, 6, 1.0),
                                       Binary(1, 10, "*", Number(1, 10, 2.0),
                                              Number(1, 14, 3.0)))
    left = expr("8 - 4 - 2")
    assert isinstance(left, Binary) and isinstance(left.left, Binary) and left.op == "-"
    logic = expr("a || b && c == d < e + f")
    assert isinstance(logic, Binary) and logic.op == "||"
    assert isinstance(logic.right, Binary) and logic.right.op == "&&"


def test_parentheses_unary_and_ternary() -> None:
    assert expr("-(1 + 2)") == Unary(1, 6, "-", Binary(1, 8, "+", Number(1, 8, 1.0),
                                                       Number(1, 12, 2.0)))
    assert expr("!a") == Unary(1, 6, "!", Name(1, 7, "a"))
    nested = expr("a ? b : c ? d : e")
    assert isinstance(nested, Ternary) and isinstance(nested.otherwise, Ternary)


def test_calls_methods_and_members() -> None:
    assert expr('time("2026-01-01")') == Call(1, 6, "time", (String(1, 11, "2026-01-01"),))
    assert expr("rand()") == Call(1, 6, "rand", ())
    method = expr("$PendingTasks.GetSample(TimeInterval_Minute * 5, 70)")
    assert isinstance(method, Method) and method.method == "GetSample"
    assert method.target == Name(1, 6, "$PendingTasks") and len(method.args) == 2
    assert expr("time().hour") == Member(1, 13, Call(1, 6, "time", ()), "hour")


def test_documented_example_parses() -> None:
    formula = """
    // Get pending tasks for the past 15 minutes.
    $samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
    $tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1),
        avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
    $targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
    $TargetDedicatedNodes = max(0, min($targetVMs, 20));
    $NodeDeallocationOption = taskcompletion;
    """
    statements = parser.parse(formula)
    assert [s.name for s in statements] == ["$samples", "$tasks", "$targetVMs",
                                            "$TargetDedicatedNodes", "$NodeDeallocationOption"]
    assert all(isinstance(s, Assign) for s in statements)


def test_expression_statements() -> None:
    (stop, value) = parser.parse("stop(); 1 + 2")
    assert stop == Effect(1, 1, Call(1, 1, "stop", ()))
    assert isinstance(value, Effect) and isinstance(value.value, Binary)


@pytest.mark.parametrize(("text", "message"), [
    ("$a = ", "Line 1, Col 6: Expected an expression, found end of formula"),
    ("$a = 1 +* 2", "Line 1, Col 9: Expected an expression, found '*'"),
    ("$a 1", "Line 1, Col 4: Expected ';', found '1'"),
    ("1 = 2", "Line 1, Col 3: Expected ';', found '='"),
    ("$a = 1 $b = 2", "Line 1, Col 8: Expected ';', found '$b'"),
    ("$a = (1 + 2", "Line 1, Col 12: Expected ')', found end of formula"),
    ("$a = b ? 1", "Line 1, Col 11: Expected ':', found end of formula"),
    ("$a = f(1,", "Line 1, Col 10: Expected an expression, found end of formula"),
    ("$a = x.;", "Line 1, Col 8: Expected a method or member name after '.', found ';'"),
    ("$a = 1;\n$b = #", "Line 2, Col 6: Unexpected character '#'"),
    ('$a = "open', "Line 1, Col 6: Unterminated string"),
    ("$a = 1 /* never closed", "Line 1, Col 8: Unterminated comment"),
])
def test_syntax_errors_name_the_spot(text: str, message: str) -> None:
    assert str(syntax_error(text)) == message


def test_limits_of_the_service() -> None:
    too_long = syntax_error("$a = 1;" + " " * 8192)
    assert "limit is 8192" in too_long.reason
    too_many = syntax_error(";".join(f"a{i} = {i}" for i in range(101)))
    assert "at most 100 statements" in too_many.reason
    assert len(parser.parse(";".join(f"a{i} = {i}" for i in range(100)))) == 100
