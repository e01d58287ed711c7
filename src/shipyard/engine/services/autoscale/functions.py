"""The formula language's built-in functions.

A *doubleVecList* argument is any comma-separated mix of doubles and doubleVecs, flattened
into one vector before the function runs (``avg(v, 7)`` is ``avg(1, 2, 3, 7)`` for
``v = [1, 2, 3]``). ``lg``, ``ln``, ``log``, ``ceil``, ``floor`` and ``round`` work on a
double, or component-wise on a doubleVec. ``percentile`` uses the nearest rank.
``stop()`` is handled by the evaluator (it ends the evaluation, not an expression).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from datetime import datetime

from shipyard.engine.model import wire
from shipyard.engine.services.autoscale.values import Value, Vec, type_name
from shipyard.errors import ConfigError


class ArgumentError(Exception):
    """A function called with arguments it does not take; the evaluator adds the position."""


def flatten(name: str, args: list[Value]) -> list[float]:
    """A doubleVecList as one list of doubles."""
    items: list[float] = []
    for arg in args:
        if isinstance(arg, float):
            items.append(arg)
        elif isinstance(arg, Vec):
            items.extend(arg.items)
        else:
            raise ArgumentError(f"{name}() takes doubles and doubleVecs, not a {type_name(arg)}")
    return items


def _nonempty(name: str, args: list[Value]) -> list[float]:
    items = flatten(name, args)
    if not items:
        raise ArgumentError(f"{name}() needs at least one value")
    return items


def _std(items: list[float]) -> float:
    # The sample standard deviation needs two values; one value deviates by nothing.
    return statistics.stdev(items) if len(items) > 1 else 0.0


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "avg": statistics.fmean, "max": max, "min": min, "median": statistics.median,
    "range": lambda items: max(items) - min(items), "std": _std,
}
_TOTALS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum, "len": lambda items: float(len(items)),
    "count": lambda items: float(len(items)),
    "norm": lambda items: math.sqrt(math.fsum(v * v for v in items)),
}


def _log2(value: float) -> float:
    return _logarithm(math.log2, value)


def _logarithm(function: Callable[[float], float], value: float) -> float:
    if value <= 0:
        raise ArgumentError(f"The logarithm of {value:g} is undefined")
    return function(value)


def _round(value: float) -> float:
    # Half away from zero, as .NET's Math.Round(x, MidpointRounding.AwayFromZero) rounds.
    return float(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "lg": _log2, "ln": lambda v: _logarithm(math.log, v),
    "log": lambda v: _logarithm(math.log10, v),
    "ceil": lambda v: float(math.ceil(v)), "floor": lambda v: float(math.floor(v)),
    "round": _round,
}


def call(name: str, args: list[Value]) -> Value:
    """Run built-in ``name``; ``KeyError`` when there is no such function."""
    key = name.lower()
    if key in _REDUCERS:
        return float(_REDUCERS[key](_nonempty(name, args)))
    if key in _TOTALS:
        return float(_TOTALS[key](flatten(name, args)))
    if key in _ELEMENTWISE:
        return _elementwise(name, _ELEMENTWISE[key], args)
    return _OTHERS[key](name, args)


def _elementwise(name: str, function: Callable[[float], float], args: list[Value]) -> Value:
    if len(args) != 1:
        raise ArgumentError(f"{name}() takes one double or doubleVec")
    (arg,) = args
    if isinstance(arg, float):
        return function(arg)
    if isinstance(arg, Vec):
        return Vec(tuple(function(item) for item in arg.items))
    raise ArgumentError(f"{name}() takes a double or a doubleVec, not a {type_name(arg)}")


def _percentile(name: str, args: list[Value]) -> Value:
    if len(args) != 2 or not isinstance(args[1], float):
        raise ArgumentError(f"{name}() takes a doubleVec and a percentage")
    items = sorted(_nonempty(name, [args[0]]))
    share = args[1]
    if not 0 <= share <= 100:
        raise ArgumentError(f"{name}() takes a percentage from 0 to 100, not {share:g}")
    rank = max(1, math.ceil(share / 100 * len(items)))
    return items[rank - 1]


def _rand(name: str, args: list[Value]) -> Value:
    if args:
        raise ArgumentError(f"{name}() takes no arguments")
    return random.random()


def _time(name: str, args: list[Value]) -> Value:
    if len(args) > 1 or (args and not isinstance(args[0], str)):
        raise ArgumentError(f"{name}() takes nothing or one date-time string")
    text = args[0] if args else ""
    assert isinstance(text, str)
    if not text:
        return wire.utcnow()
    return _parse_time(name, text)


def _parse_time(name: str, text: str) -> datetime:
    # W3C-DTF (ISO 8601) and RFC 1123 are the two forms the documentation names.
    for parse in (wire.parse_datetime, wire.parse_rfc1123):
        try:
            return parse(text)
        except ConfigError:
            continue
    raise ArgumentError(f"{name}() cannot read '{text}' as a W3C-DTF or RFC 1123 date-time")


def _val(name: str, args: list[Value]) -> Value:
    if len(args) != 2 or not isinstance(args[0], Vec) or not isinstance(args[1], float):
        raise ArgumentError(f"{name}() takes a doubleVec and an index")
    vector, index = args[0], int(args[1])
    if not 0 <= index < len(vector.items):
        raise ArgumentError(f"{name}() index {index} is outside a doubleVec of "
                            f"{len(vector.items)} values")
    return vector.items[index]


_OTHERS: dict[str, Callable[[str, list[Value]], Value]] = {
    "percentile": _percentile, "rand": _rand, "time": _time, "val": _val}

#: Every function a formula may call, for error messages.
NAMES = sorted([*_REDUCERS, *_TOTALS, *_ELEMENTWISE, *_OTHERS, "stop"])
