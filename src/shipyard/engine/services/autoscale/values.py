"""The formula's types, the operators the documentation allows on them, and their print form.

    double        float                  timestamp     aware UTC datetime
    doubleVec     Vec                    timeinterval  timedelta
    string        str

Only the operand combinations in the documentation's table of operations are accepted;
anything else is an evaluation error naming both types, so a formula tried here does not
later fail on the service. Comparisons and logic answer 1 or 0 (doubles), and a double is
true when it is not zero. ``show`` prints values the way ``autoScaleRun.results`` does:
``2``, ``0.5``, ``[1,2]``, ``2016-10-13T19:18:47.805Z``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Vec:
    """A doubleVec."""

    items: tuple[float, ...]


Value = float | Vec | str | datetime | timedelta


class OperandError(Exception):
    """Operands the operator does not take; the evaluator adds the position."""


def type_name(value: object) -> str:
    if isinstance(value, bool | int | float):
        return "double"
    names = {Vec: "doubleVec", str: "string", datetime: "timestamp", timedelta: "timeinterval"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "sample variable"


def truth(value: Value) -> bool:
    if not isinstance(value, float):
        raise OperandError(f"A condition must be a double, not a {type_name(value)}")
    return value != 0


def _divide(left: float, right: float) -> float:
    if right == 0:
        raise OperandError("Division by zero")
    return left / right


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide}

#: (operator, left type, right type) pairs the documentation's table allows.
_ALLOWED = {
    ("+", "double", "double"), ("-", "double", "double"), ("*", "double", "double"),
    ("/", "double", "double"), ("*", "double", "timeinterval"),
    ("+", "doubleVec", "double"), ("-", "doubleVec", "double"),
    ("*", "doubleVec", "double"), ("/", "doubleVec", "double"),
    ("+", "doubleVec", "doubleVec"), ("-", "doubleVec", "doubleVec"),
    ("*", "doubleVec", "doubleVec"), ("/", "doubleVec", "doubleVec"),
    ("*", "timeinterval", "double"), ("/", "timeinterval", "double"),
    ("+", "timeinterval", "timeinterval"), ("-", "timeinterval", "timeinterval"),
    ("+", "timeinterval", "timestamp"), ("+", "timestamp", "timeinterval"),
    ("-", "timestamp", "timestamp"),
}
_COMPARABLE = {"double", "string", "timestamp", "timeinterval"}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}


def binary(op: str, left: Value, right: Value) -> Value:
    """``left op right`` for every operator but ``&&``/``||`` (those short-circuit)."""
    kinds = (type_name(left), type_name(right))
    if op in _COMPARISONS:
        if kinds[0] != kinds[1] or kinds[0] not in _COMPARABLE:
            raise _refused(op, *kinds)
        return 1.0 if _COMPARISONS[op](left, right) else 0.0
    if (op, *kinds) not in _ALLOWED:
        raise _refused(op, *kinds)
    if isinstance(left, Vec) or isinstance(right, Vec):
        return _vector(op, left, right)
    if isinstance(left, timedelta) and isinstance(right, float):
        return _scale_interval(op, left, right)
    result: Value = _ARITHMETIC[op](left, right)
    return result


def unary(op: str, operand: Value) -> Value:
    if op == "-" and isinstance(operand, float | timedelta):
        return -operand
    if op == "!" and isinstance(operand, float):
        return 0.0 if operand else 1.0
    raise OperandError(f"Operator '{op}' does not apply to a {type_name(operand)}")


def _refused(op: str, left: str, right: str) -> OperandError:
    return OperandError(f"Operator '{op}' does not apply to a {left} and a {right}")


def _vector(op: str, left: Value, right: Value) -> Vec:
    assert isinstance(left, Vec)
    apply = _ARITHMETIC[op]
    if isinstance(right, Vec):
        if len(left.items) != len(right.items):
            raise OperandError(f"Operator '{op}' needs doubleVecs of the same length, "
                               f"not {len(left.items)} and {len(right.items)}")
        return Vec(tuple(apply(a, b) for a, b in zip(left.items, right.items, strict=True)))
    return Vec(tuple(apply(a, right) for a in left.items))


def _scale_interval(op: str, interval: timedelta, factor: float) -> timedelta:
    if op == "/" and factor == 0:
        raise OperandError("Division by zero")
    return interval * factor if op == "*" else interval / factor


# -- printing, as autoScaleRun.results shows values ----------------------------------------
def show(value: Value) -> str:
    if isinstance(value, float):
        return _show_double(value)
    if isinstance(value, Vec):
        return "[" + ",".join(_show_double(v) for v in value.items) + "]"
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, timedelta):
        return _show_interval(value)
    return value


def _show_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def _show_interval(value: timedelta) -> str:
    """.NET's TimeSpan form, which the service's .NET side prints: ``[-][d.]hh:mm:ss[.f]``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    days = f"{value.days}." if value.days else ""
    fraction = f".{value.microseconds * 10:07d}" if value.microseconds else ""
    return f"{sign}{days}{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"
