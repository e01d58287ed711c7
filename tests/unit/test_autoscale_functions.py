"""Built-in functions, operators and printing of the autoscale formula language."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.engine.services.autoscale import functions
from shipyard.engine.services.autoscale.functions import ArgumentError
from shipyard.engine.services.autoscale.values import OperandError, Value, Vec, binary, show, unary

V = Vec((1.0, 2.0, 3.0))
T0 = datetime(2026, 1, 22, 21, 43, 18, 576302, tzinfo=UTC)


def call(name: str, *args: Value) -> Value:
    return functions.call(name, list(args))


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("avg", (V,), 2.0), ("avg", (V, 7.0), 3.25), ("max", (V, 7.0), 7.0),
    ("min", (4.0, V), 1.0), ("sum", (V, V), 12.0), ("len", (V, 1.0), 4.0),
    ("count", (V,), 3.0), ("median", (Vec((5.0, 1.0, 3.0, 9.0)),), 4.0),
    ("range", (V, 10.0), 9.0), ("norm", (Vec((3.0, 4.0)),), 5.0),
    ("std", (Vec((2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0)),), math.sqrt(32 / 7)),
    ("std", (5.0,), 0.0), ("sum", (), 0.0), ("len", (Vec(()),), 0.0),
    ("lg", (8.0,), 3.0), ("ln", (math.e,), 1.0), ("log", (1000.0,), 3.0),
    ("ceil", (1.2,), 2.0), ("floor", (-1.2,), -2.0), ("round", (2.5,), 3.0),
    ("round", (-2.5,), -3.0), ("round", (2.4,), 2.0),
    ("percentile", (Vec((15.0, 20.0, 35.0, 40.0, 50.0)), 40.0), 20.0),
    ("percentile", (V, 100.0), 3.0), ("percentile", (V, 0.0), 1.0),
    ("val", (V, 2.0), 3.0), ("AVG", (V,), 2.0),
])
def test_functions_on_doubles(name: str, args: tuple[Value, ...], expected: float) -> None:
    assert call(name, *args) == pytest.approx(expected)


@pytest.mark.parametrize(("name", "expected"), [
    ("lg", (0.0, 1.0, math.log2(3))), ("ceil", (1.0, 2.0, 3.0)), ("floor", (1.0, 2.0, 3.0)),
    ("round", (1.0, 2.0, 3.0)), ("log", (0.0, math.log10(2), math.log10(3))),
    ("ln", (0.0, math.log(2), math.log(3)))])
def test_component_wise_functions(name: str, expected: tuple[float, ...]) -> None:
    result = call(name, V)
    assert isinstance(result, Vec) and result.items == pytest.approx(expected)


def test_rand_and_time() -> None:
    draws = {call("rand") for _ in range(20)}
    assert all(isinstance(d, float) and 0 <= d < 1 for d in draws) and len(draws) > 1
    now = call("time")
    assert isinstance(now, datetime) and abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert call("time", "2026-01-22T21:43:18Z") == datetime(2026, 1, 22, 21, 43, 18, tzinfo=UTC)
    assert call("time", "Thu, 22 Jan 2026 22:58:03 GMT") == datetime(
        2026, 1, 22, 22, 58, 3, tzinfo=UTC)


@pytest.mark.parametrize(("name", "args", "message"), [
    ("avg", (), "avg() needs at least one value"),
    ("max", ("x",), "max() takes doubles and doubleVecs, not a string"),
    ("lg", (0.0,), "The logarithm of 0 is undefined"),
    ("lg", (1.0, 2.0), "lg() takes one double or doubleVec"),
    ("ceil", (timedelta(1),), "ceil() takes a double or a doubleVec, not a timeinterval"),
    ("percentile", (V,), "percentile() takes a doubleVec and a percentage"),
    ("percentile", (V, 101.0), "percentile() takes a percentage from 0 to 100, not 101"),
    ("rand", (1.0,), "rand() takes no arguments"),
    ("time", (1.0,), "time() takes nothing or one date-time string"),
    ("time", ("yesterday",), "time() cannot read 'yesterday' as a W3C-DTF or RFC 1123 "
                             "date-time"),
    ("val", (V, 3.0), "val() index 3 is outside a doubleVec of 3 values"),
    ("val", (1.0, 0.0), "val() takes a doubleVec and an index"),
])
def test_function_errors(name: str, args: tuple[Value, ...], message: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        call(name, *args)
    assert str(caught.value) == message


def test_unknown_function_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        call("nosuch")
    assert "stop" in functions.NAMES and "percentile" in functions.NAMES


@pytest.mark.parametrize(("op", "left", "right", "expected"), [
    ("+", 1.0, 2.0, 3.0), ("/", 1.0, 4.0, 0.25), ("*", 2.0, timedelta(seconds=3),
                                                  timedelta(seconds=6)),
    ("+", V, 1.0, Vec((2.0, 3.0, 4.0))), ("*", V, V, Vec((1.0, 4.0, 9.0))),
    ("/", V, 2.0, Vec((0.5, 1.0, 1.5))), ("-", V, V, Vec((0.0, 0.0, 0.0))),
    ("*", timedelta(minutes=1), 5.0, timedelta(minutes=5)),
    ("/", timedelta(minutes=1), 4.0, timedelta(seconds=15)),
    ("+", timedelta(1), timedelta(hours=1), timedelta(days=1, hours=1)),
    ("+", T0, timedelta(hours=1), T0 + timedelta(hours=1)),
    ("+", timedelta(hours=1), T0, T0 + timedelta(hours=1)),
    ("-", T0 + timedelta(hours=1), T0, timedelta(hours=1)),
    ("<", 1.0, 2.0, 1.0), (">=", 1.0, 2.0, 0.0), ("==", "a", "a", 1.0), ("!=", "a", "b", 1.0),
    ("<", T0, T0 + timedelta(1), 1.0), (">", timedelta(1), timedelta(0), 1.0),
])
def test_operators_the_documentation_allows(op: str, left: Value, right: Value,
                                            expected: Value) -> None:
    assert binary(op, left, right) == expected


@pytest.mark.parametrize(("op", "left", "right", "message"), [
    ("+", "a", 1.0, "Operator '+' does not apply to a string and a double"),
    ("*", 2.0, V, "Operator '*' does not apply to a double and a doubleVec"),
    ("-", T0, timedelta(1), "Operator '-' does not apply to a timestamp and a timeinterval"),
    ("<", 1.0, "a", "Operator '<' does not apply to a double and a string"),
    ("==", V, V, "Operator '==' does not apply to a doubleVec and a doubleVec"),
    ("/", 1.0, 0.0, "Division by zero"), ("/", timedelta(1), 0.0, "Division by zero"),
    ("+", V, Vec((1.0,)), "Operator '+' needs doubleVecs of the same length, not 3 and 1"),
])
def test_operators_refused(op: str, left: Value, right: Value, message: str) -> None:
    with pytest.raises(OperandError) as caught:
        binary(op, left, right)
    assert str(caught.value) == message


def test_unary_operators() -> None:
    assert unary("-", 2.0) == -2.0 and unary("!", 0.0) == 1.0 and unary("!", 3.0) == 0.0
    assert unary("-", timedelta(1)) == timedelta(-1)
    with pytest.raises(OperandError, match="Operator '!' does not apply to a timeinterval"):
        unary("!", timedelta(1))


@pytest.mark.parametrize(("value", "shown"), [
    (2.0, "2"), (0.5, "0.5"), (-3.0, "-3"), (1 / 3, "0.333333333333333"),
    (math.inf, "Infinity"), (V, "[1,2,3]"), (Vec(()), "[]"), ("requeue", "requeue"),
    (T0, "2026-01-22T21:43:18.576Z"), (timedelta(minutes=5), "00:05:00"),
    (timedelta(days=1, seconds=1, microseconds=500000), "1.00:00:01.5000000"),
    (-timedelta(hours=1), "-01:00:00"),
])
def test_values_print_as_the_service_prints_them(value: Value, shown: str) -> None:
    assert show(value) == shown
